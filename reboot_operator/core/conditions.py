"""Conditions in the standard Kubernetes shape, computed from a decision.

``lastTransitionTime`` changes only when a condition's status does, so writing the same conditions twice is a
no-op and an operator can emit an Event exactly when a condition actually changes (``changed_conditions``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from reboot_operator.api.common import Condition, ConditionStatus
from reboot_operator.api.vocabulary import PolicyConditionType, Reason, WaitReason
from reboot_operator.core.decisions import PolicyDecision

_TRUE, _FALSE = ConditionStatus.TRUE, ConditionStatus.FALSE


class ConditionIntent(NamedTuple):
    """A condition without its timestamps: what the decision says it should be."""

    type: str
    status: ConditionStatus
    reason: str
    message: str = ""


def policy_conditions(decision: PolicyDecision) -> list[ConditionIntent]:
    """Ready, Progressing, Blocked, Halted and Conflict for one policy."""
    counts, budget = decision.counts, decision.budget
    if decision.problems:
        ready = ConditionIntent(PolicyConditionType.READY, _FALSE, Reason.INVALID_SPEC, "; ".join(decision.problems))
    else:
        ready = ConditionIntent(PolicyConditionType.READY, _TRUE, Reason.VALID)
    if counts.in_progress:
        progressing = ConditionIntent(
            PolicyConditionType.PROGRESSING,
            _TRUE,
            Reason.IN_PROGRESS,
            f"{counts.in_progress} in progress, {counts.pending} waiting",
        )
    else:
        progressing = ConditionIntent(PolicyConditionType.PROGRESSING, _FALSE, Reason.IDLE, f"{counts.pending} waiting")
    if decision.blocked is not None:
        blocked = ConditionIntent(PolicyConditionType.BLOCKED, _TRUE, decision.blocked, decision.blocked_message)
    elif decision.blocked_nodes:
        shown = "; ".join(f"{node}: {why}" for node, why in decision.blocked_nodes[:5])
        more = f" (and {len(decision.blocked_nodes) - 5} more)" if len(decision.blocked_nodes) > 5 else ""
        blocked = ConditionIntent(
            PolicyConditionType.BLOCKED,
            _TRUE,
            WaitReason.BLOCKED,
            f"{len(decision.blocked_nodes)} waiting nodes held back by blockers: {shown}{more}",
        )
    else:
        blocked = ConditionIntent(PolicyConditionType.BLOCKED, _FALSE, Reason.NOT_BLOCKED)
    budget_message = f"{budget.failures} of {budget.max_failures} allowed failures"
    if budget.halted:
        halted = ConditionIntent(
            PolicyConditionType.HALTED,
            _TRUE,
            Reason.BUDGET_EXHAUSTED,
            f"{budget_message}; change spec.failureBudget.resetToken to resume",
        )
    else:
        halted = ConditionIntent(PolicyConditionType.HALTED, _FALSE, Reason.WITHIN_BUDGET, budget_message)
    if decision.conflicts:
        shown = ", ".join(decision.conflicts[:10]) + (" …" if len(decision.conflicts) > 10 else "")
        conflict = ConditionIntent(
            PolicyConditionType.CONFLICT,
            _TRUE,
            Reason.PRIORITY_TIE,
            f"{len(decision.conflicts)} nodes also selected by another policy of the same priority: {shown}",
        )
    else:
        conflict = ConditionIntent(PolicyConditionType.CONFLICT, _FALSE, Reason.NO_CONFLICT)
    return [ready, progressing, blocked, halted, conflict]


def merge_conditions(
    previous: Sequence[Condition], intents: Sequence[ConditionIntent], *, now: datetime, generation: int | None
) -> list[Condition]:
    """The conditions to write: each intent, keeping its previous lastTransitionTime if its status is unchanged.

    Conditions of other types (set by someone else) are kept as they are."""
    by_type = {c.type: c for c in previous}
    merged = []
    for intent in intents:
        before = by_type.pop(intent.type, None)
        since = before.last_transition_time if before is not None and before.status == intent.status else now
        merged.append(
            Condition(
                type=intent.type,
                status=intent.status,
                reason=intent.reason,
                message=intent.message,
                last_transition_time=since,
                observed_generation=generation,
            )
        )
    return merged + list(by_type.values())


def changed_conditions(previous: Sequence[Condition], current: Sequence[Condition]) -> list[Condition]:
    """The conditions whose status or reason differs from before: what deserves an Event."""
    before = {c.type: (c.status, c.reason) for c in previous}
    return [c for c in current if before.get(c.type) != (c.status, c.reason)]
