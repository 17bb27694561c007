"""Fixtures for tests against the real control plane.

One control plane per test run (session scope), started from the cached upstream binaries, or the one named by
``ROLLBOOT_KUBECONFIG`` (e.g. from ``make cluster``). The CRDs in ``crds/`` are applied once. Each test gets its own
namespace, unique node names and, when it asks, a node simulator. A test that needs the control plane and cannot
get one fails: the start-up error propagates, nothing is skipped.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes_asyncio import client, config

from hack.controlplane import ControlPlane
from hack.controlplane.build import bin_dir, ensure_built
from hack.nodesim.simulator import NodeSimulator
from reboot_operator.api.meta import GROUP, VERSION
from tests.integration.rollout import Rig

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO / "crds"


@dataclass
class Cluster:
    """What a test needs to reach the API server: a kubeconfig, the matching kubectl, and (when we own it) control."""

    kubeconfig: Path
    kubectl_path: Path
    plane: ControlPlane | None

    def env(self) -> dict[str, str]:
        return dict(
            os.environ,
            KUBECONFIG=str(self.kubeconfig),
            ROLLBOOT_KUBECONFIG=str(self.kubeconfig),
            PATH=f"{self.kubectl_path.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        )

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.kubectl_path), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def owned(self) -> ControlPlane:
        """The control plane itself, for tests that stop and start the API server; fails on a borrowed one."""
        if self.plane is None:
            raise AssertionError("this test must own the control plane; unset ROLLBOOT_KUBECONFIG to let it start one")
        return self.plane


def _apply_crds(cluster: Cluster) -> None:
    manifests = sorted(CRDS.glob("*.yaml"))
    if not manifests:
        return
    for manifest in manifests:
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(manifest))
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    borrowed = os.environ.get("ROLLBOOT_KUBECONFIG")
    if borrowed:
        ensure_built()
        found = Cluster(kubeconfig=Path(borrowed), kubectl_path=bin_dir() / "kubectl", plane=None)
        _apply_crds(found)
        yield found
        return
    print("starting the local control plane", file=sys.stderr)
    with ControlPlane() as plane:
        started = Cluster(kubeconfig=plane.kubeconfig, kubectl_path=plane.kubectl, plane=plane)
        _apply_crds(started)
        yield started


@pytest.fixture
def kubectl(cluster: Cluster) -> Callable[..., subprocess.CompletedProcess[str]]:
    return cluster.kubectl


@pytest.fixture
def unique() -> str:
    """A short random suffix so names never collide between tests or reruns against a borrowed cluster."""
    return secrets.token_hex(3)


@pytest.fixture
async def api(cluster: Cluster) -> AsyncIterator[client.ApiClient]:
    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=configuration)
    async with client.ApiClient(configuration) as api_client:
        yield api_client


@pytest.fixture
async def namespace(api: client.ApiClient, unique: str) -> AsyncIterator[str]:
    name = f"test-{unique}"
    core = client.CoreV1Api(api)
    await core.create_namespace({"metadata": {"name": name}})
    # Pods need the namespace's default ServiceAccount, which the serviceaccount controller creates.
    async with asyncio.timeout(30):
        while True:
            accounts = await core.list_namespaced_service_account(name)
            if any(a.metadata.name == "default" for a in accounts.items):
                break
            await asyncio.sleep(0.1)
    yield name
    await core.delete_namespace(name)


@pytest.fixture
async def simulator(api: client.ApiClient, tmp_path: Path) -> AsyncIterator[NodeSimulator]:
    sim = NodeSimulator(api=api, root=tmp_path / "nodes", grace_scale=0.1)
    await sim.start()
    yield sim
    await sim.stop()
    for name in sim.node_names():
        await sim.delete_node(name)


@pytest.fixture
async def rig(api: client.ApiClient, cluster: Cluster, simulator: NodeSimulator, tmp_path: Path) -> AsyncIterator[Rig]:
    """The real operator and agents around simulated nodes; logs under the test's tmp_path, dumped on failure."""
    harness = Rig(api=api, kubeconfig=cluster.kubeconfig, sim=simulator, logs=tmp_path / "logs")
    yield harness
    await harness.stop()
    custom = client.CustomObjectsApi(api)
    for plural in ("noderebootrequests", "rebootpolicies"):
        listing = await custom.list_cluster_custom_object(GROUP, VERSION, plural)
        for item in listing["items"]:
            await custom.delete_cluster_custom_object(GROUP, VERSION, plural, item["metadata"]["name"])
