"""What one node's cycle tells people: Kubernetes Events on the Node and its NodeRebootRequest, notifications to
the policy's subscribers, and the cycle's metrics.

Each Event goes on the object it is about, once: what the cycle did to the Node (cordoned, cordoned again, uncordoned)
on the Node, where ``kubectl describe node`` shows why it is cordoned; each step of the cycle on its
NodeRebootRequest, named like the node, where ``kubectl describe noderebootrequest`` shows the cycle; what holds the
node back or went wrong on both. Both are in the ``default`` namespace, so
``kubectl get events --field-selector involvedObject.name=NODE --sort-by=.lastTimestamp`` lists them together.

Each transition is told once its write has won, so only by the replica whose write won. Events are queued and
posted in the background (``kube.events.background``), in order, so that telling never delays the next step.
Started, RebootAuthorized, Completed and Failed are also notifications.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from enum import Flag, StrEnum, auto

from kubernetes_asyncio import client

from reboot_operator.api.meta import API_VERSION
from reboot_operator.api.policy import NotificationEvent
from reboot_operator.api.request import NodeRebootRequestStatus
from reboot_operator.kube.events import EventType, ObjectRef, background
from reboot_operator.notify import Notice
from reboot_operator.rollout.world import Clock, World
from reboot_operator.runtime import metrics

NOTIFIED = {
    "Started": NotificationEvent.STARTED,
    "RebootAuthorized": NotificationEvent.REBOOTING,
    "Completed": NotificationEvent.COMPLETED,
    "Failed": NotificationEvent.FAILED,
}
"""The Events that are also notifications, and as which event."""


class On(Flag):
    """Which objects an Event is posted on."""

    NODE = auto()
    REQUEST = auto()


ON: dict[str, On] = {
    "Cordoned": On.NODE,
    "Uncordoned": On.NODE,
    "Recordoned": On.NODE | On.REQUEST,
    "Held": On.NODE | On.REQUEST,
}
"""Where the Events of a cycle go that are not simply one of its steps (those go on its request)."""


def posted_on(reason: str, *, warning: bool) -> On:
    """What the cycle did to the Node goes on the Node; each step of the cycle on its request; what holds the node
    back or went wrong (a warning, a cordon made again, the stop's hold) on both, for whoever looks at either."""
    if warning:
        return On.NODE | On.REQUEST
    return ON.get(reason, On.REQUEST)


class Result(StrEnum):
    """How a cycle ended, as the ``rollboot_reboots_total`` metric labels it."""

    COMPLETED = "Completed"
    FAILED = "Failed"


@dataclass
class Teller:
    """Tells of the cycle of request ``name`` under policy ``policy``."""

    api: client.ApiClient
    world: World
    name: str
    policy: str
    clock: Clock
    uid: str = ""
    """The request's uid, once read: its Events name it, so `kubectl describe noderebootrequest` lists them."""

    def event(
        self,
        reason: str,
        message: str,
        *,
        warning: bool = False,
        status: NodeRebootRequestStatus | None = None,
        now: datetime.datetime | None = None,
    ) -> None:
        """Queue the Event where it belongs (``ON``); notify the policy's subscribers if it is one they hear of.

        ``status`` (and ``now`` at the end of a cycle) give the notification its kernels and duration."""
        notified = NOTIFIED.get(reason)
        if notified is not None:
            started = status.started_at if status is not None else None
            self.world.notify(
                Notice(
                    event=notified,
                    policy=self.policy,
                    node=self.name,
                    message=message,
                    kernel_before=status.kernel_before if status is not None else None,
                    kernel_after=status.kernel_after if status is not None else None,
                    duration=(now - started) if now is not None and started is not None else None,
                )
            )
        kind = EventType.WARNING if warning else EventType.NORMAL
        on = posted_on(reason, warning=warning)
        events = background()
        if On.NODE in on:
            node = self.world.node(self.name)
            involved = ObjectRef.node(self.name, node.uid if node else "")
            events.submit(self.api, involved=involved, reason=reason, message=message, type=kind)
        if On.REQUEST in on:
            involved = ObjectRef(kind="NodeRebootRequest", name=self.name, uid=self.uid, api_version=API_VERSION)
            events.submit(self.api, involved=involved, reason=reason, message=message, type=kind)

    def handoff(self, queued_at: datetime.datetime | None) -> None:
        """Hand-off latency: from the previous node of the policy finishing to this one, waiting then, cordoned."""
        policy = self.world.policy(self.policy)
        finished = policy.status.last_completion_at if policy is not None else None
        if finished is not None and queued_at is not None and queued_at <= finished:
            metrics.HANDOFF_SECONDS.labels(self.policy).observe(max(0.0, (self.clock() - finished).total_seconds()))

    def drained(self, seconds: float) -> None:
        metrics.DRAIN_SECONDS.labels(self.policy).observe(seconds)

    def ended(self, status: NodeRebootRequestStatus, result: Result, now: datetime.datetime) -> None:
        metrics.REBOOTS.labels(self.policy, result.value).inc()
        if status.started_at is not None:
            metrics.CYCLE_SECONDS.labels(self.policy).observe(max(0.0, (now - status.started_at).total_seconds()))
