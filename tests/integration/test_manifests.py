"""What a user applies, accepted by a real API server: the kustomize base, the chart, the example policy.

``kubectl apply --dry-run=server`` runs the API server's whole admission and validation (schemas, CRD rules,
Pod Security) without persisting anything. The operator's pod template is also admitted as a Pod into a namespace
that enforces the "restricted" Pod Security level, and the agent's is refused by "baseline": the reason the
rollboot-system namespace enforces "privileged".
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.integration.conftest import Cluster
from tests.integration.install import install
from tests.manifests.render import (
    CHART,
    MANIFESTS,
    NAMESPACE,
    Object,
    chart_text,
    kustomize,
    one,
    parse,
    pod_spec,
    render_values,
    run,
    tool,
)

MONITORING_CRDS = Path(__file__).with_name("monitoring-crds.yaml")


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
    assert "helm test rollboot -n default" in result.stdout


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


@pytest.fixture(scope="module")
def monitoring_kinds(cluster: Cluster) -> Iterator[None]:
    """Stand-ins of the Prometheus Operator's CRDs (monitoring-crds.yaml says what they check and what not)."""
    cluster.kubectl("apply", "--server-side", "-f", str(MONITORING_CRDS))
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(MONITORING_CRDS))
    try:
        yield
    finally:
        cluster.kubectl("delete", "--ignore-not-found", "-f", str(MONITORING_CRDS))


EVERYTHING_ON: dict[str, Any] = {
    "namespace": {"create": True},
    "commonLabels": {"team": "platform"},
    "image": {"registry": "mirror.example:5000"},
    "imagePullSecrets": [{"name": "pull"}],
    "metrics": {
        "service": {"enabled": True, "annotations": {"a": "b"}},
        "serviceMonitor": {"enabled": True, "interval": "30s", "labels": {"release": "kps"}},
        "prometheusRule": {"enabled": True, "labels": {"release": "kps"}},
    },
    "grafanaDashboard": {"enabled": True},
    "operator": {
        "replicas": 2,
        "image": {"digest": "sha256:" + "a" * 64, "pullPolicy": "Always"},
        "serviceAccount": {"annotations": {"iam.example/role": "r"}},
        "secretNamespaces": ["default"],
        "extraArgs": ["--verbose"],
        "extraEnv": [{"name": "TZ", "value": "UTC"}],
        "extraVolumes": [{"name": "ca", "configMap": {"name": "ca"}}],
        "extraVolumeMounts": [{"name": "ca", "mountPath": "/etc/ssl/extra", "readOnly": True}],
        "podAnnotations": {"a": "b"},
        "podLabels": {"tier": "control"},
        "tolerations": [{"key": "infra", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 1,
                        "podAffinityTerm": {
                            "topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "rollboot-operator"}},
                        },
                    }
                ]
            }
        },
        "priorityClassName": "system-cluster-critical",
    },
    "agent": {
        "rebootMethod": "command",
        # Rendered and dry-run only (no pod is ever made of it); an inert command, never a reboot path here.
        "rebootCommand": "/bin/true --example-reboot-command",
        "sentinelCommand": "needs-restarting -r",
        "extraEnv": [{"name": "TZ", "value": "UTC"}],
        "extraVolumes": [{"name": "os", "hostPath": {"path": "/etc/os-release", "type": "File"}}],
        "extraVolumeMounts": [{"name": "os", "mountPath": "/host/etc/os-release", "readOnly": True}],
        "podAnnotations": {"a": "b"},
        "podLabels": {"tier": "node"},
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [{"key": "pool", "operator": "In", "values": ["a"]}]}]
                }
            }
        },
        "priorityClassName": "system-node-critical",
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}},
    },
}
RENAMED: dict[str, Any] = {"crds": {"install": False}, "tests": {"enabled": False}}
EVERYTHING_OFF: dict[str, Any] = {
    "crds": {"install": False},
    "rbac": {"create": False},
    "admissionPolicy": {"enabled": False},
    "tests": {"enabled": False},
    "operator": {"metricsPort": 0, "serviceAccount": {"create": False, "name": "rollboot-operator"}},
    "agent": {"serviceAccount": {"create": False, "name": "rollboot-agent"}},
}


@pytest.mark.parametrize(
    ("values", "release", "kinds"),
    [
        pytest.param({}, "rollboot", {"Deployment", "DaemonSet", "ValidatingAdmissionPolicy", "Pod"}, id="defaults"),
        pytest.param(
            EVERYTHING_ON,
            "rollboot",
            {"Namespace", "Service", "ServiceMonitor", "PrometheusRule", "ConfigMap", "Role", "Pod"},
            id="everything-on",
        ),
        pytest.param(EVERYTHING_OFF, "rollboot", {"Deployment", "DaemonSet"}, id="everything-off"),
        # The test pod is left out where its service account is new: a dry run creates no service account, and a
        # Pod naming one that does not exist is refused (helm creates the account before it runs the test).
        pytest.param(
            {**RENAMED, "fullnameOverride": "reboots", "metrics": {"serviceMonitor": {"enabled": True}}},
            "prod",
            {"Deployment", "DaemonSet", "ServiceMonitor", "ValidatingAdmissionPolicyBinding"},
            id="custom-names",
        ),
        pytest.param({**RENAMED, "nameOverride": "reboots"}, "nightly", {"ClusterRole"}, id="other-release"),
    ],
)
def test_the_chart_under_a_matrix_of_values_is_accepted_by_the_api_server(
    cluster: Cluster,
    installed: list[Object],
    monitoring_kinds: None,
    values: dict[str, Any],
    release: str,
    kinds: set[str],
) -> None:
    """Each rendering, every object of it, through the API server's admission and validation (dry run)."""
    rendered = render_values(values, release=release).stdout
    documents = parse(rendered)
    assert kinds <= {d["kind"] for d in documents}
    out = _dry_run_apply(cluster, rendered)
    accepted = [line for line in out.splitlines() if "(server dry run)" in line]
    assert len(accepted) == len(documents), out


def _service_account_dir(cluster: Cluster, account: str, folder: Path) -> None:
    """What a pod of ``account`` finds under /var/run/secrets/kubernetes.io/serviceaccount: a token and the CA."""
    folder.mkdir()
    token = cluster.kubectl("create", "token", account, "-n", NAMESPACE, "--duration=10m").stdout.strip()
    (folder / "token").write_text(token)
    view = json.loads(cluster.kubectl("config", "view", "--raw", "--minify", "-o", "json").stdout)
    authority = view["clusters"][0]["cluster"]
    if "certificate-authority-data" in authority:
        (folder / "ca.crt").write_bytes(base64.b64decode(authority["certificate-authority-data"]))
    else:
        (folder / "ca.crt").write_bytes(Path(authority["certificate-authority"]).read_bytes())


def _helm_test_script(cluster: Cluster, folder: Path, crds: str) -> subprocess.CompletedProcess[str]:
    """files/helm-test.py as the chart's test pod runs it, here with the operator's token from outside the cluster."""
    view = json.loads(cluster.kubectl("config", "view", "--minify", "-o", "json").stdout)
    server = urlsplit(view["clusters"][0]["cluster"]["server"])
    env = {
        **os.environ,
        "KUBERNETES_SERVICE_HOST": server.hostname or "",
        "KUBERNETES_SERVICE_PORT": str(server.port),
        "SERVICEACCOUNT_DIR": str(folder),
        "NAMESPACE": NAMESPACE,
        "SELECTOR": "app.kubernetes.io/name=rollboot-operator",
        "CRDS": crds,
    }
    script = (CHART / "files" / "helm-test.py").read_text()
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)


CRD_NAMES = "noderebootrequests.rollboot.dev,rebootpolicies.rollboot.dev"


def test_the_helm_test_script_passes_only_with_a_ready_operator_and_served_crds(
    cluster: Cluster, installed: list[Object], tmp_path: Path, unique: str
) -> None:
    folder = tmp_path / "serviceaccount"
    _service_account_dir(cluster, "rollboot-operator", folder)
    # No operator pod (tests run the operator as a process): the test fails, naming what it looked for.
    failed = _helm_test_script(cluster, folder, CRD_NAMES)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert f"no operator pod (app.kubernetes.io/name=rollboot-operator) is Ready in {NAMESPACE}" in failed.stderr
    assert "rebootpolicies.rollboot.dev/v1alpha1 is served" in failed.stdout
    # A Ready pod with the operator's label (no kubelet here: its status is written as a kubelet would).
    pod = f"rollboot-operator-{unique}"
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": pod, "namespace": NAMESPACE, "labels": {"app.kubernetes.io/name": "rollboot-operator"}},
        "spec": {
            "serviceAccountName": "rollboot-operator",
            "automountServiceAccountToken": False,
            "nodeName": f"nowhere-{unique}",
            "containers": [{"name": "operator", "image": "ghcr.io/rollboot/rollboot-operator:0"}],
        },
    }
    cluster.kubectl("create", "-f", "-", input=json.dumps(body))
    try:
        ready = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
        cluster.kubectl(
            "patch", "pod", pod, "-n", NAMESPACE, "--subresource=status", "--type=merge", "-p", json.dumps(ready)
        )
        passed = _helm_test_script(cluster, folder, CRD_NAMES)
        assert passed.returncode == 0, passed.stdout + passed.stderr
        assert f"Ready: {pod}" in passed.stdout
        # A CRD that is not there fails the test, by name.
        missing = _helm_test_script(cluster, folder, CRD_NAMES + ",widgets.example.com")
        assert missing.returncode == 1
        assert "CRD widgets.example.com: 404" in missing.stderr
    finally:
        cluster.kubectl("delete", "pod", pod, "-n", NAMESPACE, "--force", "--grace-period=0", "--wait=false")


def test_the_helm_test_pod_runs_the_script_the_integration_test_runs() -> None:
    [tester] = [d for d in parse(chart_text()) if d["kind"] == "Pod"]
    [container] = tester["spec"]["containers"]
    assert container["command"] == ["python", "-c"]
    assert container["args"] == [(CHART / "files" / "helm-test.py").read_text()]
    assert tester["spec"]["serviceAccountName"] == "rollboot-operator"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env == {"NAMESPACE": NAMESPACE, "SELECTOR": "app.kubernetes.io/name=rollboot-operator", "CRDS": CRD_NAMES}


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
