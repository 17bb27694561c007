"""The slots of a policy's maxConcurrent, claimed and released by compare-and-swap on its ``status.slots``.

A slot is claimed before a node is cordoned and released after the node is handed back. Both are read-modify-write
loops on the policy's status carrying the resourceVersion they read (``statuses.update_status``), so two operator
replicas, or one restarted halfway, can never both take the last slot. Both start from the policy as the caller
last saw it, when it has a view of it, instead of reading it first: on the path from one node's end to the next
node's start every read counts, and a stale view costs a 409 and a read, never a second claim.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence, Set
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio import client

from reboot_operator.api.policy_status import FailureBudgetStatus, RebootPolicyStatus
from reboot_operator.kube.statuses import POLICIES, update_status
from reboot_operator.runtime.errors import Conflict
from reboot_operator.watch.observed import PolicyView

FAILED_NODES_KEPT = 1000
"""How many failed nodes the failure budget names, the latest ones."""


@dataclass
class Summary:
    """The policy's status as the decision describes it (counts, queue, window, conditions), for the claim to write
    in the same compare-and-swap: one write per hand-off instead of a claim and then a summary."""

    status: RebootPolicyStatus
    written: bool = False
    """Whether the claim wrote it: only on the very version of the policy the decision was made on."""


async def claim_slots(
    api: client.ApiClient,
    policy: PolicyView,
    requests: Sequence[str],
    *,
    capacity: int,
    running: Set[str],
    summary: Summary | None = None,
) -> list[str]:
    """Take slots of ``policy`` for ``requests``, in their order, in one write; the ones that hold a slot now (also
    those that already did). A decision starting several nodes of a policy claims them together: one
    compare-and-swap, not one per node racing the others.

    Refused (none taken) when the policy was edited since the decision (decide again with the new spec); when the
    slots run out, the requests further on get none. Slots are taken by claims and by requests already ``running``
    under the policy.

    ``summary``, when given, is written with the claim if the policy is still the version ``policy`` shows (the one
    it was made from); on any other version the claim changes only the slots, as without it. The slots are counted
    from the stored status either way.
    """
    won: list[str] = []
    carried = False  # whether the change last made carries the summary
    if summary is not None:
        summary.written = False

    def change(fresh: dict[str, Any]) -> dict[str, Any] | None:
        nonlocal carried
        won.clear()
        carried = False
        metadata = fresh.get("metadata") or {}
        if metadata.get("generation") != policy.generation:
            return None
        status = RebootPolicyStatus.model_validate(fresh.get("status") or {})
        held = list(status.slots)
        taken = set(held) | running
        claimed = []
        for request in requests:
            if request in held:
                won.append(request)
            elif len(taken) < capacity:
                taken.add(request)
                claimed.append(request)
                won.append(request)
        if not claimed:
            return None
        carried = summary is not None and metadata.get("resourceVersion") == policy.resource_version
        base = summary.status if summary is not None and carried else status
        return base.model_copy(update={"slots": [*held, *claimed]}).to_api()

    try:
        await update_status(api, POLICIES, policy.name, change, known=policy.as_stored())
    except Conflict:
        return []
    if summary is not None and won and carried:
        summary.written = True
    return won


async def release_slot(
    api: client.ApiClient,
    policy: str,
    node: str,
    *,
    completed_at: datetime.datetime | None,
    failed: bool = False,
    seen: PolicyView | None = None,
) -> None:
    """Free ``node``'s slot in ``policy`` (compare-and-swap), recording the finish and counting a failure.

    ``seen``: the policy as the caller last saw it, tried first instead of a read."""

    def change(fresh: dict[str, Any]) -> dict[str, Any] | None:
        status = RebootPolicyStatus.model_validate(fresh.get("status") or {})
        if node not in status.slots and completed_at is None:
            return None
        update: dict[str, Any] = {"slots": [s for s in status.slots if s != node]}
        if completed_at is not None and node in status.slots:
            update["last_completion_at"] = completed_at.replace(microsecond=0)
            if failed:
                budget = status.failure_budget or FailureBudgetStatus()
                update["failure_budget"] = budget.model_copy(
                    update={
                        "failures": budget.failures + 1,
                        "failed_nodes": [*budget.failed_nodes, node][-FAILED_NODES_KEPT:],
                    }
                )
        return status.model_copy(update=update).to_api()

    known = seen.as_stored() if seen is not None and seen.name == policy else None
    await update_status(api, POLICIES, policy, change, known=known)
