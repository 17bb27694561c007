"""``make demo DEMO_ARGS=--real-nodes``: the rolling reboot on real kubelets, installed with the Helm chart.

It starts the control plane and real nodes (``RealCluster``), ``helm install``s manifests/chart with the images
built offline, runs a Deployment with a PodDisruptionBudget over the nodes, applies a RebootPolicy, installs a
"kernel update" on every node and shows the same live table as the simulated demo until every node is back.
The kernel cannot change here (it is this machine's), so the summary reports the boot IDs.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from kubernetes_asyncio import client, config

from hack.demo import Table, observe
from hack.images import AGENT_IMAGE
from hack.realnodes import RealCluster, RealNodesError, scenario
from hack.realnodes.images import node_images

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "manifests" / "chart"


def _apply(cluster: RealCluster, documents: list[dict[str, object]]) -> None:
    cluster.kubectl("apply", "-f", "-", input="\n---\n".join(json.dumps(d) for d in documents))


async def _rollout(cluster: RealCluster, timeout: float) -> tuple[float, int]:
    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=configuration)
    async with client.ApiClient(configuration) as api:
        _apply(cluster, [scenario.policy()])
        for name in cluster.node_names():
            scenario.require_reboot(cluster, name)
        print("Kernel updates installed: every node now has /var/run/reboot-required.\n", flush=True)
        rows, elapsed = await observe(api, cluster.node_names(), timeout, Table())
    return elapsed, sum(r.phase == "Completed" for r in rows.values())


def run(*, nodes: int, timeout: float) -> int:
    images, sandbox = node_images()
    started = time.monotonic()
    print(f"Starting the control plane and {nodes} real nodes (containerd + kubelet each).", flush=True)
    try:
        with RealCluster(
            node_count=nodes, images=images, sandbox_image=sandbox, labels=dict([scenario.POOL_LABEL])
        ) as cluster:
            print(
                f"{nodes} nodes Ready after {time.monotonic() - started:.0f}s; helm install manifests/chart", flush=True
            )
            cluster.helm_install(
                chart=CHART,
                release=scenario.RELEASE,
                namespace=scenario.SYSTEM_NAMESPACE,
                values=scenario.chart_values(cluster),
            )
            _apply(cluster, scenario.workload(image=AGENT_IMAGE, replicas=2 * nodes, max_unavailable=1))
            cluster.kubectl("rollout", "status", "-n", scenario.WORKLOAD_NAMESPACE, f"deployment/{scenario.WORKLOAD}")
            print(cluster.kubectl("get", "pods", "-A", "-o", "wide").stdout, flush=True)
            before = {name: node.boot_id() for name, node in cluster.nodes.items()}
            try:
                elapsed, done = asyncio.run(_rollout(cluster, timeout))
            except (RuntimeError, TimeoutError) as error:
                print(f"\ndemo failed: {error}", file=sys.stderr)
                print(
                    cluster.kubectl(
                        "logs", "-n", scenario.SYSTEM_NAMESPACE, "deploy/rollboot-operator", "--tail=80", check=False
                    ).stdout,
                    file=sys.stderr,
                )
                return 1
            print(f"\nRebooted {done} of {nodes} real nodes in {elapsed:.1f}s (maxConcurrent 1).")
            for name, node in cluster.nodes.items():
                print(f"  {name}: boot ID {before[name][:8]}… → {node.boot_id()[:8]}…")
            left = [r for r in cluster.reboots if any(scenario.WORKLOAD_NAMESPACE in c for c in r.running_containers)]
            print("Workload pods running on a node when it went down: " + ("none" if not left else str(left)))
            return 0 if done == nodes and not left else 1
    except RealNodesError as error:
        print(f"real nodes failed: {error}", file=sys.stderr)
        return 1
