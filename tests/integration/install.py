"""Put rollboot's rendered manifests on the test control plane, as ``kubectl apply -k manifests/`` would.

Two things are left out of the real apply. The CRDs: the session's fixtures already installed the same ones from
crds/ (server-side), and deleting them afterwards would delete every other test's resources. The operator's
Deployment: the node simulator would schedule its pod onto some test's simulated node; tests run the operator as a
process instead. Both are still checked with a server-side dry run (tests/integration/test_manifests.py). The
DaemonSet is applied for real: no DaemonSet controller runs here, so it creates no pods, and drains need it to
exist to recognise its pods.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import yaml

from reboot_operator.api.meta import API_VERSION
from tests.integration.conftest import Cluster
from tests.manifests.render import NAMESPACE, Object, kustomize

NOT_APPLIED = frozenset({"CustomResourceDefinition", "Deployment"})
AGENT = f"system:serviceaccount:{NAMESPACE}:rollboot-agent"
OPERATOR = f"system:serviceaccount:{NAMESPACE}:rollboot-operator"
NODE_NAME_EXTRA = "authentication.kubernetes.io/node-name"


def _stream(documents: list[Object]) -> str:
    return yaml.safe_dump_all(documents)


def install(cluster: Cluster) -> Iterator[list[Object]]:
    """Apply the base (but NOT_APPLIED), wait until the admission policy is in force, remove it all afterwards."""
    documents = [d for d in kustomize() if d["kind"] not in NOT_APPLIED]
    cluster.kubectl("apply", "-f", "-", input=_stream(documents))
    wait_for_admission_policy(cluster)
    try:
        yield documents
    finally:
        cluster.kubectl(
            "delete", "--ignore-not-found", "--wait=true", "--timeout=60s", "-f", "-", input=_stream(documents)
        )


def as_agent(node: str | None) -> list[str]:
    """kubectl flags that act as the agent's service account, with the node name a pod-bound token would carry."""
    flags = [f"--as={AGENT}"]
    if node is not None:
        flags.append(f"--as-user-extra={NODE_NAME_EXTRA}={node}")
    return flags


def request_body(node: str) -> str:
    return json.dumps(
        {
            "apiVersion": API_VERSION,
            "kind": "NodeRebootRequest",
            "metadata": {"name": node},
            "spec": {"nodeName": node, "reasons": [{"source": "sentinel-file", "detail": "test"}]},
        }
    )


def token_for(cluster: Cluster, account: str, *bound: str, namespace: str = NAMESPACE) -> str:
    """A token of service account ``account`` (``bound``: kubectl's --bound-object-* flags)."""
    return cluster.kubectl("create", "token", account, "-n", namespace, "--duration=1h", *bound).stdout.strip()


def kubeconfig_for(cluster: Cluster, token: str, path: Path) -> Path:
    """The test control plane's kubeconfig (JSON), with the admin's token replaced by ``token``."""
    config = json.loads(cluster.kubeconfig.read_text())
    for user in config["users"]:
        user["user"] = {"token": token}
    path.write_text(json.dumps(config))
    return path


def wait_for_admission_policy(cluster: Cluster, timeout: float = 30) -> None:
    """The policy takes effect once the API server has loaded and compiled it: probe with a dry run until denied."""
    deadline = time.monotonic() + timeout
    while True:
        probe = cluster.kubectl(
            "create", "--dry-run=server", "-f", "-", *as_agent("probe-a"), input=request_body("probe-b"), check=False
        )
        if probe.returncode != 0 and "rollboot-agent-own-node" in probe.stderr:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the admission policy never took effect: {probe.returncode} {probe.stderr}")
        time.sleep(0.2)
