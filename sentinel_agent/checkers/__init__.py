"""Checkers: the ways the agent finds out whether its node needs a reboot.

Each checker answers with the reasons it found (none = not required) or raises ``DetectionError`` when it
cannot tell; an error is never read as "required". One module per checker, all behind ``Checker``.
"""

from __future__ import annotations

from typing import Protocol

from sentinel_agent.model import Reason


class Checker(Protocol):
    """One way of detecting a required reboot."""

    def describe(self) -> str:
        """What is checked, for the startup log."""
        ...

    def check(self) -> tuple[Reason, ...]:
        """Reasons the node needs a reboot now (empty: it does not); DetectionError when unknown."""
        ...
