"""Telling people about changes the coordinator sees: a policy starting or stopping being blocked or halted, a
node held back by its blockers. Each becomes a Kubernetes Event and, where a policy subscribes, a notification.

Events are posted only after the status write recording the change has won its compare-and-swap (the writer runs
the returned ``after`` callbacks), so each change is told once, by the one replica whose write won, and a
restarted operator does not tell it again: the stored conditions are the memory. The Events are queued to be posted
in the background (``kube.events.background``), so telling never holds up the writer that runs the callback.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from kubernetes_asyncio import client

from reboot_operator.api.common import Condition, ConditionStatus
from reboot_operator.api.meta import API_VERSION
from reboot_operator.api.policy import NotificationEvent
from reboot_operator.api.policy_status import RebootPolicyStatus
from reboot_operator.api.request import NodeRebootRequestStatus
from reboot_operator.api.vocabulary import Phase, PolicyConditionType, Reason, RequestConditionType, WaitReason
from reboot_operator.core.conditions import ConditionIntent, merge_conditions
from reboot_operator.kube.events import EventType, ObjectRef, background
from reboot_operator.notify import Notice
from reboot_operator.watch.observed import PolicyView, RequestView

AfterWrite = Callable[[], Awaitable[None]]


def request_blocked_condition(status: NodeRebootRequestStatus) -> Condition | None:
    """The request's Blocked condition while it waits, if its node is held back by its blockers."""
    if status.phase is not Phase.WAITING:
        return None
    return next(
        (c for c in status.conditions if c.type == RequestConditionType.BLOCKED and c.status == ConditionStatus.TRUE),
        None,
    )


def _condition(status: RebootPolicyStatus, kind: PolicyConditionType) -> tuple[str, str, str]:
    found = next((c for c in status.conditions if c.type == kind), None)
    return (str(found.status), found.reason, found.message) if found is not None else ("", "", "")


class Announcer:
    def __init__(self, api: client.ApiClient, notify: Callable[[Notice], None]) -> None:
        self.api = api
        self.notify = notify

    # -- policies ------------------------------------------------------------------------------------------

    def policy_changes(self, policy: PolicyView, desired: RebootPolicyStatus) -> AfterWrite | None:
        """What to tell once ``desired`` replaces the policy's stored status: blocked by its blockers, or not any
        more; halted, or resumed. None when nothing of that changes."""
        told: list[tuple[str, str, EventType, NotificationEvent | None]] = []
        before, after = (
            _condition(policy.status, PolicyConditionType.BLOCKED),
            _condition(desired, PolicyConditionType.BLOCKED),
        )
        was_blocked = before[0] == "True" and before[1] == WaitReason.BLOCKED
        is_blocked = after[0] == "True" and after[1] == WaitReason.BLOCKED
        if is_blocked and not was_blocked:
            told.append(("Blocked", after[2], EventType.WARNING, NotificationEvent.BLOCKED))
        elif was_blocked and after[0] == "False":
            # Only when nothing holds the policy any more: a pause, the stop or a closed window taking over says
            # nothing about the blockers, which are not even asked then (issue 14: pausing told "Unblocked").
            told.append(("Unblocked", "no blocker holds the policy back any more", EventType.NORMAL, None))
        before, after = (
            _condition(policy.status, PolicyConditionType.HALTED),
            _condition(desired, PolicyConditionType.HALTED),
        )
        if after[0] == "True" and before[0] != "True":
            told.append(("Halted", after[2], EventType.WARNING, NotificationEvent.HALTED))
        elif before[0] == "True" and after[0] != "True":
            told.append(("Resumed", after[2] or "the failure budget was reset", EventType.NORMAL, None))
        if not told:
            return None
        involved = ObjectRef(kind="RebootPolicy", name=policy.name, uid=policy.uid, api_version=API_VERSION)

        async def tell() -> None:
            for reason, message, kind, event in told:
                background().submit(self.api, involved=involved, reason=reason, message=message, type=kind)
                if event is not None:
                    self.notify(Notice(event=event, policy=policy.name, message=message))

        return tell

    # -- nodes ---------------------------------------------------------------------------------------------

    def request_conditions(
        self, request: RequestView, *, blocked: bool | None, why: str, now: datetime
    ) -> tuple[list[Condition], AfterWrite | None]:
        """The waiting request's conditions (Blocked while its node is held back), and what to tell once written.
        ``blocked`` None: unknown (something else holds the node first), so the Blocked condition stays as it is."""
        current = request.status
        if blocked is None:
            return list(current.conditions), None
        before = request_blocked_condition(current)
        others = [c for c in current.conditions if c.type != RequestConditionType.BLOCKED]
        if not blocked:
            unblocked = self._node(request.name, request.uid, "Unblocked", "no blocker holds it back")
            return others, (None if before is None else unblocked)
        intent = ConditionIntent(RequestConditionType.BLOCKED, ConditionStatus.TRUE, Reason.PODS_BLOCKING, why)
        conditions = merge_conditions([before] if before else [], [intent], now=now, generation=request.generation)
        told = self._node(request.name, request.uid, "Blocked", why) if before is None else None
        return [*conditions, *others], told

    async def node_unblocked(self, request: RequestView, message: str) -> None:
        await self._node(request.name, request.uid, "Unblocked", message)()

    def _node(self, node: str, uid: str, reason: str, message: str) -> AfterWrite:
        kind = EventType.WARNING if reason == "Blocked" else EventType.NORMAL

        async def tell() -> None:
            events = background()
            events.submit(self.api, involved=ObjectRef.node(node), reason=reason, message=message, type=kind)
            events.submit(
                self.api,
                involved=ObjectRef(kind="NodeRebootRequest", name=node, uid=uid, api_version=API_VERSION),
                reason=reason,
                message=message,
                type=kind,
            )

        return tell
