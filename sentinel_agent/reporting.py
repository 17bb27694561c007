"""What to write into the request: a pure function of the detection, the request and the current boot.

The agent writes ``spec`` only when it would change: it creates the request when a reboot is first required,
opens a new cycle (new ``detectedAt`` and ``bootID``) when the requirement comes back after a withdrawal or a
reboot, updates ``reasons`` when they change, and withdraws (``reasons: []``) when the requirement went away
without the approved reboot. A sentinel cleared *by* the approved reboot is not a withdrawal: the operator
finishes that cycle by seeing the node's new boot.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from sentinel_agent.model import NodeRebootRequest, Phase, Reason, Spec, rfc3339


class Write(StrEnum):
    CREATE = "create"
    NEW_CYCLE = "new-cycle"
    UPDATE_REASONS = "update-reasons"
    WITHDRAW = "withdraw"
    NOTHING = "nothing"


class ReportPlan(NamedTuple):
    """The write to make (``spec`` is None for NOTHING) and why."""

    write: Write
    why: str
    spec: Spec | None = None


def plan_report(
    *,
    node_name: str,
    reasons: tuple[Reason, ...],
    request: NodeRebootRequest | None,
    current_boot_id: str,
    now: datetime,
) -> ReportPlan:
    """The write that makes the request tell the truth about ``reasons``, found during ``current_boot_id``."""
    fresh = Spec(node_name=node_name, reasons=reasons, detected_at=rfc3339(now), boot_id=current_boot_id)
    if reasons:
        if request is None:
            return ReportPlan(Write.CREATE, "a reboot is required", fresh)
        current = request.spec
        if not current.reasons:
            return ReportPlan(Write.NEW_CYCLE, "a reboot is required again after a withdrawal", fresh)
        if current.boot_id != current_boot_id:
            return ReportPlan(Write.NEW_CYCLE, "a reboot is required again after the node rebooted", fresh)
        if current.reasons != reasons:
            return ReportPlan(Write.UPDATE_REASONS, "the reasons changed", current._replace(reasons=reasons))
        return ReportPlan(Write.NOTHING, "the request already says so")
    if request is None:
        return ReportPlan(Write.NOTHING, "no reboot is required and there is no request")
    if not request.spec.reasons:
        return ReportPlan(Write.NOTHING, "the request is already withdrawn")
    if _cleared_by_approved_reboot(request, current_boot_id):
        return ReportPlan(Write.NOTHING, "the requirement went away with the approved reboot")
    return ReportPlan(
        Write.WITHDRAW, "the requirement went away without the approved reboot", request.spec._replace(reasons=())
    )


def _cleared_by_approved_reboot(request: NodeRebootRequest, current_boot_id: str) -> bool:
    """The operator approved this cycle and the node rebooted since, or is about to."""
    approval = request.approval
    if approval is None or approval.boot_id != request.spec.boot_id:
        return False
    rebooted_since = current_boot_id != approval.boot_id
    reboot_pending = request.phase == Phase.REBOOTING
    return rebooted_since or reboot_pending
