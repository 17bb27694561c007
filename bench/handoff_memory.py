"""One hand-off at scale, in process: the real coordinator over the in-memory API stand-in, to profile it.

    .venv/bin/python -m bench.handoff_memory [--size 15000] [--samples 20] [--profile out.prof] [--lag 0.002]

The cluster of ``bench_scale`` (``--size`` nodes in 50 pools, one request each, 50 policies of maxConcurrent 2)
lives in ``tests/operator/memory.py``'s stand-in, which answers the coordinator's calls at once; a watch is played
by delivering each stored object to the coordinator ``--lag`` seconds later. Once the first decision is carried
out and every waiting status is written, the requests of 5 policies that reach Rebooting are rebooted (a new boot
ID) until ``--samples`` have completed; for each, the time from its Completed write to the next request of its
policy leaving Waiting, and the API calls the operator made in between. No API server and no network: what is
left is the operator's own CPU on the hand-off path. ``--profile`` writes a cProfile of the hand-off phase alone.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import cProfile
import random
import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any

from reboot_operator.coordinator import Coordinator
from reboot_operator.kube.drain_types import DrainOutcome, DrainResult
from reboot_operator.kube.node_view import NodeView, node_view
from reboot_operator.rollout import starting
from reboot_operator.watch.observed import PolicyView, RequestView, policy_view, request_view
from tests.operator.memory import MemoryApi, node, request

POLICIES = 50
ROLLING = 5
WARM_UP = 2 * ROLLING
"""Completions not counted: the first of each slot (the passes right after settling are not hand-offs)."""
REBOOT_SPREAD = 0.5
"""A node comes back from its reboot within this many seconds (uniform), after the watch's lag."""
REQUESTS, POLICY_KIND, NODES = "noderebootrequests", "rebootpolicies", "nodes"


def _pool(index: int) -> str:
    return f"pool-{index % POLICIES:02d}"


class WatchedMemory(MemoryApi):
    """The stand-in, with a watch: every stored object is shown to the listener ``lag`` seconds later."""

    def __init__(self, lag: float) -> None:
        super().__init__()
        self.lag = lag
        self.listener: Coordinator | None = None
        self.views: dict[str, dict[str, Any]] = {NODES: {}, REQUESTS: {}, POLICY_KIND: {}}
        self.hooks: list[Callable[[str, dict[str, Any], float], None]] = []
        self.calls: list[tuple[float, str, str]] = []

    def _store(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        stored = super()._store(kind, body)
        self.history.clear()  # thousands of copies are not this tool's subject
        at = time.monotonic()
        for hook in self.hooks:
            hook(kind, stored, at)
        if self.listener is None:
            self._show(kind, stored)
        else:
            asyncio.get_running_loop().call_later(self.lag, self._show, kind, copy.deepcopy(stored))
        return stored

    def answer(self, method: str, url: str, headers: dict[str, str], body: Any) -> Any:
        self.calls.append((time.monotonic(), method, url.split("/apis/")[-1].split("/api/")[-1]))
        return super().answer(method, url, headers, body)

    def _show(self, kind: str, body: dict[str, Any]) -> None:
        name = body["metadata"]["name"]
        view: Any = {NODES: node_view, REQUESTS: request_view, POLICY_KIND: policy_view}[kind](body)
        self.views[kind][name] = view
        listener = self.listener
        if listener is None:
            return
        if kind == NODES:
            listener.node_observed(view)
        else:
            listener.changed(kind, name, body["metadata"]["resourceVersion"])


class State:
    def __init__(self, memory: WatchedMemory) -> None:
        self.views = memory.views

    def node(self, name: str) -> NodeView | None:
        found: NodeView | None = self.views[NODES].get(name)
        return found

    def policy(self, name: str) -> PolicyView | None:
        found: PolicyView | None = self.views[POLICY_KIND].get(name)
        return found

    def request(self, name: str) -> RequestView | None:
        found: RequestView | None = self.views[REQUESTS].get(name)
        return found

    def nodes(self) -> Mapping[str, NodeView]:
        return dict(self.views[NODES])

    def requests(self) -> Mapping[str, RequestView]:
        return dict(self.views[REQUESTS])

    def policies(self) -> Mapping[str, PolicyView]:
        return dict(self.views[POLICY_KIND])

    def stopped(self) -> str | None:
        return None


async def _drained(*_: Any, **__: Any) -> DrainResult:
    return DrainResult(outcome=DrainOutcome.COMPLETED, error=None)


def _populate(memory: WatchedMemory, size: int) -> dict[str, str]:
    pools = {}
    for i in range(size):
        name = f"n-{i:05d}"
        pools[name] = _pool(i)
        body = node(name)
        body["metadata"]["labels"] = {"pool": _pool(i)}
        memory.put(NODES, body)
        memory.put(REQUESTS, request(name))
    for i in range(POLICIES):
        spec = {
            "nodeSelector": {"matchLabels": {"pool": _pool(i)}},
            "maxConcurrent": 2,
            "drain": {"timeout": "10m"},
            "reboot": {"timeout": "1h", "soak": "0s"},
        }
        memory.put(POLICY_KIND, {"metadata": {"name": _pool(i)}, "spec": spec, "status": {}})
    return pools


async def _settled(memory: WatchedMemory, coordinator: Coordinator, quiet: float = 1.0) -> None:
    """Until the operator has made no call for ``quiet`` seconds."""
    while True:
        await asyncio.sleep(quiet / 4)
        last = memory.calls[-1][0] if memory.calls else 0.0
        if coordinator.passes and time.monotonic() - last > quiet:
            return


async def measure(size: int, samples: int, lag: float, profile: str | None) -> None:
    setattr(starting, "drain_node", _drained)  # noqa: B010 (the drain is not this tool's subject)
    memory = WatchedMemory(lag)
    pools = _populate(memory, size)
    api = await memory.client()
    coordinator = Coordinator()
    memory.listener = coordinator
    passes: list[tuple[float, float, float]] = []
    original = coordinator._pass

    async def timed(run: Any) -> None:
        began = time.monotonic()
        await original(run)
        passes.append((began, time.monotonic() - began, coordinator._computing))

    coordinator._pass = timed  # type: ignore[method-assign]
    began = time.monotonic()
    coordinator.start(api, State(memory))
    await _settled(memory, coordinator)
    print(f"{size} nodes: settled {time.monotonic() - began:.1f} s after the start, {len(memory.calls)} calls")

    # One more pass, as any event would bring: it takes in our own writes of the waiting statuses.
    before = coordinator.passes
    coordinator.kick()
    while coordinator.passes == before:
        await asyncio.sleep(0.05)
    rolling = {_pool(i) for i in range(ROLLING)}
    completions: list[tuple[float, str, str]] = []
    starts: list[tuple[float, str, str]] = []
    phases: dict[str, str | None] = {}
    done = asyncio.Event()

    def reboot(name: str) -> None:
        def rebooted(body: dict[str, Any]) -> None:
            body["status"]["nodeInfo"]["bootID"] = body["status"]["nodeInfo"]["bootID"] + "+"

        memory.edit(NODES, name, rebooted)

    def seen(kind: str, body: dict[str, Any], at: float) -> None:
        if kind != REQUESTS:
            return
        name = body["metadata"]["name"]
        status = body.get("status") or {}
        phase, before = status.get("phase"), phases.get(name)
        phases[name] = phase
        if pools[name] not in rolling or phase == before:
            return
        if phase == "Completed":
            completions.append((at, pools[name], name))
            if len(completions) >= samples + WARM_UP:
                done.set()
        elif before in (None, "Waiting") and phase not in (None, "Waiting"):
            starts.append((at, pools[name], name))
        if phase == "Rebooting":  # back after a while, as nodes do: the hand-offs of 5 policies spread out
            asyncio.get_running_loop().call_later(lag + random.uniform(0, REBOOT_SPREAD), reboot, name)

    memory.hooks.append(seen)
    for (kind, name), body in memory.objects.items():
        if kind == REQUESTS:
            phases[name] = (body.get("status") or {}).get("phase")
    first_call, first_refusal = len(memory.calls), len(memory.refused)
    random.seed(17)
    profiler = cProfile.Profile() if profile else None
    # The rolling policies' claimed requests sit at Rebooting: reboot them to begin.
    for (kind, named), body in list(memory.objects.items()):
        if kind == REQUESTS and pools[named] in rolling and (body.get("status") or {}).get("phase") == "Rebooting":
            reboot(named)
    while len(completions) < WARM_UP:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)
    if profiler is not None:
        profiler.enable()
    await asyncio.wait_for(done.wait(), 600)
    await asyncio.sleep(0.5)
    if profiler is not None and profile is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    gaps = []
    for at, pool, name in completions[WARM_UP:]:
        following = [(t, n) for t, p, n in starts if p == pool and t >= at]
        if not following:
            continue
        t, nxt = min(following)
        between = [c for c in memory.calls if at <= c[0] <= t]
        gaps.append((t - at, name, nxt, between))
    during = [p for p in passes if p[0] >= completions[WARM_UP][0]]
    print(
        f"hand-offs: {len(gaps)}, p50 {statistics.median(g[0] for g in gaps) * 1000:.1f} ms, "
        f"max {max(g[0] for g in gaps) * 1000:.1f} ms; calls in the phase: {len(memory.calls) - first_call}"
    )
    print("  " + " ".join(f"{g[0] * 1000:.0f}" for g in gaps))
    refused: dict[str, int] = {}
    for kind, _, code in memory.refused[first_refusal:]:
        refused[f"{kind} {code}"] = refused.get(f"{kind} {code}", 0) + 1
    reads = sum(1 for _, method, path in memory.calls[first_call:] if method == "GET" and "rebootpolicies" in path)
    print(f"  refused in the phase: {refused or 'none'}; policies read (a compare-and-swap retried): {reads}")
    print(
        f"passes in the phase: {len(during)}, median {statistics.median(p[1] for p in during) * 1000:.1f} ms "
        f"(computing {statistics.median(p[2] for p in during) * 1000:.1f} ms), "
        f"max {max(p[1] for p in during) * 1000:.1f} ms"
    )
    for gap, name, nxt, between in sorted(gaps, key=lambda g: g[0])[-2:]:
        print(f"  {name} -> {nxt}: {gap * 1000:.1f} ms, {len(between)} calls:")
        for at, method, path in between:
            print(f"    +{(at - (between[0][0])) * 1000:7.1f} ms {method} {path}")
    await coordinator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.handoff_memory", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--size", type=int, default=15000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--lag", type=float, default=0.002, help="the watch's delay, seconds")
    parser.add_argument("--profile", help="write a cProfile of the hand-off phase here")
    args = parser.parse_args()
    asyncio.run(measure(args.size, args.samples, args.lag, args.profile))


if __name__ == "__main__":
    main()
