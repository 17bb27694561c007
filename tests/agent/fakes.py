"""Hand-written fakes at the agent's own boundaries."""

from __future__ import annotations


class CountingRebooter:
    """A Rebooter that only counts."""

    def __init__(self) -> None:
        self.reboots = 0

    def describe(self) -> str:
        return "counting"

    def reboot(self) -> None:
        self.reboots += 1
