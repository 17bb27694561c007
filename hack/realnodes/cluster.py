"""A cluster of real nodes on this machine: the control plane, kube-proxy, N nodes, and reboots on request.

``RealCluster`` starts a control plane that serves real kubelets (``hack.controlplane.RealNodeSupport``), one
kube-proxy for the machine's network namespace (every node shares it, so one proxy serves them all), and N
``RealNode``s with the project's images imported into their containerd. An agent asks for its node's reboot with
``reboot_command()``: it writes the node's name into the harness's spool folder, and the harness power-cycles
that node. ``helm_install`` renders the chart first and installs it only if ``guard.check_agent`` passes.

One cluster at a time per machine (a lock file): the addresses and bridge names are fixed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

from hack.controlplane import ControlPlane
from hack.controlplane.build import bin_dir, ensure_built
from hack.controlplane.cluster import (
    KUBERNETES_SERVICE_IP,
    RealNodeSupport,
    die_with_parent,
    free_port,
)
from hack.realnodes import cgroups, guard, network
from hack.realnodes.node import NODE_RUN_BOOT_ID, RealNode

LOCK_FILE = Path("/run/lock/rollboot-realnodes.lock")
SPOOL_POLL = 0.2


ROOT_PREFIX = "rollboot-realnodes-"
"""The start of a real-node run's folder name under the temporary directory (``RealCluster.root``)."""


def control_plane_leftovers() -> list[int]:
    """Processes of a killed run's control plane: any process (but this one) whose command line names a file in a
    real-node run's folder. A killed harness's kube-apiserver is told SIGTERM by the kernel (``die_with_parent``),
    and once its etcd and its address are gone it can hang in its graceful shutdown for good (seen after a clean-clone
    CI run: one still running half an hour later)."""
    marker = os.path.join(tempfile.gettempdir(), ROOT_PREFIX)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # ended meanwhile, or not ours to read
            continue
        if any(marker.encode() in arg for arg in argv):
            found.append(int(entry.name))
    return sorted(found)


def reap_leftovers() -> None:
    """Remove what a killed run left on this machine: its control plane's and its nodes' processes, the nodes'
    cgroups, the KUBE-* iptables chains, the interfaces. (Its folder under the temporary directory is left; it
    holds the logs.)"""
    for pid in control_plane_leftovers():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            _log(f"killed a control-plane process left by an earlier run: {pid}")
    deadline = time.monotonic() + 10
    while control_plane_leftovers() and time.monotonic() < deadline:
        time.sleep(0.1)  # a process killed is gone a moment later (a zombie's command line reads empty)
    for root in cgroups.node_roots():
        killed = cgroups.kill_all(root)
        cgroups.remove(root)
        _log(f"removed a node left by an earlier run: {root} ({killed} processes)")
    _remove_kube_chains()
    network.tear_down()


def _iptables_rules(table: str) -> str:
    return subprocess.run(["iptables", "-t", table, "-S"], capture_output=True, text=True, check=False).stdout


def _remove_kube_chains() -> None:
    """Remove the KUBE-* chains kube-proxy and the kubelets add to this machine's tables (leftovers of a killed
    run too): each KUBE-* chain is flushed, every rule jumping to one is deleted, then the chains themselves."""
    for table in ("filter", "nat", "mangle"):
        rules = _iptables_rules(table).splitlines()
        chains = [line.split()[1] for line in rules if line.startswith("-N KUBE-")]
        for line in rules:
            words = shlex.split(line)  # comments are quoted
            if words[:1] == ["-A"] and words[1] not in chains and any(w.startswith("KUBE-") for w in words[2:]):
                subprocess.run(["iptables", "-t", table, "-D", *words[1:]], capture_output=True, check=False)
        for chain in chains:
            subprocess.run(["iptables", "-t", table, "-F", chain], capture_output=True, check=False)
        for chain in chains:
            subprocess.run(["iptables", "-t", table, "-X", chain], capture_output=True, check=False)


class RealNodesError(RuntimeError):
    """The real nodes could not be started, or one of them failed."""


@dataclass(frozen=True)
class Reboot:
    """One power-cycle the harness carried out on an agent's request."""

    node: str
    at: float
    boot_id_before: str
    boot_id_after: str
    running_containers: tuple[str, ...]
    """``namespace/pod/container`` of every container running in the node's containerd when it went down."""


def _log(message: str) -> None:
    print(f"[realnodes {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class RealCluster:
    """Use as a context manager; ``nodes`` are the running nodes, ``plane`` the control plane."""

    node_count: int = 3
    images: dict[str, Path] = field(default_factory=dict)
    sandbox_image: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix=ROOT_PREFIX)))
    ready_timeout: float = 180.0
    plane: ControlPlane | None = None
    nodes: dict[str, RealNode] = field(default_factory=dict)
    reboots: list[Reboot] = field(default_factory=list)
    _proxy: subprocess.Popen[bytes] | None = None
    _lock: IO[str] | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _watcher: threading.Thread | None = None
    _rebooting: dict[str, threading.Thread] = field(default_factory=dict)
    _mutex: threading.Lock = field(default_factory=threading.Lock)

    @property
    def spool(self) -> Path:
        return self.root / "spool"

    @property
    def kubeconfig(self) -> Path:
        assert self.plane is not None
        return self.plane.kubeconfig

    def node_names(self) -> list[str]:
        return [f"rollboot-node-{i}" for i in range(1, self.node_count + 1)]

    def __enter__(self) -> RealCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- start and stop --------------------------------------------------------------------------------------

    def start(self) -> None:
        started = time.monotonic()
        if os.geteuid() != 0:
            raise RealNodesError("real nodes need root (mount namespaces, cgroups, bridges); CI runs as root")
        for tool in ("containerd", "ctr", "runc", "unshare", "mount", "ip", "iptables"):
            if shutil.which(tool) is None:
                raise RealNodesError(f"{tool} not found: `make realnodes-deps` installs what real nodes need")
        LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
        self._lock = LOCK_FILE.open("w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            self._lock.close()
            self._lock = None
            shutil.rmtree(self.root, ignore_errors=True)
            raise RealNodesError(f"another set of real nodes runs on this machine (lock {LOCK_FILE})") from error
        try:
            self._start(started)
        except BaseException:
            self.stop()
            raise

    def _start(self, started: float) -> None:
        bins = ensure_built()
        self.root.mkdir(parents=True, exist_ok=True)
        self.spool.mkdir(exist_ok=True)
        reap_leftovers()
        networks = network.set_up(self.node_count)
        self.plane = ControlPlane(
            data_dir=self.root / "controlplane",
            real_nodes=RealNodeSupport(address=network.CONTROL_PLANE_ADDRESS, node_names=tuple(self.node_names())),
            audit_log=True,
            extra_tokens={"system:kube-proxy": secrets.token_hex(16)},
        )
        self.plane.start()
        self._start_proxy(bins)
        # No name server a pod could reach: a pod's lookup fails here instead of leaving the machine.
        resolv_conf = self.root / "resolv.conf"
        resolv_conf.write_text("nameserver 127.0.0.1\noptions ndots:1 attempts:1 timeout:1\n")
        for name, net in zip(self.node_names(), networks, strict=True):
            node = RealNode(
                name=name,
                network=net,
                root=self.root / "nodes",
                bins=bins,
                labels=self.labels,
                images=self.images,
                sandbox_image=self.sandbox_image,
            )
            node.write_config(
                kubeconfig=self.plane.write_node_kubeconfig(name, self.root / f"{name}.kubeconfig"),
                ca_file=self.plane.ca_file,
                resolv_conf=resolv_conf,
            )
            node.boot()
            self.nodes[name] = node
        self.wait_ready(self.node_names(), timeout=self.ready_timeout)
        self._watcher = threading.Thread(target=self._watch_spool, name="realnodes-spool", daemon=True)
        self._watcher.start()
        _log(f"{self.node_count} real nodes Ready in {time.monotonic() - started:.1f}s")

    def _start_proxy(self, bins: Path) -> None:
        assert self.plane is not None
        kubeconfig = self.plane.write_kubeconfig_for("system:kube-proxy")
        log = (self.root / "kube-proxy.log").open("ab")
        self._proxy = subprocess.Popen(
            [
                str(bins / "kube-proxy"),
                f"--kubeconfig={kubeconfig}",
                "--proxy-mode=iptables",
                f"--cluster-cidr={network.POD_SUPERNET}",
                "--hostname-override=rollboot-kube-proxy",
                f"--bind-address={network.CONTROL_PLANE_ADDRESS}",
                f"--healthz-bind-address=127.0.0.1:{free_port()}",
                f"--metrics-bind-address=127.0.0.1:{free_port()}",
                # No sysctl of this machine is touched: no conntrack table sizing, no route_localnet.
                "--conntrack-max-per-core=0",
                "--iptables-localhost-nodeports=false",
                f"--nodeport-addresses={network.HOST_SUBNET}",
                "--v=1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        log.close()
        # Pods reach the API server only through the proxy's rules for the kubernetes Service: wait for them.
        deadline = time.monotonic() + 60
        while KUBERNETES_SERVICE_IP not in _iptables_rules("nat"):
            if self._proxy.poll() is not None or time.monotonic() > deadline:
                tail = (self.root / "kube-proxy.log").read_text(errors="replace").splitlines()[-15:]
                raise RealNodesError("kube-proxy did not program the kubernetes Service:\n" + "\n".join(tail))
            time.sleep(0.2)

    def stop(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(10)
        for thread in list(self._rebooting.values()):
            thread.join(60)
        for node in self.nodes.values():
            try:
                node.stop()
            except Exception as error:  # every node is stopped, whatever one of them says
                _log(f"stopping {node.name}: {error}")
        if self._proxy is not None:
            self._proxy.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proxy.wait(10)
            if self._proxy.poll() is None:
                self._proxy.kill()
            self._proxy = None
        _remove_kube_chains()
        if self.plane is not None:
            self.plane.stop()
        _remove_kube_chains()
        network.tear_down()
        shutil.rmtree(self.root, ignore_errors=True)
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # -- nodes ------------------------------------------------------------------------------------------------

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(bin_dir() / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise RealNodesError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
        return result

    def wait_ready(self, names: list[str], *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = set(names)
        while pending:
            for name in sorted(pending):
                if not self.nodes[name].alive():
                    raise RealNodesError(f"node {name} went down while starting:\n{self.node_log_tail(name)}")
            listed = self.kubectl("get", "nodes", "-o", "json", check=False)
            if listed.returncode == 0:
                for item in json.loads(listed.stdout)["items"]:
                    conditions = {c["type"]: c["status"] for c in item["status"].get("conditions", [])}
                    if conditions.get("Ready") == "True":
                        pending.discard(item["metadata"]["name"])
            if pending and time.monotonic() > deadline:
                tails = "\n".join(self.node_log_tail(name) for name in sorted(pending))
                raise RealNodesError(f"nodes {sorted(pending)} not Ready after {timeout:.0f}s:\n{tails}")
            time.sleep(0.5)

    def node_log_tail(self, name: str, lines: int = 30) -> str:
        out = []
        for log in ("nodeinit.log", "containerd.log", "kubelet.log"):
            path = self.nodes[name].logs / log
            text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else ["(no log)"]
            out.append(f"--- {name} {log}\n" + "\n".join(text))
        return "\n".join(out)

    def sentinel_path(self, node: str, host_path: str = "/var/run/reboot-required") -> Path:
        """Where ``host_path`` of ``node`` (the node's own /run) is on this machine."""
        relative = Path(host_path).relative_to("/var/run" if host_path.startswith("/var/run/") else "/run")
        return self.nodes[node].run_dir / relative

    @staticmethod
    def agent_boot_id_file(sentinel_dir_in_container: str = "/host/var/run") -> str:
        """The node's boot ID as the chart's agent sees it through its sentinel mount (a pod's /proc shows the
        machine's boot ID, which a simulated reboot cannot change)."""
        return f"{sentinel_dir_in_container}/{NODE_RUN_BOOT_ID}"

    # -- reboots ----------------------------------------------------------------------------------------------

    def reboot_command(self) -> str:
        """The agent's --reboot-command: run in the machine's mount namespace, it asks the harness for a reboot."""
        return shlex.join(["sh", "-c", f'echo reboot > {shlex.quote(str(self.spool))}/"$NODE_NAME"'])

    def _watch_spool(self) -> None:
        while not self._stop.wait(SPOOL_POLL):
            for request in sorted(self.spool.iterdir()):
                request.unlink(missing_ok=True)
                node = request.name
                if node not in self.nodes:
                    _log(f"ignored a reboot request for unknown node {node!r}")
                    continue
                with self._mutex:
                    busy = node in self._rebooting and self._rebooting[node].is_alive()
                    if busy:
                        _log(f"{node} is rebooting already; request ignored")
                        continue
                    thread = threading.Thread(target=self._reboot, args=(node,), name=f"reboot-{node}", daemon=True)
                    self._rebooting[node] = thread
                thread.start()

    def busy(self) -> set[str]:
        """The nodes being power-cycled right now."""
        with self._mutex:
            return {name for name, thread in self._rebooting.items() if thread.is_alive()}

    def running_containers(self, node: str) -> tuple[str, ...]:
        """``namespace/pod/container`` of every running container in the node's containerd (sandboxes left out)."""
        socket = str(self.nodes[node].containerd_socket)
        ctr = ["ctr", "--address", socket, "--namespace", "k8s.io"]
        tasks = subprocess.run([*ctr, "tasks", "list"], capture_output=True, text=True, timeout=30)
        running = [line.split()[0] for line in tasks.stdout.splitlines()[1:] if line.split()[-1:] == ["RUNNING"]]
        found = []
        for container_id in running:
            info = subprocess.run([*ctr, "containers", "info", container_id], capture_output=True, text=True)
            if info.returncode != 0:
                continue
            labels: dict[str, Any] = json.loads(info.stdout).get("Labels", {})
            if labels.get("io.cri-containerd.kind") != "container":
                continue
            found.append(
                f"{labels.get('io.kubernetes.pod.namespace')}/{labels.get('io.kubernetes.pod.name')}/"
                f"{labels.get('io.kubernetes.container.name')}"
            )
        return tuple(sorted(found))

    def reboot(self, node: str) -> Reboot:
        """Power-cycle ``node`` now, recording what still ran on it."""
        real = self.nodes[node]
        before = real.boot_id()
        running = self.running_containers(node)
        at = time.time()
        real.reboot()
        record = Reboot(
            node=node, at=at, boot_id_before=before, boot_id_after=real.boot_id(), running_containers=running
        )
        with self._mutex:
            self.reboots.append(record)
        _log(f"rebooted {node}: boot ID {before} → {record.boot_id_after}; running then: {', '.join(running) or '-'}")
        return record

    def _reboot(self, node: str) -> None:
        try:
            self.reboot(node)
        except Exception as error:  # reported; the test then sees the node never return
            _log(f"rebooting {node} failed: {error}")

    # -- the chart ----------------------------------------------------------------------------------------------

    def helm_install(self, *, chart: Path, release: str, namespace: str, values: dict[str, Any]) -> str:
        """``helm install`` the chart with ``values``, after checking the rendered agent cannot reach the machine."""
        values_file = self.root / f"{release}-values.yaml"
        values_file.write_text(yaml.safe_dump(values))
        helm = [str(bin_dir() / "helm"), f"--kubeconfig={self.kubeconfig}"]
        common = [release, str(chart), "--namespace", namespace, "-f", str(values_file)]
        rendered = subprocess.run([*helm, "template", *common], capture_output=True, text=True, check=False)
        if rendered.returncode != 0:
            raise RealNodesError(f"helm template failed: {rendered.stderr.strip()}")
        guard.check_agent(yaml.safe_load_all(rendered.stdout), reboot_command=self.reboot_command())
        installed = subprocess.run(
            [*helm, "install", *common, "--create-namespace", "--wait", "--timeout", "5m"],
            capture_output=True,
            text=True,
            check=False,
        )
        if installed.returncode != 0:
            raise RealNodesError(f"helm install failed: {installed.stderr.strip()}\n{installed.stdout[-2000:]}")
        return installed.stdout


__all__ = ["RealCluster", "RealNodesError", "Reboot"]
