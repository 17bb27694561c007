"""The command method: run a reboot command, by default ``systemctl reboot`` in the host's mount namespace.

With nsenter (the default) the command is a host binary and needs ``hostPID: true`` and a privileged container.
Without it the argv runs as is, inside the agent's container; the tests use that to ask the node simulator
to reboot a simulated node.
"""

from __future__ import annotations

import subprocess
from typing import NamedTuple

from sentinel_agent.errors import RebootError
from sentinel_agent.hostns import display, host_argv

DEFAULT_COMMAND = ("systemctl", "reboot")
_OUTPUT_TAIL = 300


class CommandRebooter(NamedTuple):
    """Reboot by running ``argv``; exit status 0 means the reboot was asked for."""

    argv: tuple[str, ...] = DEFAULT_COMMAND
    nsenter: bool = True
    timeout: float = 60.0

    def describe(self) -> str:
        where = "in the host's mount namespace" if self.nsenter else "as is"
        return f"command `{display(self.argv)}` run {where}"

    def reboot(self) -> None:
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
            raise RebootError(f"reboot command `{command}`: {error.filename or self.argv[0]} not found") from error
        except subprocess.TimeoutExpired as error:
            raise RebootError(f"reboot command `{command}` timed out after {self.timeout:g}s") from error
        except OSError as error:
            raise RebootError(f"reboot command `{command}` cannot run: {error.strerror or error}") from error
        if finished.returncode != 0:
            output = (finished.stderr or finished.stdout).decode("utf-8", errors="replace").strip()[-_OUTPUT_TAIL:]
            raise RebootError(
                f"reboot command `{command}` exited {finished.returncode}" + (f": {output}" if output else "")
            )
