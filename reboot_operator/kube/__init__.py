"""The operator's effects on Kubernetes: node cordon/labels/taints and Events.

Independent of Kopf and of the API models: callers pass plain values (node names, taints) and get plain
frozen dataclasses back. Errors are in ``reboot_operator.kube.errors``.
"""

from reboot_operator.kube.errors import ApiRejected, ApiUnavailable, KubeEffectError, NodeGone
from reboot_operator.kube.events import EventType, ObjectRef, post_event
from reboot_operator.kube.nodes import (
    REBOOT_PENDING_TAINT,
    NodeFacts,
    Taint,
    TaintEffect,
    ensure_cordoned,
    ensure_labels,
    ensure_no_taint,
    ensure_taint,
    ensure_uncordoned,
    read_node_facts,
)

__all__ = [
    "REBOOT_PENDING_TAINT",
    "ApiRejected",
    "ApiUnavailable",
    "EventType",
    "KubeEffectError",
    "NodeFacts",
    "NodeGone",
    "ObjectRef",
    "Taint",
    "TaintEffect",
    "ensure_cordoned",
    "ensure_labels",
    "ensure_no_taint",
    "ensure_taint",
    "ensure_uncordoned",
    "post_event",
    "read_node_facts",
]
