"""One bad object, one broken right, one lost request never stops the others or hides (issue 13), on the real API
server with the real operator and agents around simulated nodes."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client

from hack import processes
from reboot_operator.kube import CORDON_MARK
from tests.integration.conftest import Cluster
from tests.integration.install import kubeconfig_for, token_for
from tests.integration.rollout import Rig, told
from tests.manifests.render import kustomize, one

ERROR = "CycleError"


def _spec(pool: str, **extra: object) -> dict[str, object]:
    return {
        "nodeSelector": {"matchLabels": {"pool": pool}},
        "maxConcurrent": 1,
        "reboot": {"timeout": "60s", "soak": "0s"},
        "drain": {"timeout": "60s"},
        **extra,
    }


def _operator_rules(*, without_node_patch: bool) -> list[dict[str, Any]]:
    """The operator's ClusterRole rules as shipped, optionally without the right to patch Nodes, and the rules of
    its Role for the stop ConfigMap (granted cluster-wide here: the operator runs without a namespace of its own)."""
    shipped = kustomize()
    rules: list[dict[str, Any]] = copy.deepcopy(one(shipped, "ClusterRole", "rollboot-operator")["rules"])
    rules += copy.deepcopy(one(shipped, "Role", "rollboot-operator-stop")["rules"])
    if without_node_patch:
        for rule in rules:
            if "nodes" in rule.get("resources", []):
                assert rule["resources"] == ["nodes"], rule  # the shipped role gives nodes a rule of their own
                rule["verbs"] = [v for v in rule["verbs"] if v != "patch"]
    return rules


async def _operator_identity(api: client.ApiClient, name: str, namespace: str, rules: list[dict[str, Any]]) -> None:
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    await core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
    await rbac.create_cluster_role({"metadata": {"name": name}, "rules": rules})
    await rbac.create_cluster_role_binding(
        {
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        }
    )


async def _one_node_under_an_operator_as(
    rig: Rig, cluster: Cluster, identity: str, namespace: str, tmp_path: Path, node: str, pool: str
) -> None:
    """A node of a one-node policy needing a reboot, and the real operator running as service account ``identity``."""
    kubeconfig = kubeconfig_for(cluster, token_for(cluster, identity, namespace=namespace), tmp_path / "op.json")
    await rig.add_nodes([node], labels={"pool": pool})
    await rig.apply_policy(pool, _spec(pool))
    rig.operators.append(processes.operator(kubeconfig, rig.logs / "operator-0.log").start())
    rig.sim.require_reboot(node)


async def _request_until(rig: Rig, node: str, test: Any, timeout: float = 60) -> dict[str, Any]:
    """The request once ``test`` holds for its status."""
    async with asyncio.timeout(timeout):
        while True:
            request = (await rig.requests()).get(node) or {}
            status: dict[str, Any] = request.get("status") or {}
            if test(status):
                return request
            await asyncio.sleep(0.2)


async def _events(api: client.ApiClient, kind: str, name: str) -> list[client.CoreV1Event]:
    listing = await client.CoreV1Api(api).list_namespaced_event(
        "default", field_selector=f"involvedObject.kind={kind},involvedObject.name={name}"
    )
    return list(listing.items)


async def test_an_unexpected_error_in_a_cycle_shows_on_the_request_and_in_events_and_the_cycle_resumes_once_fixed(
    rig: Rig, cluster: Cluster, namespace: str, unique: str, tmp_path: Path
) -> None:
    """Defect 3: an admin's RBAC edit took the operator's right to patch Nodes; the cordon is refused on every try.
    The request says so in its message and in a CycleError Event (which `kubectl describe` lists: it names the
    request's uid); once the right is back the cycle carries on to Completed and the node is schedulable."""
    node = f"err-{unique}"
    identity = f"rollboot-operator-{unique}"
    await _operator_identity(rig.api, identity, namespace, _operator_rules(without_node_patch=True))
    rbac = client.RbacAuthorizationV1Api(rig.api)
    try:
        await _one_node_under_an_operator_as(rig, cluster, identity, namespace, tmp_path, node, unique)

        request = await _request_until(rig, node, lambda s: "unexpected error" in (s.get("message") or ""))
        message = request["status"]["message"]
        assert request["status"]["phase"] == "Cordoning", request["status"]
        assert f"cordon node {node}" in message and "forbidden" in message.lower(), message
        assert "retrying in" in message, message
        async with asyncio.timeout(30):
            while not (found := [e for e in await _events(rig.api, "NodeRebootRequest", node) if e.reason == ERROR]):
                await asyncio.sleep(0.2)
        assert found[0].type == "Warning"
        assert found[0].involved_object.uid == request["metadata"]["uid"]
        assert "forbidden" in found[0].message.lower()
        await told(rig.api, node, ERROR)
        assert not (await client.CoreV1Api(rig.api).read_node(node)).spec.unschedulable

        # The right is given back: the next try cordons, and the cycle runs to its end.
        await rbac.patch_cluster_role(identity, {"rules": _operator_rules(without_node_patch=False)})
        await rig.wait_phases([node], {"Completed"}, timeout=120)
        assert rig.sim.reboot_count(node) == 1
        assert not (await client.CoreV1Api(rig.api).read_node(node)).spec.unschedulable
    finally:
        await rig.stop()
        await rbac.delete_cluster_role_binding(identity)
        await rbac.delete_cluster_role(identity)


async def test_a_node_cordoned_by_a_cycle_whose_request_was_deleted_is_handed_back_and_an_admins_cordon_is_not(
    rig: Rig, unique: str
) -> None:
    """Defect 4: `kubectl delete nrr` while its node is Rebooting; the reboot the agent had been approved goes
    ahead (here the simulator's, standing in for that agent). The cycle, finding its request gone, ends; the node,
    cordoned under the deleted request's mark, is uncordoned once it has been Ready with the same boot ID for the
    grace (2 s here, 5 min by default). A node an admin cordoned is left alone."""
    node, admins = f"orphan-{unique}", f"admins-{unique}"
    await rig.add_nodes([node], agents=False, labels={"pool": unique})
    await rig.add_nodes([admins], agents=False, unschedulable=True)
    await rig.apply_policy(unique, _spec(unique))
    rig.start_operator("--orphaned-cordon-grace", "2")
    body = {
        "apiVersion": "rollboot.dev/v1alpha1",
        "kind": "NodeRebootRequest",
        "metadata": {"name": node},
        "spec": {"nodeName": node, "reasons": [{"source": "sentinel-file", "detail": "/var/run/reboot-required"}]},
    }
    created = await rig.custom.create_cluster_custom_object("rollboot.dev", "v1alpha1", "noderebootrequests", body)
    await rig.wait_phases([node], {"Rebooting"}, timeout=60)  # no agent: the approved reboot never happens
    core = client.CoreV1Api(rig.api)
    cordoned = await core.read_node(node)
    assert cordoned.spec.unschedulable
    assert cordoned.metadata.annotations[CORDON_MARK] == created["metadata"]["uid"]

    await rig.custom.delete_cluster_custom_object("rollboot.dev", "v1alpha1", "noderebootrequests", node)
    assert rig.sim.reboot(node)
    async with asyncio.timeout(60):
        while (await core.read_node(node)).spec.unschedulable:
            await asyncio.sleep(0.2)
    handed_back = await core.read_node(node)
    assert CORDON_MARK not in (handed_back.metadata.annotations or {})
    async with asyncio.timeout(30):  # Events are posted in the background, after the uncordon
        while not (told := [e for e in await _events(rig.api, "Node", node) if "no longer exists" in e.message]):
            await asyncio.sleep(0.2)
    assert told[0].reason == "Uncordoned"
    assert rig.sim.reboot_count(node) == 1
    assert (await core.read_node(admins)).spec.unschedulable, "an admin's cordon was undone"
    assert "cordoned by a cycle whose request is gone" in rig.operators[0].log()


async def test_a_stop_configmap_the_operator_cannot_read_stops_everything_and_says_why(
    rig: Rig, cluster: Cluster, namespace: str, unique: str, tmp_path: Path
) -> None:
    """Issue 14: the stop is a brake; an operator that cannot read it (its Role missing) must not take it as released,
    nor wait for it silently: it starts nothing and says why, and goes on once it can read it."""
    node = f"nostop-{unique}"
    identity = f"rollboot-operator-{unique}"
    shipped = copy.deepcopy(one(kustomize(), "ClusterRole", "rollboot-operator")["rules"])
    await _operator_identity(rig.api, identity, namespace, shipped)
    rbac = client.RbacAuthorizationV1Api(rig.api)
    try:
        await _one_node_under_an_operator_as(rig, cluster, identity, namespace, tmp_path, node, unique)

        request = await _request_until(rig, node, lambda s: "cannot be read" in (s.get("message") or ""))
        assert request["status"]["phase"] == "Waiting", request["status"]
        assert "forbidden" in request["status"]["message"].lower(), request["status"]["message"]
        assert not (await client.CoreV1Api(rig.api).read_node(node)).spec.unschedulable

        await rbac.patch_cluster_role(identity, {"rules": _operator_rules(without_node_patch=False)})
        await rig.wait_phases([node], {"Completed"}, timeout=120)
        assert rig.sim.reboot_count(node) == 1
    finally:
        await rig.stop()
        await rbac.delete_cluster_role_binding(identity)
        await rbac.delete_cluster_role(identity)
