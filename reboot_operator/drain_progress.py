"""Drain progress, as users see it: the request's ``status.drain`` and message, and a DrainBlocked Event per pod.

Written only when the progress changes, best effort: a write that loses a race is skipped, the next one wins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reboot_operator.api.vocabulary import Phase
from reboot_operator.kube.drain_types import DrainProgress
from reboot_operator.observed import request_view
from reboot_operator.runtime.errors import Conflict
from reboot_operator.statuses import REQUESTS, update_status, with_fields

if TYPE_CHECKING:
    from reboot_operator.cycle import Cycle


class DrainReporter:
    """Writes drain progress into the request's status when it changes (best effort: a lost race is skipped)."""

    def __init__(self, cycle: Cycle) -> None:
        self.cycle = cycle
        self.latest: DrainProgress | None = None
        self._blocked: frozenset[str] = frozenset()

    async def report(self, progress: DrainProgress) -> None:
        self.latest = progress
        blocking = [
            {
                "namespace": b.namespace,
                "name": b.name,
                "reason": (f"{b.describe()}: {b.message}" if b.message else b.describe())[:1024],
                **({"pdb": b.detail} if b.reason.value == "PodDisruptionBudget" and b.detail else {}),
            }
            for b in progress.blocking[:20]
        ]
        message = f"draining: {progress.remaining} of {progress.total} pods left"
        if blocking:
            message += "; blocked by " + ", ".join(
                f"{b['namespace']}/{b['name']} ({b['reason']})" for b in blocking[:3]
            )

        def change(fresh: dict[str, Any]) -> dict[str, Any] | None:
            current = request_view(fresh)
            if current is None or current.status.phase is not Phase.DRAINING:
                return None
            drain = {"pods_total": progress.total, "pods_remaining": progress.remaining, "blocking_pods": blocking}
            return with_fields(current.status, drain=drain, message=message)

        try:
            await update_status(self.cycle.api, REQUESTS, self.cycle.name, change)
        except Conflict:
            return
        blocked = frozenset(f"{b['namespace']}/{b['name']}" for b in blocking)
        for pod in sorted(blocked - self._blocked):
            detail = next(b for b in blocking if f"{b['namespace']}/{b['name']}" == pod)
            await self.cycle.event("DrainBlocked", f"pod {pod} cannot be evicted yet: {detail['reason']}", warning=True)
        self._blocked = blocked
