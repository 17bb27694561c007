"""What a Node is to the operator: the slim parsed view the informers keep (``NodeView``), the taint it may put on a
node, and the annotation that marks rollboot's own cordon. Parsing happens here, once per watch event; the effects
in ``nodes.py`` and the decisions read the view.
"""

from __future__ import annotations

import datetime
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from reboot_operator.api.controls import CANCEL, REBOOT_NOW, SKIP, parse_skip
from reboot_operator.core.facts import NodeFacts


class TaintEffect(StrEnum):
    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


@dataclass(frozen=True)
class Taint:
    """A node taint. Two taints are the same taint when key and effect match (as the scheduler and kubectl see it)."""

    key: str
    value: str = ""
    effect: TaintEffect = TaintEffect.PREFER_NO_SCHEDULE

    def to_json(self) -> dict[str, str]:
        body = {"key": self.key, "effect": str(self.effect)}
        if self.value:
            body["value"] = self.value
        return body

    def same_slot(self, raw: Mapping[str, Any]) -> bool:
        return raw.get("key") == self.key and raw.get("effect") == str(self.effect)

    def equals(self, raw: Mapping[str, Any]) -> bool:
        return self.same_slot(raw) and (raw.get("value") or "") == self.value


_EFFECTS = frozenset(effect.value for effect in TaintEffect)

REBOOT_PENDING_TAINT = Taint(key="rollboot.dev/reboot-pending", effect=TaintEffect.PREFER_NO_SCHEDULE)

CORDON_MARK = "rollboot.dev/cordoned-by"
"""The annotation on a node we cordoned: the uid of the request whose cycle did it."""


@dataclass(frozen=True)  # not slots: on Python 3.11 assigning a property of a frozen slots class is a TypeError
class NodeView:
    """A node as far as reboots go: the decision's facts plus what a cycle reads and records. The one parsed form of
    a Node (``node_view``): the informers keep one per node (never whole Nodes: a cluster has thousands, and
    heartbeats change them constantly), and ``read_node_facts`` returns one."""

    facts: NodeFacts
    kernel: str
    uid: str
    taints: tuple[Taint, ...] = ()
    annotated: bool = True
    """Whether it has annotations (real nodes do): how our cordon mark is added without reading the node first."""
    cordon_mark: str | None = None
    """Our cordon mark (``rollboot.dev/cordoned-by``: the uid of the request whose cycle cordoned it), if any."""
    reboot_now: str | None = None
    """The value of an admin's ``rollboot.dev/reboot-now``: the removal once its cycle started pins it."""
    ready_since: datetime.datetime | None = None
    """When the Ready condition last changed."""

    @property
    def name(self) -> str:
        return self.facts.name

    @property
    def labels(self) -> Mapping[str, str]:
        return self.facts.labels

    @property
    def unschedulable(self) -> bool:
        return self.facts.unschedulable

    @property
    def ready(self) -> bool:
        return self.facts.ready

    @property
    def boot_id(self) -> str:
        return self.facts.boot_id

    @property
    def pending_taint(self) -> bool:
        """Whether the node carries the reboot-pending taint (preferNoScheduleTaint)."""
        pending = REBOOT_PENDING_TAINT
        return any(taint.key == pending.key and taint.effect == pending.effect for taint in self.taints)


def node_view(body: Mapping[str, Any]) -> NodeView:
    """Parse a Node's JSON (from a watch event, a listing or a GET)."""
    metadata = body.get("metadata") or {}
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    info = status.get("nodeInfo") or {}
    ready: Mapping[str, Any] = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    since = ready.get("lastTransitionTime")
    annotations = metadata.get("annotations") or {}
    return NodeView(
        facts=NodeFacts(
            name=_shared(metadata.get("name", "")),
            labels={key: _shared(value) for key, value in (metadata.get("labels") or {}).items()},
            ready=ready.get("status") == "True",
            unschedulable=bool(spec.get("unschedulable")),
            boot_id=info.get("bootID", ""),
            skip=parse_skip(annotations.get(SKIP)),
            reboot_now=REBOOT_NOW in annotations,
            cancel=CANCEL in annotations,
        ),
        kernel=_shared(info.get("kernelVersion", "")),
        uid=metadata.get("uid", ""),
        taints=tuple(
            Taint(key=t.get("key", ""), value=t.get("value") or "", effect=TaintEffect(t.get("effect")))
            for t in spec.get("taints") or []
            if t.get("effect") in _EFFECTS
        ),
        annotated=bool(annotations),
        cordon_mark=annotations.get(CORDON_MARK),
        reboot_now=annotations.get(REBOOT_NOW),
        ready_since=datetime.datetime.fromisoformat(since) if since else None,
    )


def _shared(value: Any) -> Any:
    """One copy of a string many nodes hold (a pool's label value, a kernel version; and a node's name, which is also
    its hostname label's value): 15,000 nodes' views are kept for as long as the operator runs."""
    return sys.intern(value) if type(value) is str else value
