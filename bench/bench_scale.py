"""The operator on a big cluster: its peak memory, the time to its first correct decision, and the time per decision.

    .venv/bin/python -m bench.bench_scale [--quick] [--sizes 1000 5000] [--repeat 3]

For each size N, ``--repeat`` times, on a fresh control plane (no controller-manager: nothing here needs one):
N simulated nodes (no leases, no pod scheduling; created ``--concurrency`` at a time) in 50 pools by a label, one
NodeRebootRequest per node as its agent would create it, and 50 RebootPolicies, one per pool, maxConcurrent 2, no
window (always open). Nothing has a status yet. Then the real operator is started and watched from outside:

- first correct decision: from the operator's process start until every policy's status shows counts.selected
  equal to its pool's size and status.slots holding exactly 2 names (100 claims in all), polled every 0.1 s;
- peak memory: VmHWM (peak resident set) of the operator's process once it has settled: its CPU idle for 3 s
  after the first correct decision (the waiting requests' statuses written; the phases found are printed), or
  ``--settle-timeout`` seconds after that decision;
- a restart on the settled cluster: the operator is stopped, started again, and left to settle; every write it
  makes meanwhile (anything but get, list, watch, from the audit log) is counted: nothing has changed, so the
  target is none;
- at rest under churn, with that restarted operator: for ``CHURN_SECONDS``, every node's status is refreshed once
  per ``HEARTBEAT_SECONDS`` as a kubelet does (a Ready heartbeat), and every ``CHANGE_SECONDS`` one node gets a new
  label and another a condition flipped (MemoryPressure); the operator's CPU time over that span, in percent of one
  core;
- hand-off while the other requests wait: a rollout of a few nodes inside the big cluster; the requests of
  ``HANDOFF_POLICIES`` policies that reach Rebooting are rebooted (the simulated node comes back with a new boot
  ID, as an agent's reboot would) until ``HANDOFF_SAMPLES`` have completed, and for each, the time until the next
  request of its policy starts (its phase leaves Waiting), seen from outside by a watch.
- time per decision: with the operator stopped, decisions run in this process on facts built the way
  ``Coordinator._pass`` builds them, from the objects listed from the API, with a ``Decider`` kept from one to the
  next as the operator keeps it: the first decision (from scratch), then one decision after each single change (a
  node turning NotReady or Ready again: median of 21 after one warm-up); the time to build the facts from the
  operator's parsed views is reported beside it. As the operator does, the objects alive after the listing and
  after the first decision are frozen out of the garbage collector's reach (``gc.freeze``).

Figures are medians over the repeats, recorded in ``bench/results.json`` (other keys kept) as soon as a size is
measured, unless ``--no-record`` or ``--quick``. Exits 0 once measured, whether the targets are met or not. A run
lasts as long as the operator takes: at 5,000 nodes, over ten minutes on the project's machine (see RESULTS.md).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import gc
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, watch

from bench import harness, observe
from bench.harness import GROUP, VERSION
from hack import processes
from hack.nodesim.simulator import MERGE_PATCH, STRATEGIC_PATCH, NodeSimulator, now_rfc3339
from reboot_operator.core.decide import Decider
from reboot_operator.kube.node_view import node_view
from reboot_operator.watch.observed import policy_view, request_view

POLICIES = 50
SLOTS = 2
RUN_LABEL = "rollboot.dev/bench-run"
POOL_LABEL = "rollboot.dev/bench-pool"
TARGET_RSS_MB = 200.0
TARGET_FIRST_DECISION_S = 5.0
TARGET_DECIDE_MS = 20.0
TARGET_RESTART_WRITES = 0
TARGET_CPU_PERCENT = 5.0
TARGET_HANDOFF_P99_S = 0.2
CHURN_SECONDS = 60.0
HEARTBEAT_SECONDS = 300.0
"""How often a kubelet rewrites its Node's status when nothing changed (nodeStatusReportFrequency, with leases)."""
CHANGE_SECONDS = 2.0
HANDOFF_TIMEOUT = 600.0
HANDOFF_POLICIES = 5
HANDOFF_SAMPLES = 100
"""Enough that the nearest-rank p99 is not simply the worst hand-off (it was, with 20); 10 nodes roll at once, so
the phase takes about half a minute."""
IDLE_SECONDS = 3.0


@dataclass
class Options:
    sizes: list[int]
    repeat: int
    concurrency: int
    timeout: float
    settle_timeout: float
    record: bool
    keep: bool


@dataclass
class Run:
    """What one start of the operator on one cluster measured."""

    size: int
    first_decision: float
    settled: float
    peak_rss_mb: float
    rss_at_decision_mb: float
    """VmHWM when the first correct decision was seen."""
    rss_settled_mb: float
    """VmRSS (resident now) once settled: what the operator keeps, against the peak it passed through."""
    decide_ms: float
    """One decision after one change, with the decisions kept from the last one."""
    cold_decide_ms: float
    """The first decision, from scratch."""
    untold_decide_ms: float
    """One decision after one change, the Decider not told which (it compares every request and node)."""
    facts_ms: float
    restart_writes: dict[str, int]
    """The writes of an operator started again on the settled cluster, by kind."""
    restart_settled: float
    cpu_percent: float
    churn: dict[str, float]
    """Heartbeats and changes per second achieved."""
    handoffs: list[float]
    phases: dict[str, int]
    milestones: dict[str, float]
    """Seconds from the operator's start to steps seen in the audit log (empty on a borrowed cluster)."""
    kinds: dict[str, int]
    """The operator's requests from its start until it settled, by kind (empty on a borrowed cluster)."""


def _parse(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_scale", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000], help="cluster sizes (1000 5000)")
    parser.add_argument("--repeat", type=int, default=3, help="fresh clusters per size (default 3)")
    parser.add_argument("--concurrency", type=int, default=32, help="creations in flight while populating")
    parser.add_argument("--timeout", type=float, default=1800.0, help="longest wait for the first correct decision")
    parser.add_argument(
        "--settle-timeout", type=float, default=180.0, help="longest wait after it for the operator to settle"
    )
    parser.add_argument("--quick", action="store_true", help="1,000 nodes, once; records nothing")
    parser.add_argument("--no-record", action="store_true", help="print only; leave bench/results.json alone")
    parser.add_argument("--keep", action="store_true", help="keep the logs folder even after a good run")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.repeat = [1000], 1
    return Options(
        sizes=args.sizes,
        repeat=args.repeat,
        concurrency=args.concurrency,
        timeout=args.timeout,
        settle_timeout=args.settle_timeout,
        record=not (args.no_record or args.quick),
        keep=args.keep,
    )


def _pool(index: int) -> str:
    return f"pool-{index % POLICIES:02d}"


def _policy(run: str, pool: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RebootPolicy",
        "metadata": {"name": f"{run}-{pool}", "labels": {RUN_LABEL: run}},
        "spec": {
            "nodeSelector": {"matchLabels": {POOL_LABEL: f"{run}-{pool}"}},
            "maxConcurrent": SLOTS,
            "drain": {"timeout": "10m"},
            "reboot": {"timeout": "1h"},
        },
    }


class Population:
    """The nodes, requests and policies of one run, created through the API and (on a borrowed cluster) removed."""

    def __init__(self, api: client.ApiClient, work: Path, size: int, concurrency: int) -> None:
        self.api, self.size, self.concurrency = api, size, concurrency
        self.run = f"scale-{os.urandom(2).hex()}"
        self.nodes = [f"{self.run}-{i:05d}" for i in range(size)]
        self.sim = NodeSimulator(api=api, root=work / "nodes", lease_seconds=None, schedule_pods=False)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    def share(self, pool: str) -> int:
        return sum(1 for i in range(self.size) if _pool(i) == pool)

    async def create(self) -> None:
        started = time.monotonic()
        await self.sim.start()
        labels = [{RUN_LABEL: self.run, POOL_LABEL: f"{self.run}-{_pool(i)}"} for i in range(self.size)]
        await harness.bounded(
            [
                partial(harness.retrying, partial(self.sim.add_node, name, labels=labels[i]))
                for i, name in enumerate(self.nodes)
            ],
            concurrency=self.concurrency,
        )
        nodes_done = time.monotonic()
        create = partial(self.custom.create_cluster_custom_object, GROUP, VERSION)
        requests = [harness.agent_request(n, self.sim.boot_id(n), {RUN_LABEL: self.run}) for n in self.nodes]
        await harness.bounded(
            [partial(harness.retrying, partial(create, "noderebootrequests", body)) for body in requests],
            concurrency=self.concurrency,
        )
        for index in range(POLICIES):
            await create("rebootpolicies", _policy(self.run, _pool(index)))
        print(
            f"  {self.size} nodes in {nodes_done - started:.1f} s, {self.size} requests and {POLICIES} policies in "
            f"{time.monotonic() - nodes_done:.1f} s",
            flush=True,
        )

    async def remove(self, *, borrowed: bool) -> None:
        await self.sim.stop()
        if not borrowed:
            return  # the control plane goes, and everything in it
        selector = f"{RUN_LABEL}={self.run}"
        for plural in ("noderebootrequests", "rebootpolicies"):
            await self.custom.delete_collection_cluster_custom_object(GROUP, VERSION, plural, label_selector=selector)
        await client.CoreV1Api(self.api).delete_collection_node(label_selector=selector)

    async def policies(self) -> list[dict[str, Any]]:
        listing = await self.custom.list_cluster_custom_object(
            GROUP, VERSION, "rebootpolicies", label_selector=f"{RUN_LABEL}={self.run}"
        )
        items: list[dict[str, Any]] = listing["items"]
        return items

    def correct(self, policies: list[dict[str, Any]]) -> bool:
        """Every policy counts its whole pool and holds exactly its slots: the first decision, carried out."""
        if len(policies) != POLICIES:
            return False
        for policy in policies:
            status = policy.get("status") or {}
            pool = policy["metadata"]["name"].removeprefix(f"{self.run}-")
            if (status.get("counts") or {}).get("selected") != self.share(pool):
                return False
            if len(set(status.get("slots") or [])) != SLOTS:
                return False
        return True


async def _raw_list(call: Any, *args: Any) -> list[dict[str, Any]]:
    """A listing as plain JSON, the way a watch hands objects to the operator (no client models in between)."""
    response = await call(*args, _preload_content=False)
    items: list[dict[str, Any]] = json.loads(await response.read())["items"]
    return items


async def _time_decisions(api: client.ApiClient, repeat: int = 21) -> tuple[float, float, float, float]:
    """Milliseconds, on the listed state: to bring the facts up to date after one change (as ``Coordinator._pass``
    does), to decide after it told which node changed (as the coordinator tells it), the same not told (every
    request and node compared with the last decision's), medians; and to decide the first time."""
    custom = client.CustomObjectsApi(api)
    nodes = {n["metadata"]["name"]: node_view(n) for n in await _raw_list(client.CoreV1Api(api).list_node)}
    requests = {
        r["metadata"]["name"]: view
        for r in await _raw_list(custom.list_cluster_custom_object, GROUP, VERSION, "noderebootrequests")
        if (view := request_view(r)) is not None
    }
    policies = {
        p["metadata"]["name"]: policy_view(p)
        for p in await _raw_list(custom.list_cluster_custom_object, GROUP, VERSION, "rebootpolicies")
    }
    gc.freeze()  # as the operator does once it has listed (coordinator/loop.py, _keep_from_the_collector)
    now = datetime.datetime.now(datetime.UTC)
    claims = {node: p.name for p in policies.values() for node in p.status.slots}
    request_facts = {name: r.facts(claimed_by=claims.get(name)) for name, r in requests.items()}
    node_facts = {name: view.facts for name, view in nodes.items()}
    names = sorted(nodes)
    told, untold = Decider(), Decider()
    facts_ms, decide_ms, untold_ms, cold_ms = [], [], [], 0.0
    for attempt in range(repeat + 2):
        touched: set[str] | None = None
        started = time.perf_counter()
        if attempt:  # one node's Ready condition flips, as a watch event would bring it; its facts are rebuilt
            flipped = nodes[names[(attempt * 7919) % len(names)]]
            changed = nodes[flipped.name] = dataclasses.replace(
                flipped, facts=dataclasses.replace(flipped.facts, ready=not flipped.facts.ready)
            )
            touched = {changed.name}
            claims = {node: p.name for p in policies.values() for node in p.status.slots}
            node_facts[changed.name] = changed.facts
        policy_facts = [f for p in policies.values() if (f := p.facts()) is not None]
        built = time.perf_counter()
        told.decide(policies=policy_facts, requests=request_facts, nodes=node_facts, now=now, touched=touched)
        done = time.perf_counter()
        untold.decide(policies=policy_facts, requests=request_facts, nodes=node_facts, now=now)
        untold_done = time.perf_counter()
        now += datetime.timedelta(seconds=1)
        if attempt == 0:
            cold_ms = (done - built) * 1000
            gc.freeze()  # as the operator does after its first decision
        elif attempt > 1:  # the first after a change is a warm-up
            facts_ms.append((built - started) * 1000)
            decide_ms.append((done - built) * 1000)
            untold_ms.append((untold_done - done) * 1000)
    return statistics.median(facts_ms), statistics.median(decide_ms), statistics.median(untold_ms), cold_ms


async def _watch_operator(
    population: Population, operator: processes.Child, started: float, opts: Options
) -> tuple[float, float, float, float, float]:
    """Seconds to the first correct decision and to settling; peak RSS (MB) at the decision and at the end; RSS
    (MB) at the end."""
    first = rss_at_decision = None
    idle_since, last_cpu = time.monotonic(), harness.cpu_seconds(operator.pid)
    deadline = started + opts.timeout
    while True:
        if not operator.alive():
            raise RuntimeError("the operator exited:\n" + operator.log()[-4000:])
        now = time.monotonic()
        if first is None and population.correct(await population.policies()):
            first = time.monotonic() - started
            rss_at_decision = harness.proc_status_kb(operator.pid, "VmHWM") / 1024
            deadline = now + opts.settle_timeout
            print(f"  first correct decision {first:.2f} s after the operator's start", flush=True)
        cpu = harness.cpu_seconds(operator.pid)
        if cpu - last_cpu > 0.02:
            idle_since = now
        last_cpu = cpu
        if first is not None and now - idle_since >= IDLE_SECONDS:
            settled = idle_since - started
            break
        if now > deadline:
            if first is None:
                raise TimeoutError(f"no correct decision within {opts.timeout:.0f} s:\n{operator.log()[-4000:]}")
            settled = now - started
            print(f"  the operator had not settled {opts.settle_timeout:.0f} s after that", flush=True)
            break
        await asyncio.sleep(0.1)
    peak = harness.proc_status_kb(operator.pid, "VmHWM") / 1024
    resident = harness.proc_status_kb(operator.pid, "VmRSS") / 1024
    assert rss_at_decision is not None
    return first, settled, rss_at_decision, peak, resident


def _milestones(cluster: harness.Cluster, started: float) -> tuple[dict[str, float], dict[str, int]]:
    """Where the time to the first decision went, from the operator's requests: its first request (imports and
    start-up before it), the last of its watches opened (each right after the initial list of a resource), its
    first write (the first decision being carried out). And all its requests by kind."""
    if cluster.audit_log is None:
        return {}, {}
    audited = observe.audited_requests(cluster.audit_log, harness.OPERATOR_USER)
    watches: dict[str, float] = {}
    for request in audited:
        if request.verb == "watch":
            watches.setdefault(request.resource, request.at)
    writes = [r.at for r in audited if r.verb not in ("get", "list", "watch")]
    marks = {
        "first request": audited[0].at if audited else None,
        "every watch open": max(watches.values()) if len(watches) >= 3 else None,
        "first write": writes[0] if writes else None,
    }
    _, kinds = observe.count(audited, started, math.inf)
    return {name: at - started for name, at in marks.items() if at is not None}, kinds


@dataclass
class Restarted:
    writes: dict[str, int]
    settled: float
    cpu_percent: float
    churn: dict[str, float]
    handoffs: list[float]


async def _restart(
    api: client.ApiClient, cluster: harness.Cluster, work: Path, population: Population, opts: Options
) -> Restarted:
    """Start the operator again on the settled cluster: its writes until it settles, by kind, and when it did;
    then its CPU under churn, and the hand-offs of a few nodes' reboots."""
    started, wall_started = time.monotonic(), time.time()
    operator = harness.start_operator(cluster, work / "operator-restart.log")
    try:
        _, settled, _, _, _ = await _watch_operator(population, operator, started, opts)
        settled_wall = time.time()
        await asyncio.sleep(1.0)  # the audit log is written behind the requests
        kinds: dict[str, int] = {}
        if cluster.audit_log is not None:
            audited = observe.audited_requests(cluster.audit_log, harness.OPERATOR_USER)
            for request in audited:
                if request.verb not in ("get", "list", "watch") and wall_started <= request.at <= settled_wall:
                    kinds[request.kind] = kinds.get(request.kind, 0) + 1
        print(f"  restarted: settled after {settled:.1f} s, writes: {kinds or 'none'}", flush=True)
        cpu, churn = await _churn(api, population, operator)
        print(f"  at rest under churn ({churn}): {cpu:.2f} % of one core", flush=True)
        handoffs = await _handoffs(api, population)
        print(
            f"  hand-offs: {len(handoffs)}, p50 {harness.percentile(handoffs, 50):.3f} s, "
            f"p99 {harness.percentile(handoffs, 99):.3f} s; the slowest: "
            + ", ".join(f"{h:.3f}" for h in sorted(handoffs, reverse=True)[:5]),
            flush=True,
        )
    finally:
        operator.stop()
    return Restarted(kinds, settled, cpu, churn, handoffs)


async def _churn(
    api: client.ApiClient, population: Population, operator: processes.Child
) -> tuple[float, dict[str, float]]:
    """The operator's CPU (percent of one core) while nodes heartbeat and change as in a live cluster."""
    core = client.CoreV1Api(api)
    names = population.nodes
    rate = len(names) / HEARTBEAT_SECONDS

    async def beat(name: str) -> None:
        condition = {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready"}
        body = {"status": {"conditions": [{**condition, "lastHeartbeatTime": now_rfc3339()}]}}
        await core.patch_node_status(name, body, _content_type=STRATEGIC_PATCH)

    async def change(count: int) -> None:
        labels = {"metadata": {"labels": {"rollboot.dev/bench-churn": str(count)}}}
        await core.patch_node(names[(count * 7919) % len(names)], labels, _content_type=MERGE_PATCH)
        pressure = {"type": "MemoryPressure", "status": "True" if count % 2 else "False", "reason": "Bench"}
        pressure["lastHeartbeatTime"] = pressure["lastTransitionTime"] = now_rfc3339()
        body = {"status": {"conditions": [pressure]}}
        await core.patch_node_status(names[(count * 104729) % len(names)], body, _content_type=STRATEGIC_PATCH)

    beats = changes = 0
    cpu_before, started = harness.cpu_seconds(operator.pid), time.monotonic()
    while (elapsed := time.monotonic() - started) < CHURN_SECONDS:
        due = int(elapsed * rate) - beats
        if due > 0:
            batch = [partial(beat, names[(beats + i) % len(names)]) for i in range(due)]
            await harness.bounded(batch, concurrency=16)
            beats += due
        if elapsed >= changes * CHANGE_SECONDS:
            await change(changes)
            changes += 1
        await asyncio.sleep(0.02)
    elapsed = time.monotonic() - started
    cpu = harness.cpu_seconds(operator.pid) - cpu_before
    return 100 * cpu / elapsed, {
        "heartbeats_per_s": round(beats / elapsed, 1),
        "changes_per_s": round(changes / elapsed, 2),
    }


async def _handoffs(api: client.ApiClient, population: Population) -> list[float]:
    """A rollout of a few nodes inside the big cluster: the requests of ``HANDOFF_POLICIES`` policies that reach
    Rebooting are rebooted (as their agents would), until ``HANDOFF_SAMPLES`` have completed; for each, the time
    until the next request of its policy starts (leaves Waiting), seen from outside by one watch."""
    custom = client.CustomObjectsApi(api)
    pools = {name: _pool(i) for i, name in enumerate(population.nodes)}
    rolling = {_pool(i) for i in range(HANDOFF_POLICIES)}
    selector = f"{RUN_LABEL}={population.run}"
    listing = await custom.list_cluster_custom_object(GROUP, VERSION, "noderebootrequests", label_selector=selector)
    phases: dict[str, str | None] = {}
    rebooted: set[str] = set()
    completions: list[tuple[float, str]] = []
    starts: list[tuple[float, str]] = []

    def seen(body: dict[str, Any], at: float) -> None:
        name = body["metadata"]["name"]
        status = body.get("status") or {}
        phase, before = status.get("phase"), phases.get(name)
        phases[name] = phase
        if pools[name] not in rolling or phase == before:
            return
        if phase == "Completed" and name in rebooted:
            completions.append((at, pools[name]))
        elif before in (None, "Waiting") and phase not in (None, "Waiting"):
            starts.append((at, pools[name]))
        approval = (status.get("approval") or {}).get("bootID")
        if phase == "Rebooting" and name not in rebooted and approval == population.sim.boot_id(name):
            rebooted.add(name)
            population.sim.reboot(name)

    for item in listing["items"]:
        seen(item, time.monotonic())
    deadline = time.monotonic() + HANDOFF_TIMEOUT
    stream = watch.Watch().stream(
        custom.list_cluster_custom_object,
        GROUP,
        VERSION,
        "noderebootrequests",
        label_selector=selector,
        resource_version=listing["metadata"]["resourceVersion"],
        timeout_seconds=int(HANDOFF_TIMEOUT),
    )
    async with stream as events:
        async for event in events:
            now = time.monotonic()
            seen(event["object"], now)
            handoffs = _gaps(completions, starts)
            if (len(completions) >= HANDOFF_SAMPLES and len(handoffs) == len(completions)) or now > deadline:
                break
    return _gaps(completions, starts)


def _gaps(completions: list[tuple[float, str]], starts: list[tuple[float, str]]) -> list[float]:
    """For each completion, the time until the next start in its policy (those with none yet left out)."""
    gaps = []
    for completed, pool in completions:
        following = [t for t, p in starts if p == pool and t >= completed]
        if following:
            gaps.append(min(following) - completed)
    return gaps


async def _phases(api: client.ApiClient, run: str) -> dict[str, int]:
    listing = await client.CustomObjectsApi(api).list_cluster_custom_object(
        GROUP, VERSION, "noderebootrequests", label_selector=f"{RUN_LABEL}={run}"
    )
    phases: dict[str, int] = {}
    for item in listing["items"]:
        phase = (item.get("status") or {}).get("phase") or "none"
        phases[phase] = phases.get(phase, 0) + 1
    return phases


async def _one_run(opts: Options, cluster: harness.Cluster, work: Path, size: int) -> Run:
    async with harness.api_client(cluster.kubeconfig) as api:
        population = Population(api, work, size, opts.concurrency)
        operator: processes.Child | None = None
        try:
            await population.create()
            started, wall_started = time.monotonic(), time.time()
            operator = harness.start_operator(cluster, work / "operator.log")
            first, settled, rss_at_decision, peak, resident = await _watch_operator(population, operator, started, opts)
            operator.stop()
            milestones, kinds = _milestones(cluster, wall_started)
            if milestones:
                print("  the operator's requests: " + ", ".join(f"{k} {v:.2f} s" for k, v in milestones.items()))
                print("  by kind: " + ", ".join(f"{k} {v}" for k, v in kinds.items()))
            phases = await _phases(api, population.run)
            restarted = await _restart(api, cluster, work, population, opts)
            facts_ms, decide_ms, untold_ms, cold_ms = await _time_decisions(api)
            return Run(
                size,
                first,
                settled,
                peak,
                rss_at_decision,
                resident,
                decide_ms,
                cold_ms,
                untold_ms,
                facts_ms,
                restarted.writes,
                restarted.settled,
                restarted.cpu_percent,
                restarted.churn,
                restarted.handoffs,
                phases,
                milestones,
                kinds,
            )
        finally:
            if operator is not None:
                operator.stop()
            await population.remove(borrowed=cluster.plane is None)


def _figures(ctx: harness.Context, runs: list[Run]) -> dict[str, dict[str, Any]]:
    figures: dict[str, dict[str, Any]] = {}
    for size in sorted({r.size for r in runs}):
        mine = [r for r in runs if r.size == size]
        what = f"{size} simulated nodes, {size} NodeRebootRequests, {POLICIES} policies of maxConcurrent {SLOTS}"
        figures[f"scale_{size}_first_decision_s"] = ctx.figure(
            value=round(statistics.median(r.first_decision for r in mine), 2),
            unit="s",
            target=TARGET_FIRST_DECISION_S,
            runs=len(mine),
            note=f"{what}: operator process start → every policy's status shows its selected count and its "
            f"{SLOTS} claimed slots ({POLICIES * SLOTS} claims), seen from outside; median of fresh clusters",
            values=[round(r.first_decision, 2) for r in mine],
            settled_s=[round(r.settled, 1) for r in mine],
            milestones_s=[{k: round(v, 2) for k, v in r.milestones.items()} for r in mine],
            by_kind=mine[-1].kinds,
        )
        figures[f"scale_{size}_operator_peak_rss_mb"] = ctx.figure(
            value=round(statistics.median(r.peak_rss_mb for r in mine), 1),
            unit="MB",
            target=TARGET_RSS_MB,
            runs=len(mine),
            note=f"{what}: VmHWM (peak resident set) of the operator's process once it has settled (its CPU idle "
            "for 3 s after the first correct decision); median of fresh clusters",
            values=[round(r.peak_rss_mb, 1) for r in mine],
            at_first_decision_mb=[round(r.rss_at_decision_mb, 1) for r in mine],
            resident_when_settled_mb=[round(r.rss_settled_mb, 1) for r in mine],
        )
        figures[f"scale_{size}_decide_ms"] = ctx.figure(
            value=round(statistics.median(r.decide_ms for r in mine), 2),
            unit="ms",
            target=TARGET_DECIDE_MS,
            runs=len(mine),
            note=f"{what}, as the operator left them: one decision after a single change (a node's Ready flips), "
            "in process, with a Decider kept between decisions and told which node changed, as Coordinator._pass "
            "does, on facts kept as it keeps them; median of 21 per cluster, then of the clusters. untold_ms: the "
            "same, not told (it compares every request and node with the last decision's); cold_ms: the first "
            "decision, from scratch; facts_ms: bringing the facts up to date",
            facts_ms=[round(r.facts_ms, 2) for r in mine],
            cold_ms=[round(r.cold_decide_ms, 2) for r in mine],
            untold_ms=[round(r.untold_decide_ms, 2) for r in mine],
        )
        figures[f"scale_{size}_restart_writes"] = ctx.figure(
            value=max(sum(r.restart_writes.values()) for r in mine),
            unit="writes",
            target=TARGET_RESTART_WRITES,
            runs=len(mine),
            note=f"{what}: the operator stopped once settled and started again; every write it made (audit log: "
            "anything but get, list, watch) until it settled again; the most of the clusters",
            by_kind=[r.restart_writes for r in mine],
            settled_s=[round(r.restart_settled, 1) for r in mine],
        )
        figures[f"scale_{size}_cpu_at_rest_percent"] = ctx.figure(
            value=round(statistics.median(r.cpu_percent for r in mine), 2),
            unit="%",
            target=TARGET_CPU_PERCENT,
            runs=len(mine),
            note=f"{what}, settled, the operator restarted: its CPU time over {CHURN_SECONDS:.0f} s while every node's "
            f"status is refreshed once per {HEARTBEAT_SECONDS:.0f} s (kubelet heartbeats) and every "
            f"{CHANGE_SECONDS:.0f} s a node gets a new label and another a condition flipped; percent of one core",
            churn=[r.churn for r in mine],
        )
        handoffs = [h for r in mine for h in r.handoffs]
        figures[f"scale_{size}_handoff_p99_s"] = ctx.figure(
            value=round(harness.percentile(handoffs, 99), 3),
            unit="s",
            target=TARGET_HANDOFF_P99_S,
            runs=len(mine),
            note=f"{what}, settled, the operator restarted: the requests of {HANDOFF_POLICIES} policies rebooted as "
            f"they reach Rebooting, until {HANDOFF_SAMPLES} have completed; for each, until the next request of its "
            "policy leaves Waiting, seen from outside by a watch; nearest-rank p99 over all hand-offs",
            samples=len(handoffs),
            p50_s=round(harness.percentile(handoffs, 50), 3),
        )
    return figures


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    opts = _parse(args)
    ctx = harness.Context.start("bench.bench_scale", args)
    ctx.print_header()
    work = Path(tempfile.mkdtemp(prefix="rollboot-bench-scale-"))
    good = False
    try:
        for size in opts.sizes:
            runs = [_measure(opts, work, size, repeat) for repeat in range(opts.repeat)]
            # Each size is recorded once measured: a later size that fails loses only its own figures.
            figures = _figures(ctx, runs)
            for key, figure in figures.items():
                print(harness.status_line(key, figure["value"], figure["unit"], figure["target"]), flush=True)
            if opts.record:
                harness.record(figures)
        good = True
    finally:
        if good and not opts.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"logs kept in {work}", file=sys.stderr)
    return 0


def _measure(opts: Options, work: Path, size: int, repeat: int) -> Run:
    print(f"{size} nodes, run {repeat + 1}/{opts.repeat}", flush=True)
    folder = work / f"{size}-{repeat}"
    with harness.cluster(
        folder / "cluster", audit=True, controller_manager=False, keep_audit=folder / "audit.log" if opts.keep else None
    ) as cluster:
        run = asyncio.run(_one_run(opts, cluster, folder, size))
    print(
        f"  peak RSS {run.peak_rss_mb:.1f} MB ({run.rss_at_decision_mb:.1f} MB at the first decision, "
        f"{run.rss_settled_mb:.1f} MB resident once settled), settled {run.settled:.1f} s after the start; "
        f"requests: {run.phases}; decide {run.decide_ms:.2f} ms after one change ({run.untold_decide_ms:.2f} ms not "
        f"told which, {run.cold_decide_ms:.1f} ms the first time), its facts {run.facts_ms:.2f} ms; restart writes "
        f"{run.restart_writes or 'none'}",
        flush=True,
    )
    return run


if __name__ == "__main__":
    sys.exit(main())
