"""What ``decide`` returns: for each request what to do now and why, for each policy its state, and when to
decide again. The operator carries these out; nothing here has side effects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from reboot_operator.api.policy_status import QUEUE_PREVIEW
from reboot_operator.api.vocabulary import WaitReason
from reboot_operator.core.budget import Budget
from reboot_operator.core.window import ScheduleState

EXACT_POSITIONS = 3
"""Waiting requests this far up their queue are told their exact place in it and the queue's length; the others
that they wait further back (the policy's status.queue lists the order). A hand-off then changes the decisions of
these few only, not of every waiting request of its policy (300 at 15,000 nodes in 50 policies): the decision of
a request further back stays the same object, and nothing is carried out again for it."""


class Action(StrEnum):
    """What the operator should do with a request now."""

    START = "Start"
    """Start the cycle: record the start and cordon (phase Cordoning)."""
    WAIT = "Wait"
    """Keep it queued (phase Waiting); reason, message and until say why and for how long."""
    CONTINUE = "Continue"
    """It is between start and finish: carry on with its cycle, windows notwithstanding."""
    CANCEL = "Cancel"
    """Withdrawn by the agent before it started: phase Cancelled."""
    CLEANUP = "Cleanup"
    """Its node no longer exists: it holds no slot, and the request can be deleted."""
    NONE = "None"
    """Its cycle has ended and no new one is due."""


class RequestDecision(NamedTuple):
    """The decision for one request (a NamedTuple: thousands are made per decision, and tuples are cheap)."""

    name: str
    action: Action
    policy: str | None
    """The governing policy (for a running request: the one it started under)."""
    reason: WaitReason | None = None
    note: str = ""
    """What is happening or why it waits, without the queue position (see ``message``)."""
    until: datetime | None = None
    """When the wait reason may lift by itself (a window opening, an interval ending); None when an event will."""
    position: int | None = None
    """1-based place in the policy's queue of waiting requests, for the first ``EXACT_POSITIONS`` of them."""
    total: int | None = None
    """How many requests wait in that queue (told with ``position``)."""
    queued_at: datetime | None = None
    """When the current cycle joined the queue (``now`` for a new cycle): the operator records it."""
    new_cycle: bool = False
    """A new cycle begins (a new spec generation, or a retry after a budget reset): reset the cycle's fields."""
    boot_id: str | None = None
    """On START: the node's boot ID as the decision saw it (status.bootIDBefore)."""
    was_unschedulable: bool | None = None
    """On START: whether the node was already cordoned (it then stays cordoned afterwards)."""
    further_back: bool = False
    """On WAIT: it waits further back in its queue than ``EXACT_POSITIONS`` (then ``position`` is None)."""

    @property
    def message(self) -> str:
        """For status.message: the note and, for a queued request, its place (composed only when asked for)."""
        if self.position is not None:
            return f"{self.note}; position {self.position} of {self.total}"
        if self.further_back:
            return (f"{self.note}; " if self.note else "") + (
                f"more than {EXACT_POSITIONS} requests ahead (policy {self.policy}'s status.queue lists the "
                f"next {QUEUE_PREVIEW})"
            )
        return self.note


class Counts(NamedTuple):
    selected: int
    pending: int
    in_progress: int
    completed: int
    failed: int


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    """One policy's state after the decision."""

    name: str
    problems: tuple[str, ...]
    """What is wrong with the spec (Ready=False, reason InvalidSpec when not empty)."""
    window: ScheduleState | None
    """None when the spec is invalid and the windows cannot be evaluated."""
    blocked: WaitReason | None
    """Why none of its waiting requests may start now, if that holds for the whole policy."""
    blocked_message: str
    queue: tuple[str, ...]
    """The waiting requests in the order they will start."""
    blocked_nodes: tuple[tuple[str, str], ...]
    """Waiting nodes a node blocker holds back (node, why), in queue order; empty when ``blocked`` is set."""
    counts: Counts
    conflicts: tuple[str, ...]
    """Nodes this policy ties for with another policy of the same priority."""
    budget: Budget
    last_completion_at: datetime | None
    started: tuple[str, ...]
    """Requests this decision starts."""
    slots: tuple[str, ...]
    """Requests holding a slot once the starts are made (running ones and started ones), sorted: the operator
    records them in status.slots by compare-and-swap before cordoning anything. Claims missing here are released."""
    consults_blockers: bool = True
    """Whether the policy's blockers (alerts) can change who starts: some request waits and nothing else holds it
    first (a closed window holds everyone but a node an admin asked to reboot now). The blockers are asked only
    then."""


@dataclass(frozen=True, slots=True)
class Decisions:
    now: datetime
    requests: Mapping[str, RequestDecision]
    policies: Mapping[str, PolicyDecision]
    next_wakeup: datetime | None
    """The next instant the decision may change with no event (a window opening or closing, an interval
    ending): schedule a timer for it instead of polling."""
    changed: frozenset[str] | None = field(default=None, compare=False)
    """The requests whose decision is new (a different decision, not an equal one made again), or gone, since the
    ``Decider``'s previous call (every other request's decision is the very same object); None when any may be (a
    decision from scratch)."""

    def with_action(self, action: Action) -> list[RequestDecision]:
        return [d for d in self.requests.values() if d.action is action]
