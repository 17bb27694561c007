"""Blockers: what keeps nodes from starting their reboot while the cluster is unwell (kured's ``pkg/blockers``).

Each kind of blocker is one module with one small class: ``prometheus.py`` (active alerts hold back a whole
policy) and ``pods.py`` (matching pods hold back the node they run on). They only look; the decision core decides
what a block means for the queue (``decide(blocked_policies=…, blocked_nodes=…)``), and the coordinator asks them
only about policies with waiting nodes and about nodes it is about to start.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol


class Verdict(NamedTuple):
    """What a blocker found: whether it blocks, and why in words (which alerts, which pods, or what failed)."""

    blocked: bool
    reason: str = ""
    failed: bool = False
    """The check itself failed (e.g. Prometheus unreachable): blocked, since a blocker fails closed."""


CLEAR = Verdict(blocked=False)


class PolicyBlocker(Protocol):
    """Holds back every node of one policy (e.g. firing alerts)."""

    async def check(self) -> Verdict: ...


class NodeBlocker(Protocol):
    """Holds back one node (e.g. a pod running on it)."""

    async def check(self, node: str) -> Verdict: ...
