"""The node's boot ID: a random UUID the kernel picks at every boot.

``/proc/sys/kernel/random/boot_id`` is not namespaced, so a pod reads its host's. Approvals name the boot they
are for, which is how the agent tells "the approved reboot happened" from "it did not".
"""

from __future__ import annotations

from pathlib import Path

from sentinel_agent.errors import BootIdError

DEFAULT_BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")


def read_boot_id(path: Path = DEFAULT_BOOT_ID_FILE) -> str:
    """The current boot ID; BootIdError when the file is missing, unreadable or empty."""
    try:
        boot_id = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise BootIdError(f"cannot read the boot ID from {path}: {reason}") from error
    if not boot_id:
        raise BootIdError(f"the boot ID file {path} is empty")
    return boot_id
