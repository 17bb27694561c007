"""The pods of one node, listed then watched, so a drain sees an evicted pod leave the moment it does.

Only that node's pods: every list and watch carries the field selector ``spec.nodeName=<node>`` (all namespaces),
and a drain watches only while it waits. The operator never watches every pod in the cluster.

1. List the node's pods (paginated) and remember the list's resourceVersion.
2. Watch from that version, with bookmarks; the API server ends the watch after ``relist_interval`` seconds, and we
   give up on it a little later should it hang without a word (a half-open connection).
3. Whenever a watch ends, for whatever reason, go back to 1. That re-list is the fallback: even a watch that never
   delivers anything (refused, broken, silently stalled) leaves the cache at most ``relist_interval`` seconds (plus
   backoff) behind, so it can never hold a drain past its time-out.

A 410 Gone (the version is too old to watch from) re-lists at once. Other failures wait through a backoff first,
since kubernetes_asyncio retries nothing itself; a refused watch (403: the operator's role lacks ``watch`` on pods)
degrades to re-listing every ``relist_interval`` (10 s at most), and says so once. ``apply_event`` is the pure
part: how one watch event changes the cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from reboot_operator.kube.apicalls import (
    describe,
    is_transient,
    list_each,
    watch_event,
    watch_events,
)
from reboot_operator.kube.pod_filters import PodInfo
from reboot_operator.runtime.backoff import Backoff
from reboot_operator.runtime.errors import API_FAILURES, WatchError, WatchExpired

log = logging.getLogger(__name__)

LIST_CHUNK = 500
WATCH_GRACE = 5.0
"""Seconds past the server-side watch time-out after which we stop waiting for the server to end the watch."""
MIN_QUIET_WATCH = 1.0
"""A watch the server ends sooner than this with nothing said counts as a failure, so it is not retried in a loop."""
_FAILURES: tuple[type[BaseException], ...] = (*API_FAILURES, ValueError)
"""What ends one list or watch and is retried: the API's failures, and a pod whose JSON cannot be read."""

__all__ = ["WatchError", "WatchExpired"]  # re-exported: they are this module's outcomes too


@dataclass(frozen=True)
class Listing:
    """The node's pods by UID, and the resourceVersion to watch from."""

    pods: dict[str, PodInfo]
    resource_version: str


class PodSource(Protocol):
    """Where the pods of a node come from: the API server in production, a fake in unit tests."""

    async def list(self, node: str) -> Listing: ...

    def watch(
        self, node: str, *, resource_version: str, timeout_seconds: int
    ) -> AsyncGenerator[dict[str, Any], None]: ...


def apply_event(pods: dict[str, PodInfo], event: Mapping[str, Any]) -> tuple[bool, str | None]:
    """Apply one watch event to ``pods`` (by UID) in place: (whether the cache changed, the version to resume from).

    Raises ``WatchExpired`` for a 410 ERROR event and ``WatchError`` for any other.
    """
    kind, document, version = watch_event(event)
    if kind == "BOOKMARK":
        return False, version
    uid = (document.get("metadata") or {}).get("uid") or ""
    if kind == "DELETED":
        return pods.pop(uid, None) is not None, version
    if kind in ("ADDED", "MODIFIED"):
        pod = PodInfo.from_json(document)
        changed = pods.get(uid) != pod
        pods[uid] = pod
        return changed, version
    log.debug("ignoring a pod watch event of type %r", kind)
    return False, version


class ApiPodSource:
    """Lists and watches one node's pods on the API server, as raw JSON (no model round-trip)."""

    def __init__(self, api: client.ApiClient) -> None:
        self.core = client.CoreV1Api(api)

    async def list(self, node: str, *, label_selector: str = "") -> Listing:
        pods: dict[str, PodInfo] = {}

        def keep(item: dict[str, Any]) -> None:
            pod = PodInfo.from_json(item)
            pods[pod.uid] = pod

        kwargs = {"label_selector": label_selector} if label_selector else {}
        version = await list_each(
            self.core.list_pod_for_all_namespaces,
            keep,
            page_size=LIST_CHUNK,
            field_selector=f"spec.nodeName={node}",
            **kwargs,
        )
        return Listing(pods, version)

    async def watch(
        self, node: str, *, resource_version: str, timeout_seconds: int
    ) -> AsyncGenerator[dict[str, Any], None]:
        response = await self.core.list_pod_for_all_namespaces(
            field_selector=f"spec.nodeName={node}",
            watch=True,
            allow_watch_bookmarks=True,
            resource_version=resource_version,
            timeout_seconds=timeout_seconds,
            _preload_content=False,
        )
        try:
            async for event in watch_events(response):
                yield event
        finally:
            # Closing (not releasing) drops a connection still streaming, rather than handing it back half-read.
            response.close()


def _expired(error: BaseException) -> bool:
    """410 Gone, as a watch ERROR event or as the HTTP status of the watch request."""
    return isinstance(error, WatchExpired) or (isinstance(error, ApiException) and error.status == 410)


class NodePodWatch:
    """Keeps ``pods`` (by UID; None until first listed) current for one node; ``run`` until cancelled.

    ``on_change`` is called after every change of ``pods``, including each re-list.
    """

    def __init__(
        self,
        source: PodSource,
        node: str,
        *,
        relist_interval: float,
        on_change: Callable[[], None],
        backoff: Backoff | None = None,
        grace: float = WATCH_GRACE,
    ) -> None:
        self.source = source
        self.node = node
        self.relist_interval = relist_interval
        self.on_change = on_change
        self.grace = grace
        self.backoff = backoff or Backoff(initial=0.5, maximum=max(0.5, min(relist_interval, 10.0)))
        self.pods: dict[str, PodInfo] | None = None
        self.resource_version = ""
        self.lists = 0
        self._last_problem: str | None = None

    async def run(self) -> None:
        expired_in_a_row = 0
        while True:
            try:
                await self._list()
                await self._watch()
                expired_in_a_row = 0
                continue
            except _FAILURES as error:
                if _expired(error):
                    expired_in_a_row += 1
                    log.info("the watch of pods on node %s expired; listing them again", self.node)
                    if expired_in_a_row == 1:
                        continue
                else:
                    self._failed(error)
            await asyncio.sleep(self.backoff.next())

    async def _list(self) -> None:
        # A list that hangs would stop the re-lists too: it gets as long as a watch does.
        async with asyncio.timeout(self.relist_interval + self.grace):
            listing = await self.source.list(self.node)
        self.lists += 1
        self.pods = listing.pods
        self.resource_version = listing.resource_version
        self.on_change()

    async def _watch(self) -> None:
        """One watch from the listed version, until the server ends it or it outlives its time-out plus a grace."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        heard = False
        timeout_seconds = max(1, math.ceil(self.relist_interval))
        stream = self.source.watch(self.node, resource_version=self.resource_version, timeout_seconds=timeout_seconds)
        scope = asyncio.timeout(timeout_seconds + self.grace)
        try:
            async with scope, contextlib.aclosing(stream):
                async for event in stream:
                    heard = True
                    assert self.pods is not None
                    changed, version = apply_event(self.pods, event)
                    if version:
                        self.resource_version = version
                    if changed:
                        self.on_change()
        except TimeoutError:
            if not scope.expired():
                raise
            log.info("the watch of pods on node %s went quiet for too long; listing them again", self.node)
            return
        if not heard and loop.time() - started < MIN_QUIET_WATCH:
            raise WatchError({"code": 500, "reason": "WatchEnded", "message": "the API server ended a watch at once"})
        self._recovered()

    def _failed(self, error: BaseException) -> None:
        problem = describe(error) if not isinstance(error, WatchError) else str(error)
        transient = is_transient(error) or (isinstance(error, WatchError) and error.code in (0, 429, 500, 503, 504))
        if problem == self._last_problem:
            log.debug("pods on node %s: %s; retrying", self.node, problem)
            return
        self._last_problem = problem
        if transient:
            log.warning("watching pods on node %s: %s; retrying", self.node, problem)
        else:
            log.warning(
                "watching pods on node %s: %s; listing them every %.0f s instead",
                self.node,
                problem,
                self.backoff.maximum,
            )

    def _recovered(self) -> None:
        self.backoff.reset()
        self._last_problem = None
