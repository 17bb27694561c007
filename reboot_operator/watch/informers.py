"""Our own list-then-watch of the kinds the decisions read, keeping only slim parsed views.

Why not Kopf's ``@kopf.index``: Kopf holds every indexed object's worker, with its whole body, behind one
readiness barrier until the last object of the initial listing is indexed, and each worker's arrival wakes all the
others; with 5,000 nodes and 5,000 requests that took minutes and hundreds of megabytes before the first decision.
Here one task per kind lists in pages, turns each object into its view at once (the page's raw JSON is dropped),
then watches from the list's resourceVersion. An event (or a listing) whose view equals the one held changes
nothing: the held object stays and no change is told, so a node's heartbeat costs one parse and one comparison.
``listed`` is set once the first full listing is in, which is the barrier the coordinator waits for: its first
decision sees the whole cluster.

Watch rules of the API (https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes):
a watch resumes from the last resourceVersion seen (bookmarks keep it fresh), a 410 Gone means that version is
too old and the kind is listed again (the difference is told as events), and a transient failure backs off and
tries again, never crashing the loop. Nothing is ever written by an informer.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from kubernetes_asyncio import client

from reboot_operator.api.controls import DEFAULT_NAMESPACE, STOP_CONFIGMAP, stop_reason
from reboot_operator.api.meta import GROUP, VERSION
from reboot_operator.kube.apicalls import (
    describe,
    list_each,
    watch_event,
    watch_events,
)
from reboot_operator.kube.node_view import NodeView, node_view
from reboot_operator.kube.statuses import POLICIES, REQUESTS
from reboot_operator.runtime.aiotasks import cancel_and_wait
from reboot_operator.runtime.backoff import OUTAGE_BACKOFF, Backoff
from reboot_operator.runtime.errors import WatchExpired
from reboot_operator.watch.observed import PolicyView, RequestView, policy_view, request_view

log = logging.getLogger(__name__)

V = TypeVar("V")

PAGE_SIZE = 500
"""Objects per page of a listing: bounds the raw JSON held at once while the views are built."""
SERVER_TIMEOUT = 270
"""Seconds the API server keeps one watch open; the informer then re-watches from where it was."""
STOP_LISTING_GRACE = 10.0
"""How long the first decision waits for the stop ConfigMap to be listed before taking it as unreadable (stopped)."""
READ_TIMEOUT = 330.0
"""Seconds without a byte (not even a bookmark) after which a watch connection is taken as dead."""
QUIET_WATCH = 1.0
"""A watch that ends within this many seconds having brought nothing is followed by a backoff, not at once by the
next (a server or proxy that closes every watch at once would otherwise be asked in a tight loop)."""

Parse = Callable[[Mapping[str, Any]], V | None]
Call = Callable[..., Awaitable[Any]]


@dataclass
class Informer(Generic[V]):
    """Keeps ``views`` (name → view) in step with one kind; ``on_change`` hears every change, listing or watch."""

    kind: str
    call: Call
    """The generated list method (e.g. ``CoreV1Api.list_node``, or a ``partial`` of ``list_cluster_custom_object``)."""
    parse: Parse[V]
    on_change: Callable[[str, V | None, str], None]
    """Told ``(name, view, resourceVersion)`` on every change; ``view`` is None when the object is gone."""
    page_size: int = PAGE_SIZE
    server_timeout: int = SERVER_TIMEOUT
    read_timeout: float = READ_TIMEOUT
    backoff: Backoff = field(default_factory=lambda: Backoff(initial=0.5, maximum=OUTAGE_BACKOFF))
    views: dict[str, V] = field(default_factory=dict)
    listed: asyncio.Event = field(default_factory=asyncio.Event)
    resource_version: str = ""
    listings: int = 0
    """How many full listings were made (1 + one per 410 Gone or lost connection that needed one)."""
    listed_after: float | None = None
    """Seconds from ``run`` to the end of the first listing."""
    failing: bool = False
    """Whether the last attempt to list or watch failed (an outage is logged when it begins and when it ends)."""
    last_error: str = ""
    """Why the last listing or watch failed, if one did."""
    on_listed: Callable[[], None] | None = None
    """Told after each full listing (even one that found nothing)."""

    async def run(self) -> None:
        """List, then watch for ever; cancel the task to stop. Run again, it resumes from where it was watching."""
        started = time.monotonic()
        need_list = not self.resource_version
        while True:
            try:
                if need_list:
                    await self._list()
                    need_list = False
                    if self.listed_after is None:
                        self.listed_after = time.monotonic() - started
                        log.info("%s listed in %.2fs: %d objects", self.kind, self.listed_after, len(self.views))
                    self.listed.set()
                began = time.monotonic()
                told = await self._watch()
                if told == 0 and time.monotonic() - began < QUIET_WATCH:
                    # A server (or a proxy in front of it) that ends every watch at once, saying nothing, is not
                    # asked again in a tight loop: the next watch waits as after a failure.
                    await asyncio.sleep(self.backoff.next())
                else:
                    self.backoff.reset()
            except asyncio.CancelledError:
                raise
            except WatchExpired:
                log.info("%s: the watch's resourceVersion expired (410 Gone); listing again", self.kind)
                need_list = True
            except Exception as error:  # the watch must outlive any failure, even a parser's bug: it retries
                self.last_error = describe(error)
                delay = self.backoff.next()
                if self.failing:  # an outage is logged once, and its end
                    log.debug("%s: watch failed again (%s); again in %.1fs", self.kind, describe(error), delay)
                else:
                    log.warning(
                        "%s: watch failed (%s); trying again every few seconds until it is back",
                        self.kind,
                        describe(error),
                    )
                self.failing = True
                await asyncio.sleep(delay)

    # -- listing ---------------------------------------------------------------------------------------------------

    async def _list(self) -> None:
        """Read every object, page by page, then tell the difference from what was known as changes."""
        fresh: dict[str, V] = {}
        versions: dict[str, str] = {}

        def keep(item: dict[str, Any]) -> None:
            metadata = item.get("metadata") or {}
            view = self.parse(item)
            if view is not None:
                fresh[metadata.get("name", "")] = view
                versions[metadata.get("name", "")] = metadata.get("resourceVersion", "")

        self.resource_version = await list_each(self.call, keep, page_size=self.page_size)
        self.listings += 1
        old, self.views = self.views, fresh
        for name in old.keys() - fresh.keys():
            self.on_change(name, None, "")
        for name, view in fresh.items():
            before = old.get(name)
            if before is not None and before == view:
                fresh[name] = before  # the very same object: what was handed out stays current
            else:
                self.on_change(name, view, versions[name])
        if self.on_listed is not None:
            self.on_listed()

    # -- watching --------------------------------------------------------------------------------------------------

    async def _watch(self) -> int:
        """Watch until the server ends it; how many events it brought (bookmarks included)."""
        told = 0
        response = await self.call(
            watch=True,
            resource_version=self.resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=self.server_timeout,
            _preload_content=False,
            _request_timeout=(10, self.read_timeout),
        )
        if response.status == 200 and self.failing:
            log.info("%s: watching again", self.kind)
            self.failing = False
            self.backoff.reset()
        try:
            async for event in watch_events(response):
                told += 1
                self._event(event)
        finally:
            response.release()
        return told

    def _event(self, event: Mapping[str, Any]) -> None:
        kind, body, version = watch_event(event)
        if version:
            self.resource_version = version
        if kind == "BOOKMARK":
            return
        name = (body.get("metadata") or {}).get("name", "")
        view = self.parse(body) if kind != "DELETED" else None
        if view is None:  # deleted, or unreadable (the parser has said why): as if absent
            if self.views.pop(name, None) is not None:
                self.on_change(name, None, version or "")
            return
        before = self.views.get(name)
        if before is not None and before == view:
            # Nothing the operator reads has changed (a kubelet's heartbeat: at 15,000 nodes, 50 a second). The view
            # held stays, so whoever compares views by identity sees no change either, and nobody is told.
            return
        self.views[name] = view
        self.on_change(name, view, version or "")


class WatchedState:
    """Nodes, NodeRebootRequests and RebootPolicies as the coordinator reads them (its ``State``), kept by three
    informers, and the cluster-wide stop (the ConfigMap ``rollboot-stop`` in ``namespace``, watched by name alone)
    by a fourth. ``listen`` wires their changes to the coordinator; ``wait_listed`` is the first decision's barrier:
    so the first decision knows whether everything is stopped. A stop that cannot be read (RBAC, an outage) counts
    as a stop, saying why, after ``STOP_LISTING_GRACE``: nothing starts that an admin may have meant to stop."""

    def __init__(self, api: client.ApiClient, listener: Listener, *, namespace: str = DEFAULT_NAMESPACE) -> None:
        core = client.CoreV1Api(api)
        custom = client.CustomObjectsApi(api)
        self._nodes: Informer[NodeView] = Informer(
            "nodes",
            core.list_node,
            node_view,
            lambda name, view, _: listener.node_deleted(name) if view is None else listener.node_observed(view),
        )
        self._requests: Informer[RequestView] = Informer(
            REQUESTS,
            functools.partial(custom.list_cluster_custom_object, GROUP, VERSION, REQUESTS),
            request_view,
            lambda name, _, version: listener.changed(REQUESTS, name, version),
        )
        self._policies: Informer[PolicyView] = Informer(
            POLICIES,
            functools.partial(custom.list_cluster_custom_object, GROUP, VERSION, POLICIES),
            policy_view,
            lambda name, _, version: listener.changed(POLICIES, name, version),
        )
        self._stop: Informer[str] = Informer(
            "configmaps",
            functools.partial(
                core.list_namespaced_config_map, namespace, field_selector=f"metadata.name={STOP_CONFIGMAP}"
            ),
            stop_reason,
            lambda name, _, version: listener.changed("configmaps", name, version),
            on_listed=lambda: listener.changed("configmaps", STOP_CONFIGMAP, ""),
        )
        self._namespace = namespace
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(informer.run(), name=f"informer-{informer.kind}")
                for informer in (self._stop, self._policies, self._nodes, self._requests)
            ]

    async def wait_listed(self) -> None:
        """Until each kind has been listed in full once."""
        for informer in (self._policies, self._nodes, self._requests):
            await informer.listed.wait()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.listed.wait(), STOP_LISTING_GRACE)

    def counts(self) -> dict[str, int]:
        return {i.kind: len(i.views) for i in (self._nodes, self._requests, self._policies)}

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []

    # -- State ----------------------------------------------------------------------------------------------------

    def node(self, name: str) -> NodeView | None:
        return self._nodes.views.get(name)

    def request(self, name: str) -> RequestView | None:
        return self._requests.views.get(name)

    def policy(self, name: str) -> PolicyView | None:
        return self._policies.views.get(name)

    def stopped(self) -> str | None:
        """Why everything is stopped, or None: the stop ConfigMap's reason, or that it cannot be read."""
        if not self._stop.listed.is_set():
            why = self._stop.last_error or "not listed yet"
            return (
                f"the ConfigMap {self._namespace}/{STOP_CONFIGMAP} cannot be read ({why}); nothing starts until it can"
            )
        return self._stop.views.get(STOP_CONFIGMAP)

    # Copies: a decision pass awaits between reading these and using them, while the watch goes on.
    def nodes(self) -> Mapping[str, NodeView]:
        return dict(self._nodes.views)

    def requests(self) -> Mapping[str, RequestView]:
        return dict(self._requests.views)

    def policies(self) -> Mapping[str, PolicyView]:
        return dict(self._policies.views)


class Listener(Protocol):
    """What the informers tell (the coordinator)."""

    def node_observed(self, view: NodeView) -> None: ...

    def node_deleted(self, name: str) -> None: ...

    def changed(self, plural: str, name: str, resource_version: str) -> None: ...
