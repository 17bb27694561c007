"""Every value of the chart, rendered: each one lands where Helm users expect it, and nothing keeps a fixed name.

One row per value (or group of values that only make sense together): the values, the object and the field that
must change. tests/manifests/test_render.py keeps the defaults equal to the kustomize base; test_schema.py what is
refused; tests/integration/test_manifests.py sends the same kinds of renderings to a real API server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.manifests.render import Object, chart_with, container, is_hook, one, pod_spec

CUSTOM = {"fullnameOverride": "reboots"}


def _operator(rendered: list[Object]) -> Object:
    return next(d for d in rendered if d["kind"] == "Deployment")


def _agent(rendered: list[Object]) -> Object:
    return next(d for d in rendered if d["kind"] == "DaemonSet")


def _pod_metadata(workload: Object) -> Object:
    metadata: Object = workload["spec"]["template"]["metadata"]
    return metadata


Check = Callable[[list[Object]], Any]

# (values, what to read from the rendering, what it must be)
CASES: list[Any] = [
    pytest.param(
        {"image": {"registry": "mirror.example:5000"}},
        lambda r: sorted(container(w)["image"] for w in (_operator(r), _agent(r))),
        ["mirror.example:5000/rollboot/rollboot-agent:0.1.0", "mirror.example:5000/rollboot/rollboot-operator:0.1.0"],
        id="image.registry-moves-both-images",
    ),
    pytest.param(
        {"image": {"registry": ""}, "agent": {"image": {"repository": "agent"}}},
        lambda r: container(_agent(r))["image"],
        "agent:0.1.0",
        id="no-registry-leaves-the-repository-as-it-is",
    ),
    pytest.param(
        {"operator": {"image": {"registry": "op.example", "tag": "1.2.3", "pullPolicy": "Always"}}},
        lambda r: (container(_operator(r))["image"], container(_operator(r))["imagePullPolicy"]),
        ("op.example/rollboot/rollboot-operator:1.2.3", "Always"),
        id="operator.image.registry-tag-pullPolicy",
    ),
    pytest.param(
        {"agent": {"image": {"digest": "sha256:" + "a" * 64}}},
        lambda r: container(_agent(r))["image"],
        "ghcr.io/rollboot/rollboot-agent:0.1.0@sha256:" + "a" * 64,
        id="agent.image.digest-pins-the-image",
    ),
    pytest.param(
        {"operator": {"image": {"digest": "sha256:" + "b" * 64}}},
        lambda r: container(_operator(r))["image"].rpartition("@")[2],
        "sha256:" + "b" * 64,
        id="operator.image.digest",
    ),
    pytest.param(
        {"imagePullSecrets": [{"name": "pull"}]},
        lambda r: [pod_spec(w)["imagePullSecrets"] for w in (_operator(r), _agent(r))],
        [[{"name": "pull"}]] * 2,
        id="imagePullSecrets-for-both",
    ),
    pytest.param(
        {"operator": {"podAnnotations": {"a": "1"}}, "agent": {"podAnnotations": {"b": "2"}}},
        lambda r: (_pod_metadata(_operator(r))["annotations"].get("a"), _pod_metadata(_agent(r))["annotations"]),
        ("1", {"b": "2"}),
        id="podAnnotations",
    ),
    pytest.param(
        {"operator": {"podAnnotations": {"prometheus.io/scrape": "false"}}},
        lambda r: _pod_metadata(_operator(r))["annotations"]["prometheus.io/scrape"],
        "false",
        id="podAnnotations-override-the-scrape-annotations",
    ),
    pytest.param(
        {"operator": {"podLabels": {"team": "sre"}}, "agent": {"podLabels": {"tier": "node"}}},
        lambda r: (_pod_metadata(_operator(r))["labels"], _pod_metadata(_agent(r))["labels"]),
        (
            {"app.kubernetes.io/name": "rollboot-operator", "team": "sre"},
            {"app.kubernetes.io/name": "rollboot-agent", "tier": "node"},
        ),
        id="podLabels",
    ),
    pytest.param(
        {"commonLabels": {"cost-center": "42"}},
        lambda r: (
            {(d["metadata"]["labels"] or {}).get("cost-center") for d in r if not is_hook(d)}
            | {_pod_metadata(w)["labels"]["cost-center"] for w in (_operator(r), _agent(r))}
        ),
        {"42"},
        id="commonLabels-on-every-object-and-pod",
    ),
    pytest.param(
        {"operator": {"podSecurityContext": {"runAsUser": 1000, "runAsGroup": None, "seccompProfile": None}}},
        lambda r: pod_spec(_operator(r))["securityContext"],
        {"runAsUser": 1000, "runAsNonRoot": True},
        id="operator.podSecurityContext-merges-into-the-default-null-removes",
    ),
    pytest.param(
        {"agent": {"podSecurityContext": {"seccompProfile": {"type": "Localhost", "localhostProfile": "a.json"}}}},
        lambda r: pod_spec(_agent(r))["securityContext"]["seccompProfile"]["type"],
        "Localhost",
        id="agent.podSecurityContext",
    ),
    pytest.param(
        {"operator": {"securityContext": {"readOnlyRootFilesystem": False, "capabilities": None}}},
        lambda r: container(_operator(r))["securityContext"],
        {"readOnlyRootFilesystem": False, "allowPrivilegeEscalation": False},
        id="operator.securityContext",
    ),
    pytest.param(
        {"agent": {"securityContext": {"seLinuxOptions": {"type": "t"}}}},
        lambda r: container(_agent(r))["securityContext"]["seLinuxOptions"],
        {"type": "t"},
        id="agent.securityContext",
    ),
    pytest.param(
        {"agent": {"rebootMethod": "command", "securityContext": {"readOnlyRootFilesystem": False}}},
        lambda r: container(_agent(r))["securityContext"],
        {"runAsUser": 0, "readOnlyRootFilesystem": False, "privileged": True},
        id="agent.securityContext-made-privileged-for-the-command-method",
    ),
    pytest.param(
        {"operator": {"resources": {"limits": {"cpu": "1"}}}, "agent": {"resources": {"requests": {"cpu": "1m"}}}},
        lambda r: (container(_operator(r))["resources"], container(_agent(r))["resources"]),
        (
            {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
            {"requests": {"cpu": "1m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
        ),
        id="resources",
    ),
    pytest.param(
        {"operator": {"nodeSelector": {"pool": "infra"}}, "agent": {"nodeSelector": {"pool": "all"}}},
        lambda r: (pod_spec(_operator(r))["nodeSelector"], pod_spec(_agent(r))["nodeSelector"]),
        ({"kubernetes.io/os": "linux", "pool": "infra"}, {"kubernetes.io/os": "linux", "pool": "all"}),
        id="nodeSelector",
    ),
    pytest.param(
        {"operator": {"tolerations": [{"key": "infra", "operator": "Exists"}]}, "agent": {"tolerations": []}},
        lambda r: (pod_spec(_operator(r))["tolerations"], "tolerations" in pod_spec(_agent(r))),
        ([{"key": "infra", "operator": "Exists"}], False),
        id="tolerations",
    ),
    pytest.param(
        {
            "operator": {"affinity": {"podAntiAffinity": {"a": 1}}},
            "agent": {"affinity": {"nodeAffinity": {"b": 2}}},
        },
        lambda r: (pod_spec(_operator(r))["affinity"], pod_spec(_agent(r))["affinity"]),
        ({"podAntiAffinity": {"a": 1}}, {"nodeAffinity": {"b": 2}}),
        id="affinity",
    ),
    pytest.param(
        {"operator": {"priorityClassName": "high"}, "agent": {"priorityClassName": "system-node-critical"}},
        lambda r: (pod_spec(_operator(r))["priorityClassName"], pod_spec(_agent(r))["priorityClassName"]),
        ("high", "system-node-critical"),
        id="priorityClassName",
    ),
    pytest.param(
        {"operator": {"extraArgs": ["--verbose"]}, "agent": {"extraArgs": ["--check-interval=5m"]}},
        lambda r: (container(_operator(r))["args"][-1], container(_agent(r))["args"][-1]),
        ("--verbose", "--check-interval=5m"),
        id="extraArgs",
    ),
    pytest.param(
        {"operator": {"extraEnv": [{"name": "A", "value": "1"}]}, "agent": {"extraEnv": [{"name": "B", "value": "2"}]}},
        lambda r: (container(_operator(r))["env"][-1], container(_agent(r))["env"][-1]),
        ({"name": "A", "value": "1"}, {"name": "B", "value": "2"}),
        id="extraEnv-after-the-charts-own",
    ),
    pytest.param(
        {
            "operator": {
                "extraVolumes": [{"name": "ca", "configMap": {"name": "ca"}}],
                "extraVolumeMounts": [{"name": "ca", "mountPath": "/ca"}],
            },
            "agent": {
                "extraVolumes": [{"name": "os", "hostPath": {"path": "/etc/os-release"}}],
                "extraVolumeMounts": [{"name": "os", "mountPath": "/host/etc/os-release", "readOnly": True}],
            },
        },
        lambda r: [
            (pod_spec(w)["volumes"][-1]["name"], container(w)["volumeMounts"][-1]["mountPath"])
            for w in (_operator(r), _agent(r))
        ],
        [("ca", "/ca"), ("os", "/host/etc/os-release")],
        id="extraVolumes-and-extraVolumeMounts",
    ),
    pytest.param(
        {"agent": {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}}}},
        lambda r: _agent(r)["spec"]["updateStrategy"],
        {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}},
        id="agent.updateStrategy",
    ),
    pytest.param(
        {"operator": {"replicas": 2}},
        lambda r: _operator(r)["spec"]["replicas"],
        2,
        id="operator.replicas",
    ),
    pytest.param(
        {"operator": {"serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn"}}}},
        lambda r: one(r, "ServiceAccount", "rollboot-operator")["metadata"]["annotations"],
        {"eks.amazonaws.com/role-arn": "arn"},
        id="operator.serviceAccount.annotations",
    ),
    pytest.param(
        {"agent": {"serviceAccount": {"annotations": {"a": "b"}}}},
        lambda r: one(r, "ServiceAccount", "rollboot-agent")["metadata"]["annotations"],
        {"a": "b"},
        id="agent.serviceAccount.annotations",
    ),
    pytest.param(
        {
            "operator": {"serviceAccount": {"create": False, "name": "ops"}},
            "agent": {"serviceAccount": {"create": False, "name": "nodes"}},
        },
        lambda r: (
            sorted(d["metadata"]["name"] for d in r if d["kind"] == "ServiceAccount"),
            pod_spec(_operator(r))["serviceAccountName"],
            pod_spec(_agent(r))["serviceAccountName"],
            sorted(s["name"] for d in r if d["kind"] in ("ClusterRoleBinding", "RoleBinding") for s in d["subjects"]),
            "endsWith(':nodes')"
            in one(r, "ValidatingAdmissionPolicy", "rollboot-agent-own-node")["spec"]["matchConditions"][0][
                "expression"
            ],
        ),
        ([], "ops", "nodes", ["nodes", "ops", "ops", "ops", "ops"], True),
        id="serviceAccount.create-false-uses-the-named-accounts-everywhere",
    ),
    pytest.param(
        {"rbac": {"create": False}},
        lambda r: sorted({d["kind"] for d in r} & {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}),
        [],
        id="rbac.create-false",
    ),
    pytest.param(
        {"tests": {"enabled": False}},
        lambda r: [d for d in r if is_hook(d)],
        [],
        id="tests.enabled-false",
    ),
]


@pytest.mark.parametrize(("values", "read", "expected"), CASES)
def test_each_value_reaches_its_field(values: dict[str, Any], read: Check, expected: Any) -> None:
    assert read(chart_with(values)) == expected


def _names(rendered: list[Object]) -> set[str]:
    """Every name an object has or refers to: its own, its service account, role and subject names, selectors."""
    names: set[str] = set()
    for document in rendered:
        if document["kind"] == "CustomResourceDefinition":
            continue
        names.add(document["metadata"]["name"])
        names.add(document.get("roleRef", {}).get("name", ""))
        names.update(subject["name"] for subject in document.get("subjects", []))
        names.add(document.get("spec", {}).get("policyName", ""))
        if document["kind"] in ("Deployment", "DaemonSet"):
            names.add(pod_spec(document)["serviceAccountName"])
            names.update(document["spec"]["selector"]["matchLabels"].values())
    return names - {""}


@pytest.mark.parametrize(
    ("values", "release", "prefix"),
    [
        pytest.param({}, "rollboot", "rollboot", id="default-release"),
        pytest.param({}, "nightly", "nightly-rollboot", id="other-release"),
        pytest.param({}, "rollboot-canary", "rollboot-canary", id="release-containing-the-chart-name"),
        pytest.param({"nameOverride": "reboots"}, "prod", "prod-reboots", id="nameOverride"),
        pytest.param(CUSTOM, "prod", "reboots", id="fullnameOverride"),
    ],
)
def test_every_name_derives_from_the_release_or_the_overrides(
    values: dict[str, Any], release: str, prefix: str
) -> None:
    rendered = chart_with({**values, "operator": {"secretNamespaces": ["team-a"]}}, release=release)
    names = _names(rendered)
    assert names == {
        f"{prefix}-operator",
        f"{prefix}-operator-secrets",
        f"{prefix}-operator-lease",
        f"{prefix}-operator-stop",
        f"{prefix}-operator-test",
        f"{prefix}-viewer",
        f"{prefix}-oncall",
        f"{prefix}-oncall-stop",
        f"{prefix}-agent",
        f"{prefix}-agent-own-node",
    }
    policy = one(rendered, "ValidatingAdmissionPolicy", f"{prefix}-agent-own-node")
    assert f"endsWith(':{prefix}-agent')" in policy["spec"]["matchConditions"][0]["expression"]
    test_pod = next(d for d in rendered if is_hook(d))
    [tester] = test_pod["spec"]["containers"]
    env = {e["name"]: e["value"] for e in tester["env"]}
    assert env["SELECTOR"] == f"app.kubernetes.io/name={prefix}-operator"


def test_a_long_release_name_still_gives_valid_names() -> None:
    rendered = chart_with({}, release="a" * 53)
    assert max(len(name) for name in _names(rendered)) <= 63
