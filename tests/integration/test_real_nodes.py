"""End to end on real nodes: the chart, installed with helm, reboots three real kubelets' nodes one at a time.

Nothing of ours is in the loop but the power switch. The images are built offline from images/ and imported into
each node's containerd; ``helm install`` of manifests/chart puts the operator's pod and the agents' pods on the
nodes; a real Deployment with a PodDisruptionBudget is spread over them by the real scheduler. A "kernel update"
is the sentinel file written under the hostPath the chart mounts. The agent pods report, the operator pod cordons
and drains (the real kubelets run the preStop hooks and stop the containers), each agent asks for its node's
reboot with the harness's reboot command, the node comes back with a new boot ID, and the operator verifies it by
that boot ID and uncordons it. The kernel version comes from the machine's uname and cannot change here: the
rollout is verified by boot ID alone, which is all the operator relies on.

The agent's one deviation from a user's install: ``--boot-id-file`` points at the node's boot ID under its /run,
because a pod's /proc shows the machine's boot ID, which a simulated reboot cannot change.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client, config, watch

from hack.controlplane.build import bin_dir
from hack.images import AGENT_IMAGE
from hack.realnodes import RealCluster, scenario
from hack.realnodes.images import node_images
from hack.realnodes.scenario import POOL_LABEL, SYSTEM_NAMESPACE, WORKLOAD, WORKLOAD_NAMESPACE

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "manifests" / "chart"
REPLICAS = 6
MAX_UNAVAILABLE = 1
AGENT_USER = f"system:serviceaccount:{SYSTEM_NAMESPACE}:rollboot-agent"
ROLLOUT_TIMEOUT = 600.0


@pytest.fixture(scope="module")
def real_cluster() -> Iterator[RealCluster]:
    images, sandbox = node_images()
    with RealCluster(node_count=3, images=images, sandbox_image=sandbox, labels=dict([POOL_LABEL])) as cluster:
        yield cluster


@contextlib.contextmanager
def _on_failure(cluster: RealCluster) -> Iterator[None]:
    """On any failure, print the operator's and the agents' pod logs, read through the real kubelets."""
    try:
        yield
    except BaseException:
        print(_pod_logs(cluster))
        raise


def _pod_logs(cluster: RealCluster) -> str:
    parts = []
    for selector in ("app.kubernetes.io/name=rollboot-operator", "app.kubernetes.io/name=rollboot-agent"):
        for previous in (False, True):
            result = cluster.kubectl(
                "logs",
                "-n",
                SYSTEM_NAMESPACE,
                "-l",
                selector,
                "--prefix",
                "--tail=150",
                *(["--previous"] if previous else []),
                check=False,
            )
            label = f"kubectl logs -l {selector}{' --previous' if previous else ''}"
            parts.append(f"--- {label}\n{result.stdout}{result.stderr}")
    parts.append("--- pods\n" + cluster.kubectl("get", "pods", "-A", "-o", "wide", check=False).stdout)
    parts.append("--- requests\n" + cluster.kubectl("get", "nrr", "-o", "yaml", check=False).stdout[-6000:])
    for name in cluster.nodes:
        parts.append(cluster.node_log_tail(name, lines=15))
    return "\n".join(parts)


class Watcher:
    """What the rollout looked like from the API, event by event: cordons, the workload's healthy pods."""

    def __init__(self) -> None:
        self.cordoned: set[str] = set()
        self.most_cordoned = 0
        self.healthy: set[str] = set()
        self.fewest_healthy: int | None = None
        self.pod_events = 0
        self.listed = asyncio.Event()

    def node(self, kind: str, node: Any) -> None:
        if node is None:
            return
        if node.spec.unschedulable and kind != "DELETED":
            self.cordoned.add(node.metadata.name)
        else:
            self.cordoned.discard(node.metadata.name)
        self.most_cordoned = max(self.most_cordoned, len(self.cordoned))

    def pod(self, kind: str, pod: Any) -> None:
        if kind == "LISTED":
            # The fewest counts from the whole listing on, not from its first item.
            self.fewest_healthy = len(self.healthy)
            self.listed.set()
            return
        # Healthy as the disruption controller counts it: Ready and not being deleted.
        ready = any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))
        if kind != "DELETED" and ready and pod.metadata.deletion_timestamp is None:
            self.healthy.add(pod.metadata.name)
        else:
            self.healthy.discard(pod.metadata.name)
        if self.fewest_healthy is not None:
            self.pod_events += 1
            self.fewest_healthy = min(self.fewest_healthy, len(self.healthy))


async def _follow(list_call: Any, handle: Any, *args: Any, **kwargs: Any) -> None:
    """List, hand every object to ``handle`` as it is, then every change from that listing on, with no gap."""
    listing = await list_call(*args, **kwargs)
    for item in listing.items:
        handle("ADDED", item)
    handle("LISTED", None)
    version = listing.metadata.resource_version
    while True:
        async with watch.Watch().stream(
            list_call, *args, resource_version=version, timeout_seconds=300, **kwargs
        ) as stream:
            async for event in stream:
                handle(event["type"], event["object"])
                version = event["object"].metadata.resource_version


async def _watch(api: client.ApiClient, watcher: Watcher) -> None:
    core = client.CoreV1Api(api)
    await asyncio.gather(
        _follow(core.list_node, watcher.node, label_selector="=".join(POOL_LABEL)),
        _follow(core.list_namespaced_pod, watcher.pod, WORKLOAD_NAMESPACE, label_selector=f"app={WORKLOAD}"),
    )


async def _wait_completed(api: client.ApiClient, nodes: list[str], timeout: float) -> dict[str, Any]:
    custom = client.CustomObjectsApi(api)
    deadline = time.monotonic() + timeout
    while True:
        try:
            listing = await custom.list_cluster_custom_object("rollboot.dev", "v1alpha1", "noderebootrequests")
        except client.ApiException as error:
            # A CRD the chart just installed answers 429 "storage is (re)initializing" for a moment.
            if error.status != 429:
                raise
            await asyncio.sleep(1)
            continue
        requests = {item["metadata"]["name"]: item for item in listing["items"]}
        phases = {n: (requests.get(n) or {}).get("status", {}).get("phase") for n in nodes}
        if all(phase == "Completed" for phase in phases.values()):
            return requests
        if time.monotonic() > deadline:
            raise AssertionError(f"rollout not finished after {timeout:.0f}s: {phases}")
        await asyncio.sleep(1)


def _eviction_answers(audit_log: Path) -> dict[int, int]:
    """How many evictions the API server answered with each status code."""
    codes: dict[int, int] = {}
    for line in audit_log.read_text().splitlines():
        event = json.loads(line)
        if (event.get("objectRef") or {}).get("subresource") == "eviction" and event.get("stage") == "ResponseComplete":
            code = int((event.get("responseStatus") or {}).get("code", 0))
            codes[code] = codes.get(code, 0) + 1
    return codes


def _agent_writers(audit_log: Path) -> set[str]:
    """Who wrote NodeRebootRequests (create, update, patch), from the API server's audit log."""
    users = set()
    for line in audit_log.read_text().splitlines():
        event = json.loads(line)
        ref = event.get("objectRef") or {}
        writes = event.get("verb") in ("create", "update", "patch") and not ref.get("subresource")
        if ref.get("resource") == "noderebootrequests" and writes:
            users.add(event["user"]["username"])
    return users


async def test_the_chart_reboots_three_real_nodes_one_at_a_time(real_cluster: RealCluster) -> None:
    cluster = real_cluster
    nodes = cluster.node_names()
    with _on_failure(cluster):
        values = scenario.chart_values(cluster)
        cluster.helm_install(chart=CHART, release=scenario.RELEASE, namespace=SYSTEM_NAMESPACE, values=values)
        _helm_test(cluster)
        _apply(cluster, scenario.workload(image=AGENT_IMAGE, replicas=REPLICAS, max_unavailable=MAX_UNAVAILABLE))
        cluster.kubectl(
            "rollout", "status", "-n", WORKLOAD_NAMESPACE, f"deployment/{WORKLOAD}", "--timeout=180s", timeout=200
        )
        spread = json.loads(
            cluster.kubectl("get", "pods", "-n", WORKLOAD_NAMESPACE, "-l", f"app={WORKLOAD}", "-o", "json").stdout
        )
        on_nodes = {pod["spec"]["nodeName"] for pod in spread["items"]}
        assert on_nodes == set(nodes), f"the scheduler should spread {REPLICAS} pods over every node: {on_nodes}"
        boot_before = {name: node.boot_id() for name, node in cluster.nodes.items()}

        configuration = client.Configuration()
        await config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=configuration)
        async with client.ApiClient(configuration) as api:
            watcher = Watcher()
            watching = asyncio.create_task(_watch(api, watcher))
            try:
                async with asyncio.timeout(30):
                    await watcher.listed.wait()
                _apply(cluster, [scenario.policy()])
                for name in nodes:
                    scenario.require_reboot(cluster, name)
                requests = await _wait_completed(api, nodes, ROLLOUT_TIMEOUT)
            finally:
                watching.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watching

        rebooted = [reboot.node for reboot in cluster.reboots]
        assert sorted(rebooted) == sorted(nodes), f"every node rebooted exactly once: {rebooted}"
        for reboot in cluster.reboots:
            status = requests[reboot.node]["status"]
            assert status["bootIDBefore"] == boot_before[reboot.node] == reboot.boot_id_before
            assert status["bootIDAfter"] == reboot.boot_id_after == cluster.nodes[reboot.node].boot_id()
            workload_left = [c for c in reboot.running_containers if not c.startswith(f"{SYSTEM_NAMESPACE}/")]
            assert not workload_left, f"{reboot.node} rebooted with workload pods still running: {workload_left}"
            operator_left = [c for c in reboot.running_containers if "rollboot-operator" in c]
            assert not operator_left, f"{reboot.node} rebooted with the operator on it: {operator_left}"
        assert watcher.most_cordoned == 1, f"maxConcurrent is 1, yet {watcher.most_cordoned} nodes were cordoned"
        assert watcher.pod_events > REPLICAS, "the pod watch saw the drains"
        assert watcher.fewest_healthy is not None
        assert watcher.fewest_healthy >= REPLICAS - MAX_UNAVAILABLE, (
            f"the PodDisruptionBudget allows {MAX_UNAVAILABLE} unavailable; healthy pods fell to "
            f"{watcher.fewest_healthy}"
        )
        listed = json.loads(cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
        assert not [n["metadata"]["name"] for n in listed if n["spec"].get("unschedulable")], "nothing left cordoned"
        for item in listed:
            assert item["status"]["nodeInfo"]["bootID"] == cluster.nodes[item["metadata"]["name"]].boot_id()
        assert cluster.plane is not None
        answers = _eviction_answers(cluster.plane.audit_log_path)
        # 201 evicted, 429 a budget said "not yet". Anything else (a 504 is an eviction cut off when the operator's
        # own eviction ended its process) can charge a budget for a pod never deleted.
        assert set(answers) <= {201, 429} and answers.get(201, 0) >= REPLICAS, f"eviction answers: {answers}"
        writers = _agent_writers(cluster.plane.audit_log_path)
        assert AGENT_USER in writers, f"the agents should write their requests as {AGENT_USER}: {writers}"
        assert all(w == AGENT_USER or "rollboot-operator" in w for w in writers), f"unexpected writers: {writers}"


def _helm_test(cluster: RealCluster) -> None:
    """``helm test``, as a user runs it after installing: the chart's test pod, in the operator's image on a real
    node, finds the operator Ready and both CRDs served. A passing pod is deleted at once (its hook-delete-policy;
    hence no --logs, which would look for it), so nothing of it is left on the nodes for the drains."""
    result = subprocess.run(
        [
            str(bin_dir() / "helm"), f"--kubeconfig={cluster.kubeconfig}", "test", scenario.RELEASE,
            "--namespace", SYSTEM_NAMESPACE, "--timeout", "3m",
        ],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"helm test failed:\n{result.stdout}\n{result.stderr}"
    assert re.search(r"^Phase:\s+Succeeded$", result.stdout, re.M), result.stdout


def _apply(cluster: RealCluster, documents: list[dict[str, Any]]) -> None:
    stream = "\n---\n".join(json.dumps(document) for document in documents)
    cluster.kubectl("apply", "-f", "-", input=stream)
