"""What the operator reports on a RebootPolicy: conditions, counts, window state, the queue, the failure budget.

Everything the operator needs to resume after a restart is here or in the requests' status, never only in memory.
"""

from __future__ import annotations

from pydantic import AwareDatetime, Field

from reboot_operator.api.base import ApiModel, Name
from reboot_operator.api.common import CONDITIONS_LIST, Condition
from reboot_operator.api.vocabulary import WindowState

QUEUE_PREVIEW = 20
"""How many of the next nodes status.queue lists."""


class PolicyCounts(ApiModel):
    """How many nodes and requests of this policy are where."""

    selected: int = Field(default=0, ge=0, description="Nodes this policy governs.")
    pending: int = Field(default=0, ge=0, description="Requests waiting to start.")
    in_progress: int = Field(default=0, ge=0, description="Requests between start and finish.")
    completed: int = Field(default=0, ge=0, description="Requests whose last cycle completed.")
    failed: int = Field(default=0, ge=0, description="Requests whose last cycle failed.")


class WindowStatus(ApiModel):
    """The maintenance-window state when the status was written."""

    state: WindowState = Field(description="Always, Open, Closed, Blackout, or Unknown when the spec is invalid.")
    open: bool = Field(description="Whether a node may start now as far as windows and blackouts go.")
    closes_at: AwareDatetime | None = Field(
        default=None, description="When the current opening ends; unset when closed or open beyond the horizon."
    )
    next_opening: AwareDatetime | None = Field(
        default=None, description="When the windows open next; unset when open now or never within the horizon."
    )


class FailureBudgetStatus(ApiModel):
    """Failure-budget bookkeeping."""

    failures: int = Field(default=0, ge=0, description="Nodes failed since the last reset.")
    failed_nodes: list[Name] = Field(
        default_factory=list, max_length=1000, description="Nodes failed since the last reset."
    )
    observed_reset_token: str | None = Field(
        default=None, description="The spec.failureBudget.resetToken the count was last cleared for."
    )
    reset_at: AwareDatetime | None = Field(
        default=None, description="When the count was last cleared; failed nodes from before are retried."
    )


class RebootPolicyStatus(ApiModel):
    """The observed state of a RebootPolicy, written by the operator."""

    observed_generation: int | None = Field(
        default=None, ge=0, description="The metadata.generation this status was computed from."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=16,
        json_schema_extra=CONDITIONS_LIST,
        description="Ready, Progressing, Blocked, Halted and Conflict.",
    )
    counts: PolicyCounts | None = Field(default=None, description="How many nodes and requests are where.")
    window: WindowStatus | None = Field(default=None, description="The maintenance-window state.")
    queue: list[Name] = Field(
        default_factory=list,
        max_length=QUEUE_PREVIEW,
        description=f"The next nodes to start, in order (the first {QUEUE_PREVIEW}).",
    )
    conflicts: list[Name] = Field(
        default_factory=list,
        max_length=1000,
        description="Nodes this and another policy of the same priority both select; they are never rebooted.",
    )
    failure_budget: FailureBudgetStatus | None = Field(default=None, description="Failure-budget bookkeeping.")
    slots: list[Name] = Field(
        default_factory=list,
        max_length=1000,
        description="Nodes holding one of this policy's maxConcurrent slots. A slot is claimed here, by a "
        "compare-and-swap on this status, before its node is cordoned, and released after the node finishes, so two "
        "operator replicas can never both take the last slot.",
    )
    last_completion_at: AwareDatetime | None = Field(
        default=None, description="When a node of this policy last finished; minIntervalBetweenReboots counts from it."
    )
