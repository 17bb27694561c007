"""The reboot guard's memory: when the agent last asked for a reboot, and in which boot.

After a reboot is asked for, the same boot ID must not see another attempt before the guard interval has
passed, even across an agent restart. The record lives in memory and, when ``--state-file`` is set, in a small
JSON file (an emptyDir survives container restarts). The file only makes the guard survive restarts; nothing
else depends on it, so a missing, corrupt or unwritable file is logged and otherwise ignored.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

log = logging.getLogger(__name__)


class RebootAttempt(NamedTuple):
    """The agent asked for a reboot at ``at`` while the node ran ``boot_id``."""

    boot_id: str
    at: datetime


class GuardStore:
    """The last reboot attempt, in memory and optionally in a file."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._last: RebootAttempt | None = self._load()

    @property
    def last_attempt(self) -> RebootAttempt | None:
        return self._last

    def record(self, attempt: RebootAttempt) -> None:
        """Remember an attempt; write it through to the file before the reboot is asked for."""
        self._last = attempt
        if self._path is None:
            return
        scratch = self._path.with_name(self._path.name + ".tmp")
        document = {"bootID": attempt.boot_id, "attemptedAt": attempt.at.isoformat()}
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            scratch.write_text(json.dumps(document), encoding="utf-8")
            os.replace(scratch, self._path)
        except OSError as error:
            log.warning(
                "cannot write the state file; the reboot guard will not survive a restart",
                extra={"fields": {"path": str(self._path), "error": error.strerror or str(error)}},
            )

    def _load(self) -> RebootAttempt | None:
        if self._path is None:
            return None
        try:
            document = json.loads(self._path.read_text(encoding="utf-8"))
            return RebootAttempt(boot_id=str(document["bootID"]), at=datetime.fromisoformat(document["attemptedAt"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning(
                "ignoring an unreadable state file",
                extra={"fields": {"path": str(self._path), "error": str(error)}},
            )
            return None
