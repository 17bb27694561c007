"""A throwaway containerd, to prove that the archives import as they will on a node and that the images run.

Everything it owns sits in one temporary folder (config, root, state, socket, FIFOs, runc's state), and
``throwaway_containerd`` removes it all on exit: containers and their tasks, the daemon, leftover mounts, the folder.
The CRI plugin is off: no CNI, no kubelet, just the image store and runc.

One path is not ours to choose: containerd 1.6 puts the sockets of its shims in /run/containerd/s. They go away with
their tasks; the folders are removed again when they were not there before and are empty.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from hack.controlplane.cluster import die_with_parent
from hack.images.errors import ImageBuildError

NAMESPACE = "k8s.io"
_SHIM_SOCKETS = Path("/run/containerd/s")

_CONFIG = """\
version = 2
root = "{folder}/root"
state = "{folder}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "{folder}/containerd.sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "{folder}/opt"
"""


@dataclass
class Containerd:
    """A running containerd and ``ctr`` against it, in the namespace the kubelet's CRI plugin uses."""

    folder: Path
    process: subprocess.Popen[bytes]

    @property
    def socket(self) -> Path:
        return self.folder / "containerd.sock"

    def ctr_argv(self, *args: str) -> list[str]:
        return ["ctr", f"--address={self.socket}", f"--namespace={NAMESPACE}", *args]

    def ctr(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run(
            self.ctr_argv(*args), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
        if result.returncode != 0:
            raise ImageBuildError(f"ctr {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
        return result.stdout

    def import_archive(self, archive: Path) -> None:
        self.ctr("images", "import", str(archive), timeout=300)

    def image_names(self) -> list[str]:
        return self.ctr("images", "list", "--quiet").split()

    def run_args(
        self,
        image: str,
        container: str,
        argv: Sequence[str],
        *,
        read_only: bool = False,
        tmpfs: Sequence[str] = (),
        with_ns: Sequence[str] = (),
        detach: bool = False,
    ) -> list[str]:
        """The arguments of ``ctr run`` for a container (``ctr`` or ``ctr_argv`` take them). ``argv`` replaces the
        image's entry point and command whole, as ``command`` does in a pod spec; its user, environment and working
        directory apply. Without ``detach`` the container is removed when it ends."""
        return [
            "run",
            "--detach" if detach else "--rm",
            f"--fifo-dir={self.folder / 'fifo'}",
            f"--runc-root={self.folder / 'runc'}",
            *(["--read-only"] if read_only else []),
            *(f"--mount=type=tmpfs,src=tmpfs,dst={path},options=nosuid:nodev" for path in tmpfs),
            *(f"--with-ns={namespace}" for namespace in with_ns),
            image,
            container,
            *argv,
        ]

    def task_pid(self, container: str) -> int | None:
        """The host PID of the container's first process while it runs."""
        for line in self.ctr("tasks", "list").splitlines()[1:]:
            name, pid, status = line.split()
            if name == container and status == "RUNNING":
                return int(pid)
        return None

    def remove_all_containers(self) -> None:
        """Kill and delete every task and container, e.g. those a failed test left running."""
        for container in self.ctr("containers", "list", "--quiet").split():
            # --force kills a running task and waits for it; a container without a task makes it fail.
            with contextlib.suppress(ImageBuildError):
                self.ctr("tasks", "delete", "--force", container)
            self.ctr("containers", "delete", container)


@contextlib.contextmanager
def throwaway_containerd() -> Iterator[Containerd]:
    """Start a containerd of our own; on exit remove its containers, stop it and delete everything it had."""
    for tool in ("containerd", "ctr", "runc", "containerd-shim-runc-v2"):
        if shutil.which(tool) is None:
            raise ImageBuildError(f"{tool} is not installed (make images-deps installs Debian's containerd and runc)")
    had_shim_sockets = _SHIM_SOCKETS.exists()
    # Short: a unix socket's path must stay under 108 bytes (containerd serves a second one, with .ttrpc added).
    folder = Path(tempfile.mkdtemp(prefix="rollboot-containerd-"))
    config = folder / "config.toml"
    config.write_text(_CONFIG.format(folder=folder))
    with (folder / "containerd.log").open("wb") as log:
        process = subprocess.Popen(
            ["containerd", f"--config={config}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
    daemon = Containerd(folder=folder, process=process)
    try:
        _wait_serving(daemon)
        yield daemon
    finally:
        try:
            if process.poll() is None:
                daemon.remove_all_containers()
        finally:
            _stop(process)
            _unmount_under(folder)
            shutil.rmtree(folder, ignore_errors=True)
            if not had_shim_sockets:
                for empty in (_SHIM_SOCKETS, _SHIM_SOCKETS.parent):
                    with contextlib.suppress(OSError):
                        empty.rmdir()


def _wait_serving(daemon: Containerd) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if daemon.process.poll() is not None:
            log = (daemon.folder / "containerd.log").read_text(errors="replace")[-3000:]
            raise ImageBuildError(f"containerd exited with {daemon.process.returncode}:\n{log}")
        if daemon.socket.exists():
            with contextlib.suppress(ImageBuildError):
                daemon.ctr("version", timeout=10)
                return
        time.sleep(0.1)
    raise ImageBuildError("containerd did not serve its socket within 30s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _unmount_under(folder: Path) -> None:
    """Unmount whatever is still mounted below ``folder`` (deepest first), so deleting it deletes only it."""
    prefix = f"{folder}{os.sep}"
    mounts = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            point = line.split()[4].replace("\\040", " ")
            if point.startswith(prefix):
                mounts.append(point)
    for point in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "--lazy", point], capture_output=True, check=False)
