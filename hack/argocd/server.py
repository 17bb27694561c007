"""Argo CD on a running cluster: set up as its install manifests would, its controller and repo server run here.

``ArgoCD.start()`` applies what Argo CD's own install would leave in the cluster and the GitOps test needs: its
CRDs, the ``argocd`` namespace, ``argocd-secret``, ``argocd-cm`` (rollboot's health checks, taken from the file a
user merges, plus any extra settings) and the ``default`` AppProject, which argocd-server would otherwise create.
Then it runs redis (Debian's redis-server, loopback only, nothing saved), the repo server and the application
controller, each a role of the one ``argocd`` binary (``ARGOCD_BINARY_NAME``). No argocd-server, Dex or UI: the test
reads what the controller writes into each Application.

Three settings differ from Argo CD's defaults, all flags a user can set too: the controller's
``--persist-resource-health`` (each managed resource's health is kept in ``status.resources``, where the test reads
it), and a poll of a few seconds instead of minutes: the controller's ``--app-resync`` (``timeout.reconciliation``)
and the repo server's ``--revision-cache-expiration`` (how long it trusts a branch's last commit), so a new commit is
found within seconds without a webhook.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hack.argocd.build import ArgoTools
from hack.controlplane.cluster import free_port
from hack.processes import Child

NAMESPACE = "argocd"
PART_OF = {"app.kubernetes.io/part-of": "argocd"}


class ArgoCDError(RuntimeError):
    """Argo CD could not be set up or started, or one of its processes died."""


def _wait_port(port: int, child: Child, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        if not child.alive() or time.monotonic() > deadline:
            tail = "\n".join(child.log().splitlines()[-20:])
            raise ArgoCDError(f"{child.argv[0]} did not listen on 127.0.0.1:{port}:\n{tail}")
        time.sleep(0.2)


@dataclass
class ArgoCD:
    """Use as a context manager. ``settings`` are more ``argocd-cm`` keys besides the health checks."""

    kubeconfig: Path
    tools: ArgoTools
    health_checks: Path
    root: Path
    settings: dict[str, str] = field(default_factory=dict)
    resync_seconds: int = 5
    children: dict[str, Child] = field(default_factory=dict)

    def __enter__(self) -> ArgoCD:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.tools.bin / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise ArgoCDError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def apply(self, *documents: dict[str, Any]) -> None:
        self.kubectl("apply", "--server-side", "-f", "-", input="\n---\n".join(json.dumps(d) for d in documents))

    # -- set-up ------------------------------------------------------------------------------------------------

    def config_map(self) -> dict[str, Any]:
        """argocd-cm: the health checks exactly as the file users merge, plus ``settings``."""
        patch = yaml.safe_load(self.health_checks.read_text())
        data = {**patch["data"], **self.settings}
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "argocd-cm", "namespace": NAMESPACE, "labels": PART_OF},
            "data": data,
        }

    def install(self) -> None:
        self.kubectl("apply", "--server-side", "-f", str(self.tools.crds))
        names = [
            f"crd/{yaml.safe_load(path.read_text())['metadata']['name']}"
            for path in sorted(self.tools.crds.glob("*.yaml"))
        ]
        # A CRD just created has no status yet, which `kubectl wait` reports as an error rather than waiting.
        deadline = time.monotonic() + 60
        while self.kubectl("wait", "--for=condition=Established", "--timeout=60s", *names, check=False).returncode:
            if time.monotonic() > deadline:
                raise ArgoCDError(f"Argo CD's CRDs not established: {names}")
            time.sleep(0.5)
        self.apply(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "argocd-secret", "namespace": NAMESPACE, "labels": PART_OF},
                "type": "Opaque",
            },
            self.config_map(),
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "argocd-rbac-cm", "namespace": NAMESPACE, "labels": PART_OF},
            },
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "AppProject",
                "metadata": {"name": "default", "namespace": NAMESPACE},
                "spec": {
                    "sourceRepos": ["*"],
                    "destinations": [{"server": "*", "namespace": "*"}],
                    "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
                },
            },
        )

    # -- processes -----------------------------------------------------------------------------------------------

    def _role(self, role: str, *args: str, env: dict[str, str] | None = None) -> Child:
        child = Child(
            [str(self.tools.argocd), *args],
            self.root / f"{role}.log",
            env={
                "ARGOCD_BINARY_NAME": role,
                # The "in-cluster" destination (https://kubernetes.default.svc) is the kubeconfig's cluster.
                "ARGOCD_FAKE_IN_CLUSTER": "true",
                "KUBECONFIG": str(self.kubeconfig),
                "ARGOCD_GPG_ENABLED": "false",
                # Its clones and caches stay under root, removed with it.
                "HOME": str(self.root / "home"),
                "TMPDIR": str(self.root / "tmp"),
                **(env or {}),
            },
        )
        self.children[role] = child
        return child.start()

    def start(self) -> None:
        redis_server = shutil.which("redis-server")
        if redis_server is None:
            raise ArgoCDError("redis-server not found: `make argocd-deps` installs Debian's redis-server")
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "home").mkdir(exist_ok=True)
        (self.root / "tmp").mkdir(exist_ok=True)
        try:
            self.install()
            redis_port = free_port()
            redis = Child(
                [
                    redis_server,
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(redis_port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.root),
                ],
                self.root / "redis.log",
            )
            self.children["redis"] = redis.start()
            _wait_port(redis_port, redis, timeout=30)
            redis_address = f"127.0.0.1:{redis_port}"
            repo_port = free_port()
            repo_server = self._role(
                "argocd-repo-server",
                "--address=127.0.0.1",
                f"--port={repo_port}",
                "--metrics-address=127.0.0.1",
                f"--metrics-port={free_port()}",
                f"--redis={redis_address}",
                "--disable-tls",
                "--client-ca-path=",
                # How long a branch's commit is cached; with --app-resync, how soon a new commit is found.
                f"--revision-cache-expiration={self.resync_seconds}s",
                # kustomize, helm and Argo CD's git-verify-wrapper.sh are what the repo server runs.
                env={"PATH": f"{self.tools.bin}:{self.tools.extras}:/usr/bin:/bin"},
            )
            _wait_port(repo_port, repo_server, timeout=60)
            self._role(
                "argocd-application-controller",
                f"--kubeconfig={self.kubeconfig}",
                f"--namespace={NAMESPACE}",
                f"--redis={redis_address}",
                f"--repo-server=127.0.0.1:{repo_port}",
                "--repo-server-plaintext",
                f"--metrics-port={free_port()}",
                f"--app-resync={self.resync_seconds}",
                "--persist-resource-health",
            )
        except BaseException:
            self.stop()
            raise

    def check_alive(self) -> None:
        for name, child in self.children.items():
            if not child.alive():
                tail = "\n".join(child.log().splitlines()[-30:])
                raise ArgoCDError(f"{name} exited:\n{tail}")

    def logs(self, lines: int = 60) -> str:
        return "\n".join(
            f"--- {name}\n" + "\n".join(child.log().splitlines()[-lines:]) for name, child in self.children.items()
        )

    def stop(self) -> None:
        for child in reversed(list(self.children.values())):
            child.stop()
        self.children.clear()

    # -- reading ---------------------------------------------------------------------------------------------------

    def application(self, name: str) -> dict[str, Any]:
        result = self.kubectl("get", "applications.argoproj.io", "-n", NAMESPACE, name, "-o", "json")
        document: dict[str, Any] = json.loads(result.stdout)
        return document
