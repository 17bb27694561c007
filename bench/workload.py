"""The workload case of ``bench_rollout``: a rolling reboot of nodes that run pods under a PodDisruptionBudget,
drained for real.

``--workload-nodes`` nodes (12 by default) in two pools, one policy each (maxConcurrent 1), both resumed at once, so
the two pools roll side by side. A Deployment puts ``PODS_PER_NODE`` pods on each node (its own simulated nodes
stand in for the scheduler and the kubelet: evicted pods come back elsewhere, Running at once; a deleted pod is gone
after its 1 s grace period) under a PDB of ``maxUnavailable: PODS_PER_NODE``: one node's pods may be away at a time,
so when both pools drain at once, one drain waits for the other's pods to come back (kube-controller-manager's
disruption and ReplicaSet controllers, for real).

Ideal: per pool, its nodes' cordon → uncordon cycles back to back (maxConcurrent 1), each as long as it was; the
makespan's ideal is the longer pool's. A cycle includes its drain as it happened, the waits on the budget included,
so the ratio counts what the operator adds between cycles (the first start, the hand-offs), not what the budget
allows. (A median cycle, as the 50-node rollouts use, does not fit here: whether a drain waits on the other pool's
depends on how the two pools interleave, so the cycles are far from alike.) What the ratio cannot see: an eviction
retried later than the budget would have allowed counts as the budget's.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client

from bench import harness, rollouts
from bench.harness import GROUP, VERSION
from bench.observe import Timeline, audited_requests
from hack import processes
from hack.nodesim.simulator import NodeBehaviour, NodeSimulator

POOL_LABEL = "rollboot.dev/bench-pool"
MERGE = "application/merge-patch+json"
PODS_PER_NODE = 2
APP = "bench-web"


@dataclass
class Workload:
    """What the workload rollout measured: one ``rollouts.Rollout`` per pool, on one clock."""

    pools: list[rollouts.Rollout]
    nodes: int
    requests: int | None

    @property
    def makespan(self) -> float:
        return max(p.makespan for p in self.pools)

    @property
    def ideal(self) -> float:
        """The longer pool's cycles back to back: its nodes one after the other (maxConcurrent 1), each taking
        the time it took, waits on the budget included; no first start, no hand-off."""
        return max(sum(p.cycles) for p in self.pools)

    @property
    def ratio(self) -> float:
        return self.makespan / self.ideal


def _policy(name: str, pool: str, *, paused: bool) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RebootPolicy",
        "metadata": {"name": name},
        "spec": {
            "nodeSelector": {"matchLabels": {POOL_LABEL: pool}},
            "maxConcurrent": 1,
            "paused": paused,
            "drain": {"timeout": "2m"},
            "reboot": {"timeout": "2m", "soak": "0s"},
        },
    }


def _deployment(namespace: str, replicas: int) -> dict[str, Any]:
    labels = {"app": APP}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": APP, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{"name": "web", "image": "registry.invalid/pause:3.9"}],
                },
            },
        },
    }


async def run(
    api: client.ApiClient,
    cluster: harness.Cluster,
    work: Path,
    *,
    prefix: str,
    nodes: int,
    reboot_seconds: float,
    alive: Any,
) -> Workload:
    """Set up the workload nodes, pods and policies, roll both pools at once, and tear it all down again."""
    custom = client.CustomObjectsApi(api)
    core = client.CoreV1Api(api)
    pools = {f"{prefix}wl-a": [], f"{prefix}wl-b": []}  # type: dict[str, list[str]]
    for i in range(nodes):
        pool = list(pools)[i % 2]
        pools[pool].append(f"{pool}-{i // 2:02d}")
    names = [n for members in pools.values() for n in members]
    namespace = f"{prefix}wl"
    timeline = Timeline(api, prefix)
    sim = NodeSimulator(api=api, root=work / "workload-nodes", lease_seconds=None, schedule_pods=True)
    children: list[processes.Child] = []
    await timeline.start()
    await sim.start()
    try:
        for pool, members in pools.items():
            behaviour = NodeBehaviour(reboot_seconds=reboot_seconds)
            await sim.add_nodes(members, labels={POOL_LABEL: pool}, behaviour=behaviour)
        for node in names:
            log = work / "workload-agents" / f"{node}.log"
            children.append(processes.agent(cluster.kubeconfig, sim.root, node, log).start())
        await core.create_namespace({"metadata": {"name": namespace}})
        await client.AppsV1Api(api).create_namespaced_deployment(
            namespace, _deployment(namespace, nodes * PODS_PER_NODE)
        )
        pdb = {
            "metadata": {"name": APP, "namespace": namespace},
            "spec": {"maxUnavailable": PODS_PER_NODE, "selector": {"matchLabels": {"app": APP}}},
        }
        await client.PolicyV1Api(api).create_namespaced_pod_disruption_budget(namespace, pdb)
        await _until_budget(api, namespace, healthy=nodes * PODS_PER_NODE, timeout=120)
        for pool in pools:
            await custom.create_cluster_custom_object(
                GROUP, VERSION, "rebootpolicies", _policy(pool, pool, paused=True)
            )
        for node in names:
            sim.require_reboot(node)

        def all_waiting() -> bool:
            alive()
            return all((timeline.phase(n) or "") == "Waiting" for n in names)

        await timeline.until(all_waiting, timeout=120, what="every workload request Waiting")
        started, wall_started = time.monotonic(), time.time()
        await asyncio.gather(
            *(
                custom.patch_cluster_custom_object(
                    GROUP, VERSION, "rebootpolicies", pool, {"spec": {"paused": False}}, _content_type=MERGE
                )
                for pool in pools
            )
        )

        def all_done() -> bool:
            alive()
            return all(timeline.phase(n) == "Completed" and not timeline.unschedulable.get(n) for n in names)

        await timeline.until(all_done, timeout=len(names) * (reboot_seconds + 60), what="every workload node Completed")
        wall_ended = time.time()
        audited = audited_requests(cluster.audit_log, harness.OPERATOR_USER) if cluster.audit_log else None
        analysed = [
            rollouts.analyse(
                timeline, members, concurrency=1, started=started, audited=None, window=(wall_started, wall_ended)
            )
            for members in pools.values()
        ]
        requests = None
        if audited is not None:
            requests = sum(1 for r in audited if wall_started <= r.at < wall_ended)
        return Workload(pools=analysed, nodes=len(names), requests=requests)
    finally:
        for child in children:
            child.stop()
        await sim.stop()
        await timeline.stop()
        for pool in pools:
            with contextlib.suppress(client.exceptions.ApiException):
                await custom.delete_cluster_custom_object(GROUP, VERSION, "rebootpolicies", pool)


async def _until_budget(api: client.ApiClient, namespace: str, *, healthy: int, timeout: float) -> None:
    """Until every pod runs and the disruption controller allows what the budget says."""
    policy = client.PolicyV1Api(api)
    deadline = time.monotonic() + timeout
    while True:
        pdb = await policy.read_namespaced_pod_disruption_budget(APP, namespace)
        status = pdb.status
        if status is not None and (status.current_healthy or 0) >= healthy and (status.disruptions_allowed or 0) > 0:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the workload's {healthy} pods did not all run within {timeout:.0f}s: {status}")
        await asyncio.sleep(0.5)


def describe(run: Workload) -> str:
    pools = "; ".join(
        f"pool {i + 1}: makespan {p.makespan:.2f} s, cycle (median) {p.cycle:.3f} s, first cordon {p.start:.3f} s, "
        f"median gap {statistics.median(p.gaps):.3f} s"
        for i, p in enumerate(run.pools)
    )
    cost = f", operator {run.requests / run.nodes:.1f} requests per node" if run.requests is not None else ""
    return (
        f"workload ({run.nodes} nodes in 2 pools, {PODS_PER_NODE} pods each under a PDB of maxUnavailable "
        f"{PODS_PER_NODE}): makespan {run.makespan:.2f} s, ideal {run.ideal:.2f} s, ratio {run.ratio:.4f}{cost}"
        f"\n  {pools}"
    )


def figure(ctx: harness.Context, runs: list[Workload], *, reboot_seconds: float) -> dict[str, Any]:
    return ctx.figure(
        value=round(statistics.median(r.ratio for r in runs), 4),
        unit="ratio",
        target=rollouts.TARGET_RATIO,
        runs=len(runs),
        note=f"nodes with {PODS_PER_NODE} pods each of one Deployment under a PDB of maxUnavailable {PODS_PER_NODE}, "
        "in 2 pools of maxConcurrent 1 rolled at once, drained for real: makespan (resume → last node uncordoned) / "
        "ideal, the longer pool's cordon → uncordon cycles back to back (each as long as it was, waits on the budget "
        "included, so the ratio counts the operator's first start and hand-offs, not the budget); simulated reboot "
        f"{reboot_seconds:g} s, soak 0 s; median of the runs",
        nodes=runs[0].nodes,
        makespan_s=[round(r.makespan, 2) for r in runs],
        ideal_s=[round(r.ideal, 2) for r in runs],
        cycle_s=[[round(p.cycle, 3) for p in r.pools] for r in runs],
        first_cordon_s=[[round(p.start, 3) for p in r.pools] for r in runs],
        gap_median_s=[[round(statistics.median(p.gaps), 3) for p in r.pools] for r in runs],
        per_node=[round(r.requests / r.nodes, 1) for r in runs if r.requests is not None],
    )
