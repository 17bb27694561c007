"""The fixed words of the API: request phases, condition types and the reasons that go with them.

They are ``str`` enums so they compare equal to what is stored in the API server and print as themselves.
"""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    """Where a NodeRebootRequest is in its cycle; the operator alone writes it."""

    PENDING = "Pending"
    """Seen, not yet considered by the operator."""
    WAITING = "Waiting"
    """Queued: waiting for its window, its turn, or a reason given in status.message."""
    CORDONING = "Cordoning"
    DRAINING = "Draining"
    REBOOTING = "Rebooting"
    """Approved: the agent reboots the node when status.approval.bootID is its current boot ID."""
    VERIFYING = "Verifying"
    """Back with a new boot ID; soaking Ready before being handed back."""
    UNCORDONING = "Uncordoning"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    """Withdrawn by the agent (no reasons left) before it started, or cancelled by an admin
    (``rollboot.dev/cancel``) before its reboot was authorized."""


CANCELLABLE_PHASES = frozenset({Phase.CORDONING, Phase.DRAINING})
"""Started phases an admin's cancel hands back; from the reboot's authorization on, a cycle finishes by itself."""

ACTIVE_PHASES = frozenset({Phase.CORDONING, Phase.DRAINING, Phase.REBOOTING, Phase.VERIFYING, Phase.UNCORDONING})
"""Phases between start and finish: a request in one of them holds a slot of its policy's maxConcurrent."""

TERMINAL_PHASES = frozenset({Phase.COMPLETED, Phase.FAILED, Phase.CANCELLED})
"""Phases that end a cycle; a new spec generation with reasons starts the next one."""


class PolicyConditionType(StrEnum):
    """The condition types of a RebootPolicy."""

    READY = "Ready"
    """The spec is valid and the policy is being applied."""
    PROGRESSING = "Progressing"
    """Nodes of this policy are between start and finish."""
    BLOCKED = "Blocked"
    """Requests wait and none may start now, or some nodes are held back by blockers; the reason says why."""
    HALTED = "Halted"
    """The failure budget is spent: no node starts until spec.failureBudget.resetToken changes."""
    CONFLICT = "Conflict"
    """Some nodes are selected by this and another policy of the same priority, and are never rebooted."""


class WaitReason(StrEnum):
    """Why a request that needs a reboot does not start now (also the reason of a policy's Blocked condition)."""

    STOPPED = "Stopped"
    """The ConfigMap rollboot-stop exists: nothing starts anywhere, no reboot is authorized."""
    SKIPPED = "Skipped"
    """Its node carries the annotation rollboot.dev/skip."""
    NO_POLICY = "NoPolicy"
    CONFLICT = "Conflict"
    INVALID_SPEC = "InvalidSpec"
    PAUSED = "Paused"
    HALTED = "Halted"
    WINDOW_CLOSED = "WindowClosed"
    BLACKOUT = "Blackout"
    MIN_INTERVAL = "MinInterval"
    QUEUED = "Queued"
    """Its policy's maxConcurrent slots are all taken; it starts when one frees."""
    NODE_NOT_READY = "NodeNotReady"
    BLOCKED = "Blocked"
    """A blocker holds: Prometheus alerts for the whole policy, or blocking pods on one node (which is then
    passed over and holds no slot)."""


class RequestConditionType(StrEnum):
    """The condition types of a NodeRebootRequest."""

    BLOCKED = "Blocked"
    """Its node is held back by a blocker (e.g. blocking pods) while it waits; an Event marks each change."""
    WAITING = "Waiting"
    """True while it waits (phase Waiting); the reason is the wait reason (Queued, WindowClosed, Paused, Halted,
    Blocked, NoPolicy, ...) and the message says what it waits for. Gone once its cycle starts."""


class Reason(StrEnum):
    """Condition reasons other than the wait reasons."""

    VALID = "Valid"
    INVALID_SPEC = "InvalidSpec"
    IN_PROGRESS = "RebootsInProgress"
    IDLE = "Idle"
    NOT_BLOCKED = "NotBlocked"
    BUDGET_EXHAUSTED = "FailureBudgetExhausted"
    WITHIN_BUDGET = "WithinBudget"
    PRIORITY_TIE = "PriorityTie"
    NO_CONFLICT = "NoConflict"
    PODS_BLOCKING = "BlockingPods"


class WindowState(StrEnum):
    """A policy's maintenance-window state right now, as the WINDOW column shows it."""

    ALWAYS = "Always"
    """No maintenance windows: always open (except during blackouts)."""
    OPEN = "Open"
    CLOSED = "Closed"
    BLACKOUT = "Blackout"
    """Inside a blackout: nothing starts."""
    UNKNOWN = "Unknown"
    """The windows cannot be evaluated because the spec is invalid."""
