"""Which policy governs which node: of the policies selecting a node, the one with the highest priority. A tie at
the top is a conflict: the node is governed by none of them, and is reported until someone resolves it.

Thousands of nodes usually share a handful of label combinations on the keys the selectors look at, so each
combination is decided once.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reboot_operator.core.selector import Selector


@dataclass(frozen=True, slots=True)
class Claim:
    """A policy's claim on nodes: its name, priority and compiled node selector."""

    policy: str
    priority: int
    selector: Selector


@dataclass(frozen=True, slots=True)
class Governance:
    governing: dict[str, str]
    """Node name → the policy governing it."""
    conflicts: dict[str, tuple[str, ...]]
    """Node name → the tied policies (sorted) that all select it with the top priority."""
    selected: Counter[str]
    """Policy name → how many nodes it governs."""


def govern(claims: Sequence[Claim], node_labels: Mapping[str, Mapping[str, str]]) -> Governance:
    """Decides every node's governing policy from the claims and each node's labels."""
    ranked = sorted(claims, key=lambda c: (-c.priority, c.policy))
    keys = tuple(sorted(set().union(*(c.selector.keys for c in ranked))))
    # Nodes alike on every key a selector looks at are governed alike: group them, decide each group once.
    groups: defaultdict[tuple[str | None, ...], list[str]] = defaultdict(list)
    for node, labels in node_labels.items():
        groups[tuple(map(labels.get, keys))].append(node)
    governing: dict[str, str] = {}
    conflicts: dict[str, tuple[str, ...]] = {}
    selected: Counter[str] = Counter()
    for members in groups.values():
        found = outcome(ranked, node_labels[members[0]])
        if isinstance(found, str):
            governing.update(dict.fromkeys(members, found))
            selected[found] += len(members)
        elif found is not None:
            conflicts.update(dict.fromkeys(members, found))
    return Governance(governing=governing, conflicts=conflicts, selected=selected)


def outcome(ranked: Sequence[Claim], labels: Mapping[str, str]) -> str | tuple[str, ...] | None:
    """Of ``ranked`` claims (highest priority first), the one selecting ``labels``: the winning policy's name, the
    tied names, or None when no policy selects these labels."""
    winners: list[str] = []
    top: int | None = None
    for claim in ranked:
        if top is not None and claim.priority < top:
            break
        if claim.selector.matches(labels):
            top = claim.priority
            winners.append(claim.policy)
    if not winners:
        return None
    return winners[0] if len(winners) == 1 else tuple(winners)
