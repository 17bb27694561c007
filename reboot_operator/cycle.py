"""One node's reboot cycle: cordon → drain → authorize the reboot → verify → uncordon, resumable at every step.

A cycle runs as one task per started request. Each step acts on the phase stored in the request and ends by
writing the next phase with a compare-and-swap on the request's resourceVersion. The request is read at the start
and after a write lost its race; after a write that won, the next step goes on from the object the write returned
(the stored object, so a read would only repeat it). So the phase in the API is the whole state: a cycle killed
at any point (kill -9, a lost leadership, a second replica) is resumed from the stored phase by whoever runs it
next, without cordoning or draining again needlessly and without forgetting whether the node was cordoned before
we came.

Rules kept here: a node is never authorized to reboot unless it is cordoned and drained; a node cordoned before
its cycle stays cordoned; a node we cordoned is uncordoned when its cycle ends, whichever way it ends.

Each transition is told as a Kubernetes Event (``event``), once its write has won, so only by the replica whose
write won; Events are posted in the background (``kube.events.background``), in order, so that telling never
delays the next step. Started, RebootAuthorized, Completed and Failed are also notifications for the policy's
subscribers, and the cycle's durations and results are metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from kubernetes_asyncio import client

from reboot_operator import metrics
from reboot_operator.api.common import ConditionStatus
from reboot_operator.api.meta import API_VERSION
from reboot_operator.api.policy import NodeLabels, NotificationEvent, OnDrainTimeout, RebootPolicySpec, RebootSpec
from reboot_operator.api.request import NodeRebootRequestStatus, kernel_transition
from reboot_operator.api.vocabulary import ACTIVE_PHASES, Phase, RequestConditionType
from reboot_operator.core.conditions import ConditionIntent, merge_conditions
from reboot_operator.drain_progress import DrainReporter
from reboot_operator.kube import nodes as node_effects
from reboot_operator.kube.drain import drain_node
from reboot_operator.kube.drain_types import AfterDrain, DrainOptions, DrainProgress, after_drain
from reboot_operator.kube.events import EventType, ObjectRef, background
from reboot_operator.kube.nodes import Cordon
from reboot_operator.notify import Notice
from reboot_operator.observed import NodeView, PolicyView, RequestView, request_view
from reboot_operator.options import (
    drain_options,
    labels_after_reboot,
    labels_before_reboot,
    labels_given_back,
    own_pod,
    seconds,
)
from reboot_operator.runtime.errors import Conflict, NodeGone
from reboot_operator.slots import release_slot
from reboot_operator.statuses import REQUESTS, read, replace_status, update_status, with_fields

log = logging.getLogger(__name__)

MAX_RECORDONS = 3
"""How often a node uncordoned behind our back during its drain is cordoned and drained again before giving up."""


class World(Protocol):
    """What a cycle reads of the watched state, and how it waits for a node to change."""

    def node(self, name: str) -> NodeView | None: ...

    def policy(self, name: str) -> PolicyView | None: ...

    async def node_changed(self, name: str, timeout: float) -> None: ...

    def kick(self) -> None: ...

    def notify(self, notice: Notice) -> None: ...

    def stopped(self) -> str | None: ...

    async def resumed(self) -> None: ...


NOTIFIED = {
    "Started": NotificationEvent.STARTED,
    "RebootAuthorized": NotificationEvent.REBOOTING,
    "Completed": NotificationEvent.COMPLETED,
    "Failed": NotificationEvent.FAILED,
}
"""The Events that are also notifications, and as which event."""

Clock = Callable[[], datetime.datetime]


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


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
    _written: dict[str, Any] | None = None
    """The request as our last status write stored it, if nothing has been read since: the next step's object."""
    uid: str = ""
    """The request's uid, once read: its Events name it, so `kubectl describe noderebootrequest` lists them."""

    async def run(self) -> None:
        while True:
            body, self._written = self._written or self.known or await read(self.api, REQUESTS, self.name), None
            self.known = None
            if body is None:
                log.info("request %s is gone; releasing its slot in %s", self.name, self.policy)
                await release_slot(self.api, self.policy, self.name, completed_at=None)
                return
            view = request_view(body)
            if view is None:
                return
            self.uid = view.uid
            try:
                done = await self._step(body, view)
            except Conflict as conflict:
                log.debug("request %s changed under us (%s); re-reading", self.name, conflict)
                self._written = None
                continue
            except NodeGone:
                log.warning("node %s vanished during its cycle; the coordinator will clean up", self.name)
                self.world.kick()
                return
            if done:
                self.world.kick()
                return

    # -- the steps ----------------------------------------------------------------------------------------

    def _spec(self) -> RebootPolicySpec | None:
        current = self.world.policy(self.policy)
        if current is not None and current.spec is not None:
            self.last_spec = current.spec
        return self.last_spec

    async def _step(self, body: dict[str, Any], view: RequestView) -> bool:
        """Carries out one phase; returns True when the cycle has ended."""
        phase = view.status.phase
        starting, self.starting = self.starting, False
        if phase not in ACTIVE_PHASES:
            if starting and view.resource_version != self.decided_version:
                # The request changed after the decision to start it (another replica may have run its cycle
                # meanwhile): start nothing. The claim stays; the next decision resumes or releases it.
                log.info("request %s changed since it was chosen to start; deciding again", self.name)
                return True
            node = self.world.node(self.name)
            asked = bool(view.spec.reasons) or (node is not None and node.reboot_now is not None)
            if not starting or not asked:
                # Fail-closed: only a decision starts a node (it checked windows, the budget, maxConcurrent). A
                # cycle resumed for a request in progress that finds it not in progress (it ended, or was deleted
                # and made again meanwhile), or a request withdrawn (no reason, no reboot-now) before its claim was
                # acted on: a claim left behind, freed.
                await release_slot(self.api, self.policy, self.name, completed_at=None)
                return True
            try:
                return await self._start(body, view)
            except Conflict:
                if not starting:
                    raise
                log.info("request %s changed since it was chosen to start; deciding again", self.name)
                return True
        spec = self._spec()
        if spec is None:
            return await self._policy_gone(body, view)
        status = view.status
        if phase is Phase.CORDONING:
            await self._cordon(body, view, spec)
        elif phase is Phase.DRAINING:
            await self._drain(body, view, spec)
        elif phase is Phase.REBOOTING:
            await self._await_reboot(body, view, spec.reboot)
        elif phase is Phase.VERIFYING:
            await self._verify(body, view, spec.reboot)
        elif phase is Phase.UNCORDONING:
            await self._finish(body, view, spec.node_labels, status)
            return True
        return False

    async def _start(self, body: dict[str, Any], view: RequestView) -> bool:
        """The slot is ours: record the start (and whether the node was already cordoned), then cordon."""
        node = self.world.node(self.name)
        if node is None:
            raise NodeGone(self.name)
        now = self.clock()
        status = NodeRebootRequestStatus(
            phase=Phase.CORDONING,
            policy=self.policy,
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
        self._written = await replace_status(self.api, REQUESTS, body, status.to_api())
        already = " (already cordoned by someone else; it stays cordoned)" if node.facts.unschedulable else ""
        log.info("node %s: starting its reboot cycle under policy %s%s", self.name, self.policy, already)
        await self.event("Started", f"reboot cycle started under policy {self.policy}{already}", status=status)
        return False

    async def _cordon(self, body: dict[str, Any], view: RequestView, spec: RebootPolicySpec) -> None:
        changes = labels_before_reboot(spec.node_labels)
        if changes:
            await node_effects.ensure_labels(self.api, self.name, changes)
        seen = self.world.node(self.name)
        cordon = await node_effects.cordon_for(
            self.api,
            self.name,
            view.uid,
            seen_unschedulable=seen.facts.unschedulable if seen is not None else None,
            seen_annotated=seen.annotated if seen is not None else True,
        )
        if cordon is Cordon.CORDONED:
            await self.event("Cordoned", f"cordoned by policy {self.policy} for a reboot")
            self._observe_handoff(view)
        # Cordoned already, not by this cycle, though the start saw it schedulable: someone cordoned it in the
        # moment before (the watch had not shown it yet). It is theirs, so it stays cordoned afterwards.
        theirs = cordon is Cordon.THEIRS and not view.status.was_unschedulable
        if theirs:
            log.warning("node %s: cordoned by someone else just before its cycle; it stays cordoned", self.name)
        await node_effects.ensure_no_taint(self.api, self.name)
        await self._transition(
            body, view, phase=Phase.DRAINING, message="draining", **({"was_unschedulable": True} if theirs else {})
        )
        await self.event("Draining", "evicting pods before the reboot")

    async def _drain(self, body: dict[str, Any], view: RequestView, spec: RebootPolicySpec) -> None:
        options = drain_options(spec.drain, evict_last=own_pod(os.environ))
        reporter = DrainReporter(self)
        began = self.clock()
        await self._drain_and_authorize(view, spec, options, reporter)
        metrics.DRAIN_SECONDS.labels(self.policy).observe((self.clock() - began).total_seconds())

    async def _drain_and_authorize(
        self, view: RequestView, spec: RebootPolicySpec, options: DrainOptions, reporter: DrainReporter
    ) -> None:
        for _ in range(MAX_RECORDONS):
            result = await drain_node(self.api, self.name, options, on_progress=reporter.report)
            reboot_on_timeout = spec.drain.on_timeout is OnDrainTimeout.REBOOT
            if after_drain(result.outcome, reboot_on_timeout=reboot_on_timeout) is not AfterDrain.REBOOT:
                why = "drain timed out (onTimeout Abort)" if result.timed_out else "drain failed"
                await self._give_back(view, spec.node_labels, f"{why}: {result.error}")
                return
            if await self._held():
                return  # resumed: the step runs again from the request as stored, and finds the node drained
            facts = await node_effects.read_node_facts(self.api, self.name)
            if facts.unschedulable:
                note = (
                    ""
                    if result.completed
                    else f"; drain timed out, rebooting anyway (onTimeout Reboot): {result.error}"
                )
                await self._authorize(view, spec.reboot, reporter.latest, note=note)
                return
            # Someone uncordoned the node during its drain: cordon it again and drain whatever came back.
            if view.status.was_unschedulable:  # an admin's cordon, lifted meanwhile: cordon again, unmarked
                await node_effects.ensure_cordoned(self.api, self.name)
            else:
                await node_effects.cordon_for(self.api, self.name, view.uid)
            await self.event("Recordoned", "the node was uncordoned during its drain; cordoned and draining again")
        await self._give_back(view, spec.node_labels, "the node kept being uncordoned during its drain")

    async def _authorize(
        self, view: RequestView, reboot: RebootSpec, progress: DrainProgress | None, *, note: str = ""
    ) -> None:
        delay = seconds(reboot.delay)
        if delay > 0:
            await asyncio.sleep(delay)
        node = self.world.node(self.name)
        if node is None:
            raise NodeGone(self.name)
        now = self.clock()
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
            )

        self._written = await update_status(self.api, REQUESTS, self.name, change)
        await self.event(
            "RebootAuthorized", f"the agent may reboot the node (boot {node.facts.boot_id})", status=view.status
        )

    async def _await_reboot(self, body: dict[str, Any], view: RequestView, reboot: RebootSpec) -> None:
        """Wait for a new boot ID, event-driven, until reboot.timeout after the approval."""
        approval = view.status.approval
        if approval is None:  # written together with the phase; only a hand-edited status lacks it
            await self._give_back(view, None, "phase Rebooting without an approval")
            return
        deadline = approval.approved_at + datetime.timedelta(seconds=seconds(reboot.timeout))
        node = await self._wait_node(lambda n: n.facts.boot_id not in ("", approval.boot_id), deadline)
        if node is None:
            await self._give_back(
                view, None, f"the node did not come back with a new boot ID within {reboot.timeout} of the approval"
            )
            return
        await self._transition(
            body,
            view,
            phase=Phase.VERIFYING,
            message="back with a new boot ID; verifying",
            boot_id_after=node.facts.boot_id,
            kernel_after=node.kernel,
            kernel=kernel_transition(view.status.kernel_before, node.kernel),
        )
        await self.event("NodeReturned", f"back with boot ID {node.facts.boot_id}, kernel {node.kernel}")

    async def _verify(self, body: dict[str, Any], view: RequestView, reboot: RebootSpec) -> None:
        """Ready for the whole soak, then: did the reboot clear the need? If not, try again up to maxAttempts."""
        approval = view.status.approval
        timeout = datetime.timedelta(seconds=seconds(reboot.timeout))
        started = approval.approved_at if approval is not None else self.clock()
        soak = seconds(reboot.soak)
        while True:
            node = await self._wait_node(lambda n: n.facts.ready, started + timeout)
            if node is None:
                await self._give_back(view, None, f"the node was not Ready within {reboot.timeout} of the approval")
                return
            if soak <= 0 or await self._stays_ready(soak):
                break
        fresh = await read(self.api, REQUESTS, self.name)
        current = request_view(fresh) if fresh is not None else None
        if current is None:
            return
        node = self.world.node(self.name)
        survived = bool(current.spec.reasons) and node is not None and current.spec.boot_id == node.facts.boot_id
        if not survived:
            assert fresh is not None
            await self._transition(fresh, current, phase=Phase.UNCORDONING, message="uncordoning")
            return
        attempts = current.status.attempts or 1
        if attempts >= reboot.max_attempts:
            await self._give_back(
                current,
                None,
                f"the reboot-required sentinel survived {attempts} reboots (maxAttempts {reboot.max_attempts})",
                observed_generation=current.generation,
            )
            return
        assert fresh is not None
        assert node is not None
        if not (await node_effects.read_node_facts(self.api, self.name)).unschedulable:
            # Fail-closed: a reboot is authorized only on a cordoned, drained node. Uncordoned while it rebooted,
            # it may run pods again: cordon and drain it before the next attempt.
            await self._transition(
                fresh,
                current,
                phase=Phase.CORDONING,
                message="the sentinel survived; uncordoned meanwhile, so "
                "cordoning and draining again before the next reboot",
            )
            return
        if await self._held():
            return
        now = self.clock()
        await self._transition(
            fresh,
            current,
            phase=Phase.REBOOTING,
            message=f"the sentinel survived the reboot; reboot authorized again (attempt {attempts + 1})",
            observed_generation=current.generation,
            approval={"boot_id": node.facts.boot_id, "approved_at": now, "attempt": attempts + 1},
            reboot_approved_at=now,
            attempts=attempts + 1,
        )
        await self.event("RebootAuthorized", f"the sentinel survived; attempt {attempts + 1}", warning=True)

    async def _stays_ready(self, soak: float) -> bool:
        deadline = self.clock() + datetime.timedelta(seconds=soak)
        return await self._wait_node(lambda n: not n.facts.ready, deadline) is None

    async def _finish(
        self, body: dict[str, Any], view: RequestView, labels: NodeLabels, status: NodeRebootRequestStatus
    ) -> None:
        if not status.was_unschedulable and await node_effects.ensure_uncordoned(
            self.api, self.name, seen_unschedulable=self._seen_unschedulable(), seen_mark=view.uid
        ):
            await self.event("Uncordoned", "reboot verified; the node is schedulable again")
        changes = labels_after_reboot(labels)
        if changes:
            await node_effects.ensure_labels(self.api, self.name, changes)
        now = self.clock()
        kernel = kernel_transition(status.kernel_before, status.kernel_after)
        # The next node waits for both writes, and neither needs the other: the request, still Uncordoning until
        # its write lands, holds its place in maxConcurrent by its phase even once its slot is freed. A crash
        # between the two resumes from Uncordoning, which finishes again (uncordoned, so no second uncordon).
        await _both(
            self._transition(body, view, phase=Phase.COMPLETED, message=f"rebooted: kernel {kernel}", completed_at=now),
            release_slot(self.api, self.policy, self.name, completed_at=now, seen=self.world.policy(self.policy)),
        )
        log.info("node %s: reboot cycle completed (kernel %s)", self.name, kernel)
        self._observe_end(status, "Completed", now)
        await self.event("Completed", f"reboot cycle completed; kernel {kernel}", status=status, now=now)

    async def _give_back(
        self, view: RequestView, labels: NodeLabels | None, why: str, *, observed_generation: int | None = None
    ) -> None:
        """End the cycle as Failed: uncordon if we cordoned, undo our labels, count the failure, free the slot.

        ``observed_generation``, when given, marks the agent's latest report as answered, so the same need does
        not start a new cycle by itself (the reboot-loop guard); a reset of the failure budget retries it."""
        if not view.status.was_unschedulable:
            with contextlib.suppress(NodeGone):
                await node_effects.ensure_uncordoned(self.api, self.name)
        labels = labels or (self.last_spec.node_labels if self.last_spec else None)
        if labels is not None and labels.pre_reboot:
            with contextlib.suppress(NodeGone):
                await node_effects.ensure_labels(self.api, self.name, labels_given_back(labels))
        now = self.clock()

        def change(fresh: dict[str, Any]) -> dict[str, Any] | None:
            current = request_view(fresh)
            if current is None or current.status.phase not in ACTIVE_PHASES:
                return None
            seen = observed_generation or current.status.observed_generation
            return with_fields(
                current.status,
                phase=Phase.FAILED,
                message=why,
                completed_at=now,
                approval=None,
                observed_generation=seen,
            )

        await update_status(self.api, REQUESTS, self.name, change)
        await release_slot(self.api, self.policy, self.name, completed_at=now, failed=True)
        log.warning("node %s: reboot cycle failed: %s", self.name, why)
        self._observe_end(view.status, "Failed", now)
        await self.event("Failed", why, warning=True, status=view.status, now=now)

    async def _policy_gone(self, body: dict[str, Any], view: RequestView) -> bool:
        """The policy was deleted and we never knew its spec: hand the node back and cancel the cycle."""
        if not view.status.was_unschedulable:
            with contextlib.suppress(NodeGone):
                await node_effects.ensure_uncordoned(self.api, self.name)
        await self._transition(
            body,
            view,
            phase=Phase.CANCELLED,
            message=f"policy {self.policy} was deleted during the cycle; node handed back",
            completed_at=self.clock(),
            approval=None,
        )
        return True

    async def _held(self) -> bool:
        """The cluster-wide stop: no reboot is authorized while it lasts. The cycle holds here, at its safe point
        (cordoned and drained, or back from a reboot, before the next approval), says so, and waits for the
        resume; True when it held, so the caller starts its step again from the stored request."""
        why = self.world.stopped()
        if why is None:
            return False
        message = f"holding before its reboot: rollboot is stopped cluster-wide ({why}); the node stays cordoned"

        def change(fresh: dict[str, Any]) -> dict[str, Any] | None:
            current = request_view(fresh)
            if current is None or current.status.phase not in ACTIVE_PHASES or current.status.message == message:
                return None
            return with_fields(current.status, message=message)

        await update_status(self.api, REQUESTS, self.name, change)
        log.warning("node %s: %s", self.name, message)
        await self.event("Held", message)
        await self.world.resumed()
        self._written = None
        return True

    # -- helpers -------------------------------------------------------------------------------------------

    async def _transition(self, body: dict[str, Any], view: RequestView, *, phase: Phase, **fields: Any) -> None:
        status = with_fields(view.status, phase=phase, **fields)
        self._written = await replace_status(self.api, REQUESTS, body, status)

    def _seen_unschedulable(self) -> bool | None:
        """The node's cordon as the watch last saw it: lets cordon and uncordon patch without reading first."""
        node = self.world.node(self.name)
        return node.facts.unschedulable if node is not None else None

    async def _wait_node(self, predicate: Callable[[NodeView], bool], deadline: datetime.datetime) -> NodeView | None:
        """The node once ``predicate`` holds for it, or None at the deadline (event-driven: no polling)."""
        while True:
            node = self.world.node(self.name)
            if node is not None and predicate(node):
                return node
            remaining = (deadline - self.clock()).total_seconds()
            if remaining <= 0:
                return None
            await self.world.node_changed(self.name, remaining)

    def _observe_handoff(self, view: RequestView) -> None:
        """Hand-off latency: from the previous node of the policy finishing to this one, waiting then, cordoned."""
        policy = self.world.policy(self.policy)
        finished = policy.status.last_completion_at if policy is not None else None
        queued = view.status.queued_at
        if finished is not None and queued is not None and queued <= finished:
            metrics.HANDOFF_SECONDS.labels(self.policy).observe(max(0.0, (self.clock() - finished).total_seconds()))

    def _observe_end(self, status: NodeRebootRequestStatus, result: str, now: datetime.datetime) -> None:
        metrics.REBOOTS.labels(self.policy, result).inc()
        if status.started_at is not None:
            metrics.CYCLE_SECONDS.labels(self.policy).observe(max(0.0, (now - status.started_at).total_seconds()))

    async def event(
        self,
        reason: str,
        message: str,
        *,
        warning: bool = False,
        status: NodeRebootRequestStatus | None = None,
        now: datetime.datetime | None = None,
    ) -> None:
        """Post the Event on the node and its request; notify the policy's subscribers if it is one they hear of.

        Returns at once: the Events are queued, to be posted in the background in the order they were told.
        ``status`` (and ``now`` at the end of a cycle) give the notification its kernels and duration."""
        event = NOTIFIED.get(reason)
        if event is not None:
            started = status.started_at if status is not None else None
            self.world.notify(
                Notice(
                    event=event,
                    policy=self.policy,
                    node=self.name,
                    message=message,
                    kernel_before=status.kernel_before if status is not None else None,
                    kernel_after=status.kernel_after if status is not None else None,
                    duration=(now - started) if now is not None and started is not None else None,
                )
            )
        kind = EventType.WARNING if warning else EventType.NORMAL
        node = self.world.node(self.name)
        events = background()
        events.submit(
            self.api,
            involved=ObjectRef.node(self.name, node.uid if node else ""),
            reason=reason,
            message=message,
            type=kind,
        )
        events.submit(
            self.api,
            involved=ObjectRef(kind="NodeRebootRequest", name=self.name, uid=self.uid, api_version=API_VERSION),
            reason=reason,
            message=message,
            type=kind,
        )


async def _both(first: Awaitable[None], second: Awaitable[None]) -> None:
    """Await two steps side by side; both run to their end, then the first failure (if any) is raised."""
    results = await asyncio.gather(first, second, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
