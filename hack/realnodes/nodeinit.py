"""A real node's init: inside the node's own namespaces, mount its folders, start containerd, then the kubelet.

Started by ``RealNode.boot`` as ``unshare --mount --pid --fork ... python -m hack.realnodes.nodeinit CONFIG FD``,
with its process already in the node's cgroup: it is PID 1 of the node's own PID namespace, as an init is. The
node's private ``/run`` (wiped at every reboot, as a tmpfs is) and ``/var/log`` are its own folders bind-mounted
over the machine's; its boot ID file is bind-mounted over ``/proc/sys/kernel/random/boot_id``, so the kubelet
reports the node's boot, not the machine's. None of these mounts is seen outside the namespace, and all of them go
when its last process dies.

It exits when containerd or the kubelet does (the harness reports that node as failed) or on SIGTERM. When the
harness dies without stopping the node (a killed test run), the pipe ``FD`` reads end-of-file and it exits, and
the kernel kills every other process of the node's PID namespace with it.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id"


def _log(message: str) -> None:
    print(f"[nodeinit {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _bind(source: str, target: str) -> None:
    if not Path(source).exists():
        Path(source).mkdir(parents=True)
    subprocess.run(["mount", "--bind", source, target], check=True)


def _wait_for_socket(path: Path, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise SystemExit(f"containerd exited ({process.returncode}) before its socket appeared")
        if time.monotonic() > deadline:
            raise SystemExit(f"containerd's socket {path} did not appear within {timeout:.0f}s")
        time.sleep(0.1)


def _import_images(config: dict[str, Any]) -> None:
    ctr = [config["ctr"], "--address", config["containerdSocket"], "--namespace", "k8s.io"]
    present = subprocess.run([*ctr, "images", "list", "--quiet"], capture_output=True, text=True, check=True)
    have = set(present.stdout.split())
    for name, archive in config["images"].items():
        if name in have:
            continue
        started = time.monotonic()
        # --all-platforms: the archives are single-platform; --no-unpack would leave the kubelet to unpack later.
        subprocess.run([*ctr, "images", "import", "--all-platforms", archive], check=True, capture_output=True)
        _log(f"imported {name} in {time.monotonic() - started:.1f}s")


def _harness_gone(lifeline: int) -> bool:
    readable, _, _ = select.select([lifeline], [], [], 0)
    return bool(readable) and os.read(lifeline, 1) == b""


def main(config_path: str, lifeline: int) -> int:
    config: dict[str, Any] = json.loads(Path(config_path).read_text())
    for source, target in config["binds"]:
        _bind(source, target)
    _log(f"node {config['node']} booting (boot ID {Path(BOOT_ID_FILE).read_text().strip()})")
    children: list[subprocess.Popen[bytes]] = []

    def stop(*_: object) -> None:
        for child in reversed(children):
            if child.poll() is None:
                child.terminate()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    with open(config["containerdLog"], "ab") as log:
        children.append(subprocess.Popen(config["containerd"], stdout=log, stderr=subprocess.STDOUT))
    _wait_for_socket(Path(config["containerdSocket"]), children[0])
    _import_images(config)
    with open(config["kubeletLog"], "ab") as log:
        children.append(subprocess.Popen(config["kubelet"], stdout=log, stderr=subprocess.STDOUT))
    _log("containerd and kubelet started")
    names = {children[0].pid: "containerd", children[1].pid: "kubelet"}
    while True:
        if _harness_gone(lifeline):
            # PID 1 of the node's PID namespace: when it exits, the kernel kills every process of the node.
            _log("the harness is gone: powering the node off")
            os._exit(0)
        # As PID 1 it adopts every orphan (the containerd shims are daemons): reap them all.
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid in names:
                _log(f"{names[pid]} exited with {os.waitstatus_to_exitcode(status)}; the node is down")
                for child in children:
                    if child.pid != pid and child.poll() is None:
                        child.terminate()
                return 1
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
