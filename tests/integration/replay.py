"""Every change of the NodeRebootRequests and the simulated Nodes while a test runs, from a watch, replayed in order.

Sampling the API every 100 ms misses what lasts less than that (a hand-off overlapping by a few milliseconds), and
"at most N" over samples holds even when nothing was sampled. A watch started from a listing's resourceVersion
delivers every change from then on, and resourceVersions are the storage's revisions, one sequence for every kind,
so the changes of both watches sorted by revision are the cluster's history exactly. The rules are checked on that
whole history (``Replay``), and the recording is complete when it ends: ``recording`` waits until the watches have
delivered the state a fresh listing shows.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from reboot_operator.api.meta import GROUP, VERSION

IN_PROGRESS = frozenset({"Cordoning", "Draining", "Rebooting", "Verifying", "Uncordoning"})
"""The phases between a cycle's start and its end, as docs/operator.md lists them."""
SIMULATED = "rollboot.dev/simulated=true"

Lister = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Change:
    revision: int
    kind: str
    """``request`` or ``node``."""
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


@dataclass
class Recorder:
    api: client.ApiClient
    changes: list[Change] = field(default_factory=list)
    _seen: dict[tuple[str, str], int] = field(default_factory=dict)
    _gone: set[tuple[str, str]] = field(default_factory=set)
    _listed: asyncio.Event = field(default_factory=asyncio.Event)

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
        listing = await _list(lister, **kwargs)
        if not isinstance(listing, dict):
            listing = self.api.sanitize_for_serialization(listing)
        for item in listing.get("items") or []:
            self._record(kind, "ADDED", item)
        listed.set()
        version = listing["metadata"]["resourceVersion"]
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

        return [("request", requests, {}), ("node", core.list_node, {"label_selector": SIMULATED})]

    async def _caught_up(self) -> bool:
        """Whether every object a fresh listing shows has been recorded at that version, and nothing else lives."""
        for kind, lister, kwargs in self._watches():
            listing = await _list(lister, **kwargs)
            if not isinstance(listing, dict):
                listing = self.api.sanitize_for_serialization(listing)
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
        other tests' objects live in the same cluster, and a leftover request of theirs is none of this test's."""
        found = Replay(changes=len(self.changes))
        phase: dict[str, str | None] = {}
        policy: dict[str, str | None] = {}
        approval: dict[str, tuple[Any, Any] | None] = {}
        cordoned: set[str] = set()
        for change in sorted(self.changes, key=lambda c: c.revision):
            if nodes is not None and change.name not in nodes:
                continue
            if change.kind == "node":
                if change.type != "DELETED" and (change.body.get("spec") or {}).get("unschedulable"):
                    cordoned.add(change.name)
                else:
                    cordoned.discard(change.name)
                found.most_cordoned = max(found.most_cordoned, len(cordoned))
                continue
            status = change.body.get("status") or {} if change.type != "DELETED" else {}
            before = phase.get(change.name)
            phase[change.name], policy[change.name] = status.get("phase"), status.get("policy")
            if phase[change.name] in IN_PROGRESS and before not in IN_PROGRESS:
                found.starts[change.name] = found.starts.get(change.name, 0) + 1
            given = status.get("approval")
            key = (given.get("bootID"), given.get("attempt")) if given else None
            if key is not None and key != approval.get(change.name):
                found.approvals[change.name] = found.approvals.get(change.name, 0) + 1
            approval[change.name] = key if key is not None else approval.get(change.name)
            counts: dict[str, int] = {}
            for name, current in phase.items():
                if current in IN_PROGRESS:
                    counts[str(policy[name])] = counts.get(str(policy[name]), 0) + 1
            for name, count in counts.items():
                found.most_in_progress[name] = max(found.most_in_progress.get(name, 0), count)
        return found


async def _list(lister: Lister, **kwargs: Any) -> Any:
    """A listing; the API server's "not now" (429 while a CRD's storage starts, 5xx) is asked again."""
    for _ in range(100):
        try:
            return await lister(**kwargs)
        except ApiException as error:
            if error.status not in (429, 500, 503, 504):
                raise
        await asyncio.sleep(0.2)
    raise AssertionError("the API server kept refusing to list")


@contextlib.asynccontextmanager
async def recording(api: client.ApiClient, *, settle: float = 30) -> AsyncIterator[Recorder]:
    """Records every change while the block runs; on leaving, waits (up to ``settle`` s) until the record holds
    the state the API server shows, so the replay is complete."""
    recorder = Recorder(api)
    listed = [asyncio.Event() for _ in recorder._watches()]
    tasks = [
        asyncio.create_task(recorder._follow(kind, lister, done, **kwargs))
        for (kind, lister, kwargs), done in zip(recorder._watches(), listed, strict=True)
    ]
    try:
        async with asyncio.timeout(30):
            while not all(done.is_set() for done in listed):
                _raise_failed(tasks)
                await asyncio.sleep(0.05)
        yield recorder
        async with asyncio.timeout(settle):
            while not await recorder._caught_up():
                _raise_failed(tasks)
                await asyncio.sleep(0.1)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _raise_failed(tasks: list[asyncio.Task[None]]) -> None:
    """A watch that failed raises its error here (not a time-out later): the record would have a gap."""
    for task in tasks:
        if task.done():
            task.result()
            raise AssertionError("a watch ended: the record would have a gap")
