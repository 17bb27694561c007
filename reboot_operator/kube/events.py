"""Kubernetes Events about the objects the operator acts on, shown by ``kubectl describe`` and ``kubectl get events``.

We post core/v1 Events, the kind ``kubectl describe node`` lists. An Event about a cluster-scoped object (a Node, a
RebootPolicy) lives in the ``default`` namespace, where the API server expects it. Events are a courtesy: a failure
to post one is logged and never raised, so it cannot stop a reboot; and the operator posts them in the background
(``background().submit``), so they never delay one either.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import logging
import socket
import weakref
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from kubernetes_asyncio import client

from reboot_operator.kube.apicalls import read_json
from reboot_operator.runtime.errors import API_FAILURES

log = logging.getLogger(__name__)

DEFAULT_COMPONENT = "rollboot-operator"
MAX_MESSAGE = 1024  # events.k8s.io caps notes at 1 kB; keep core/v1 messages as short


class EventType(StrEnum):
    NORMAL = "Normal"
    WARNING = "Warning"


@dataclass(frozen=True)
class ObjectRef:
    """The object an Event is about. ``namespace`` is None for cluster-scoped objects."""

    kind: str
    name: str
    uid: str = ""
    api_version: str = "v1"
    namespace: str | None = None

    @classmethod
    def node(cls, name: str, uid: str = "") -> ObjectRef:
        return cls(kind="Node", name=name, uid=uid, api_version="v1")


async def post_event(
    api: client.ApiClient,
    *,
    involved: ObjectRef,
    reason: str,
    message: str,
    type: EventType = EventType.NORMAL,
    component: str = DEFAULT_COMPONENT,
    instance: str | None = None,
) -> None:
    """Record an Event about ``involved``. Never raises (except cancellation); failures are logged."""
    namespace = involved.namespace or "default"
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    involved_object = {"kind": involved.kind, "name": involved.name, "apiVersion": involved.api_version}
    if involved.uid:
        involved_object["uid"] = involved.uid
    if involved.namespace:
        involved_object["namespace"] = involved.namespace
    body = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{involved.name}.", "namespace": namespace},
        "involvedObject": involved_object,
        "reason": reason,
        "message": message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…",
        "type": str(type),
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": instance or socket.gethostname(),
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    try:
        await read_json(client.CoreV1Api(api).create_namespaced_event, namespace, body)
    except API_FAILURES:
        log.warning("could not post %s event %s about %s %s", type, reason, involved.kind, involved.name, exc_info=True)


Post = Callable[..., Awaitable[None]]
MAX_QUEUED = 10_000
"""Events one lane may hold back before it drops its oldest: a courtesy must not grow without bound."""
LANES = 4


@dataclass(frozen=True)
class _Queued:
    api: client.ApiClient
    involved: ObjectRef
    reason: str
    message: str
    type: EventType


class EventQueue:
    """Events posted in the background, so that telling about a step never delays the next one.

    ``submit`` returns at once. Events about objects of the same name (a Node and its NodeRebootRequest share one)
    go through one lane and are posted in the order submitted, one after the other; other names use other lanes, so
    a slow post about one node does not hold back the others. A lane holding ``limit`` Events drops its oldest.
    What is still queued when the process dies is lost, as an Event being posted was before: Events are a
    courtesy, and the status written before each of them is the record.
    """

    def __init__(self, *, post: Post = post_event, lanes: int = LANES, limit: int = MAX_QUEUED) -> None:
        self._post = post
        self._limit = limit
        self._lanes: list[collections.deque[_Queued]] = [collections.deque() for _ in range(lanes)]
        self._workers: list[asyncio.Task[None] | None] = [None] * lanes
        self.dropped = 0

    def submit(
        self,
        api: client.ApiClient,
        *,
        involved: ObjectRef,
        reason: str,
        message: str,
        type: EventType = EventType.NORMAL,
    ) -> None:
        """Queue an Event about ``involved``; it is posted soon, after those queued before it about the same name."""
        index = zlib.crc32(involved.name.encode()) % len(self._lanes)
        lane = self._lanes[index]
        if len(lane) >= self._limit:
            lane.popleft()
            self.dropped += 1
            log.warning("too many Events queued; dropped the oldest (%d dropped so far)", self.dropped)
        lane.append(_Queued(api, involved, reason, message, type))
        worker = self._workers[index]
        if worker is None or worker.done():
            self._workers[index] = asyncio.get_running_loop().create_task(
                self._work(lane), name=f"rollboot-events-{index}"
            )

    async def drain(self) -> None:
        """Until every Event queued so far has been posted (or failed to be)."""
        while any(w is not None and not w.done() for w in self._workers):
            await asyncio.gather(*(w for w in self._workers if w is not None and not w.done()))

    async def _work(self, lane: collections.deque[_Queued]) -> None:
        while lane:
            event = lane.popleft()
            try:
                await self._post(
                    event.api, involved=event.involved, reason=event.reason, message=event.message, type=event.type
                )
            except Exception:  # the lane must go on: post_event raises no API failure, but a poster is any callable
                log.warning("could not post %s event %s", event.type, event.reason, exc_info=True)


_queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, EventQueue] = weakref.WeakKeyDictionary()


def background() -> EventQueue:
    """The running event loop's queue of Events to post in the background (one per loop, made on first use)."""
    loop = asyncio.get_running_loop()
    queue = _queues.get(loop)
    if queue is None:
        queue = _queues[loop] = EventQueue()
    return queue
