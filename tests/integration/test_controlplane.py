"""The control plane the tests run on is the real thing: schemas and CEL, PDB-guarded eviction, RBAC, reboots."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from hack.controlplane import ControlPlane
from hack.nodesim.simulator import NodeSimulator
from tests.integration.conftest import Cluster

Kubectl = Callable[..., subprocess.CompletedProcess[str]]

WIDGET_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.controlplane.test.rollboot.dev}
spec:
  group: controlplane.test.rollboot.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              min: {type: integer}
              max: {type: integer}
            x-kubernetes-validations:
            - rule: self.min <= self.max
              message: spec.min must not exceed spec.max
"""


def test_crd_with_a_cel_rule_rejects_an_invalid_object_with_the_servers_own_message(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl("apply", "-f", "-", input=WIDGET_CRD)
    kubectl("wait", "--for=condition=Established", "crd/widgets.controlplane.test.rollboot.dev")

    def widget(name: str, low: int, high: int) -> str:
        return json.dumps(
            {
                "apiVersion": "controlplane.test.rollboot.dev/v1",
                "kind": "Widget",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"min": low, "max": high},
            }
        )

    kubectl("apply", "-f", "-", input=widget("fine", 1, 2))
    refused = kubectl("apply", "-f", "-", input=widget("inverted", 5, 2), check=False)
    assert refused.returncode != 0
    assert "spec.min must not exceed spec.max" in refused.stderr
    wrong_type = kubectl("apply", "-f", "-", input=widget("typed", 1, 2).replace("2}", '"two"}'), check=False)
    assert wrong_type.returncode != 0
    assert "spec.max" in wrong_type.stderr


async def _create_guarded_pod(core: client.CoreV1Api, namespace: str, node: str, *, min_available: int) -> None:
    labels = {"app": "guarded"}
    owner_less_pod: dict[str, Any] = {
        "metadata": {"name": "guarded", "namespace": namespace, "labels": labels},
        "spec": {
            "nodeName": node,
            "terminationGracePeriodSeconds": 2,
            "containers": [{"name": "app", "image": "registry.invalid/app:1"}],
        },
    }
    await core.create_namespaced_pod(namespace, owner_less_pod)
    policy = client.PolicyV1Api(core.api_client)
    await policy.create_namespaced_pod_disruption_budget(
        namespace,
        {
            "metadata": {"name": "guarded", "namespace": namespace},
            "spec": {"minAvailable": min_available, "selector": {"matchLabels": labels}},
        },
    )


async def _wait_pdb(policy: client.PolicyV1Api, namespace: str, *, healthy: int, allowed: int) -> None:
    async with asyncio.timeout(30):
        while True:
            pdb = await policy.read_namespaced_pod_disruption_budget("guarded", namespace)
            status = pdb.status
            if (
                status is not None
                and status.observed_generation == pdb.metadata.generation
                and status.current_healthy == healthy
                and status.disruptions_allowed == allowed
            ):
                return
            await asyncio.sleep(0.1)


async def _evict(core: client.CoreV1Api, namespace: str, name: str) -> int:
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": namespace}}
    try:
        await core.create_namespaced_pod_eviction(name, namespace, body)
    except ApiException as error:
        return int(error.status)
    return 201


async def test_eviction_is_refused_with_429_while_the_pdb_forbids_it_and_completed_by_the_simulator(
    api: client.ApiClient, namespace: str, simulator: NodeSimulator, unique: str
) -> None:
    node = f"evict-{unique}"
    await simulator.add_node(node)
    core = client.CoreV1Api(api)
    policy = client.PolicyV1Api(api)
    await _create_guarded_pod(core, namespace, node, min_available=1)
    # The disruption controller (kube-controller-manager) computes the budget from the Running, Ready pod.
    await _wait_pdb(policy, namespace, healthy=1, allowed=0)

    assert await _evict(core, namespace, "guarded") == 429

    await policy.patch_namespaced_pod_disruption_budget(
        "guarded", namespace, {"spec": {"minAvailable": 0}}, _content_type="application/merge-patch+json"
    )
    await _wait_pdb(policy, namespace, healthy=1, allowed=1)
    assert await _evict(core, namespace, "guarded") == 201

    pod = await core.read_namespaced_pod("guarded", namespace)
    assert pod.metadata.deletion_timestamp is not None, "eviction starts a graceful deletion"
    async with asyncio.timeout(30):
        while True:
            pods = await core.list_namespaced_pod(namespace, field_selector="metadata.name=guarded")
            if not pods.items:
                break
            await asyncio.sleep(0.1)


def test_an_impersonated_service_account_is_forbidden_a_verb_its_role_lacks(
    cluster: Cluster, kubectl: Kubectl, namespace: str
) -> None:
    kubectl("create", "serviceaccount", "reader", "-n", namespace)
    kubectl("create", "role", "pod-reader", "--verb=get,list", "--resource=pods", "-n", namespace)
    kubectl(
        "create",
        "rolebinding",
        "reader",
        "--role=pod-reader",
        f"--serviceaccount={namespace}:reader",
        "-n",
        namespace,
    )
    identity = f"--as=system:serviceaccount:{namespace}:reader"

    allowed = kubectl("get", "pods", "-n", namespace, identity, check=False)
    assert allowed.returncode == 0, allowed.stderr
    # Authorization comes before lookup: the verb is refused even though no such pod exists.
    denied = kubectl("delete", "pod", "some-pod", "-n", namespace, identity, check=False)
    assert denied.returncode != 0
    assert "Forbidden" in denied.stderr
    assert f"system:serviceaccount:{namespace}:reader" in denied.stderr
    assert kubectl("auth", "can-i", "delete", "pods", "-n", namespace, identity, check=False).stdout.strip() == "no"


async def test_a_simulated_reboot_changes_the_boot_id_and_kernel_and_clears_the_sentinel(
    api: client.ApiClient, simulator: NodeSimulator, unique: str
) -> None:
    node = f"reboot-{unique}"
    await simulator.add_node(node)
    simulator.require_reboot(node, ["linux-image-6.8.0-1002-azure"])
    core = client.CoreV1Api(api)
    before = (await core.read_node(node)).status.node_info

    # Through the same command the agent runs for a simulated node.
    command = [sys.executable, "-m", "hack.nodesim", "reboot", "--root", str(simulator.root), node]
    done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    await simulator.wait_for_reboots(node, 1, timeout=30)

    after = (await core.read_node(node)).status
    ready = next(c for c in after.conditions if c.type == "Ready")
    assert ready.status == "True"
    assert after.node_info.boot_id != before.boot_id
    assert after.node_info.kernel_version == "6.8.0-1002-azure"
    assert not simulator.reboot_required(node)


async def test_a_node_that_never_returns_stays_not_ready(
    api: client.ApiClient, simulator: NodeSimulator, unique: str
) -> None:
    from hack.nodesim.simulator import NodeBehaviour

    node = f"lost-{unique}"
    await simulator.add_node(node, behaviour=NodeBehaviour(never_returns=True))
    assert simulator.reboot(node)
    assert not simulator.reboot(node), "a node that is down cannot be rebooted again"
    core = client.CoreV1Api(api)
    async with asyncio.timeout(10):
        while True:
            conditions = (await core.read_node(node)).status.conditions
            if next(c for c in conditions if c.type == "Ready").status == "Unknown":
                break
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    assert not simulator.is_up(node)


def test_an_extra_user_is_told_apart_in_the_audit_log_at_metadata_level(tmp_path: Path) -> None:
    # Its own control plane: the options change kube-apiserver's command line (the shared one stays as it is).
    with ControlPlane(
        data_dir=tmp_path / "cp", with_controller_manager=False, extra_tokens={"bench-client": "t0k3n"}, audit_log=True
    ) as plane:
        kubeconfig = plane.write_kubeconfig_for("bench-client")
        kubectl = [str(plane.kubectl), f"--kubeconfig={kubeconfig}"]
        whoami = subprocess.run([*kubectl, "auth", "whoami", "-o", "json"], capture_output=True, text=True, check=True)
        assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == "bench-client"
        subprocess.run([*kubectl, "get", "namespaces"], capture_output=True, check=True)
        events = [json.loads(line) for line in plane.audit_log_path.read_text().splitlines()]
    mine = [e for e in events if e["user"]["username"] == "bench-client"]
    assert {(e["verb"], e["objectRef"]["resource"]) for e in mine if "objectRef" in e} >= {("list", "namespaces")}
    assert {e["stage"] for e in events} <= {"ResponseStarted", "ResponseComplete", "Panic"}
    assert all(e["level"] == "Metadata" and "requestObject" not in e for e in events)
