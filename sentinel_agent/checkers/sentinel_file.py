"""The sentinel file check: ``/var/run/reboot-required`` exists, with its packages beside it.

Debian and Ubuntu's update tools create the sentinel and list the packages that asked for the reboot in
``<sentinel>.pkgs``, one per line. A missing sentinel *directory* is an error, not "no reboot": it almost always
means the host path is not mounted into the pod (kured #787, #952), and silence would hide that forever.

The package list is read as untrusted input: only a regular file, never through a symlink (which could point at
``/etc/shadow`` and publish it in the request, readable by every agent), opened without blocking (a FIFO would hang
the agent) and read up to ``MAX_PACKAGES_BYTES`` (``/dev/zero`` would exhaust its memory).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import NamedTuple

from sentinel_agent.errors import DetectionError
from sentinel_agent.model import MAX_PACKAGE_NAME, MAX_PACKAGES, Reason, Source

# Enough for every package the request can hold (MAX_PACKAGES names of MAX_PACKAGE_NAME characters, newlines).
MAX_PACKAGES_BYTES = MAX_PACKAGES * (MAX_PACKAGE_NAME + 1)


class SentinelFileChecker(NamedTuple):
    """Reboot required while ``path`` exists."""

    path: Path

    @property
    def packages_path(self) -> Path:
        return self.path.with_name(self.path.name + ".pkgs")

    def describe(self) -> str:
        return f"sentinel file {self.path}"

    def check(self) -> tuple[Reason, ...]:
        try:
            os.stat(self.path)
        except FileNotFoundError:
            if not self.path.parent.is_dir():
                raise DetectionError(
                    f"sentinel directory {self.path.parent} does not exist: is the host path mounted into the pod?"
                ) from None
            return ()
        except OSError as error:
            raise DetectionError(f"cannot stat sentinel {self.path}: {error.strerror or error}") from error
        return (Reason.bounded(Source.SENTINEL_FILE, f"{self.path} exists", self._packages()),)

    def _packages(self) -> tuple[str, ...]:
        try:
            descriptor = os.open(self.packages_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            return ()
        except OSError as error:
            raise DetectionError(f"cannot read {self.packages_path}: {_not_followed(error)}") from error
        try:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                raise DetectionError(f"cannot read {self.packages_path}: not a regular file, so it is not read")
            data = _read_at_most(descriptor, MAX_PACKAGES_BYTES)
        except OSError as error:
            raise DetectionError(f"cannot read {self.packages_path}: {error.strerror or error}") from error
        finally:
            os.close(descriptor)
        text = data.decode("utf-8", errors="replace")
        # dict keeps the first occurrence of each package, in file order.
        return tuple(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))


def _not_followed(error: OSError) -> str:
    if error.errno == errno.ELOOP:  # O_NOFOLLOW met a symlink
        return "a symlink, which is never followed"
    return str(error.strerror or error)


def _read_at_most(descriptor: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(descriptor, limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
