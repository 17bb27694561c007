"""A policy's status as a decision describes it, ready for the operator to write."""

from __future__ import annotations

from datetime import datetime

from reboot_operator.api.policy_status import (
    QUEUE_PREVIEW,
    FailureBudgetStatus,
    PolicyCounts,
    RebootPolicyStatus,
    WindowStatus,
)
from reboot_operator.api.vocabulary import WindowState
from reboot_operator.core.conditions import merge_conditions, policy_conditions
from reboot_operator.core.decisions import PolicyDecision


def policy_status(
    decision: PolicyDecision, *, previous: RebootPolicyStatus | None, generation: int, now: datetime
) -> RebootPolicyStatus:
    """The status of one policy after ``decision``; ``previous`` keeps condition times and failed-node names."""
    previous = previous or RebootPolicyStatus()
    window = decision.window
    budget = decision.budget
    failed_nodes = [] if budget.resetting or previous.failure_budget is None else previous.failure_budget.failed_nodes
    return RebootPolicyStatus(
        observed_generation=generation,
        conditions=merge_conditions(previous.conditions, policy_conditions(decision), now=now, generation=generation),
        counts=PolicyCounts(**decision.counts._asdict()),
        window=WindowStatus(
            state=window.state if window else WindowState.UNKNOWN,
            open=window.open if window else False,
            closes_at=window.closes_at if window else None,
            next_opening=window.next_opening if window else None,
        ),
        queue=list(decision.queue[:QUEUE_PREVIEW]),
        conflicts=list(decision.conflicts[:1000]),
        failure_budget=FailureBudgetStatus(
            failures=budget.failures,
            failed_nodes=failed_nodes,
            observed_reset_token=budget.observed_reset_token,
            reset_at=budget.reset_at,
        ),
        slots=list(decision.slots),
        last_completion_at=decision.last_completion_at,
    )
