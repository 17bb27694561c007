"""Rebooters: the ways the agent reboots its node once the operator approved it.

One module per method, all behind ``Rebooter``. ``reboot()`` returns once the reboot has been *asked for*; the
agent then waits to be stopped by the shutdown, and only a guard interval later (same boot ID, approval still
standing) does it ask again.
"""

from __future__ import annotations

from typing import Protocol


class Rebooter(Protocol):
    """One way of rebooting the node."""

    def describe(self) -> str:
        """How the node will be rebooted, for logs."""
        ...

    def reboot(self) -> None:
        """Ask for the reboot now; RebootError when it could not even be asked for."""
        ...
