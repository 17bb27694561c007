"""The signal method (the default): SIGRTMIN+5 to the host's PID 1.

systemd reboots cleanly on SIGRTMIN+5 (see systemd(1), "SIGRTMIN+5: reboots the machine"). The agent needs only
``hostPID: true`` and ``CAP_KILL`` (as root) for it: no privileged container, no host filesystem (kured #416).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import NamedTuple

from sentinel_agent.errors import RebootError

#: SIGRTMIN+5, the number systemd reads as "reboot"; 39 on Linux.
DEFAULT_SIGNAL = int(signal.SIGRTMIN) + 5
HOST_INIT_PID = 1


class SignalRebooter(NamedTuple):
    """Reboot by sending ``signal_number`` to PID 1."""

    signal_number: int = DEFAULT_SIGNAL
    pid: int = HOST_INIT_PID
    kill: Callable[[int, int], None] = os.kill

    def describe(self) -> str:
        return f"signal {self.signal_number} to PID {self.pid}"

    def reboot(self) -> None:
        try:
            self.kill(self.pid, self.signal_number)
        except PermissionError as error:
            raise RebootError(
                f"not permitted to send signal {self.signal_number} to PID {self.pid}: "
                "the agent needs hostPID: true and CAP_KILL as root"
            ) from error
        except OSError as error:
            raise RebootError(
                f"cannot send signal {self.signal_number} to PID {self.pid}: {error.strerror or error}"
            ) from error
