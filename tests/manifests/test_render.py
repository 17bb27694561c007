"""One source of truth: the kustomize base and the Helm chart render the same objects, from the same CRDs.

With default values the chart renders exactly the objects of ``kubectl kustomize manifests/``, field for field,
but for the labels and annotations only Helm adds and the Namespace (``helm install --create-namespace`` makes it;
``namespace.create=true`` renders it too). The CRDs in the chart are byte-for-byte copies of crds/, and every
image tag and version label is the project's version.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.manifests.render import (
    CHART,
    NAMESPACE,
    REPO,
    Object,
    by_key,
    chart,
    container,
    helm_args,
    is_hook,
    kustomize,
    one,
    pod_spec,
    run,
    without_helm_metadata,
)

VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
CHART_CRDS = CHART / "files" / "crds"


def _difference(left: Object, right: Object) -> str:
    return "\n".join(
        difflib.unified_diff(
            yaml.safe_dump(left).splitlines(), yaml.safe_dump(right).splitlines(), "kustomize", "helm", lineterm=""
        )
    )


def _assert_same_objects(kustomized: list[Object], templated: list[Object]) -> None:
    ours, theirs = by_key(kustomized), by_key(d for d in templated if not is_hook(d))
    assert sorted(ours) == sorted(theirs)
    for key, document in ours.items():
        helm_document = without_helm_metadata(theirs[key])
        assert document == helm_document, f"{key} differs:\n{_difference(document, helm_document)}"


def test_the_chart_with_default_values_renders_the_kustomize_base_except_the_namespace() -> None:
    kustomized = kustomize()
    namespace = one(kustomized, "Namespace", NAMESPACE)
    _assert_same_objects([d for d in kustomized if d is not namespace], chart())


def test_the_chart_renders_the_namespace_too_when_asked() -> None:
    _assert_same_objects(kustomize(), chart({"namespace.create": "true"}))


def test_the_base_holds_the_expected_objects() -> None:
    kinds = sorted((kind, name) for kind, _, name in by_key(kustomize()))
    assert kinds == [
        ("ClusterRole", "rollboot-agent"),
        ("ClusterRole", "rollboot-oncall"),
        ("ClusterRole", "rollboot-operator"),
        ("ClusterRole", "rollboot-viewer"),
        ("ClusterRoleBinding", "rollboot-agent"),
        ("ClusterRoleBinding", "rollboot-operator"),
        ("CustomResourceDefinition", "noderebootrequests.rollboot.dev"),
        ("CustomResourceDefinition", "rebootpolicies.rollboot.dev"),
        ("DaemonSet", "rollboot-agent"),
        ("Deployment", "rollboot-operator"),
        ("Namespace", NAMESPACE),
        ("Role", "rollboot-oncall-stop"),
        ("Role", "rollboot-operator-lease"),
        ("Role", "rollboot-operator-secrets"),
        ("Role", "rollboot-operator-stop"),
        ("RoleBinding", "rollboot-operator-lease"),
        ("RoleBinding", "rollboot-operator-secrets"),
        ("RoleBinding", "rollboot-operator-stop"),
        ("ServiceAccount", "rollboot-agent"),
        ("ServiceAccount", "rollboot-operator"),
        ("ValidatingAdmissionPolicy", "rollboot-agent-own-node"),
        ("ValidatingAdmissionPolicyBinding", "rollboot-agent-own-node"),
    ]


@pytest.mark.parametrize("crd", sorted(p.name for p in (REPO / "crds").glob("*.yaml")))
def test_the_chart_carries_a_byte_for_byte_copy_of_each_generated_crd(crd: str) -> None:
    copy = CHART_CRDS / crd
    assert copy.exists(), f"{copy} is missing: cp crds/*.yaml {CHART_CRDS.relative_to(REPO)}/"
    assert copy.read_bytes() == (REPO / "crds" / crd).read_bytes(), (
        f"{copy.relative_to(REPO)} is stale: cp crds/*.yaml {CHART_CRDS.relative_to(REPO)}/"
    )


def test_no_crd_copy_is_left_over() -> None:
    assert sorted(p.name for p in CHART_CRDS.glob("*.yaml")) == sorted(p.name for p in (REPO / "crds").glob("*.yaml"))


def test_the_rendered_crds_are_the_generated_ones_with_an_early_sync_wave() -> None:
    for document in kustomize():
        if document["kind"] != "CustomResourceDefinition":
            continue
        generated = yaml.safe_load((REPO / "crds" / f"{document['metadata']['name']}.yaml").read_text())
        assert document["spec"] == generated["spec"]
        assert document["metadata"]["annotations"] == {"argocd.argoproj.io/sync-wave": "-1"}


def test_images_and_versions_are_the_project_version() -> None:
    chart_meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart_meta["version"] == chart_meta["appVersion"] == VERSION
    rendered = kustomize()
    images = sorted(
        container(d)["image"] for d in rendered if d["kind"] in ("Deployment", "DaemonSet")
    )  # fmt: skip
    assert images == [f"ghcr.io/rollboot/rollboot-agent:{VERSION}", f"ghcr.io/rollboot/rollboot-operator:{VERSION}"]
    assert {d["metadata"]["labels"]["app.kubernetes.io/version"] for d in rendered} == {VERSION}


def test_kustomize_images_override_both_images(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": [os.path.relpath(REPO / "manifests", overlay)],
                "images": [
                    {"name": "ghcr.io/rollboot/rollboot-operator", "newName": "registry.example/op", "newTag": "x1"},
                    {"name": "ghcr.io/rollboot/rollboot-agent", "newName": "registry.example/agent", "newTag": "x1"},
                ],
            }
        )
    )
    # An overlay elsewhere refers to the base as a relative directory, as a user's overlay would.
    rendered = kustomize(overlay)
    images = sorted(container(d)["image"] for d in rendered if d["kind"] in ("Deployment", "DaemonSet"))
    assert images == ["registry.example/agent:x1", "registry.example/op:x1"]


def test_helm_values_override_images_and_log_format() -> None:
    rendered = chart(
        {
            "operator.image.registry": "registry.example",
            "operator.image.repository": "op",
            "operator.image.tag": "x1",
            "agent.image.tag": "x2",
            "logFormat": "text",
        }
    )
    operator = container(one(rendered, "Deployment", "rollboot-operator"))
    agent = container(one(rendered, "DaemonSet", "rollboot-agent"))
    assert operator["image"] == "registry.example/op:x1"
    assert agent["image"] == "ghcr.io/rollboot/rollboot-agent:x2"
    assert "--log-format=text" in operator["args"]
    assert "--log-format=text" in agent["args"]


@pytest.mark.parametrize(
    ("host_path", "mount", "flag"),
    [
        pytest.param("/var/run/reboot-required", "/host/var/run", "/host/var/run/reboot-required", id="ubuntu-default"),
        pytest.param("/run/reboot-required", "/host/run", "/host/run/reboot-required", id="run-directly"),
        pytest.param(
            "/var/lib/rollboot/reboot-required",
            "/host/var/lib/rollboot",
            "/host/var/lib/rollboot/reboot-required",
            id="a-dedicated-directory",
        ),
    ],
)
def test_the_sentinel_host_path_gives_the_mount_and_the_container_path_of_the_flag(
    host_path: str, mount: str, flag: str
) -> None:
    daemonset = one(chart({"agent.sentinel.hostPath": host_path}), "DaemonSet", "rollboot-agent")
    volume = next(v for v in pod_spec(daemonset)["volumes"] if v["name"] == "sentinel")
    assert volume["hostPath"] == {"path": str(Path(host_path).parent), "type": "Directory"}
    agent = container(daemonset)
    assert {"name": "sentinel", "mountPath": mount, "readOnly": True} in agent["volumeMounts"]
    assert f"--reboot-sentinel={flag}" in agent["args"]


def test_the_command_method_makes_the_agent_privileged_and_passes_the_command() -> None:
    daemonset = one(
        chart({"agent.rebootMethod": "command", "agent.rebootCommand": "/usr/bin/systemctl reboot --force"}),
        "DaemonSet",
        "rollboot-agent",
    )
    agent = container(daemonset)
    assert agent["securityContext"]["privileged"] is True
    assert "--reboot-method=command" in agent["args"]
    assert "--reboot-command=/usr/bin/systemctl reboot --force" in agent["args"]


def test_a_sentinel_command_makes_the_agent_privileged_for_nsenter() -> None:
    agent = container(one(chart({"agent.sentinelCommand": "needs-restarting -r"}), "DaemonSet", "rollboot-agent"))
    assert agent["securityContext"]["privileged"] is True
    assert "--reboot-sentinel-command=needs-restarting -r" in agent["args"]


def test_extra_args_pull_secrets_and_priority_class_reach_both_pods() -> None:
    rendered = chart(
        {
            "agent.extraArgs[0]": "--check-interval=5m",
            "operator.extraArgs[0]": "--verbose",
            "imagePullSecrets[0].name": "registry",
            "agent.priorityClassName": "system-node-critical",
        }
    )
    daemonset, deployment = (
        one(rendered, "DaemonSet", "rollboot-agent"),
        one(rendered, "Deployment", "rollboot-operator"),
    )
    assert container(daemonset)["args"][-1] == "--check-interval=5m"
    assert container(deployment)["args"][-1] == "--verbose"
    for workload in (daemonset, deployment):
        assert pod_spec(workload)["imagePullSecrets"] == [{"name": "registry"}]
    assert pod_spec(daemonset)["priorityClassName"] == "system-node-critical"
    assert "priorityClassName" not in pod_spec(deployment)


def test_the_operator_may_read_notification_secrets_in_the_namespaces_named_only() -> None:
    rendered = chart({"operator.secretNamespaces[0]": "team-a", "operator.secretNamespaces[1]": NAMESPACE})
    secrets = "rollboot-operator-secrets"
    roles = sorted(
        d["metadata"]["namespace"] for d in rendered if d["kind"] == "Role" and d["metadata"]["name"] == secrets
    )
    bindings = [d for d in rendered if d["kind"] == "RoleBinding" and d["metadata"]["name"] == secrets]
    assert roles == sorted([NAMESPACE, "team-a"])
    assert sorted(d["metadata"]["namespace"] for d in bindings) == roles
    for binding in bindings:
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "rollboot-operator", "namespace": NAMESPACE}]


def test_metrics_port_zero_turns_the_endpoint_off() -> None:
    deployment = one(chart({"operator.metricsPort": "0"}), "Deployment", "rollboot-operator")
    operator = container(deployment)
    assert "--metrics-port=0" in operator["args"]
    assert [port["name"] for port in operator["ports"]] == ["health"]
    assert "annotations" not in deployment["spec"]["template"]["metadata"]


def test_the_crds_and_the_admission_policy_can_be_left_out() -> None:
    kinds = {d["kind"] for d in chart({"crds.install": "false", "admissionPolicy.enabled": "false"})}
    assert not kinds & {"CustomResourceDefinition", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}


def test_helm_keeps_the_crds_on_uninstall_by_default() -> None:
    for document in chart():
        if document["kind"] == "CustomResourceDefinition":
            assert document["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param({"agent.rebootMethod": "ssh"}, "at '/agent/rebootMethod': value must be one of", id="method"),
        pytest.param(
            {"agent.sentinel.hostPath": "reboot-required"}, "at '/agent/sentinel/hostPath'", id="relative-path"
        ),
    ],
)
def test_bad_values_fail_the_rendering_with_a_clear_message(values: dict[str, str], message: str) -> None:
    result = run(helm_args(values), check=False)
    assert result.returncode != 0
    assert message in result.stderr


def test_the_chart_passes_helm_lint() -> None:
    result = run([*helm_args()[:1], "lint", str(CHART), "--strict"], check=False)
    assert result.returncode == 0, result.stdout + result.stderr
