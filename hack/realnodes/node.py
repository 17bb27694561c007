"""One real node: its folders, its containerd and kubelet configuration, and boot, reboot and stop.

A node is a folder (``<root>/<name>``), a cgroup tree (``cgroups``), two addresses (``network``) and, while it
runs, its own mount and PID namespaces with ``nodeinit`` as their PID 1, running its containerd and kubelet.
Rebooting kills every process of the node at once, empties its ``/run``, writes a new boot ID and boots again: the
kubelet then reports the new ``nodeInfo.bootID`` and posts its own ``Rebooted`` Event, and the pods come back
restarted. The kernel version comes from ``uname`` and cannot change, so a reboot here is told by its boot ID alone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from hack.realnodes import cgroups
from hack.realnodes.network import NodeNetwork

REPO = Path(__file__).resolve().parents[2]
CNI_BIN_DIR = "/usr/lib/cni"
# Inside the node's namespace /run is the node's own; the agent reads the boot ID from here (see boot_id_path).
NODE_RUN_BOOT_ID = "rollboot-node/boot_id"


@dataclass
class RealNode:
    """A kubelet and a containerd of their own, on this machine. ``boot()`` starts it, ``reboot()`` power-cycles it."""

    name: str
    network: NodeNetwork
    root: Path
    bins: Path
    labels: dict[str, str] = field(default_factory=dict)
    images: dict[str, Path] = field(default_factory=dict)
    sandbox_image: str = ""
    process: subprocess.Popen[bytes] | None = None
    _lifeline: int | None = None

    @property
    def folder(self) -> Path:
        return self.root / self.name

    @property
    def run_dir(self) -> Path:
        """The node's ``/run`` (and so ``/var/run``) as seen from the machine: the sentinel file goes here."""
        return self.folder / "run"

    @property
    def logs(self) -> Path:
        return self.folder / "logs"

    @property
    def boot_id_file(self) -> Path:
        return self.folder / "boot_id"

    @property
    def cgroup_root(self) -> str:
        return cgroups.node_root(self.name)

    @property
    def containerd_socket(self) -> Path:
        return self.run_dir / "containerd" / "containerd.sock"

    def boot_id(self) -> str:
        return self.boot_id_file.read_text().strip()

    # -- configuration ---------------------------------------------------------------------------------------

    def write_config(self, *, kubeconfig: Path, ca_file: Path, resolv_conf: Path) -> None:
        """Write containerd's, the CNI's and the kubelet's configuration (kept across reboots)."""
        config = self.folder / "config"
        config.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        (config / "containerd.toml").write_text(self._containerd_toml())
        cni = config / "cni"
        cni.mkdir(exist_ok=True)
        (cni / "10-rollboot.conflist").write_text(json.dumps(self._cni_conflist(), indent=2) + "\n")
        (config / "kubelet.yaml").write_text(json.dumps(self._kubelet_config(ca_file, resolv_conf), indent=2) + "\n")
        shutil.copyfile(kubeconfig, config / "kubelet.kubeconfig")
        init = {
            "node": self.name,
            "binds": [
                [str(self.run_dir), "/run"],
                [str(self.folder / "log"), "/var/log"],
                [str(self.boot_id_file), "/proc/sys/kernel/random/boot_id"],
            ],
            "containerd": [shutil.which("containerd") or "containerd", "--config", str(config / "containerd.toml")],
            "containerdSocket": "/run/containerd/containerd.sock",
            "containerdLog": str(self.logs / "containerd.log"),
            "ctr": shutil.which("ctr") or "ctr",
            "images": {name: str(path) for name, path in self.images.items()},
            "kubelet": [
                str(self.bins / "kubelet"),
                f"--config={config / 'kubelet.yaml'}",
                f"--kubeconfig={config / 'kubelet.kubeconfig'}",
                f"--root-dir={self.folder / 'kubelet'}",
                f"--hostname-override={self.name}",
                f"--node-ip={self.network.address}",
                *(
                    [f"--node-labels={','.join(f'{k}={v}' for k, v in sorted(self.labels.items()))}"]
                    if self.labels
                    else []
                ),
                "--v=1",
            ],
            "kubeletLog": str(self.logs / "kubelet.log"),
            "cgroupRoot": self.cgroup_root,
        }
        (config / "nodeinit.json").write_text(json.dumps(init, indent=2) + "\n")

    def _containerd_toml(self) -> str:
        # restrict_oom_score_adj: this machine withholds CAP_SYS_RESOURCE, and without it every sandbox fails with
        # "runc create failed: ... can't get final child's PID from pipe: EOF".
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        return f"""version = 2
root = "{self.folder / "containerd"}"
state = "/run/containerd"
[grpc]
  address = "/run/containerd/containerd.sock"
[ttrpc]
  address = "/run/containerd/containerd.sock.ttrpc"
[metrics]
  address = ""
[{cri}]
  sandbox_image = "{self.sandbox_image}"
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_cdi = false
[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
[{cri}.cni]
  bin_dir = "{CNI_BIN_DIR}"
  conf_dir = "{self.folder / "config" / "cni"}"
"""

    def _cni_conflist(self) -> dict[str, object]:
        net = self.network
        return {
            "cniVersion": "0.4.0",
            "name": f"rollboot-{self.name}",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": net.bridge,
                    # The harness owns the gateway address; isGateway would also switch IP forwarding on.
                    "isGateway": False,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": net.pod_subnet, "gateway": net.gateway}]],
                        "routes": [{"dst": "0.0.0.0/0", "gw": net.gateway}],
                        "dataDir": "/run/cni-ipam",
                    },
                }
            ],
        }

    def _kubelet_config(self, ca_file: Path, resolv_conf: Path) -> dict[str, object]:
        return {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": self.network.address,
            "port": 10250,
            "readOnlyPort": 0,
            "healthzBindAddress": self.network.address,
            "healthzPort": 10248,
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(ca_file)},
            },
            "authorization": {"mode": "Webhook"},
            "containerRuntimeEndpoint": "unix:///run/containerd/containerd.sock",
            # cgroup v1 only on this machine, no systemd; each node its own tree.
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": self.cgroup_root,
            "failCgroupV1": False,
            "failSwapOn": False,
            "resolvConf": str(resolv_conf),
            "podCIDR": self.network.pod_subnet,
            "serializeImagePulls": False,
            # The machine's disk is shared by every node and the tests: never evict for it, never GC our images.
            "evictionHard": {"memory.available": "100Mi"},
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "nodeStatusUpdateFrequency": "5s",
            "shutdownGracePeriod": "0s",
            "logging": {"format": "text"},
        }

    # -- life cycle -----------------------------------------------------------------------------------------

    def boot(self) -> None:
        """Start the node with a new boot ID (its previous processes must be gone)."""
        self.boot_id_file.write_text(f"{uuid.uuid4()}\n")
        # A boot begins with an empty /run, as a tmpfs /run does; the agent reads the boot ID from there.
        shutil.rmtree(self.run_dir, ignore_errors=True)
        (self.run_dir / NODE_RUN_BOOT_ID).parent.mkdir(parents=True)
        shutil.copyfile(self.boot_id_file, self.run_dir / NODE_RUN_BOOT_ID)
        cgroups.create(self.cgroup_root)
        root = self.cgroup_root
        # The node's init holds the read end of a pipe whose write end only the harness has: at the harness's
        # death (a killed test run) it reads end-of-file and powers the node off.
        lifeline, self._lifeline = os.pipe()
        log = (self.logs / "nodeinit.log").open("ab")
        self.process = subprocess.Popen(
            [
                "unshare",
                # Its own mount namespace (its /run, /var/log, boot ID) and PID namespace, in which nodeinit is
                # PID 1: what a hostPID pod calls "the host's PID 1" is the node's init, never this machine's.
                "--mount",
                "--propagation",
                "private",
                "--pid",
                "--fork",
                "--mount-proc",
                "--",
                sys.executable,
                "-m",
                "hack.realnodes.nodeinit",
                str(self.folder / "config" / "nodeinit.json"),
                str(lifeline),
            ],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            pass_fds=(lifeline,),
            # Into the node's cgroup before exec, so everything the node starts is in its tree. A new session: the
            # node takes no terminal signal meant for the harness.
            preexec_fn=lambda: cgroups.join(root, os.getpid()),
            start_new_session=True,
        )
        os.close(lifeline)
        log.close()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def power_off(self) -> int:
        """Kill every process of the node at once (the number killed) and free its cgroups."""
        killed = cgroups.kill_all(self.cgroup_root)
        if self.process is not None:
            self.process.wait(10)
            self.process = None
        if self._lifeline is not None:
            os.close(self._lifeline)
            self._lifeline = None
        cgroups.remove(self.cgroup_root)
        return killed

    def reboot(self) -> None:
        """Power-cycle: everything of the node dies, then it boots again with a new boot ID."""
        self.power_off()
        self.boot()

    def stop(self) -> None:
        """Power off for good and remove the node's folder (its containerd's snapshots included)."""
        self.power_off()
        self._unmount_leftovers()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _unmount_leftovers(self) -> None:
        # Mounts made inside the node's namespace die with it; a mount seen here under the folder would be a bug of
        # ours, but leaving it would make rmtree fail half-way, so undo it and say so.
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
        prefix = str(self.folder) + "/"
        leftovers = sorted({line.split()[4] for line in mounts if line.split()[4].startswith(prefix)}, reverse=True)
        for target in leftovers:
            print(f"[realnodes] unmounting leftover {target}", file=sys.stderr)
            subprocess.run(["umount", "--lazy", target], check=False)
