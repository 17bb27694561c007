"""One node's reboot cycle: cordon → drain → authorize the reboot → verify → uncordon, resumable at every step.

A cycle runs as one task per started request. Each step acts on the phase stored in the request and ends by
writing the next phase with a compare-and-swap on the request's resourceVersion. The request is read at the start
and after a write lost its race; after a write that won, the next step goes on from the object the write returned
(the stored object, so a read would only repeat it). So the phase in the API is the whole state: a cycle killed
at any point (kill -9, a lost leadership, a second replica) is resumed from the stored phase by whoever runs it
next, without cordoning or draining again needlessly and without forgetting whether the node was cordoned before
we came.

Rules kept here and in the steps (``starting``, ``returning``): a node is never authorized to reboot unless it is
cordoned and drained; a node cordoned before its cycle stays cordoned; a node we cordoned is uncordoned when its
cycle ends, whichever way it ends. What the cycle tells people (Events, notifications, metrics) is ``telling``'s.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from kubernetes_asyncio import client

from reboot_operator.api.policy import RebootPolicySpec
from reboot_operator.api.vocabulary import ACTIVE_PHASES, Phase
from reboot_operator.kube.statuses import REQUESTS, read
from reboot_operator.rollout import returning, starting
from reboot_operator.rollout.context import CycleContext
from reboot_operator.rollout.slots import release_slot
from reboot_operator.rollout.telling import Teller
from reboot_operator.rollout.world import Clock, World, utcnow
from reboot_operator.runtime.errors import Conflict, NodeGone
from reboot_operator.watch.observed import RequestView, marks_of, request_view

log = logging.getLogger(__name__)


@dataclass
class Cycle:
    """Runs the cycle of request ``name`` under policy ``policy`` until it ends or the task is cancelled."""

    api: client.ApiClient
    world: World
    name: str
    policy: str
    clock: Clock = utcnow
    starting: bool = False
    """True when the coordinator just claimed the slot for a decision made on ``decided_version`` of the request."""
    decided_version: str | None = None
    last_spec: RebootPolicySpec | None = None
    known: dict[str, Any] | None = None
    """The request as the decision to start it saw it: the first step's object instead of a read. If it changed
    since, the start's compare-and-swap fails and the cycle ends for a fresh decision, as a read would have."""
    known_marks: int | None = None
    """The labels and annotations of ``known`` (``RequestView.marks``), when ``known`` is a view's, which does not
    carry them."""
    ctx: CycleContext = field(init=False)

    def __post_init__(self) -> None:
        teller = Teller(api=self.api, world=self.world, name=self.name, policy=self.policy, clock=self.clock)
        self.ctx = CycleContext(
            api=self.api,
            world=self.world,
            name=self.name,
            policy=self.policy,
            clock=self.clock,
            tell=teller,
            last_spec=self.last_spec,
        )

    async def run(self) -> None:
        ctx = self.ctx
        while True:
            body, ctx.written = ctx.written or self.known or await read(self.api, REQUESTS, self.name), None
            self.known = None
            if body is None:
                log.info("request %s is gone; releasing its slot in %s", self.name, self.policy)
                await release_slot(self.api, self.policy, self.name, completed_at=None)
                return
            view = request_view(body)
            if view is None:
                return
            ctx.tell.uid = view.uid
            try:
                done = await self._step(body, view)
            except Conflict as conflict:
                log.debug("request %s changed under us (%s); re-reading", self.name, conflict)
                ctx.written = None
                continue
            except NodeGone:
                log.warning("node %s vanished during its cycle; the coordinator will clean up", self.name)
                self.world.kick()
                return
            if done:
                self.world.kick()
                return

    async def _step(self, body: dict[str, Any], view: RequestView) -> bool:
        """Carries out one phase; returns True when the cycle has ended."""
        ctx = self.ctx
        phase = view.status.phase
        is_start, self.starting = self.starting, False
        if phase not in ACTIVE_PHASES:
            if is_start and view.resource_version != self.decided_version:
                # The request changed after the decision to start it (another replica may have run its cycle
                # meanwhile): start nothing. The claim stays; the next decision resumes or releases it.
                log.info("request %s changed since it was chosen to start; deciding again", self.name)
                return True
            node = self.world.node(self.name)
            asked = bool(view.spec.reasons) or (node is not None and node.reboot_now is not None)
            if not is_start or not asked:
                # Fail-closed: only a decision starts a node (it checked windows, the budget, maxConcurrent). A
                # cycle resumed for a request in progress that finds it not in progress (it ended, or was deleted
                # and made again meanwhile), or a request withdrawn (no reason, no reboot-now) before its claim was
                # acted on: a claim left behind, freed.
                await release_slot(self.api, self.policy, self.name, completed_at=None)
                return True
            try:
                await starting.start(ctx, body, view)
            except Conflict:
                # Changed since the decision: most often only by the coordinator's own rewrite of why it waits (a
                # write queued before the decision, landing after it). Then the decision stands, and the start is
                # made on the newer version; anything more, and the next decision decides again.
                fresh = await read(self.api, REQUESTS, self.name)
                again = request_view(fresh) if fresh is not None else None
                if fresh is None or again is None or not _decided_alike(body, fresh, self.known_marks):
                    log.info("request %s changed since it was chosen to start; deciding again", self.name)
                    return True
                try:
                    await starting.start(ctx, fresh, again)
                except Conflict:
                    log.info("request %s keeps changing since it was chosen to start; deciding again", self.name)
                    return True
            return False
        spec = ctx.spec()
        if spec is None:
            return await returning.policy_gone(ctx, body, view)
        if phase is Phase.CORDONING:
            await starting.cordon(ctx, body, view, spec)
        elif phase is Phase.DRAINING:
            await starting.drain(ctx, body, view, spec)
        elif phase is Phase.REBOOTING:
            await returning.await_reboot(ctx, body, view, spec.reboot)
        elif phase is Phase.VERIFYING:
            await returning.verify(ctx, view, spec.reboot)
        elif phase is Phase.UNCORDONING:
            await returning.finish(ctx, body, view, spec.node_labels, view.status)
            return True
        return False


def _decided_alike(decided: dict[str, Any], now: dict[str, Any], marks: int | None = None) -> bool:
    """Whether ``now`` is the request a start was decided on, but for what the coordinator writes while it waits
    (its message and conditions): the same object (uid), need (generation and spec), phase, policy and answered
    report, the same labels and annotations (none, when the decided object carries none; ``marks``, when given:
    the decided object is a watched view's, which carries them only as ``RequestView.marks``), and the same metadata
    besides, as far as the decided object carries it. A request started, ended, withdrawn or edited meanwhile is
    not."""
    was, is_ = decided.get("metadata") or {}, now.get("metadata") or {}
    before, after = request_view(decided), request_view(now)
    return (
        before is not None
        and after is not None
        and all(is_.get(key) == value for key, value in was.items() if key != "resourceVersion")
        and (
            marks_of(is_) == marks
            if marks is not None
            else all((was.get(key) or {}) == (is_.get(key) or {}) for key in ("labels", "annotations"))
        )
        and "deletionTimestamp" not in is_
        and before.spec == after.spec
        and before.status.phase is after.status.phase
        and before.status.policy == after.status.policy
        and before.status.observed_generation == after.status.observed_generation
    )
