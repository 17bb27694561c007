"""Running a command in the host's mount namespace, the way kured does: through nsenter on PID 1.

With ``hostPID: true`` PID 1 is the host's init, so ``nsenter --mount=/proc/1/ns/mnt`` runs a host binary with
the host's filesystem (``needs-restarting``, ``systemctl``) from inside the agent's container.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

NSENTER = "nsenter"
HOST_MOUNT_NAMESPACE = "/proc/1/ns/mnt"


def host_argv(argv: Sequence[str], *, nsenter: bool) -> list[str]:
    """The argv to execute: ``argv`` wrapped in nsenter for PID 1's mount namespace, or as it is."""
    if not nsenter:
        return list(argv)
    return [NSENTER, f"--mount={HOST_MOUNT_NAMESPACE}", "--", *argv]


def display(argv: Sequence[str]) -> str:
    """A command line for messages."""
    return shlex.join(argv)
