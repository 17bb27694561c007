"""Least privilege as rendered: what each pod may do on its node, and what each identity may do in the API.

These read the rendered objects; tests/integration/test_rbac.py proves the same rights on the real API server.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.manifests.render import Object, chart, container, kustomize, one, pod_spec

AGENT_RULES = [
    {
        "apiGroups": ["rollboot.dev"],
        "resources": ["noderebootrequests"],
        "verbs": ["get", "list", "watch", "create", "patch"],
    }
]

OPERATOR_RULES = {
    ("rollboot.dev", "noderebootrequests"): {"get", "list", "watch", "create", "delete"},
    ("rollboot.dev", "rebootpolicies"): {"get", "list", "watch"},
    ("rollboot.dev", "noderebootrequests/status"): {"get", "update", "patch"},
    ("rollboot.dev", "rebootpolicies/status"): {"get", "update", "patch"},
    ("apiextensions.k8s.io", "customresourcedefinitions"): {"get", "list", "watch"},
    ("", "nodes"): {"get", "list", "watch", "patch"},
    ("", "pods"): {"get", "list", "watch"},
    ("", "namespaces"): {"list"},
    ("", "pods/eviction"): {"create"},
    ("apps", "daemonsets"): {"get"},
    ("policy", "poddisruptionbudgets"): {"list"},
    ("", "events"): {"create"},
}


def _flatten(rules: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    flat: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        assert set(rule) == {"apiGroups", "resources", "verbs"}, f"no names, no URLs, no wildcards: {rule}"
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                flat.setdefault((group, resource), set()).update(rule["verbs"])
    return flat


@pytest.fixture(scope="module")
def rendered() -> list[Object]:
    return kustomize()


def test_the_agent_may_only_read_create_and_patch_noderebootrequests(rendered: list[Object]) -> None:
    assert one(rendered, "ClusterRole", "rollboot-agent")["rules"] == AGENT_RULES


def test_the_operator_has_exactly_the_rights_its_calls_need(rendered: list[Object]) -> None:
    rules = one(rendered, "ClusterRole", "rollboot-operator")["rules"]
    assert _flatten(rules) == OPERATOR_RULES
    assert all("*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"] for rule in rules)


def test_the_operator_reads_secrets_in_its_own_namespace_only(rendered: list[Object]) -> None:
    role = one(rendered, "Role", "rollboot-operator-secrets")
    assert role["metadata"]["namespace"] == "rollboot-system"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]
    binding = one(rendered, "RoleBinding", "rollboot-operator-secrets")
    assert binding["metadata"]["namespace"] == "rollboot-system"
    assert binding["roleRef"]["name"] == "rollboot-operator-secrets"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "rollboot-operator", "namespace": "rollboot-system"}
    ]


def test_the_operator_holds_one_lease_in_its_own_namespace_only(rendered: list[Object]) -> None:
    role = one(rendered, "Role", "rollboot-operator-lease")
    assert role["metadata"]["namespace"] == "rollboot-system"
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["rollboot-operator"],
            "verbs": ["get", "update"],
        },
    ]
    binding = one(rendered, "RoleBinding", "rollboot-operator-lease")
    assert binding["roleRef"]["name"] == "rollboot-operator-lease"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "rollboot-operator", "namespace": "rollboot-system"}
    ]


def test_the_operator_reads_only_the_stop_configmap_in_its_own_namespace(rendered: list[Object]) -> None:
    role = one(rendered, "Role", "rollboot-operator-stop")
    assert role["metadata"]["namespace"] == "rollboot-system"
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": ["rollboot-stop"],
            "verbs": ["get", "list", "watch"],
        }
    ]
    binding = one(rendered, "RoleBinding", "rollboot-operator-stop")
    assert binding["roleRef"]["name"] == "rollboot-operator-stop"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "rollboot-operator", "namespace": "rollboot-system"}
    ]


def test_the_roles_for_people_are_bound_to_nobody(rendered: list[Object]) -> None:
    names = {"rollboot-viewer", "rollboot-oncall", "rollboot-oncall-stop"}
    bound = {d["roleRef"]["name"] for d in rendered if d["kind"] in ("ClusterRoleBinding", "RoleBinding")}
    assert not names & bound
    assert (
        one(rendered, "ClusterRole", "rollboot-viewer")["metadata"]["labels"][
            "rbac.authorization.k8s.io/aggregate-to-view"
        ]
        == "true"
    )
    # Patching Nodes must never reach the built-in edit role, which is handed out per namespace.
    labels = one(rendered, "ClusterRole", "rollboot-oncall")["metadata"]["labels"]
    assert not any(key.startswith("rbac.authorization.k8s.io/aggregate-to") for key in labels)


def test_each_role_is_bound_to_its_own_service_account_only(rendered: list[Object]) -> None:
    for name in ("rollboot-agent", "rollboot-operator"):
        binding = one(rendered, "ClusterRoleBinding", name)
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": name, "namespace": "rollboot-system"}]


def test_the_agent_pod_shares_only_the_host_pid_namespace_and_keeps_only_cap_kill(rendered: list[Object]) -> None:
    daemonset = one(rendered, "DaemonSet", "rollboot-agent")
    spec = pod_spec(daemonset)
    assert spec["hostPID"] is True
    assert not spec.get("hostNetwork") and not spec.get("hostIPC")
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = container(daemonset)["securityContext"]
    assert context == {
        "runAsUser": 0,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"], "add": ["KILL"]},
    }


def test_the_agent_mounts_the_sentinel_directory_read_only_and_nothing_else_of_the_host(
    rendered: list[Object],
) -> None:
    daemonset = one(rendered, "DaemonSet", "rollboot-agent")
    host_paths = [v for v in pod_spec(daemonset)["volumes"] if "hostPath" in v]
    assert host_paths == [{"name": "sentinel", "hostPath": {"path": "/var/run", "type": "Directory"}}]
    agent = container(daemonset)
    mounts = {m["name"]: m for m in agent["volumeMounts"]}
    assert mounts["sentinel"] == {"name": "sentinel", "mountPath": "/host/var/run", "readOnly": True}
    assert "--reboot-sentinel=/host/var/run/reboot-required" in agent["args"]
    assert "--reboot-method=signal" in agent["args"]


def test_the_agent_runs_on_every_linux_node_tainted_or_not(rendered: list[Object]) -> None:
    spec = pod_spec(one(rendered, "DaemonSet", "rollboot-agent"))
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert spec["tolerations"] == [{"operator": "Exists"}]
    assert spec["serviceAccountName"] == "rollboot-agent"


def test_the_agent_learns_its_node_name_from_the_downward_api(rendered: list[Object]) -> None:
    env = container(one(rendered, "DaemonSet", "rollboot-agent"))["env"]
    assert env == [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]


def test_the_operator_learns_its_pod_from_the_downward_api(rendered: list[Object]) -> None:
    # POD_ID: Kopf's peer identity (otherwise Kopf asks getpass, which fails for a uid the image does not know);
    # POD_NAME and POD_NAMESPACE: the drain of the operator's own node evicts its pod last.
    env = {
        e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"]
        for e in container(one(rendered, "Deployment", "rollboot-operator"))["env"]
    }
    assert env == {"POD_ID": "metadata.name", "POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}


def test_the_operator_pod_meets_the_restricted_pod_security_level(rendered: list[Object]) -> None:
    deployment = one(rendered, "Deployment", "rollboot-operator")
    spec = pod_spec(deployment)
    assert spec["serviceAccountName"] == "rollboot-operator"
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert not any(spec.get(field) for field in ("hostPID", "hostNetwork", "hostIPC"))
    assert not any("hostPath" in volume for volume in spec["volumes"])
    context = container(deployment)["securityContext"]
    assert context == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def test_the_operator_serves_its_probe_and_metrics_where_they_are_looked_for(rendered: list[Object]) -> None:
    deployment = one(rendered, "Deployment", "rollboot-operator")
    operator = container(deployment)
    assert "--liveness=http://0.0.0.0:8080/healthz" in operator["args"]
    assert "--metrics-port=8000" in operator["args"]
    assert operator["ports"] == [{"name": "health", "containerPort": 8080}, {"name": "metrics", "containerPort": 8000}]
    assert operator["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert operator["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "8000",
        "prometheus.io/path": "/metrics",
    }


def test_the_admission_policy_binds_the_agent_to_its_own_node(rendered: list[Object]) -> None:
    policy = one(rendered, "ValidatingAdmissionPolicy", "rollboot-agent-own-node")
    assert policy["spec"]["failurePolicy"] == "Fail"
    [rule] = policy["spec"]["matchConstraints"]["resourceRules"]
    assert set(rule["operations"]) == {"CREATE", "UPDATE", "DELETE"}
    assert "noderebootrequests" in rule["resources"]
    binding = one(rendered, "ValidatingAdmissionPolicyBinding", "rollboot-agent-own-node")
    assert binding["spec"] == {"policyName": "rollboot-agent-own-node", "validationActions": ["Deny"]}


def test_crds_namespace_and_admission_policy_come_in_an_earlier_argocd_wave(rendered: list[Object]) -> None:
    early = {"Namespace", "CustomResourceDefinition", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
    for document in rendered:
        wave = (document["metadata"].get("annotations") or {}).get("argocd.argoproj.io/sync-wave", "0")
        assert (int(wave) < 0) == (document["kind"] in early), document["kind"]


def test_only_the_command_method_or_a_sentinel_command_makes_the_agent_privileged() -> None:
    for values, privileged in (
        ({}, False),
        ({"agent.rebootMethod": "command"}, True),
        ({"agent.sentinelCommand": "needs-restarting -r"}, True),
    ):
        context = container(one(chart(values), "DaemonSet", "rollboot-agent"))["securityContext"]
        assert context.get("privileged", False) is privileged, values
