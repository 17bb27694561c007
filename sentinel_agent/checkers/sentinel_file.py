"""The sentinel file check: ``/var/run/reboot-required`` exists, with its packages beside it.

Debian and Ubuntu's update tools create the sentinel and list the packages that asked for the reboot in
``<sentinel>.pkgs``, one per line. A missing sentinel *directory* is an error, not "no reboot": it almost always
means the host path is not mounted into the pod (kured #787, #952), and silence would hide that forever.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from sentinel_agent.errors import DetectionError
from sentinel_agent.model import Reason, Source


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
            text = self.packages_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ()
        except OSError as error:
            raise DetectionError(f"cannot read {self.packages_path}: {error.strerror or error}") from error
        # dict keeps the first occurrence of each package, in file order.
        return tuple(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))
