"""The second half of a cycle, from the reboot on: wait for the node to come back with a new boot ID, verify it
(Ready for the whole soak, the need cleared, or another attempt), and finish (uncordon if we cordoned, free the
slot). Also the end of a cycle whose policy was deleted. A node we cordoned is uncordoned whichever way it ends."""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Awaitable
from typing import Any

from reboot_operator.api.policy import NodeLabels, RebootSpec
from reboot_operator.api.request import NodeRebootRequestStatus, kernel_transition
from reboot_operator.api.vocabulary import Phase
from reboot_operator.kube import nodes as node_effects
from reboot_operator.kube.options import labels_after_reboot, seconds
from reboot_operator.kube.statuses import REQUESTS, read
from reboot_operator.rollout.context import CycleContext
from reboot_operator.rollout.handback import give_node_back
from reboot_operator.rollout.slots import release_slot
from reboot_operator.rollout.telling import Result
from reboot_operator.watch.observed import RequestView, request_view

log = logging.getLogger(__name__)


async def await_reboot(ctx: CycleContext, body: dict[str, Any], view: RequestView, reboot: RebootSpec) -> None:
    """Wait for a new boot ID, event-driven, until reboot.timeout after the approval."""
    approval = view.status.approval
    if approval is None:  # written together with the phase; only a hand-edited status lacks it
        await ctx.give_back(view, None, "phase Rebooting without an approval")
        return
    deadline = approval.approved_at + datetime.timedelta(seconds=seconds(reboot.timeout))
    node = await ctx.wait_node(lambda n: n.facts.boot_id not in ("", approval.boot_id), deadline)
    if node is None:
        await ctx.give_back(
            view, None, f"the node did not come back with a new boot ID within {reboot.timeout} of the approval"
        )
        return
    await ctx.transition(
        body,
        view,
        phase=Phase.VERIFYING,
        message="back with a new boot ID; verifying",
        boot_id_after=node.facts.boot_id,
        kernel_after=node.kernel,
        kernel=kernel_transition(view.status.kernel_before, node.kernel),
    )
    ctx.tell.event("NodeReturned", f"back with boot ID {node.facts.boot_id}, kernel {node.kernel}")


async def verify(ctx: CycleContext, view: RequestView, reboot: RebootSpec) -> None:
    """Ready for the whole soak, then: did the reboot clear the need? If not, try again up to maxAttempts."""
    approval = view.status.approval
    timeout = datetime.timedelta(seconds=seconds(reboot.timeout))
    started = approval.approved_at if approval is not None else ctx.clock()
    soak = seconds(reboot.soak)
    while True:
        node = await ctx.wait_node(lambda n: n.facts.ready, started + timeout)
        if node is None:
            await ctx.give_back(view, None, f"the node was not Ready within {reboot.timeout} of the approval")
            return
        if soak <= 0 or await _stays_ready(ctx, soak):
            break
    fresh = await read(ctx.api, REQUESTS, ctx.name)
    current = request_view(fresh) if fresh is not None else None
    if current is None:
        return
    node = ctx.world.node(ctx.name)
    survived = bool(current.spec.reasons) and node is not None and current.spec.boot_id == node.facts.boot_id
    if not survived:
        assert fresh is not None
        await ctx.transition(fresh, current, phase=Phase.UNCORDONING, message="uncordoning")
        return
    attempts = current.status.attempts or 1
    if attempts >= reboot.max_attempts:
        await ctx.give_back(
            current,
            None,
            f"the reboot-required sentinel survived {attempts} reboots (maxAttempts {reboot.max_attempts})",
            observed_generation=current.generation,
        )
        return
    assert fresh is not None
    assert node is not None
    if not (await node_effects.read_node_facts(ctx.api, ctx.name)).unschedulable:
        # Fail-closed: a reboot is authorized only on a cordoned, drained node. Uncordoned while it rebooted,
        # it may run pods again: cordon and drain it before the next attempt.
        await ctx.transition(
            fresh,
            current,
            phase=Phase.CORDONING,
            message="the sentinel survived; uncordoned meanwhile, so "
            "cordoning and draining again before the next reboot",
        )
        return
    if await ctx.held():
        return
    now = ctx.clock()
    await ctx.transition(
        fresh,
        current,
        phase=Phase.REBOOTING,
        message=f"the sentinel survived the reboot; reboot authorized again (attempt {attempts + 1})",
        observed_generation=current.generation,
        approval={"boot_id": node.facts.boot_id, "approved_at": now, "attempt": attempts + 1},
        reboot_approved_at=now,
        attempts=attempts + 1,
    )
    ctx.tell.event("RebootAuthorized", f"the sentinel survived; attempt {attempts + 1}", warning=True)


async def _stays_ready(ctx: CycleContext, soak: float) -> bool:
    deadline = ctx.clock() + datetime.timedelta(seconds=soak)
    return await ctx.wait_node(lambda n: not n.facts.ready, deadline) is None


async def finish(
    ctx: CycleContext, body: dict[str, Any], view: RequestView, labels: NodeLabels, status: NodeRebootRequestStatus
) -> None:
    uncordoned = not status.was_unschedulable and await node_effects.ensure_uncordoned(
        ctx.api, ctx.name, seen_unschedulable=ctx.seen_unschedulable(), seen_mark=view.uid
    )
    now = ctx.clock()
    kernel = kernel_transition(status.kernel_before, status.kernel_after)
    try:
        changes = labels_after_reboot(labels)
        if changes:
            await node_effects.ensure_labels(ctx.api, ctx.name, changes)
        # The next node waits for both writes, and neither needs the other: the request, still Uncordoning until
        # its write lands, holds its place in maxConcurrent by its phase even once its slot is freed. A crash
        # between the two resumes from Uncordoning, which finishes again (uncordoned, so no second uncordon).
        await _both(
            ctx.transition(body, view, phase=Phase.COMPLETED, message=f"rebooted: kernel {kernel}", completed_at=now),
            release_slot(ctx.api, ctx.policy, ctx.name, completed_at=now, seen=ctx.world.policy(ctx.policy)),
        )
    finally:
        # Told once the writes that let the next node start are made (its two Events do not compete with them),
        # and told even if they fail: the step done again finds the node uncordoned and would not tell it.
        if uncordoned:
            ctx.tell.event("Uncordoned", "reboot verified; the node is schedulable again")
    log.info("node %s: reboot cycle completed (kernel %s)", ctx.name, kernel)
    ctx.tell.ended(status, Result.COMPLETED, now)
    ctx.tell.event("Completed", f"reboot cycle completed; kernel {kernel}", status=status, now=now)


async def policy_gone(ctx: CycleContext, body: dict[str, Any], view: RequestView) -> bool:
    """The policy was deleted and we never knew its spec: hand the node back and cancel the cycle (True: it ended)."""
    await give_node_back(ctx.api, ctx.name, was_unschedulable=view.status.was_unschedulable, labels=None)
    await ctx.transition(
        body,
        view,
        phase=Phase.CANCELLED,
        message=f"policy {ctx.policy} was deleted during the cycle; node handed back",
        completed_at=ctx.clock(),
        approval=None,
    )
    return True


async def _both(first: Awaitable[None], second: Awaitable[None]) -> None:
    """Await two steps side by side; both run to their end, then the first failure (if any) is raised."""
    results = await asyncio.gather(first, second, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
