"""Kubernetes Events about the objects the operator acts on, shown by ``kubectl describe`` and ``kubectl get events``.

We post core/v1 Events, the kind ``kubectl describe node`` lists. An Event about a cluster-scoped object (a Node, a
RebootPolicy) lives in the ``default`` namespace, where the API server expects it. Events are a courtesy: a failure
to post one is logged and never raised, so it cannot stop a reboot.
"""

from __future__ import annotations

import datetime
import logging
import socket
from dataclasses import dataclass
from enum import StrEnum

from kubernetes_asyncio import client

from reboot_operator.kube.apicalls import read_json

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
    except Exception:
        log.warning("could not post %s event %s about %s %s", type, reason, involved.kind, involved.name, exc_info=True)
