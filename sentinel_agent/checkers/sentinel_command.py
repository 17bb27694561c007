"""The sentinel command check, with a strict exit-code contract.

Exit 0 means a reboot is required and 1 means it is not. Anything else (another code, death by a signal, a
timeout, a command that cannot be started) is a ``DetectionError``: reported, and never taken for "required".
kured users got reboot loops from ``! needs-restarting -r`` when the command was missing (kured #976), which is
why the agent runs an argv directly, with no shell to turn a failure into success.
"""

from __future__ import annotations

from typing import NamedTuple

from sentinel_agent.errors import DetectionError
from sentinel_agent.hostns import display, run_command
from sentinel_agent.model import Reason, Source

REQUIRED = 0
NOT_REQUIRED = 1


class SentinelCommandChecker(NamedTuple):
    """Reboot required while ``argv`` exits 0."""

    argv: tuple[str, ...]
    nsenter: bool = True
    timeout: float = 30.0

    def describe(self) -> str:
        where = "in the host's mount namespace" if self.nsenter else "as is"
        return f"sentinel command `{display(self.argv)}` run {where}"

    def check(self) -> tuple[Reason, ...]:
        finished = run_command(
            self.argv, nsenter=self.nsenter, timeout=self.timeout, what="sentinel command", error=DetectionError
        )
        if finished.returncode == REQUIRED:
            return (Reason.bounded(Source.SENTINEL_COMMAND, f"`{display(self.argv)}` exited 0"),)
        if finished.returncode == NOT_REQUIRED:
            return ()
        raise DetectionError(
            f"sentinel command `{display(self.argv)}` {finished.outcome()} "
            "(0 = reboot required, 1 = not required, anything else is an error)"
            + (f": {finished.output}" if finished.output else "")
        )
