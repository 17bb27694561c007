"""The command method: run a reboot command, by default ``systemctl reboot`` in the host's mount namespace.

With nsenter (the default) the command is a host binary and needs ``hostPID: true`` and a privileged container.
Without it the argv runs as is, inside the agent's container; the tests use that to ask the node simulator
to reboot a simulated node.
"""

from __future__ import annotations

from typing import NamedTuple

from sentinel_agent.errors import RebootError
from sentinel_agent.hostns import display, run_command

DEFAULT_COMMAND = ("systemctl", "reboot")


class CommandRebooter(NamedTuple):
    """Reboot by running ``argv``; exit status 0 means the reboot was asked for."""

    argv: tuple[str, ...] = DEFAULT_COMMAND
    nsenter: bool = True
    timeout: float = 60.0

    def describe(self) -> str:
        where = "in the host's mount namespace" if self.nsenter else "as is"
        return f"command `{display(self.argv)}` run {where}"

    def reboot(self) -> None:
        finished = run_command(
            self.argv, nsenter=self.nsenter, timeout=self.timeout, what="reboot command", error=RebootError
        )
        if finished.returncode != 0:
            raise RebootError(
                f"reboot command `{display(self.argv)}` {finished.outcome()}"
                + (f": {finished.output}" if finished.output else "")
            )
