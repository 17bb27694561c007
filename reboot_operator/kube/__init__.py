"""The operator's effects on Kubernetes: node cordon/labels/taints, draining, and Events.

Independent of Kopf and of the API models: callers pass plain values (node names, ``DrainOptions``) and get plain
frozen dataclasses back. Errors are in ``reboot_operator.runtime.errors``.
"""

from reboot_operator.kube.drain import drain_node
from reboot_operator.kube.drain_types import (
    MIN_EVICTION_RETRY_DELAY,
    BlockingPod,
    BlockReason,
    DrainOptions,
    DrainOutcome,
    DrainProgress,
    DrainResult,
    PodRef,
    ProgressCallback,
    SkippedPod,
    SkipReason,
)
from reboot_operator.kube.events import EventQueue, EventType, ObjectRef, background, post_event
from reboot_operator.kube.node_view import CORDON_MARK, REBOOT_PENDING_TAINT, NodeView, Taint, TaintEffect
from reboot_operator.kube.nodes import (
    Cordon,
    cordon_for,
    ensure_cordoned,
    ensure_labels,
    ensure_no_taint,
    ensure_taint,
    ensure_uncordoned,
    read_node_facts,
)
from reboot_operator.runtime.errors import ApiRejected, ApiUnavailable, KubeEffectError, NodeGone

__all__ = [
    "CORDON_MARK",
    "MIN_EVICTION_RETRY_DELAY",
    "REBOOT_PENDING_TAINT",
    "ApiRejected",
    "ApiUnavailable",
    "BlockReason",
    "BlockingPod",
    "Cordon",
    "DrainOptions",
    "DrainOutcome",
    "DrainProgress",
    "DrainResult",
    "EventQueue",
    "EventType",
    "KubeEffectError",
    "NodeGone",
    "NodeView",
    "ObjectRef",
    "PodRef",
    "ProgressCallback",
    "SkipReason",
    "SkippedPod",
    "Taint",
    "TaintEffect",
    "background",
    "cordon_for",
    "drain_node",
    "ensure_cordoned",
    "ensure_labels",
    "ensure_no_taint",
    "ensure_taint",
    "ensure_uncordoned",
    "post_event",
    "read_node_facts",
]
