"""What a user applies, accepted by a real API server: the kustomize base, the chart, the example policy.

``kubectl apply --dry-run=server`` runs the API server's whole admission and validation (schemas, CRD rules,
Pod Security) without persisting anything. The operator's pod template is also admitted as a Pod into a namespace
that enforces the "restricted" Pod Security level, and the agent's is refused by "baseline": the reason the
rollboot-system namespace enforces "privileged".
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import yaml

from tests.integration.conftest import Cluster
from tests.integration.install import install
from tests.manifests.render import MANIFESTS, Object, chart_text, kustomize, one, pod_spec, run, tool


@pytest.fixture(scope="module")
def installed(cluster: Cluster) -> Iterator[list[Object]]:
    """The namespace must exist for a dry run of what goes into it."""
    yield from install(cluster)


def test_helm_install_is_accepted_before_anything_is_installed(cluster: Cluster) -> None:
    """``helm install`` itself, as a user runs it: the chart's kubeVersion against the real server, then every
    object through the server's admission (first in this module, before the fixture below installs the base). The
    session's fixtures installed the CRDs already, outside Helm, so the release leaves them out."""
    result = run(
        [
            str(tool("helm")), "install", "rollboot", str(MANIFESTS / "chart"), "--dry-run=server",
            "--namespace", "default", "--kubeconfig", str(cluster.kubeconfig), "--set", "crds.install=false",
        ]
    )  # fmt: skip
    assert "STATUS: pending-install" in result.stdout
    assert "nothing is rebooted until a RebootPolicy selects it" in result.stdout


def _dry_run_apply(cluster: Cluster, manifest: str) -> str:
    result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=manifest)
    return result.stdout


def test_kubectl_apply_k_manifests_is_accepted(cluster: Cluster, installed: list[Object]) -> None:
    result = cluster.kubectl("apply", "--dry-run=server", "-k", str(MANIFESTS))
    applied = [line for line in result.stdout.splitlines() if "(server dry run)" in line]
    assert len(applied) == len(kustomize()), result.stdout
    # The session's fixtures installed the CRDs server-side, so kubectl warns that it adopts them; nothing else.
    warnings = [line for line in result.stderr.splitlines() if "last-applied-configuration" not in line and line]
    assert not warnings, result.stderr


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({}, id="defaults"),
        pytest.param({"namespace.create": "true"}, id="with-namespace"),
        pytest.param(
            {"agent.rebootMethod": "command", "agent.sentinelCommand": "needs-restarting -r"}, id="privileged-agent"
        ),
        pytest.param(
            {"agent.sentinel.hostPath": "/var/lib/rollboot/reboot-required", "imagePullSecrets[0].name": "pull"},
            id="other-sentinel",
        ),
    ],
)
def test_the_rendered_chart_is_accepted(cluster: Cluster, installed: list[Object], values: dict[str, str]) -> None:
    out = _dry_run_apply(cluster, chart_text(values))
    assert "daemonset.apps/rollboot-agent" in out
    assert "deployment.apps/rollboot-operator" in out


def test_the_example_policy_is_accepted(cluster: Cluster) -> None:
    out = cluster.kubectl("apply", "--dry-run=server", "-f", str(MANIFESTS / "examples" / "rebootpolicy.yaml"))
    assert "rebootpolicy.rollboot.dev/linux-nodes created (server dry run)" in out.stdout


def _pod_from(workload: Object, namespace: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": workload["metadata"]["name"], "namespace": namespace},
            "spec": pod_spec(workload),
        }
    )


@pytest.fixture
def enforcing(cluster: Cluster, unique: str) -> Iterator[str]:
    """A namespace for a Pod Security level set by the test, with the two service accounts the pods name."""
    name = f"psa-{unique}"
    cluster.kubectl("create", "namespace", name)
    for account in ("rollboot-operator", "rollboot-agent"):
        cluster.kubectl("create", "serviceaccount", account, "-n", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false")


def test_the_operator_pod_is_admitted_at_the_restricted_level(cluster: Cluster, enforcing: str) -> None:
    cluster.kubectl("label", "namespace", enforcing, "pod-security.kubernetes.io/enforce=restricted")
    deployment = one(kustomize(), "Deployment", "rollboot-operator")
    result = cluster.kubectl("create", "--dry-run=server", "-f", "-", input=_pod_from(deployment, enforcing))
    assert "created (server dry run)" in result.stdout
    assert "violate" not in result.stderr, result.stderr


def test_the_agent_pod_needs_the_privileged_level(cluster: Cluster, enforcing: str) -> None:
    cluster.kubectl("label", "namespace", enforcing, "pod-security.kubernetes.io/enforce=baseline")
    daemonset = one(kustomize(), "DaemonSet", "rollboot-agent")
    result = cluster.kubectl(
        "create", "--dry-run=server", "-f", "-", input=_pod_from(daemonset, enforcing), check=False
    )
    assert result.returncode != 0
    assert 'violates PodSecurity "baseline:latest"' in result.stderr
    assert "hostPID=true" in result.stderr and "hostPath volumes" in result.stderr


def test_the_argocd_cm_patch_is_a_valid_configmap(cluster: Cluster, unique: str) -> None:
    [patch] = yaml.safe_load_all((MANIFESTS / "argocd" / "argocd-cm-patch.yaml").read_text())
    patch["metadata"]["namespace"] = "default"
    out = cluster.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(patch))
    assert "configmap/argocd-cm created (server dry run)" in out.stdout
