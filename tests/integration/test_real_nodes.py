"""End to end on real nodes: the chart, installed with helm, reboots three real kubelets' nodes one at a time.

Nothing of ours is in the loop but the power switch. The images are built offline from images/ and imported into
each node's containerd; ``helm install`` of manifests/chart puts the operator's pod and the agents' pods on the
nodes; a real Deployment with a PodDisruptionBudget is spread over them by the real scheduler. A "kernel update"
is the sentinel file written under the hostPath the chart mounts. The agent pods report, the operator pod cordons
and drains (the real kubelets run the preStop hooks and stop the containers), each agent asks for its node's
reboot with the harness's reboot command, the node comes back with a new boot ID, and the operator verifies it by
that boot ID and uncordons it. The kernel version comes from the machine's uname and cannot change here: the
rollout is verified by boot ID alone, which is all the operator relies on.

One node is cordoned by an admin before the rollout: it reboots like the others and stays cordoned. The safety rules
are checked on every change of the rollout (``tests/integration/replay.py``: the requests, the nodes and the
workload's pods, from the API server's watches), and again from the harness, which did the rebooting.

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
from kubernetes_asyncio import client, config

from hack.controlplane.build import bin_dir
from hack.images import AGENT_IMAGE
from hack.realnodes import RealCluster, scenario
from hack.realnodes.images import node_images
from hack.realnodes.scenario import POOL_LABEL, SYSTEM_NAMESPACE, WORKLOAD, WORKLOAD_NAMESPACE
from reboot_operator.api.meta import GROUP, VERSION
from tests.integration.replay import list_objects, recording
from tests.integration.rollout import describe

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


async def _wait_completed(api: client.ApiClient, nodes: list[str], timeout: float) -> dict[str, Any]:
    custom = client.CustomObjectsApi(api)
    deadline = time.monotonic() + timeout
    while True:
        listing = await list_objects(api, custom.list_cluster_custom_object, GROUP, VERSION, "noderebootrequests")
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


# Its budget holds the nodes' start (the module's fixture: 156 s on a loaded 2-core machine), the install and a
# rollout of up to ROLLOUT_TIMEOUT; the default 300 s cut one in its teardown, which left the nodes running.
@pytest.mark.timeout(900)
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
        # An admin's cordon, set before the rollout: the node reboots like the others and stays cordoned.
        admin = nodes[-1]
        cluster.kubectl("cordon", admin)

        configuration = client.Configuration()
        await config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=configuration)
        async with client.ApiClient(configuration) as api:
            workload_pods = (WORKLOAD_NAMESPACE, f"app={WORKLOAD}")
            async with recording(api, nodes="=".join(POOL_LABEL), pods=workload_pods, settle=60) as record:
                _apply(cluster, [scenario.policy()])
                for name in nodes:
                    scenario.require_reboot(cluster, name)
                requests = await _wait_completed(api, nodes, ROLLOUT_TIMEOUT)
        replay = record.replay(set(nodes))

        # Every change of the rollout, from the API server's watches: one node at a time (two cordoned at once: the
        # admin's and the one rebooting), each drained (cordoned, its workload pods gone) before its approval,
        # approved and rebooted once, the admin's cordon kept.
        replay.assert_one_reboot_each(
            scenario.POLICY, nodes, limit=1, cordoned=2, admin_cordoned=[admin], why=describe(requests)
        )
        assert replay.pod_changes > REPLICAS, ("the pod watch saw the drains", replay)
        # The PodDisruptionBudget's limit, reached (an eviction) and never passed.
        assert replay.fewest_healthy_pods == REPLICAS - MAX_UNAVAILABLE, (
            f"the PodDisruptionBudget allows {MAX_UNAVAILABLE} unavailable of {REPLICAS}",
            replay,
        )
        assert requests[admin]["status"]["wasUnschedulable"] is True
        # And from the harness, which did the rebooting: the same reboots, and nothing of the workload running.
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
        listed = json.loads(cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
        cordoned = [n["metadata"]["name"] for n in listed if n["spec"].get("unschedulable")]
        assert cordoned == [admin], f"nothing left cordoned but the admin's {admin}: {cordoned}"
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
