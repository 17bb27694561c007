"""Start and stop etcd, kube-apiserver and kube-controller-manager on loopback, and hand out a kubeconfig.

Every process gets a free port, its log file in the data directory, and (on Linux) a parent-death signal, so a
killed test run leaves no orphans. ``stop()`` terminates them and removes the data directory.

For real kubelets (``hack/realnodes``) the control plane grows what real pods need (``RealNodeSupport``): the API
server serves on an address the pods can reach and advertises it (so the ``kubernetes`` Service has an endpoint),
reaches kubelets by their InternalIP, kube-scheduler places pods, and kube-controller-manager also runs the
DaemonSet controller, the root-CA publisher (``kube-root-ca.crt``, without which no pod mounts a service-account
token) and the node lifecycle controller (a node that stops reporting turns Unknown, as in a cluster).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from hack.controlplane import pki
from hack.controlplane.build import bin_dir, ensure_built

ADMIN_USER = "rollboot-admin"
SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/16"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"

# Only what the tests need: PDB status computed for real (disruption), pods recreated by their ReplicaSets,
# default service accounts in new namespaces, namespace deletion and owner-reference garbage collection, and the
# aggregation of ClusterRoles (rollboot-viewer into view).
CONTROLLERS = (
    "disruption-controller",
    "replicaset-controller",
    "deployment-controller",
    "serviceaccount-controller",
    "namespace-controller",
    "garbage-collector-controller",
    "clusterrole-aggregation-controller",
)

# What real pods and real kubelets need on top of CONTROLLERS.
REAL_NODE_CONTROLLERS = (
    "daemonset-controller",
    "root-ca-certificate-publisher-controller",
    "node-lifecycle-controller",
    "taint-eviction-controller",
    "pod-garbage-collector-controller",
)
# The first address of SERVICE_CLUSTER_IP_RANGE: the ``kubernetes`` Service, which in-cluster clients dial.
KUBERNETES_SERVICE_IP = "10.96.0.1"


@dataclass(frozen=True)
class RealNodeSupport:
    """How a control plane serves real kubelets.

    ``address`` must be assigned to an interface of this machine that the real-node harness created (never an
    address of the machine's own network): the API server binds and advertises it, pods reach it through the
    ``kubernetes`` Service. ``node_names`` are the nodes that may register; each gets a token as
    ``system:node:<name>`` in group ``system:nodes``, so the Node authorizer limits it to its own node."""

    address: str
    node_names: tuple[str, ...]


class ControlPlaneError(RuntimeError):
    """A control-plane process failed to start or to become ready."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:
    """Runs in the child before exec: ask the kernel to SIGTERM it when the parent dies."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass
class _Process:
    name: str
    argv: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self, *, tie_to_parent: bool) -> None:
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent if tie_to_parent else None,
            start_new_session=not tie_to_parent,
        )
        log.close()

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.popen = None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@dataclass
class ControlPlane:
    """A running (or ready-to-run) local control plane. Use as a context manager or call start()/stop()."""

    data_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="rollboot-cp-")))
    tie_to_parent: bool = True
    with_controller_manager: bool = True
    etcd_port: int = 0
    apiserver_port: int = 0
    admin_token: str = field(default_factory=lambda: secrets.token_hex(16))
    extra_tokens: dict[str, str] = field(default_factory=dict)
    """More users (name → token, in group system:masters), e.g. to tell one client's requests apart in the audit log;
    ``write_kubeconfig_for(name)`` writes a kubeconfig for one of them."""
    audit_log: bool = False
    """Log every request at Metadata level (no bodies) to ``audit_log_path``, one JSON event per line."""
    real_nodes: RealNodeSupport | None = None
    """Serve real kubelets (see the module's docstring); None keeps everything on loopback."""
    node_tokens: dict[str, str] = field(default_factory=dict)
    _processes: dict[str, _Process] = field(default_factory=dict)
    _started: bool = False

    @property
    def address(self) -> str:
        return self.real_nodes.address if self.real_nodes is not None else "127.0.0.1"

    @property
    def server(self) -> str:
        return f"https://{self.address}:{self.apiserver_port}"

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "kubeconfig"

    @property
    def audit_log_path(self) -> Path:
        return self.data_dir / "audit.log"

    @property
    def ca_file(self) -> Path:
        return self.data_dir / "pki" / "ca.crt"

    @property
    def kubectl(self) -> Path:
        return bin_dir() / "kubectl"

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> None:
        started = time.monotonic()
        bins = ensure_built()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        real = self.real_nodes
        extra_ips = (real.address, KUBERNETES_SERVICE_IP) if real is not None else ()
        keys = pki.generate(self.data_dir / "pki", extra_ips=extra_ips)
        self.etcd_port = self.etcd_port or free_port()
        self.apiserver_port = self.apiserver_port or free_port()
        cm_token = secrets.token_hex(16)
        scheduler_token = secrets.token_hex(16)
        self.node_tokens = {name: secrets.token_hex(16) for name in (real.node_names if real else ())}
        tokens = self.data_dir / "tokens.csv"
        tokens.write_text(
            f'{self.admin_token},{ADMIN_USER},uid-admin,"system:masters"\n'
            # Without per-controller service accounts the controllers act as this one user; give it every right.
            f'{cm_token},system:kube-controller-manager,uid-kcm,"system:masters"\n'
            f'{scheduler_token},system:kube-scheduler,uid-scheduler,"system:masters"\n'
            + "".join(f'{token},{user},uid-{user},"system:masters"\n' for user, token in self.extra_tokens.items())
            + "".join(
                f'{token},system:node:{name},uid-node-{name},"system:nodes"\n'
                for name, token in self.node_tokens.items()
            )
        )
        tokens.chmod(0o600)
        self._write_kubeconfig(self.kubeconfig, user=ADMIN_USER, token=self.admin_token)
        cm_kubeconfig = self.data_dir / "controller-manager.kubeconfig"
        self._write_kubeconfig(cm_kubeconfig, user="system:kube-controller-manager", token=cm_token)
        scheduler_kubeconfig = self.data_dir / "scheduler.kubeconfig"
        self._write_kubeconfig(scheduler_kubeconfig, user="system:kube-scheduler", token=scheduler_token)

        peer_port = free_port()
        self._processes["etcd"] = _Process(
            "etcd",
            [
                str(bins / "etcd"),
                "--name=rollboot",
                f"--data-dir={self.data_dir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{self.etcd_port}",
                f"--advertise-client-urls=http://127.0.0.1:{self.etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-cluster=rollboot=http://127.0.0.1:{peer_port}",
                "--unsafe-no-fsync=true",
                "--quota-backend-bytes=4294967296",
                "--log-level=warn",
            ],
            self.data_dir / "etcd.log",
        )
        self._processes["kube-apiserver"] = _Process(
            "kube-apiserver",
            [
                str(bins / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
                f"--bind-address={self.address}",
                f"--advertise-address={self.address}",
                *self._apiserver_node_flags(keys),
                f"--secure-port={self.apiserver_port}",
                f"--tls-cert-file={keys.serving_cert}",
                f"--tls-private-key-file={keys.serving_key}",
                f"--client-ca-file={keys.ca_cert}",
                f"--token-auth-file={tokens}",
                "--authorization-mode=Node,RBAC",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={keys.service_account_key}",
                f"--service-account-signing-key-file={keys.service_account_key}",
                f"--api-audiences={SERVICE_ACCOUNT_ISSUER}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--allow-privileged=true",
                "--enable-priority-and-fairness=false",
                "--profiling=false",
                *(self._audit_flags() if self.audit_log else ()),
                "--v=1",
            ],
            self.data_dir / "kube-apiserver.log",
        )
        if self.with_controller_manager:
            self._processes["kube-controller-manager"] = _Process(
                "kube-controller-manager",
                [
                    str(bins / "kube-controller-manager"),
                    f"--kubeconfig={cm_kubeconfig}",
                    f"--controllers={','.join(CONTROLLERS + (REAL_NODE_CONTROLLERS if real else ()))}",
                    *([f"--root-ca-file={keys.ca_cert}", "--node-monitor-grace-period=20s"] if real else ()),
                    "--leader-elect=false",
                    "--secure-port=0",
                    "--use-service-account-credentials=false",
                    "--concurrent-gc-syncs=5",
                    "--v=1",
                ],
                self.data_dir / "kube-controller-manager.log",
            )
        if real is not None:
            self._processes["kube-scheduler"] = _Process(
                "kube-scheduler",
                [
                    str(bins / "kube-scheduler"),
                    f"--kubeconfig={scheduler_kubeconfig}",
                    f"--authentication-kubeconfig={scheduler_kubeconfig}",
                    f"--authorization-kubeconfig={scheduler_kubeconfig}",
                    "--leader-elect=false",
                    f"--bind-address={real.address}",
                    f"--secure-port={free_port()}",
                    "--v=1",
                ],
                self.data_dir / "kube-scheduler.log",
            )
        try:
            self._start_process("etcd")
            self._wait_http(f"http://127.0.0.1:{self.etcd_port}/health", "etcd", timeout=30)
            self.start_apiserver()
            if self.with_controller_manager:
                self._start_process("kube-controller-manager")
                self._wait_controller_manager()
            if "kube-scheduler" in self._processes:
                self._start_process("kube-scheduler")
        except BaseException:
            self.stop()
            raise
        self._started = True
        _log(f"control plane ready at {self.server} in {time.monotonic() - started:.1f}s")

    def start_apiserver(self) -> None:
        """Start (or restart after stop_apiserver) kube-apiserver on the same port and wait for /readyz.

        After an outage kube-controller-manager's informers back off for tens of seconds before they list again,
        so it is restarted with the API server, as a control-plane restart would do."""
        restart = self._processes["kube-apiserver"].popen is None and "kube-controller-manager" in self._processes
        if restart:
            self._processes["kube-controller-manager"].stop()
        self._start_process("kube-apiserver")
        self._wait_http(f"{self.server}/readyz", "kube-apiserver", timeout=90)
        if restart and self._started:
            self._start_process("kube-controller-manager")
            self._wait_controller_manager()

    def stop_apiserver(self) -> None:
        """Stop only kube-apiserver, e.g. to test how clients live through an outage; etcd keeps the state."""
        self._processes["kube-apiserver"].stop()

    def stop(self) -> None:
        for name in ("kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"):
            process = self._processes.get(name)
            if process is not None:
                process.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    # -- helpers -------------------------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """Environment variables that point kubectl and the tests at this control plane."""
        return {
            "KUBECONFIG": str(self.kubeconfig),
            "ROLLBOOT_KUBECONFIG": str(self.kubeconfig),
            "PATH": f"{bin_dir()}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def pids(self) -> dict[str, int]:
        return {n: p.popen.pid for n, p in self._processes.items() if p.popen is not None}

    def write_kubeconfig_for(self, user: str, path: Path | None = None) -> Path:
        """A kubeconfig for one of ``extra_tokens``' users (default: ``<data dir>/<user>.kubeconfig``)."""
        path = path or self.data_dir / f"{user}.kubeconfig"
        self._write_kubeconfig(path, user=user, token=self.extra_tokens[user])
        return path

    def write_node_kubeconfig(self, node: str, path: Path) -> Path:
        """A kubeconfig for the kubelet of ``node`` (one of ``real_nodes.node_names``), as ``system:node:<node>``."""
        self._write_kubeconfig(path, user=f"system:node:{node}", token=self.node_tokens[node])
        return path

    def _apiserver_node_flags(self, keys: pki.Pki) -> list[str]:
        if self.real_nodes is None:
            # On loopback the advertised address is no endpoint a pod could reach; publish none.
            return ["--endpoint-reconciler-type=none"]
        return [
            "--kubelet-preferred-address-types=InternalIP",
            f"--kubelet-client-certificate={keys.kubelet_client_cert}",
            f"--kubelet-client-key={keys.kubelet_client_key}",
            "--enable-admission-plugins=NodeRestriction",
        ]

    def _audit_flags(self) -> list[str]:
        policy = self.data_dir / "audit-policy.yaml"
        # Metadata: who, what, when and the response code, no bodies. RequestReceived is omitted, so an ordinary
        # request is one event (ResponseComplete) and a watch two (ResponseStarted, then ResponseComplete).
        rules = {
            "apiVersion": "audit.k8s.io/v1",
            "kind": "Policy",
            "omitStages": ["RequestReceived"],
            "rules": [{"level": "Metadata"}],
        }
        policy.write_text(json.dumps(rules) + "\n")
        return [
            f"--audit-policy-file={policy}",
            f"--audit-log-path={self.audit_log_path}",
            "--audit-log-maxsize=0",  # one file, never rotated: readers need not follow rotations
        ]

    def _start_process(self, name: str) -> None:
        process = self._processes[name]
        process.start(tie_to_parent=self.tie_to_parent)

    def _write_kubeconfig(self, path: Path, *, user: str, token: str) -> None:
        # JSON is valid YAML: kubectl and kubernetes_asyncio read it, and so does the agent's stdlib client.
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "rollboot-local",
                    "cluster": {"server": self.server, "certificate-authority": str(self.ca_file)},
                }
            ],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": "rollboot-local", "context": {"cluster": "rollboot-local", "user": user}}],
            "current-context": "rollboot-local",
        }
        path.write_text(json.dumps(config, indent=2) + "\n")
        path.chmod(0o600)

    def _wait_http(self, url: str, name: str, *, timeout: float) -> None:
        context = ssl.create_default_context(cafile=str(self.ca_file)) if url.startswith("https") else None
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        deadline = time.monotonic() + timeout
        last_error = ""
        while time.monotonic() < deadline:
            if not self._processes[name].alive():
                raise ControlPlaneError(f"{name} exited during start-up:\n{self._processes[name].log_tail()}")
            try:
                request = urllib.request.Request(url, headers=headers)
                with urllib.request.urlopen(request, timeout=5, context=context) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError) as error:
                last_error = str(error)
            time.sleep(0.2)
        raise ControlPlaneError(
            f"{name} not ready after {timeout:.0f}s ({last_error}):\n{self._processes[name].log_tail()}"
        )

    def _wait_controller_manager(self) -> None:
        # With its secure port off there is no health endpoint; the first sign of life is a created object:
        # the serviceaccount controller puts a "default" ServiceAccount into the default namespace.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not self._processes["kube-controller-manager"].alive():
                raise ControlPlaneError(
                    "kube-controller-manager exited:\n" + self._processes["kube-controller-manager"].log_tail()
                )
            result = subprocess.run(
                [str(self.kubectl), f"--kubeconfig={self.kubeconfig}", "get", "serviceaccount", "default"],
                capture_output=True,
            )
            if result.returncode == 0:
                return
            time.sleep(0.3)
        raise ControlPlaneError(
            "kube-controller-manager did not start its controllers within 60s:\n"
            + self._processes["kube-controller-manager"].log_tail()
        )


def _log(message: str) -> None:
    print(f"[controlplane] {message}", file=sys.stderr, flush=True)
