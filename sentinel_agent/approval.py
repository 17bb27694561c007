"""When to reboot: a pure function of the request, the current boot ID, the last attempt and the clock.

The approval names the boot it is for. A current boot ID different from the approval's means that reboot
already happened, whoever caused it, so nothing more is done: this is what makes "exactly once" survive agent
restarts without any local state. The same boot ID with the approval still standing means the reboot did not
happen; the agent asks again only once the guard interval since its last attempt has passed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from sentinel_agent.guard import RebootAttempt
from sentinel_agent.model import NodeRebootRequest, Phase


class Action(StrEnum):
    REBOOT = "reboot"
    WAIT = "wait"
    NOTHING = "nothing"


class RebootDecision(NamedTuple):
    """What to do about the approval, why, and (for WAIT) when to look again."""

    action: Action
    why: str
    retry_at: datetime | None = None


def decide_reboot(
    *,
    request: NodeRebootRequest | None,
    current_boot_id: str,
    last_attempt: RebootAttempt | None,
    now: datetime,
    guard_interval: timedelta,
) -> RebootDecision:
    """Reboot, wait for the guard, or do nothing."""
    if request is None:
        return RebootDecision(Action.NOTHING, "there is no request")
    if request.phase != Phase.REBOOTING:
        return RebootDecision(Action.NOTHING, f"the request is in phase {request.phase or 'unset'}")
    approval = request.approval
    if approval is None:
        return RebootDecision(Action.NOTHING, "phase is Rebooting but there is no approval")
    if approval.boot_id != current_boot_id:
        return RebootDecision(
            Action.NOTHING, f"the approval is for boot {approval.boot_id}; the node has rebooted since"
        )
    if last_attempt is None or last_attempt.boot_id != current_boot_id:
        return RebootDecision(Action.REBOOT, "the operator approved a reboot of this boot")
    retry_at = last_attempt.at + guard_interval
    if now < retry_at:
        return RebootDecision(Action.WAIT, "a reboot was asked for in this boot already", retry_at=retry_at)
    return RebootDecision(Action.REBOOT, "the last reboot attempt did not reboot the node; trying again")
