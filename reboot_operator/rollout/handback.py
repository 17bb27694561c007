"""Ending a cycle early and giving its node back: one effect, whether the cycle failed or an admin cancelled it.

- ``end_cycle`` writes the request's final phase (Failed or Cancelled) by a compare-and-swap that only the phases
  it may end from pass, clears the approval and stamps the end, so a cycle racing to authorize the reboot and the
  ending never both win;
- ``give_node_back`` uncordons the node unless it was cordoned before its cycle, and undoes the preReboot labels.

The caller frees the slot (``slots.release_slot``) and tells it. Each step is idempotent: run twice, or again after
a crash, it finds the work done and does nothing.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Set
from typing import Any

from kubernetes_asyncio import client

from reboot_operator.api.policy import NodeLabels
from reboot_operator.api.vocabulary import Phase
from reboot_operator.kube import nodes as node_effects
from reboot_operator.kube.options import labels_given_back
from reboot_operator.kube.statuses import REQUESTS, update_status, with_fields
from reboot_operator.runtime.errors import NodeGone
from reboot_operator.watch.observed import RequestView, request_view


async def end_cycle(
    api: client.ApiClient,
    name: str,
    *,
    phase: Phase,
    message: str,
    now: datetime.datetime,
    ending: Set[Phase],
    observed_generation: int | None = None,
    answer_latest: bool = False,
    known: dict[str, Any] | None = None,
) -> RequestView | None:
    """Write request ``name`` ended in ``phase`` if it is still in one of the ``ending`` phases; the request as
    written, or None when it had moved on or is gone.

    The ended request marks the agent's report as answered (the reboot-loop guard: the same need does not start a
    new cycle by itself) when ``observed_generation`` is given, or, with ``answer_latest``, its latest report."""
    wrote = False

    def change(fresh: dict[str, Any]) -> dict[str, Any] | None:
        nonlocal wrote
        current = request_view(fresh)
        wrote = current is not None and current.status.phase in ending
        if current is None or not wrote:
            return None
        seen = current.generation if answer_latest else observed_generation or current.status.observed_generation
        return with_fields(
            current.status, phase=phase, message=message, completed_at=now, approval=None, observed_generation=seen
        )

    written = await update_status(api, REQUESTS, name, change, known=known)
    return request_view(written) if written is not None and wrote else None


async def give_node_back(
    api: client.ApiClient, node: str, *, was_unschedulable: bool | None, labels: NodeLabels | None
) -> bool:
    """Uncordon ``node`` unless it was cordoned before its cycle, and undo the preReboot labels; True when this
    call uncordoned it. A node that is gone has nothing to give back."""
    uncordoned = False
    if not was_unschedulable:
        with contextlib.suppress(NodeGone):
            uncordoned = await node_effects.ensure_uncordoned(api, node)
    if labels is not None and labels.pre_reboot:
        with contextlib.suppress(NodeGone):
            await node_effects.ensure_labels(api, node, labels_given_back(labels))
    return uncordoned
