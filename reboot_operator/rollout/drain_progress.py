"""Drain progress, as users see it: the request's ``status.drain`` and message, and a DrainBlocked Event per pod.

Written only when the progress changes, best effort: a write that loses a race is skipped, the next one wins. The
reporter is given what it needs (the API, the request's name, a way to tell, the request as last written) rather
than the cycle that runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from kubernetes_asyncio import client

from reboot_operator.api.vocabulary import Phase
from reboot_operator.kube.drain_types import BlockReason, DrainProgress
from reboot_operator.kube.statuses import REQUESTS, update_status, with_fields
from reboot_operator.runtime.errors import Conflict
from reboot_operator.watch.observed import request_view

MAX_BLOCKING = 20
"""Blocking pods named in the status; the message names the first three."""


class Tells(Protocol):
    """Where DrainBlocked is told (``telling.Teller``)."""

    def event(self, reason: str, message: str, *, warning: bool = False) -> None: ...


class DrainReporter:
    """Writes drain progress into request ``name``'s status when it changes (best effort: a lost race is skipped).

    ``latest_written`` gives the request as the cycle last wrote it (the first write's object instead of a read),
    and ``wrote`` is told of each write, so the step after the drain goes on from it."""

    def __init__(
        self,
        api: client.ApiClient,
        name: str,
        tells: Tells,
        *,
        latest_written: Callable[[], dict[str, Any] | None] = lambda: None,
        wrote: Callable[[dict[str, Any]], None] = lambda _: None,
    ) -> None:
        self.api = api
        self.name = name
        self.tells = tells
        self.latest_written = latest_written
        self.wrote = wrote
        self.latest: DrainProgress | None = None
        self._blocked: frozenset[str] = frozenset()

    async def report(self, progress: DrainProgress) -> None:
        """Write ``progress`` while the drain goes on. The drain's last word (nothing left, nothing blocking) is not
        written here: the approval that follows at once writes it with the phase (``drain_status``), one write."""
        self.latest = progress
        if progress.remaining == 0 and not progress.blocking:
            return
        drain = drain_status(progress)
        blocking = drain["blocking_pods"]
        message = f"draining: {progress.remaining} of {progress.total} pods left"
        if blocking:
            message += "; blocked by " + ", ".join(
                f"{b['namespace']}/{b['name']} ({b['reason']})" for b in blocking[:3]
            )

        def change(fresh: dict[str, Any]) -> dict[str, Any] | None:
            current = request_view(fresh)
            if current is None or current.status.phase is not Phase.DRAINING:
                return None
            desired = with_fields(current.status, drain=drain, message=message)
            return None if desired == current.status.to_api() else desired

        try:
            written = await update_status(self.api, REQUESTS, self.name, change, known=self.latest_written())
        except Conflict:
            return
        if written is not None:
            self.wrote(written)
        blocked = frozenset(f"{b['namespace']}/{b['name']}" for b in blocking)
        for pod in sorted(blocked - self._blocked):
            detail = next(b for b in blocking if f"{b['namespace']}/{b['name']}" == pod)
            self.tells.event("DrainBlocked", f"pod {pod} cannot be evicted yet: {detail['reason']}", warning=True)
        self._blocked = blocked


def drain_status(progress: DrainProgress) -> dict[str, Any]:
    """The request's ``status.drain`` for ``progress`` (field names as the status model's)."""
    blocking = [
        {
            "namespace": b.namespace,
            "name": b.name,
            "reason": (f"{b.describe()}: {b.message}" if b.message else b.describe())[:1024],
            **({"pdb": b.detail} if b.reason is BlockReason.POD_DISRUPTION_BUDGET and b.detail else {}),
        }
        for b in progress.blocking[:MAX_BLOCKING]
    ]
    return {"pods_total": progress.total, "pods_remaining": progress.remaining, "blocking_pods": blocking}
