"""What a waiting request is told: why it waits and its place in the queue while it is near the front
(``RequestDecision.message``, ``decisions.EXACT_POSITIONS``), and the status that says so, composed when the
status writer takes it (``writer.put_composed``)."""

from __future__ import annotations

import datetime

from reboot_operator.api.common import ConditionStatus
from reboot_operator.api.request import NodeRebootRequestStatus
from reboot_operator.api.vocabulary import Phase, RequestConditionType, WaitReason
from reboot_operator.coordinator.writer import Composed, body_of
from reboot_operator.core.conditions import ConditionIntent, merge_conditions
from reboot_operator.core.decisions import PolicyDecision, RequestDecision
from reboot_operator.rollout.announce import Announcer
from reboot_operator.watch.observed import RequestView


def says_so(request: RequestView, decision: RequestDecision) -> bool:
    """Whether the request's status says already what ``decision`` would tell it (then nothing is written)."""
    current = request.status
    return (
        current.phase is Phase.WAITING
        and current.policy == decision.policy
        and current.message == decision.message
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
    message = decision.message
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


def waiting_reason(status: NodeRebootRequestStatus) -> str | None:
    """The reason of the request's Waiting condition, if it has one."""
    found = next((c for c in status.conditions if c.type == RequestConditionType.WAITING), None)
    return found.reason if found is not None else None
