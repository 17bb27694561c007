"""Writing the status of our own resources, always as a compare-and-swap.

Every status write carries the ``resourceVersion`` it was computed from, so a writer working from a stale view
(a second operator replica, a restarted one, the coordinator racing a cycle) loses with 409 Conflict instead of
overwriting newer progress. Losing is normal: the loser re-reads and decides again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from reboot_operator.api.meta import GROUP, VERSION
from reboot_operator.api.request import NodeRebootRequestStatus
from reboot_operator.kube.apicalls import read_json, retry_transient
from reboot_operator.runtime.errors import Conflict

REQUESTS = "noderebootrequests"
POLICIES = "rebootpolicies"
KINDS = {REQUESTS: "NodeRebootRequest", POLICIES: "RebootPolicy"}


WriteListener = Callable[[str, dict[str, Any]], None]
_listeners: list[WriteListener] = []


def listen(listener: WriteListener) -> Callable[[], None]:
    """Be told of every status this process writes (plural, object as written); returns the way to stop.

    The coordinator uses it to read its own writes at once instead of waiting for the watch event to bring them
    back: the next node starts as soon as the last one finished, not one watch round-trip later.
    """
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


async def read(api: client.ApiClient, plural: str, name: str) -> dict[str, Any] | None:
    """The object as stored now, or None if it does not exist."""
    custom = client.CustomObjectsApi(api)
    try:
        return await retry_transient(
            lambda: read_json(custom.get_cluster_custom_object, GROUP, VERSION, plural, name),
            what=f"read {plural}/{name}",
        )
    except ApiException as error:
        if error.status == 404:
            return None
        raise


async def replace_status(
    api: client.ApiClient, plural: str, body: dict[str, Any], status: dict[str, Any]
) -> dict[str, Any]:
    """PUT ``status`` on the object ``body`` (as read: its resourceVersion is the precondition); the new object.

    The status subresource ignores everything but the status, so ``body`` needs only its name and resourceVersion.
    """
    metadata = body["metadata"]
    update = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KINDS[plural],
        "metadata": {"name": metadata["name"], "resourceVersion": metadata["resourceVersion"]},
        "status": status,
    }
    custom = client.CustomObjectsApi(api)
    try:
        written = await retry_transient(
            lambda: read_json(
                custom.replace_cluster_custom_object_status, GROUP, VERSION, plural, metadata["name"], update
            ),
            what=f"write the status of {plural}/{metadata['name']}",
        )
    except ApiException as error:
        if error.status in (404, 409):
            raise Conflict(f"{plural}/{metadata['name']} changed or vanished: {error.reason}") from error
        raise
    for listener in list(_listeners):
        listener(plural, written)
    return written


async def update_status(
    api: client.ApiClient,
    plural: str,
    name: str,
    change: Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None] | dict[str, Any] | None],
    *,
    attempts: int = 8,
    known: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Read, change, write-if-unchanged, and retry on conflict: the read-modify-write loop.

    ``change`` gets the fresh object and returns the new status, or None to write nothing. Returns the object as
    written (or as read when nothing was written); None when the object does not exist.

    ``known`` is the object as the caller last saw it (a watch, its own last write): the first attempt changes it
    instead of reading, and only a write it calls for is tried, with its resourceVersion as the precondition. So a
    fresh ``known`` saves the read, and a stale one costs a 409 and a read, never a write on stale grounds. When it
    calls for no write the object is read and asked again: "nothing to do" is never answered from a stale view.
    """
    if known is not None and (known.get("metadata") or {}).get("resourceVersion"):  # never a write without one
        outcome = change(known)
        status = await outcome if isinstance(outcome, Awaitable) else outcome
        if status is not None:
            with contextlib.suppress(Conflict):
                return await replace_status(api, plural, known, status)
    for _ in range(attempts):
        body = await read(api, plural, name)
        if body is None:
            return None
        outcome = change(body)
        status = await outcome if isinstance(outcome, Awaitable) else outcome
        if status is None:
            return body
        try:
            return await replace_status(api, plural, body, status)
        except Conflict:
            continue
    raise Conflict(f"{plural}/{name} kept changing; gave up after {attempts} attempts")


def with_fields(status: NodeRebootRequestStatus, **updates: Any) -> dict[str, Any]:
    """``status`` with some fields replaced (validated again), in the JSON form the API stores."""
    return NodeRebootRequestStatus.model_validate({**status.model_dump(), **updates}).to_api()
