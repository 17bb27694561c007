"""Every change of the NodeRebootRequests and the Nodes (and a workload's Pods) while a test runs, replayed in order.

Sampling the API every 100 ms misses what lasts less than that (a hand-off overlapping by a few milliseconds), and
"at most N" over samples holds even when nothing was sampled. A watch started from a listing's resourceVersion
delivers every change from then on, and resourceVersions are the storage's revisions, one sequence for every kind,
so the changes of all the watches sorted by revision are the cluster's history exactly. The rules are checked on that
whole history (``Replay``), and the recording is complete when it ends: ``recording`` waits until the watches have
delivered the state a fresh listing shows.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from reboot_operator.api.meta import GROUP, VERSION

IN_PROGRESS = frozenset({"Cordoning", "Draining", "Rebooting", "Verifying", "Uncordoning"})
"""The phases between a cycle's start and its end, as docs/operator.md lists them."""
SIMULATED = "rollboot.dev/simulated=true"
CORDON_MARK = "rollboot.dev/cordoned-by"
"""The annotation on a node the operator cordoned (docs/operator.md); a cordon without it is someone else's."""

Lister = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Change:
    revision: int
    kind: str
    """``request``, ``node`` or ``pod``."""
    type: str
    """ADDED (also for what the first listing found), MODIFIED or DELETED."""
    name: str
    body: dict[str, Any]


@dataclass
class Replay:
    """What the history shows, change by change."""

    changes: int = 0
    most_in_progress: dict[str, int] = field(default_factory=dict)
    """Per policy, the most requests in progress at any one revision."""
    most_cordoned: int = 0
    """The most of the nodes asked about cordoned at any one revision."""
    starts: dict[str, int] = field(default_factory=dict)
    """How many times each request entered a cycle (a phase in progress, from one that is not)."""
    approvals: dict[str, int] = field(default_factory=dict)
    """How many distinct approvals each request was given (a new boot ID or attempt to reboot from)."""
    reboots: dict[str, int] = field(default_factory=dict)
    """How many times each node came back with a new boot ID (its kubelet's ``nodeInfo.bootID``)."""
    approved_schedulable: list[str] = field(default_factory=list)
    """Requests given an approval while their node was not cordoned: a reboot of a node not drained."""
    approved_with_pods: dict[str, list[str]] = field(default_factory=dict)
    """Per request given an approval while recorded pods were still on its node, those pods."""
    admin_cordons_lifted: list[str] = field(default_factory=list)
    """Nodes uncordoned while cordoned by someone else (no ``rollboot.dev/cordoned-by`` mark)."""
    cordoned_at_end: set[str] = field(default_factory=set)
    """The nodes cordoned when the recording ended."""
    fewest_healthy_pods: int | None = None
    """The fewest recorded pods Ready and not being deleted at any revision from the pods' listing on (as the
    disruption controller counts them); None unless pods were recorded."""
    pod_changes: int = 0
    """Changes of the recorded pods after their listing."""

    def assert_one_reboot_each(
        self,
        policy: str,
        nodes: Iterable[str],
        *,
        limit: int,
        cordoned: int | None = None,
        admin_cordoned: Iterable[str] = (),
        why: object = "",
    ) -> None:
        """The rules of a rollout in which each of ``nodes`` reboots once, on every change of it: ``limit`` nodes in
        progress at once, reached and never passed, and ``cordoned`` (default ``limit``) cordoned at once; each node
        started, approved and rebooted once, approved only once drained; an admin's cordon kept, nothing else left
        cordoned."""
        nodes, admin = list(nodes), set(admin_cordoned)
        assert self.most_in_progress == {policy: limit}, (f"{limit} at once, reached and never passed", self, why)
        expected = limit if cordoned is None else cordoned
        assert self.most_cordoned == expected, (f"{expected} cordoned at once, reached and never passed", self)
        assert self.starts == dict.fromkeys(nodes, 1), ("one cycle per node", self)
        assert self.approvals == dict.fromkeys(nodes, 1), ("one approval per node", self)
        assert self.reboots == dict.fromkeys(nodes, 1), ("one reboot per approval", self)
        assert not self.approved_schedulable and not self.approved_with_pods, ("approved before drained", self)
        assert not self.admin_cordons_lifted, ("an admin's cordon lifted", self)
        assert self.cordoned_at_end == admin, ("nothing left cordoned but the admin's", self)


@dataclass
class _State:
    """The cluster as the replay has reached it."""

    found: Replay
    phase: dict[str, str | None] = field(default_factory=dict)
    policy: dict[str, str | None] = field(default_factory=dict)
    approval: dict[str, tuple[Any, Any] | None] = field(default_factory=dict)
    cordoned: dict[str, bool] = field(default_factory=dict)
    """Per cordoned node, whether the cordon is ours (marked)."""
    boot: dict[str, str] = field(default_factory=dict)
    pod_node: dict[str, str | None] = field(default_factory=dict)
    healthy: set[str] = field(default_factory=set)

    def node(self, change: Change) -> None:
        metadata, spec = change.body.get("metadata") or {}, change.body.get("spec") or {}
        if change.type != "DELETED" and spec.get("unschedulable"):
            self.cordoned[change.name] = CORDON_MARK in (metadata.get("annotations") or {})
        elif self.cordoned.pop(change.name, True) is False:
            self.found.admin_cordons_lifted.append(change.name)
        self.found.most_cordoned = max(self.found.most_cordoned, len(self.cordoned))
        boot = ((change.body.get("status") or {}).get("nodeInfo") or {}).get("bootID")
        if boot and change.name in self.boot and boot != self.boot[change.name]:
            self.found.reboots[change.name] = self.found.reboots.get(change.name, 0) + 1
        if boot:
            self.boot[change.name] = boot

    def pod(self, change: Change, *, after_listing: bool) -> None:
        if after_listing:
            if self.found.fewest_healthy_pods is None:  # the fewest counts from the whole listing on
                self.found.fewest_healthy_pods = len(self.healthy)
            self.found.pod_changes += 1
        alive = change.type != "DELETED"
        self.pod_node[change.name] = (change.body.get("spec") or {}).get("nodeName") if alive else None
        conditions = (change.body.get("status") or {}).get("conditions") or []
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
        if alive and ready and not (change.body.get("metadata") or {}).get("deletionTimestamp"):
            self.healthy.add(change.name)
        else:
            self.healthy.discard(change.name)
        if self.found.fewest_healthy_pods is not None:
            self.found.fewest_healthy_pods = min(self.found.fewest_healthy_pods, len(self.healthy))

    def request(self, change: Change) -> None:
        found, name = self.found, change.name
        status = change.body.get("status") or {} if change.type != "DELETED" else {}
        before = self.phase.get(name)
        self.phase[name], self.policy[name] = status.get("phase"), status.get("policy")
        if self.phase[name] in IN_PROGRESS and before not in IN_PROGRESS:
            found.starts[name] = found.starts.get(name, 0) + 1
        given = status.get("approval")
        key = (given.get("bootID"), given.get("attempt")) if given else None
        if key is not None and key != self.approval.get(name):
            found.approvals[name] = found.approvals.get(name, 0) + 1
            if name not in self.cordoned:
                found.approved_schedulable.append(name)
            pods = sorted(pod for pod, node in self.pod_node.items() if node == name)
            if pods:
                found.approved_with_pods[name] = pods
        self.approval[name] = key if key is not None else self.approval.get(name)
        counts: dict[str, int] = {}
        for request, current in self.phase.items():
            if current in IN_PROGRESS:
                counts[str(self.policy[request])] = counts.get(str(self.policy[request]), 0) + 1
        for policy, count in counts.items():
            found.most_in_progress[policy] = max(found.most_in_progress.get(policy, 0), count)


@dataclass
class Recorder:
    api: client.ApiClient
    node_selector: str = SIMULATED
    """Which nodes to record (a label selector)."""
    pods: tuple[str, str] | None = None
    """Which pods to record, if any: a namespace and a label selector."""
    changes: list[Change] = field(default_factory=list)
    listed_at: dict[str, int] = field(default_factory=dict)
    """Per kind, the revision of its first listing."""
    _seen: dict[tuple[str, str], int] = field(default_factory=dict)
    _gone: set[tuple[str, str]] = field(default_factory=set)

    def _record(self, kind: str, type_: str, body: dict[str, Any]) -> None:
        metadata = body.get("metadata") or {}
        name, revision = str(metadata.get("name")), int(metadata.get("resourceVersion") or 0)
        self.changes.append(Change(revision, kind, type_, name, body))
        self._seen[kind, name] = revision
        if type_ == "DELETED":
            self._gone.add((kind, name))
        else:
            self._gone.discard((kind, name))

    async def _follow(self, kind: str, lister: Lister, listed: asyncio.Event, **kwargs: Any) -> None:
        listing = await list_objects(self.api, lister, **kwargs)
        for item in listing.get("items") or []:
            self._record(kind, "ADDED", item)
        version = listing["metadata"]["resourceVersion"]
        self.listed_at[kind] = int(version)
        listed.set()
        while True:
            async with watch.Watch().stream(lister, resource_version=version, timeout_seconds=300, **kwargs) as stream:
                async for event in stream:
                    body = event["object"]
                    if not isinstance(body, dict):
                        body = self.api.sanitize_for_serialization(body)
                    if event["type"] == "ERROR":
                        raise AssertionError(f"the {kind} watch failed, so the record has a gap: {body}")
                    if event["type"] == "BOOKMARK":
                        continue
                    self._record(kind, event["type"], body)
                    version = body["metadata"]["resourceVersion"]

    def _watches(self) -> list[tuple[str, Lister, dict[str, Any]]]:
        custom = client.CustomObjectsApi(self.api)
        core = client.CoreV1Api(self.api)

        async def requests(**kwargs: Any) -> Any:
            return await custom.list_cluster_custom_object(GROUP, VERSION, "noderebootrequests", **kwargs)

        watches: list[tuple[str, Lister, dict[str, Any]]] = [
            ("request", requests, {}),
            ("node", core.list_node, {"label_selector": self.node_selector}),
        ]
        if self.pods is not None:
            namespace, selector = self.pods

            async def pods(**kwargs: Any) -> Any:
                return await core.list_namespaced_pod(namespace, **kwargs)

            watches.append(("pod", pods, {"label_selector": selector}))
        return watches

    async def _caught_up(self) -> bool:
        """Whether every object a fresh listing shows has been recorded at that version, and nothing else lives."""
        for kind, lister, kwargs in self._watches():
            listing = await list_objects(self.api, lister, **kwargs)
            names = set()
            for item in listing.get("items") or []:
                name = item["metadata"]["name"]
                names.add(name)
                if self._seen.get((kind, name), -1) < int(item["metadata"]["resourceVersion"]):
                    return False
            alive = {n for (k, n) in self._seen if k == kind and (k, n) not in self._gone}
            if alive - names:
                return False
        return True

    def replay(self, nodes: set[str] | frozenset[str] | None = None) -> Replay:
        """The history replayed, of ``nodes`` and their requests only (default: every node and request recorded):
        other tests' objects live in the same cluster, and a leftover request of theirs is none of this test's.
        Recorded pods all count."""
        state = _State(Replay(changes=len(self.changes)))
        pods_listed = self.listed_at.get("pod")
        for change in sorted(self.changes, key=lambda c: c.revision):
            if change.kind == "pod":
                state.pod(change, after_listing=pods_listed is not None and change.revision > pods_listed)
            elif nodes is not None and change.name not in nodes:
                continue
            elif change.kind == "node":
                state.node(change)
            else:
                state.request(change)
        if pods_listed is not None and state.found.fewest_healthy_pods is None:
            state.found.fewest_healthy_pods = len(state.healthy)
        state.found.cordoned_at_end = set(state.cordoned)
        return state.found


async def list_objects(api: client.ApiClient, lister: Lister, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """A listing, as plain JSON; the API server's "not now" (429 while a CRD's storage starts, 5xx) is asked again."""
    for _ in range(100):
        try:
            listing = await lister(*args, **kwargs)
        except ApiException as error:
            if error.status not in (429, 500, 503, 504):
                raise
        else:
            result: dict[str, Any] = listing if isinstance(listing, dict) else api.sanitize_for_serialization(listing)
            return result
        await asyncio.sleep(0.2)
    raise AssertionError("the API server kept refusing to list")


@contextlib.asynccontextmanager
async def in_background(*work: Coroutine[Any, Any, None]) -> AsyncIterator[list[asyncio.Task[None]]]:
    """Runs ``work`` while the block runs, as tasks; on leaving, cancels them and waits until they have ended."""
    tasks = [asyncio.create_task(each) for each in work]
    try:
        yield tasks
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


@contextlib.asynccontextmanager
async def recording(
    api: client.ApiClient, *, nodes: str = SIMULATED, pods: tuple[str, str] | None = None, settle: float = 30
) -> AsyncIterator[Recorder]:
    """Records every change while the block runs, of the requests, the nodes matching the selector ``nodes``, and
    the pods ``pods`` names (a namespace and a selector), if any; on leaving, waits (up to ``settle`` s) until the
    record holds the state the API server shows, so the replay is complete."""
    recorder = Recorder(api, node_selector=nodes, pods=pods)
    listed = [asyncio.Event() for _ in recorder._watches()]
    following = [
        recorder._follow(kind, lister, done, **kwargs)
        for (kind, lister, kwargs), done in zip(recorder._watches(), listed, strict=True)
    ]
    async with in_background(*following) as tasks:
        async with asyncio.timeout(30):
            while not all(done.is_set() for done in listed):
                _raise_failed(tasks)
                await asyncio.sleep(0.05)
        yield recorder
        async with asyncio.timeout(settle):
            while not await recorder._caught_up():
                _raise_failed(tasks)
                await asyncio.sleep(0.1)


def _raise_failed(tasks: list[asyncio.Task[None]]) -> None:
    """A watch that failed raises its error here (not a time-out later): the record would have a gap."""
    for task in tasks:
        if task.done():
            task.result()
            raise AssertionError("a watch ended: the record would have a gap")
