"""Our own list-then-watch of the kinds the decisions read, keeping only slim parsed views.

Why not Kopf's ``@kopf.index``: Kopf holds every indexed object's worker, with its whole body, behind one
readiness barrier until the last object of the initial listing is indexed, and each worker's arrival wakes all the
others; with 5,000 nodes and 5,000 requests that took minutes and hundreds of megabytes before the first decision.
Here one task per kind lists in pages, turns each object into its view at once (the page's raw JSON is dropped),
then watches from the list's resourceVersion: the loop is ``kube/listwatch.py``'s (410 Gone, backoff, a watch that
ends at once or hangs), keyed by name and resumed from the last version seen. An event (or a listing) whose view
equals the one held changes nothing: the held object stays and no change is told, so a node's heartbeat costs one
parse and one comparison. ``listed`` is set once the first full listing is in, which is the barrier the coordinator
waits for: its first decision sees the whole cluster. Nothing is ever written by an informer.
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
from reboot_operator.kube.listwatch import ApiSource, ListWatch, Parse
from reboot_operator.kube.node_view import NodeView, node_view
from reboot_operator.kube.statuses import POLICIES, REQUESTS
from reboot_operator.runtime.aiotasks import cancel_and_wait
from reboot_operator.runtime.backoff import OUTAGE_BACKOFF, Backoff
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
"""Seconds without a byte (not even a bookmark) after which a watch connection is taken as dead; a watch still open
this long after it began is given up too (the server ends it after ``SERVER_TIMEOUT``)."""

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
    on_listed: Callable[[], None] | None = None
    """Told after each full listing (even one that found nothing)."""
    listed: asyncio.Event = field(default_factory=asyncio.Event)
    listed_after: float | None = None
    """Seconds from ``run`` to the end of the first listing."""
    engine: ListWatch[V] = field(init=False)
    """The list-then-watch loop, which holds the views, the version and how the last try went."""
    _started: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self.engine = ListWatch(
            what=self.kind,
            source=ApiSource(self.call, page_size=self.page_size, read_timeout=self.read_timeout),
            parse=self.parse,
            on_change=self.on_change,
            server_timeout=self.server_timeout,
            grace=max(0.0, self.read_timeout - self.server_timeout),
            backoff=self.backoff,
            on_listed=self._listed,
            logger=log,
        )

    async def run(self) -> None:
        """List, then watch for ever; cancel the task to stop. Run again, it resumes from where it was watching."""
        self._started = time.monotonic()
        await self.engine.run()

    def _listed(self) -> None:
        if self.listed_after is None:
            self.listed_after = time.monotonic() - self._started
            log.info("%s listed in %.2fs: %d objects", self.kind, self.listed_after, len(self.views))
        self.listed.set()
        if self.on_listed is not None:
            self.on_listed()

    @property
    def views(self) -> dict[str, V]:
        return self.engine.views

    @property
    def resource_version(self) -> str:
        return self.engine.resource_version

    @property
    def listings(self) -> int:
        """How many full listings were made (1 + one per 410 Gone or lost connection that needed one)."""
        return self.engine.listings

    @property
    def last_error(self) -> str:
        """Why the last listing or watch failed, if one did."""
        return self.engine.last_error


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
