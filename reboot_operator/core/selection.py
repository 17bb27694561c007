"""How many nodes of a policy may run at once, and in which order waiting requests get a slot.

Deterministic and sticky, like system-upgrade-controller's node selection: a started request keeps its slot until
it finishes (even when maxConcurrent is lowered, it only holds back new starts), a request that claimed a slot in
the policy's status goes before the others, and waiting requests start oldest first (by the time they joined the
queue), ties broken by name.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from reboot_operator.core.facts import NodeFacts


def capacity(max_concurrent: int | str, selected: int) -> int:
    """Slots of a policy: a count, or a percentage of its selected nodes rounded down, at least 1."""
    if isinstance(max_concurrent, int):
        return max_concurrent
    percent = int(max_concurrent.rstrip("%"))
    return max(1, selected * percent // 100)


class Candidate(NamedTuple):
    """A request waiting to start. Tuples order by (rank, queued_at, name), the queue order: requests that already
    claimed a slot (rank 0, e.g. before an operator restart) go first."""

    rank: int
    queued_at: datetime
    name: str
    node: NodeFacts
    new_cycle: bool
