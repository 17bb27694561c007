"""A rolling reboot with real agents and the real operator: makespan, hand-off and reaction latency, API cost.

    .venv/bin/python -m bench.bench_rollout [--quick] [--nodes 50] [--repeat 3] [--reboot-seconds 3]

One control plane with an audit log, in which the operator has a user of its own; simulated nodes, each rollout
node with its own ``sentinel_agent`` process whose reboot command reboots it in ``--reboot-seconds``; the real
operator. Every time here is the *receive* time of a watch event in this process, on its one monotonic clock.

1. Reaction: for ``--reaction-samples`` idle nodes in turn (no agents; a policy with maxConcurrent 1, always open,
   its slot free), create the NodeRebootRequest as the agent would; latency from the create call's return to the
   node seen cordoned. Each sample's node is then rebooted and completed before the next.
2. Rollouts, for maxConcurrent 1 and 5 in turn, ``--repeat`` times: every node needs a reboot; once every request
   waits (the policy is paused meanwhile), the policy is resumed. Makespan: resume → last node seen uncordoned.
   Ideal: ceil(N / c) x the per-node cycle, the median cordon → uncordon time of the same run's nodes, so the
   ratio compares the rollout with its own nodes. Hand-off (maxConcurrent 1 only): a request seen Completed →
   the next node seen cordoned. The operator's API requests per minute during each rollout (audit log).
3. At rest: the operator's API requests per minute in a window after the last rollout (``--settle`` seconds
   later, ``--rest`` seconds long).
4. The workload case (``bench/workload.py``): ``--workload-nodes`` nodes in two pools rolled at once, each node
   running pods under a PodDisruptionBudget, drained for real; ``--repeat`` times.

Figures: medians over the repeats; latency percentiles are nearest-rank over every sample. Recorded in
``bench/results.json`` (other keys kept) unless ``--no-record`` or ``--quick``. Exits 0 once measured, whether
the targets are met or not.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client

from bench import harness, rollouts, workload
from bench.harness import GROUP, VERSION
from bench.observe import Timeline, audited_requests, count
from hack import processes
from hack.nodesim.simulator import NodeBehaviour, NodeSimulator

POOL_LABEL = "rollboot.dev/bench-pool"
MERGE = "application/merge-patch+json"


@dataclass
class Options:
    nodes: int
    concurrency: list[int]
    repeat: int
    reboot_seconds: float
    reaction_samples: int
    settle: float
    rest: float
    record: bool
    keep: bool
    workload_nodes: int = 12
    workload_only: bool = False


def _parse(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_rollout", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--nodes", type=int, default=50, help="rollout nodes, one agent process each (default 50)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 5], help="maxConcurrent values (1 5)")
    parser.add_argument("--repeat", type=int, default=3, help="rollouts per maxConcurrent (default 3)")
    parser.add_argument("--reboot-seconds", type=float, default=3.0, help="how long a simulated reboot takes")
    parser.add_argument("--reaction-samples", type=int, default=20, help="reaction samples (default 20)")
    parser.add_argument("--settle", type=float, default=30.0, help="seconds after the last rollout before 'at rest'")
    parser.add_argument("--rest", type=float, default=120.0, help="length of the at-rest window, seconds")
    parser.add_argument(
        "--quick", action="store_true", help="10 nodes, 1 repeat, 5 reaction samples, 30 s at rest; records nothing"
    )
    parser.add_argument(
        "--workload-nodes", type=int, default=12, help="nodes of the workload case, pods under a PDB (12; 0: none)"
    )
    parser.add_argument("--workload-only", action="store_true", help="only the workload case (records only its figure)")
    parser.add_argument("--no-record", action="store_true", help="print only; leave bench/results.json alone")
    parser.add_argument("--keep", action="store_true", help="keep the logs folder even after a good run")
    args = parser.parse_args(argv)
    if args.quick:
        args.nodes, args.repeat, args.reaction_samples, args.settle, args.rest = 10, 1, 5, 5.0, 30.0
    if args.workload_only:
        args.nodes, args.reaction_samples = 0, 0
    return Options(
        nodes=args.nodes,
        concurrency=args.concurrency,
        repeat=args.repeat,
        reboot_seconds=args.reboot_seconds,
        reaction_samples=args.reaction_samples,
        settle=args.settle,
        rest=args.rest,
        record=not (args.no_record or args.quick),
        keep=args.keep,
        workload_nodes=args.workload_nodes,
        workload_only=args.workload_only,
    )


def _policy(name: str, pool: str, max_concurrent: int, *, paused: bool) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RebootPolicy",
        "metadata": {"name": name},
        "spec": {
            "nodeSelector": {"matchLabels": {POOL_LABEL: pool}},
            "maxConcurrent": max_concurrent,
            "paused": paused,
            "drain": {"timeout": "1m"},
            "reboot": {"timeout": "2m", "soak": "0s"},
        },
    }


class Bench:
    """One run of the whole benchmark on one cluster."""

    def __init__(self, opts: Options, cluster: harness.Cluster, api: client.ApiClient, work: Path) -> None:
        self.opts, self.cluster, self.api, self.work = opts, cluster, api, work
        self.prefix = f"bench-{os.urandom(2).hex()}-"
        self.roll_pool, self.react_pool = f"{self.prefix}roll", f"{self.prefix}react"
        self.roll_nodes = [f"{self.roll_pool}-{i:02d}" for i in range(opts.nodes)]
        self.react_nodes = [f"{self.react_pool}-{i:02d}" for i in range(opts.reaction_samples)]
        self.timeline = Timeline(api, self.prefix)
        self.sim = NodeSimulator(api=api, root=work / "nodes", lease_seconds=None, schedule_pods=False)
        self.children: list[processes.Child] = []
        self.operator: processes.Child | None = None

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    # -- set-up and tear-down ------------------------------------------------------------------------------

    async def set_up(self) -> None:
        await self.timeline.start()
        await self.sim.start()
        await self.sim.add_nodes(self.react_nodes, labels={POOL_LABEL: self.react_pool}, behaviour=NodeBehaviour(0.2))
        roll = NodeBehaviour(reboot_seconds=self.opts.reboot_seconds)
        await self.sim.add_nodes(self.roll_nodes, labels={POOL_LABEL: self.roll_pool}, behaviour=roll)
        for node in self.roll_nodes:
            log = self.work / "agents" / f"{node}.log"
            self.children.append(processes.agent(self.cluster.kubeconfig, self.sim.root, node, log).start())
        for name, pool, paused in ((self.react_pool, self.react_pool, False), (self.roll_pool, self.roll_pool, True)):
            await self.custom.create_cluster_custom_object(
                GROUP, VERSION, "rebootpolicies", _policy(name, pool, 1, paused=paused)
            )
        self.operator = harness.start_operator(self.cluster, self.work / "operator.log")
        self.children.append(self.operator)
        for name in (self.react_pool, self.roll_pool):
            await self._policy_observed(name, timeout=60)
        print(f"{len(self.roll_nodes)} rollout nodes with an agent each, {len(self.react_nodes)} reaction nodes, "
              f"the operator ({self.work / 'operator.log'})", flush=True)  # fmt: skip

    async def tear_down(self) -> None:
        for child in self.children:
            child.stop()
        await self.sim.stop()
        await self.timeline.stop()
        if self.cluster.plane is None:  # borrowed: leave it as we found it
            for name in [*self.roll_nodes, *self.react_nodes]:
                await _delete_quietly(
                    self.custom.delete_cluster_custom_object(GROUP, VERSION, "noderebootrequests", name)
                )
                await self.sim.delete_node(name)
            for name in (self.react_pool, self.roll_pool):
                await _delete_quietly(self.custom.delete_cluster_custom_object(GROUP, VERSION, "rebootpolicies", name))

    async def _policy(self, name: str) -> dict[str, Any]:
        body: dict[str, Any] = await self.custom.get_cluster_custom_object(GROUP, VERSION, "rebootpolicies", name)
        return body

    async def _policy_observed(self, name: str, *, timeout: float) -> dict[str, Any]:
        """Until the operator has written the policy's status for its current spec."""
        deadline = time.monotonic() + timeout
        while True:
            self._operator_alive()
            body = await self._policy(name)
            if (body.get("status") or {}).get("observedGeneration") == body["metadata"]["generation"]:
                return body
            if time.monotonic() > deadline:
                raise TimeoutError(f"the operator did not report on policy {name} within {timeout:.0f}s")
            await asyncio.sleep(0.1)

    def _operator_alive(self) -> None:
        if self.operator is not None and not self.operator.alive():
            raise RuntimeError("the operator exited:\n" + self.operator.log()[-4000:])

    # -- reaction ------------------------------------------------------------------------------------------

    async def reaction(self) -> list[float]:
        latencies = []
        for node in self.react_nodes:
            await self.custom.create_cluster_custom_object(
                GROUP, VERSION, "noderebootrequests", harness.agent_request(node, self.sim.boot_id(node))
            )
            created = time.monotonic()
            await self.timeline.until(partial(self._cordoned, node), timeout=30, what=f"{node} cordoned")
            cordoned = next(t for t, name, value in self.timeline.cordons if name == node and value)
            latencies.append(cordoned - created)
            # Play the agent's part, so that the slot is free again for the next sample.
            await self.timeline.until(partial(self._in, node, "Rebooting"), timeout=60, what=f"{node} Rebooting")
            self.sim.reboot(node)
            await self.timeline.until(partial(self._in, node, "Completed"), timeout=60, what=f"{node} Completed")
            await self._slots_free(self.react_pool)
            await asyncio.sleep(0.5)  # let the operator's status writes settle: each sample starts from quiet
        return latencies

    def _cordoned(self, node: str) -> bool:
        return self.timeline.unschedulable.get(node, False)

    def _in(self, node: str, phase: str) -> bool:
        return self.timeline.phase(node) == phase

    async def _slots_free(self, policy: str) -> None:
        async with asyncio.timeout(30):
            while ((await self._policy(policy)).get("status") or {}).get("slots"):
                await asyncio.sleep(0.05)

    # -- a rollout -----------------------------------------------------------------------------------------

    async def rollout(self, concurrency: int) -> rollouts.Rollout:
        await self.custom.patch_cluster_custom_object(
            GROUP,
            VERSION,
            "rebootpolicies",
            self.roll_pool,
            {"spec": {"maxConcurrent": concurrency, "paused": True}},
            _content_type=MERGE,
        )
        await self._policy_observed(self.roll_pool, timeout=30)
        for node in self.roll_nodes:
            self.sim.require_reboot(node)
        await self.timeline.until(self._all_waiting, timeout=120, what="every rollout request Waiting")
        if any(self.timeline.unschedulable.get(n) for n in self.roll_nodes):
            raise RuntimeError("a node is cordoned before the rollout began")

        started, wall_started = time.monotonic(), time.time()
        await self.custom.patch_cluster_custom_object(
            GROUP, VERSION, "rebootpolicies", self.roll_pool, {"spec": {"paused": False}}, _content_type=MERGE
        )
        rounds = math.ceil(len(self.roll_nodes) / concurrency)
        await self.timeline.until(
            self._all_done, timeout=rounds * (self.opts.reboot_seconds + 60), what="every rollout node Completed"
        )
        wall_ended = time.time()
        self._operator_alive()
        audited = None
        if self.cluster.audit_log is not None:
            audited = audited_requests(self.cluster.audit_log, harness.OPERATOR_USER)
        return rollouts.analyse(
            self.timeline,
            self.roll_nodes,
            concurrency=concurrency,
            started=started,
            audited=audited,
            window=(wall_started, wall_ended),
        )

    def _all_waiting(self) -> bool:
        for node in self.roll_nodes:
            body = self.timeline.requests.get(node)
            if body is None or not body["spec"].get("reasons"):
                return False
            status = body.get("status") or {}
            if status.get("phase") != "Waiting" or status.get("observedGeneration") != body["metadata"]["generation"]:
                return False
        return True

    def _all_done(self) -> bool:
        self._operator_alive()
        return all(
            self.timeline.phase(n) in ("Completed", "Failed") and not self.timeline.unschedulable.get(n)
            for n in self.roll_nodes
        )

    # -- at rest -------------------------------------------------------------------------------------------

    async def at_rest(self) -> tuple[float, dict[str, int]] | None:
        if self.cluster.audit_log is None:
            return None
        await asyncio.sleep(self.opts.settle)
        start = time.time()
        await asyncio.sleep(self.opts.rest)
        self._operator_alive()
        audited = audited_requests(self.cluster.audit_log, harness.OPERATOR_USER)
        end = time.time()
        requests, kinds = count(audited, start, end)
        return requests / ((end - start) / 60), kinds


async def _delete_quietly(call: Any) -> None:
    try:
        await call
    except client.exceptions.ApiException as error:
        if error.status != 404:
            raise


async def _run(
    opts: Options, cluster: harness.Cluster, work: Path
) -> tuple[list[float], list[rollouts.Rollout], Any, list[workload.Workload]]:
    async with harness.api_client(cluster.kubeconfig) as api:
        bench = Bench(opts, cluster, api, work)
        try:
            await bench.set_up()
            reaction: list[float] = []
            done: list[rollouts.Rollout] = []
            rest = None
            if not opts.workload_only:
                reaction, done, rest = await _rollouts(opts, cluster, bench)
            loads = []
            for repeat in range(opts.repeat if opts.workload_nodes else 0):
                load = await workload.run(
                    api,
                    cluster,
                    work / f"workload-{repeat}",
                    prefix=f"{bench.prefix}{repeat}",
                    nodes=opts.workload_nodes,
                    reboot_seconds=opts.reboot_seconds,
                    alive=bench._operator_alive,
                )
                loads.append(load)
                print(workload.describe(load), flush=True)
            return reaction, done, rest, loads
        finally:
            await bench.tear_down()


async def _rollouts(
    opts: Options, cluster: harness.Cluster, bench: Bench
) -> tuple[list[float], list[rollouts.Rollout], Any]:
    """Reaction, the rollouts of each maxConcurrent, and the operator at rest."""
    reaction = await bench.reaction()
    print(
        f"reaction: {len(reaction)} samples, p50 {harness.percentile(reaction, 50):.3f} s, "
        f"p99 {harness.percentile(reaction, 99):.3f} s",
        flush=True,
    )
    done = []
    for repeat in range(opts.repeat):
        for concurrency in opts.concurrency:
            run = await bench.rollout(concurrency)
            done.append(run)
            print(rollouts.describe(run, repeat + 1, opts.repeat), flush=True)
    if cluster.audit_log is not None:
        print(f"at rest: waiting {opts.settle:g} s, then counting for {opts.rest:g} s", flush=True)
    rest = await bench.at_rest()
    if rest is not None:
        top = ", ".join(f"{k} {v}" for k, v in list(rest[1].items())[:6])
        print(f"at rest: operator {rest[0]:.2f} requests/min ({top or 'none'})", flush=True)
    return reaction, done, rest


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    opts = _parse(args)
    ctx = harness.Context.start("bench.bench_rollout", args)
    ctx.print_header()
    work = Path(tempfile.mkdtemp(prefix="rollboot-bench-rollout-"))
    good = False
    try:
        with harness.cluster(
            work / "cluster", audit=True, keep_audit=work / "audit.log" if opts.keep else None
        ) as cluster:
            if cluster.audit_log is None:
                print("borrowed control plane: no audit log, so no API-cost figures", flush=True)
            reaction, done, rest, loads = asyncio.run(_run(opts, cluster, work))
        good = True
    finally:
        if good and not opts.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"logs kept in {work}", file=sys.stderr)
    figures = {}
    if not opts.workload_only:
        figures = rollouts.figures(
            ctx,
            nodes=opts.nodes,
            reboot_seconds=opts.reboot_seconds,
            reaction=reaction,
            rollouts=done,
            rest=rest,
            rest_window=(opts.settle, opts.rest),
        )
    if loads:
        figures["rollout_makespan_ratio_workload"] = workload.figure(ctx, loads, reboot_seconds=opts.reboot_seconds)
    print()
    for key, figure in figures.items():
        print(harness.status_line(key, figure["value"], figure["unit"], figure["target"]))
    if opts.record:
        harness.record(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
