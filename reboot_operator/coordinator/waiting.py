"""What a waiting request is told: why it waits, its place in the queue while it is near the front, and the
status that says so, composed when the status writer takes it (``writer.put_composed``)."""

from __future__ import annotations

import datetime

from reboot_operator.api.common import ConditionStatus
from reboot_operator.api.policy_status import QUEUE_PREVIEW
from reboot_operator.api.request import NodeRebootRequestStatus
from reboot_operator.api.vocabulary import Phase, RequestConditionType, WaitReason
from reboot_operator.coordinator.writer import Composed, body_of
from reboot_operator.core.conditions import ConditionIntent, merge_conditions
from reboot_operator.core.decisions import Action, PolicyDecision, RequestDecision
from reboot_operator.rollout.announce import Announcer
from reboot_operator.watch.observed import RequestView

EXACT_POSITIONS = 3
"""Waiting requests this far up their queue have their exact position in their message: each hand-off rewrites
these few, the next three in line; further back a request is told once that it waits
behind more, and the policy's status.queue lists the order."""


def says_so(request: RequestView, decision: RequestDecision) -> bool:
    """Whether the request's status says already what ``decision`` would tell it (then nothing is written)."""
    current = request.status
    return (
        current.phase is Phase.WAITING
        and current.policy == decision.policy
        and current.message == waiting_message(decision)
        and current.queued_at == decision.queued_at
        and current.observed_generation == request.generation
        and waiting_reason(current) == (decision.reason or WaitReason.QUEUED)
    )


def waiting_status(
    request: RequestView,
    decision: RequestDecision,
    policy: PolicyDecision | None,
    now: datetime.datetime,
    announcer: Announcer | None,
) -> Composed:
    """The status write telling ``request`` why it waits, as ``decision`` (and its policy's, ``policy``) says."""
    message = waiting_message(decision)
    current = request.status
    reason = decision.reason or WaitReason.QUEUED
    base = {} if decision.new_cycle or current.phase is not Phase.WAITING else current.model_dump()
    # A node held back by its own blockers (not its policy's) carries a Blocked condition: Events mark changes.
    # Whether its own blockers hold it: known only when nothing else holds it first (a pause, the stop, a closed
    # window, a skip: then its Blocked condition is kept as it was, and no "Unblocked" is told, issue 14).
    node_blocked: bool | None = None
    if decision.reason is WaitReason.BLOCKED and policy is not None and policy.blocked is None:
        node_blocked = True
    elif decision.reason is WaitReason.QUEUED:
        node_blocked = False
    conditions, after = (
        announcer.request_conditions(request, blocked=node_blocked, why=decision.note, now=now)
        if announcer is not None
        else (current.conditions, None)
    )
    # Why it waits, as a condition too (kubectl wait, dashboards): its reason is the wait reason. It has waited
    # since it was queued (a time that stays the same from one decision to the next, unlike the clock).
    condition = ConditionIntent(RequestConditionType.WAITING, ConditionStatus.TRUE, reason, message)
    since = decision.queued_at or now
    conditions = merge_conditions(conditions, [condition], now=since, generation=request.generation)
    status = NodeRebootRequestStatus.model_validate(
        {
            **base,
            "phase": Phase.WAITING,
            "policy": decision.policy,
            "message": message,
            "queued_at": decision.queued_at,
            "observed_generation": request.generation,
            "conditions": conditions,
        }
    )
    return body_of(request.name, request.resource_version), status.to_api(), after


def told_alike(before: RequestDecision, after: RequestDecision) -> bool:
    """Whether carrying out ``after`` tells a request nothing ``before`` did not: both are waits that differ at most
    in its place in the queue, beyond ``EXACT_POSITIONS`` in both, where its message does not name it. Each
    hand-off moves every waiting request of its policy one place up (a new decision each, 300 at 15,000 nodes in
    50 policies); only the first few are told, the others are not even looked at again."""
    return (
        before.action is Action.WAIT
        and after.action is Action.WAIT
        and before.position is not None
        and after.position is not None
        and before.position > EXACT_POSITIONS
        and after.position > EXACT_POSITIONS
        and before._replace(position=None, total=None) == after._replace(position=None, total=None)
    )


def waiting_message(decision: RequestDecision) -> str:
    """What a waiting request is told: its decision's message, but for its exact position when further back than
    ``EXACT_POSITIONS`` (exact positions further back would rewrite every waiting request at each hand-off: the
    first few are told exactly, the others once, and the policy's status.queue lists the order)."""
    if decision.position is None or decision.position <= EXACT_POSITIONS:
        return decision.message
    return (f"{decision.note}; " if decision.note else "") + (
        f"more than {EXACT_POSITIONS} requests ahead (policy {decision.policy}'s status.queue lists the "
        f"next {QUEUE_PREVIEW})"
    )


def waiting_reason(status: NodeRebootRequestStatus) -> str | None:
    """The reason of the request's Waiting condition, if it has one."""
    found = next((c for c in status.conditions if c.type == RequestConditionType.WAITING), None)
    return found.reason if found is not None else None
