"""The first half of a cycle, up to the reboot: start (record the start and the node's cordon as found), cordon,
drain, and authorize the reboot. A node is authorized to reboot only once it is cordoned and drained."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from reboot_operator.api.common import ConditionStatus
from reboot_operator.api.policy import OnDrainTimeout, RebootPolicySpec, RebootSpec
from reboot_operator.api.request import NodeRebootRequestStatus, kernel_transition
from reboot_operator.api.vocabulary import Phase, RequestConditionType
from reboot_operator.core.conditions import ConditionIntent, merge_conditions
from reboot_operator.kube import nodes as node_effects
from reboot_operator.kube.drain import drain_node
from reboot_operator.kube.drain_types import AfterDrain, DrainOptions, DrainProgress, after_drain
from reboot_operator.kube.nodes import Cordon
from reboot_operator.kube.options import drain_options, labels_before_reboot, own_pod, seconds
from reboot_operator.kube.statuses import REQUESTS, replace_status, update_status, with_fields
from reboot_operator.rollout.context import CycleContext
from reboot_operator.rollout.drain_progress import DrainReporter, drain_status
from reboot_operator.runtime.errors import Conflict, NodeGone
from reboot_operator.watch.observed import RequestView, request_view

log = logging.getLogger(__name__)

MAX_RECORDONS = 3
"""How often a node uncordoned behind our back during its drain is cordoned and drained again before giving up."""


async def start(ctx: CycleContext, body: dict[str, Any], view: RequestView) -> None:
    """The slot is ours: record the start (and whether the node was already cordoned), then cordon."""
    node = ctx.world.node(ctx.name)
    if node is None:
        raise NodeGone(ctx.name)
    now = ctx.clock()
    status = NodeRebootRequestStatus(
        phase=Phase.CORDONING,
        policy=ctx.policy,
        message="cordoning",
        was_unschedulable=node.facts.unschedulable,
        boot_id_before=node.facts.boot_id,
        kernel_before=node.kernel,
        kernel=kernel_transition(node.kernel, None),
        queued_at=view.status.queued_at or now,
        started_at=now,
        attempts=0,
        observed_generation=view.generation,
        # Waiting turns False (it stays so through the cycle and after), so `kubectl wait` sees the start.
        conditions=merge_conditions(
            view.status.conditions,
            [ConditionIntent(RequestConditionType.WAITING, ConditionStatus.FALSE, "Started", "its cycle started")],
            now=now,
            generation=view.generation,
        ),
    )
    ctx.written = await replace_status(ctx.api, REQUESTS, body, status.to_api())
    already = " (already cordoned by someone else; it stays cordoned)" if node.facts.unschedulable else ""
    log.info("node %s: starting its reboot cycle under policy %s%s", ctx.name, ctx.policy, already)
    ctx.tell.event("Started", f"reboot cycle started under policy {ctx.policy}{already}", status=status)


async def cordon(ctx: CycleContext, body: dict[str, Any], view: RequestView, spec: RebootPolicySpec) -> None:
    changes = labels_before_reboot(spec.node_labels)
    if changes:
        await node_effects.ensure_labels(ctx.api, ctx.name, changes)
    seen = ctx.world.node(ctx.name)
    cordoned = await node_effects.cordon_for(
        ctx.api,
        ctx.name,
        view.uid,
        seen_unschedulable=seen.facts.unschedulable if seen is not None else None,
        seen_annotated=seen.annotated if seen is not None else True,
    )
    if cordoned is Cordon.CORDONED:
        ctx.tell.event("Cordoned", f"cordoned by policy {ctx.policy} for a reboot")
        ctx.tell.handoff(view.status.queued_at)
    # Cordoned already, not by this cycle, though the start saw it schedulable: someone cordoned it in the
    # moment before (the watch had not shown it yet). It is theirs, so it stays cordoned afterwards.
    theirs = cordoned is Cordon.THEIRS and not view.status.was_unschedulable
    if theirs:
        log.warning("node %s: cordoned by someone else just before its cycle; it stays cordoned", ctx.name)
    # Only we put the reboot-pending taint on, and only under a policy that asks for it: under one that does not,
    # a node the watch shows untainted has none, and the read that pins its taints is spared.
    if spec.prefer_no_schedule_taint or seen is None or seen.pending_taint:
        await node_effects.ensure_no_taint(ctx.api, ctx.name)
    await ctx.transition(
        body, view, phase=Phase.DRAINING, message="draining", **({"was_unschedulable": True} if theirs else {})
    )
    ctx.tell.event("Draining", "evicting pods before the reboot")


async def drain(ctx: CycleContext, body: dict[str, Any], view: RequestView, spec: RebootPolicySpec) -> None:
    """Drain, then authorize the reboot; or hand the node back if the drain cannot finish."""
    options = drain_options(spec.drain, evict_last=own_pod(os.environ))
    reporter = DrainReporter(ctx.api, ctx.name, ctx.tell, latest_written=lambda: ctx.written or body, wrote=ctx.wrote)
    began = ctx.clock()
    await _drain_and_authorize(ctx, body, view, spec, options, reporter)
    ctx.tell.drained((ctx.clock() - began).total_seconds())


async def _drain_and_authorize(
    ctx: CycleContext,
    body: dict[str, Any],
    view: RequestView,
    spec: RebootPolicySpec,
    options: DrainOptions,
    reporter: DrainReporter,
) -> None:
    for _ in range(MAX_RECORDONS):
        result = await drain_node(ctx.api, ctx.name, options, on_progress=reporter.report, clock=ctx.clock)
        reboot_on_timeout = spec.drain.on_timeout is OnDrainTimeout.REBOOT
        if after_drain(result.outcome, reboot_on_timeout=reboot_on_timeout) is not AfterDrain.REBOOT:
            why = "drain timed out (onTimeout Abort)" if result.timed_out else "drain failed"
            await ctx.give_back(view, spec.node_labels, f"{why}: {result.error}")
            return
        if await ctx.held():
            return  # resumed: the step runs again from the request as stored, and finds the node drained
        facts = await node_effects.read_node_facts(ctx.api, ctx.name)
        if facts.unschedulable:
            note = "" if result.completed else f"; drain timed out, rebooting anyway (onTimeout Reboot): {result.error}"
            await _authorize(ctx, ctx.written or body, view, spec.reboot, reporter.latest, note=note)
            return
        # Someone uncordoned the node during its drain: cordon it again and drain whatever came back.
        if view.status.was_unschedulable:  # an admin's cordon, lifted meanwhile: cordon again, unmarked
            await node_effects.ensure_cordoned(ctx.api, ctx.name)
        else:
            await node_effects.cordon_for(ctx.api, ctx.name, view.uid)
        ctx.tell.event("Recordoned", "the node was uncordoned during its drain; cordoned and draining again")
    await ctx.give_back(view, spec.node_labels, "the node kept being uncordoned during its drain")


async def _authorize(
    ctx: CycleContext,
    known: dict[str, Any],
    view: RequestView,
    reboot: RebootSpec,
    progress: DrainProgress | None,
    *,
    note: str = "",
) -> None:
    delay = seconds(reboot.delay)
    if delay > 0:
        await asyncio.sleep(delay)
    node = ctx.world.node(ctx.name)
    if node is None:
        raise NodeGone(ctx.name)
    now = ctx.clock()
    attempt = (view.status.attempts or 0) + 1

    def change(fresh: dict[str, Any]) -> dict[str, Any] | None:
        current = request_view(fresh)
        if current is None or current.status.phase is not Phase.DRAINING:
            raise Conflict("no longer draining")
        # The reboot answers every reason reported so far: the spec generation it serves is the current one.
        return with_fields(
            current.status,
            phase=Phase.REBOOTING,
            observed_generation=current.generation,
            message=f"reboot authorized (attempt {attempt}){note}",
            approval={"boot_id": node.facts.boot_id, "approved_at": now, "attempt": attempt},
            reboot_approved_at=now,
            attempts=attempt,
            **({"drain": drain_status(progress)} if progress is not None else {}),
        )

    # From the request as last written (the drain's progress, or the Draining step): a change since costs a 409
    # and a read, never an approval on stale grounds, since the compare-and-swap pins its resourceVersion.
    ctx.written = await update_status(ctx.api, REQUESTS, ctx.name, change, known=known)
    ctx.tell.event("RebootAuthorized", f"the agent may reboot the node (boot {node.facts.boot_id})", status=view.status)
