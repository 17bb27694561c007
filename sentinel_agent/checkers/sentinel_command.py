"""The sentinel command check, with a strict exit-code contract.

Exit 0 means a reboot is required and 1 means it is not. Anything else (another code, death by a signal, a
timeout, a command that cannot be started) is a ``DetectionError``: reported, and never taken for "required".
kured users got reboot loops from ``! needs-restarting -r`` when the command was missing (kured #976), which is
why the agent runs an argv directly, with no shell to turn a failure into success.
"""

from __future__ import annotations

import subprocess
from typing import NamedTuple

from sentinel_agent.errors import DetectionError
from sentinel_agent.hostns import display, host_argv
from sentinel_agent.model import Reason, Source

REQUIRED = 0
NOT_REQUIRED = 1
_OUTPUT_TAIL = 300


class SentinelCommandChecker(NamedTuple):
    """Reboot required while ``argv`` exits 0."""

    argv: tuple[str, ...]
    nsenter: bool = True
    timeout: float = 30.0

    def describe(self) -> str:
        where = "in the host's mount namespace" if self.nsenter else "as is"
        return f"sentinel command `{display(self.argv)}` run {where}"

    def check(self) -> tuple[Reason, ...]:
        command = display(self.argv)
        try:
            finished = subprocess.run(
                host_argv(self.argv, nsenter=self.nsenter),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=self.timeout,
                check=False,
            )
        except FileNotFoundError as error:
            raise DetectionError(f"sentinel command `{command}`: {error.filename or self.argv[0]} not found") from error
        except subprocess.TimeoutExpired as error:
            raise DetectionError(f"sentinel command `{command}` timed out after {self.timeout:g}s") from error
        except OSError as error:
            raise DetectionError(f"sentinel command `{command}` cannot run: {error.strerror or error}") from error
        if finished.returncode == REQUIRED:
            return (Reason.bounded(Source.SENTINEL_COMMAND, f"`{command}` exited 0"),)
        if finished.returncode == NOT_REQUIRED:
            return ()
        outcome = (
            f"was killed by signal {-finished.returncode}"
            if finished.returncode < 0
            else f"exited {finished.returncode}"
        )
        output = (finished.stderr or finished.stdout).decode("utf-8", errors="replace").strip()[-_OUTPUT_TAIL:]
        raise DetectionError(
            f"sentinel command `{command}` {outcome} (0 = reboot required, 1 = not required, anything else is an error)"
            + (f": {output}" if output else "")
        )
