"""The dry-run wrapper: logs the reboot another method would have asked for, and does nothing."""

from __future__ import annotations

import logging
from typing import NamedTuple

from sentinel_agent.rebooters import Rebooter

log = logging.getLogger(__name__)


class DryRunRebooter(NamedTuple):
    """Never reboots; says what ``inner`` would have done."""

    inner: Rebooter

    def describe(self) -> str:
        return f"dry run (would use {self.inner.describe()})"

    def reboot(self) -> None:
        log.warning("dry run: would reboot now", extra={"fields": {"method": self.inner.describe()}})
