"""The real operator and the real agent as child processes, for integration tests, the demo and benchmarks.

Nothing here imitates them: each is started with its own command line (``python -m reboot_operator``,
``python -m sentinel_agent``) against the local control plane; an agent of a simulated node is pointed at that
node's folder and reboots it through ``python -m hack.nodesim reboot``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from hack.nodesim import files

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Child:
    """A child process with its output in a log file; killed with its parent's death (no orphans)."""

    argv: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Child:
        from hack.controlplane.cluster import die_with_parent

        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=REPO,
                env={**os.environ, "PYTHONPATH": str(REPO), **self.env},
                preexec_fn=die_with_parent,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self, signum: int = signal.SIGKILL) -> None:
        """Kill hard by default: what a crash or an OOM kill does."""
        if self.alive():
            assert self.popen is not None
            self.popen.send_signal(signum)
            self.popen.wait(30)

    def stop(self) -> None:
        if self.alive():
            assert self.popen is not None
            self.popen.terminate()
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def operator(kubeconfig: Path, log_path: Path, *extra: str) -> Child:
    """The real operator; its metrics endpoint is off unless ``extra`` names a port (several may run side by side)."""
    if not any(arg.startswith("--metrics-port") for arg in extra):
        extra = ("--metrics-port", "0", *extra)
    return Child([sys.executable, "-m", "reboot_operator", "--kubeconfig", str(kubeconfig), *extra], log_path)


def agent(
    kubeconfig: Path,
    sim_root: Path,
    node: str,
    log_path: Path,
    *,
    check_interval: str = "1s",
    guard_interval: str = "20s",
    extra: tuple[str, ...] = (),
) -> Child:
    """The real agent for a simulated node: its sentinel and boot ID live in the node's folder."""
    folder = files.node_dir(sim_root, node)
    reboot = f"{sys.executable} -m hack.nodesim reboot --root {sim_root} {node}"
    return Child(
        [
            sys.executable,
            "-m",
            "sentinel_agent",
            f"--node-name={node}",
            f"--kubeconfig={kubeconfig}",
            f"--reboot-sentinel={folder / files.SENTINEL}",
            f"--boot-id-file={folder / files.BOOT_ID}",
            f"--check-interval={check_interval}",
            "--reboot-method=command",
            f"--reboot-command={reboot}",
            "--reboot-command-no-nsenter",
            f"--reboot-guard-interval={guard_interval}",
            *extra,
        ],
        log_path,
    )
