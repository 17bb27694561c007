"""Running a command, by default in the host's mount namespace the way kured does: nsenter on PID 1.

With ``hostPID: true`` PID 1 is the host's init, so ``nsenter --mount=/proc/1/ns/mnt`` runs a host binary with
the host's filesystem (``needs-restarting``, ``systemctl``) from inside the agent's container. The sentinel
command and the reboot command both run through ``run_command``; each maps its failures to its own error.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence
from typing import NamedTuple

from sentinel_agent.errors import AgentError

NSENTER = "nsenter"
HOST_MOUNT_NAMESPACE = "/proc/1/ns/mnt"
_OUTPUT_TAIL = 300


class Finished(NamedTuple):
    """How a command ended: its exit status (negative: killed by that signal) and the end of what it printed."""

    returncode: int
    output: str

    def outcome(self) -> str:
        """``exited 2`` or ``was killed by signal 9``."""
        return f"was killed by signal {-self.returncode}" if self.returncode < 0 else f"exited {self.returncode}"


def host_argv(argv: Sequence[str], *, nsenter: bool) -> list[str]:
    """The argv to execute: ``argv`` wrapped in nsenter for PID 1's mount namespace, or as it is."""
    if not nsenter:
        return list(argv)
    return [NSENTER, f"--mount={HOST_MOUNT_NAMESPACE}", "--", *argv]


def display(argv: Sequence[str]) -> str:
    """A command line for messages."""
    return shlex.join(argv)


def run_command(argv: Sequence[str], *, nsenter: bool, timeout: float, what: str, error: type[AgentError]) -> Finished:
    """Run ``argv`` with no shell and no stdin; ``error`` (naming ``what``) when it cannot run or times out."""
    command = f"{what} `{display(argv)}`"
    try:
        finished = subprocess.run(
            host_argv(argv, nsenter=nsenter),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as failure:
        raise error(f"{command}: {failure.filename or argv[0]} not found") from failure
    except subprocess.TimeoutExpired as failure:
        raise error(f"{command} timed out after {timeout:g}s") from failure
    except OSError as failure:
        raise error(f"{command} cannot run: {failure.strerror or failure}") from failure
    output = (finished.stderr or finished.stdout).decode("utf-8", errors="replace").strip()[-_OUTPUT_TAIL:]
    return Finished(finished.returncode, output)
