"""Carrying out decisions: claiming slots and starting cycles, telling waiting requests why they wait, cancelling
withdrawn or cancelled ones, cleaning up those whose node is gone, keeping each policy's status current, and an
admin's controls (``api/controls.py``, ``interventions.py``).

The claim is a compare-and-swap on the policy's status (``slots.claim_slots``): no cycle starts without one.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Set

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from reboot_operator.api.common import ConditionStatus
from reboot_operator.api.controls import CANCEL, REBOOT_NOW
from reboot_operator.api.meta import GROUP, VERSION
from reboot_operator.api.policy_status import RebootPolicyStatus
from reboot_operator.api.request import NodeRebootRequestStatus
from reboot_operator.api.vocabulary import (
    ACTIVE_PHASES,
    Phase,
    PolicyConditionType,
    Reason,
)
from reboot_operator.coordinator import waiting
from reboot_operator.coordinator.supervise import CycleSupervisor
from reboot_operator.coordinator.unseen import OwnWrites, QueueTimes
from reboot_operator.coordinator.writer import AfterWrite, StatusWriter, body_of
from reboot_operator.core.conditions import ConditionIntent, merge_conditions
from reboot_operator.core.decisions import Action, Decisions, PolicyDecision, RequestDecision
from reboot_operator.core.selection import capacity
from reboot_operator.core.status import policy_status
from reboot_operator.kube import nodes as node_effects
from reboot_operator.kube.node_view import NodeView
from reboot_operator.kube.statuses import POLICIES, REQUESTS
from reboot_operator.rollout import interventions
from reboot_operator.rollout.announce import Announcer, request_blocked_condition
from reboot_operator.rollout.slots import Summary, claim_slots, release_slot
from reboot_operator.runtime.errors import Conflict, KubeEffectError
from reboot_operator.watch.observed import PolicyView, RequestView

log = logging.getLogger(__name__)

SETTLED = frozenset({Action.WAIT, Action.NONE})
"""Decisions whose carrying out only writes a status (or nothing): done once per decision and view."""


class DecisionApplier:
    """Carries out one pass's decisions; see the module docstring.

    Its cache, ``applied``: the last decision carried out for each waiting or ended request, with the view it was
    carried out on. A pass carries out a request's decision again only when the decision or the view is a new
    object (the decision core keeps a decision's object while nothing it depends on changes, and names those it
    made anew: ``Decisions.changed``; a waiting request further back than the exact places keeps its decision as
    the queue moves up, ``decisions.EXACT_POSITIONS``) and is not equal to the one before (a decision from scratch
    makes new objects), so a settled cluster of thousands of waiting requests costs no work per pass, not
    even a look, and a restarted operator, whose statuses already say what it decides, writes nothing.
    A failed write forgets its entry (``forget``), and its caller has the name looked at again: it is carried out
    again. A policy's status summary is likewise made again only from a new decision or view (``summarized``).
    """

    def __init__(
        self,
        *,
        api: client.ApiClient,
        writer: StatusWriter,
        cycles: CycleSupervisor,
        own: OwnWrites,
        queue_times: QueueTimes,
        announcer: Announcer | None,
        policy: Callable[[str], PolicyView | None],
        kick: Callable[[], None],
    ) -> None:
        self.api, self.writer, self.cycles, self.own, self.queue_times = api, writer, cycles, own, queue_times
        self.announcer, self.policy, self.kick = announcer, policy, kick
        self.applied: dict[str, tuple[RequestDecision, RequestView]] = {}
        self.unsettled: set[str] = set()
        """Requests whose last decision is not settled by carrying it out once (``SETTLED``): looked at on every
        pass."""
        self.summarized: dict[str, tuple[PolicyDecision, PolicyView]] = {}
        """Per policy, the decision and view its status summary was last made from (``applied``'s rule, for
        policies)."""

    def forget(self, name: str) -> None:
        self.applied.pop(name, None)

    def forget_policy(self, name: str) -> None:
        self.summarized.pop(name, None)

    async def apply_requests(
        self,
        decisions: Decisions,
        requests: Mapping[str, RequestView],
        now: datetime.datetime,
        look: Collection[str] | None = None,
    ) -> None:
        """Carry out each request's decision, unless carried out already on the same view. ``look``: the names
        whose decision or view may be new objects since the last call (None: any); the others are not looked at,
        but for the decisions not settled by carrying them out once (a cycle to keep running), looked at always."""
        applied, unsettled = self.applied, self.unsettled
        if look is None:
            for name in applied.keys() - requests.keys():
                del applied[name]
            unsettled.clear()
            names: Iterable[str] = list(decisions.requests)
        else:
            names = sorted({*look, *unsettled})
        for name in names:
            decision, request = decisions.requests.get(name), requests.get(name)
            if decision is None or request is None:
                applied.pop(name, None)
                unsettled.discard(name)
                continue
            last = applied.get(name)
            if last is not None and last[1] is request and last[0] == decision:
                applied[name] = (decision, request)
                continue
            self.queue_times.note(request, decision)
            await self._apply_request(request, decision, decisions, now)
            if decision.action in SETTLED:
                applied[name] = (decision, request)
                unsettled.discard(name)
            else:
                applied.pop(name, None)
                unsettled.add(name)

    # -- policies ------------------------------------------------------------------------------------------

    async def apply_policy(
        self,
        policy: PolicyView,
        decision: PolicyDecision,
        requests: Mapping[str, RequestView],
        now: datetime.datetime,
        running: Set[str],
    ) -> None:
        """``running``: the requests of ``requests`` in a phase in progress under the policy (``KeptFacts.running``):
        they hold their place in maxConcurrent, claimed or not."""
        assert policy.spec is not None
        starting = [requests[name] for name in decision.started if name in requests]
        if starting:
            slots = capacity(policy.spec.max_concurrent, decision.counts.selected)
            # The summary rides on the claim (one write, not two, on the way to the next node's start), unless a
            # release under way would make either a 409: then the claim goes alone and the summary after it.
            summary = None if self._release_pending(policy) else Summary(self._summary(policy, decision, now))
            tell = (
                self.announcer.policy_changes(policy, summary.status)
                if summary is not None and self.announcer is not None
                else None
            )
            for request in await self._claim(policy, starting, slots, running, summary):
                if self.writer.drop(REQUESTS, request.name):
                    self.forget(request.name)  # if its cycle does not start after all, it is told why it waits again
                self.cycles.run(request.name, policy.name, starting=True, now=now, decided=request)
                if self.announcer is not None and request_blocked_condition(request.status) is not None:
                    await self.announcer.node_unblocked(request, "its blockers cleared; starting")
            if summary is not None and summary.written:
                self.summarized.pop(policy.name, None)  # the next view is our claim's write, summarized already
                if tell is not None:
                    await tell()
                return
        # The claims just rewrote the policy's status: build on what they wrote, or the summary would lose a race
        # against our own claims (409) and wait for the next pass.
        written = self.own.newer(POLICIES, policy.name, policy.resource_version)
        if isinstance(written, PolicyView):
            policy = written
        last = self.summarized.get(policy.name)
        if last is not None and last[0] is decision and last[1] is policy:
            return  # summarized already from this very decision and view
        if self._release_pending(policy):
            return  # its release, under way, is the next write of this status: the summary follows it
        self.summarized[policy.name] = (decision, policy)
        desired = self._summary(policy, decision, now)
        if desired.to_api() != policy.status.to_api():
            after = self.announcer.policy_changes(policy, desired) if self.announcer is not None else None
            self.writer.put(POLICIES, body_of(policy.name, policy.resource_version), desired.to_api(), after)

    @staticmethod
    def _summary(policy: PolicyView, decision: PolicyDecision, now: datetime.datetime) -> RebootPolicyStatus:
        """The policy's status as ``decision`` describes it, its slots as ``policy`` holds them."""
        desired = policy_status(decision, previous=policy.status, generation=policy.generation, now=now)
        return desired.model_copy(update={"slots": policy.status.slots})

    def _release_pending(self, policy: PolicyView) -> bool:
        """Whether a cycle of ours just ended (our write of its end, not yet shown by the watch) and the slot it
        holds is not freed yet: the cycle's release of the slot is under way, a compare-and-swap on this status.
        A summary written now would race it, and when first, turn it into a 409, a read and a retry on the way to
        the next node's start."""
        for name in policy.status.slots:
            ours = self.own.views.get((REQUESTS, name))
            if isinstance(ours, RequestView) and ours.base_facts.phase not in ACTIVE_PHASES:
                return True
        return False

    async def _claim(
        self, policy: PolicyView, starting: list[RequestView], slots: int, running: Set[str], summary: Summary | None
    ) -> list[RequestView]:
        """Take slots of the policy for ``starting``, in one write (see ``slots.claim_slots``), the summary with
        them if given; the requests that hold one now. Decide again if any was refused."""
        names = [r.name for r in starting]
        won = set(await claim_slots(self.api, policy, names, capacity=slots, running=running, summary=summary))
        for name in names:
            if name in won:
                log.info("node %s: slot claimed in policy %s", name, policy.name)
        if len(won) < len(names):
            self.kick()
        return [r for r in starting if r.name in won]

    def report_unparseable(self, policy: PolicyView, now: datetime.datetime) -> None:
        message = "; ".join(policy.problems)
        intent = ConditionIntent(PolicyConditionType.READY, ConditionStatus.FALSE, Reason.INVALID_SPEC, message)
        conditions = merge_conditions(policy.status.conditions, [intent], now=now, generation=policy.generation)
        desired = policy.status.model_copy(update={"conditions": conditions, "observed_generation": policy.generation})
        desired = RebootPolicyStatus.model_validate(desired.model_dump())
        if desired.to_api() != policy.status.to_api():
            log.warning("policy %s is invalid; it holds the nodes it selects and starts none: %s", policy.name, message)
            self.writer.put(POLICIES, body_of(policy.name, policy.resource_version), desired.to_api())

    # -- requests ------------------------------------------------------------------------------------------

    async def _apply_request(
        self, request: RequestView, decision: RequestDecision, decisions: Decisions, now: datetime.datetime
    ) -> None:
        action = decision.action
        if action is Action.CONTINUE and decision.policy is not None:
            self.cycles.run(request.name, decision.policy, starting=False, now=now)
        elif action is Action.WAIT:
            self._wait(request, decision, decisions, now)
        elif action is Action.CANCEL and request.status.phase in ACTIVE_PHASES:
            await self._cancel_started(request, decision, now)
        elif action is Action.CANCEL and request.status.phase is not Phase.CANCELLED:
            status = NodeRebootRequestStatus.model_validate(
                {
                    **request.status.model_dump(),
                    "phase": Phase.CANCELLED,
                    "message": decision.message,
                    "completed_at": now,
                    "observed_generation": request.generation,
                }
            )
            self.writer.put(
                REQUESTS, body_of(request.name, request.resource_version), status.to_api(), self._free_claim(decision)
            )
        elif action is Action.CLEANUP:
            await self._clean_up(request, decision)

    def _wait(
        self, request: RequestView, decision: RequestDecision, decisions: Decisions, now: datetime.datetime
    ) -> None:
        """Tell a waiting request why it waits, unless its status says so already. The status is composed when the
        status writer gets to it (``put_composed``), from this pass's objects: at a first start all waiting
        requests are told in one pass, and thousands of statuses composed up front were held until written."""
        if waiting.says_so(request, decision):
            return
        policy = decisions.policies.get(decision.policy or "")
        compose = functools.partial(waiting.waiting_status, request, decision, policy, now, self.announcer)
        self.writer.put_composed(REQUESTS, request.name, request.resource_version, compose)

    async def _clean_up(self, request: RequestView, decision: RequestDecision) -> None:
        """The node is gone (e.g. scaled away): stop its cycle, free its slot, delete the request."""
        self.cycles.drop(request.name)
        policy = decision.policy or request.status.policy
        if policy is not None:
            with contextlib.suppress(Conflict):
                await release_slot(self.api, policy, request.name, completed_at=None)
        custom = client.CustomObjectsApi(self.api)
        try:
            await custom.delete_cluster_custom_object(GROUP, VERSION, REQUESTS, request.name)
            log.info("request %s deleted: its node no longer exists", request.name)
        except ApiException as error:
            if error.status != 404:
                log.warning("could not delete request %s: %s", request.name, error.reason)

    # -- an admin's controls -------------------------------------------------------------------------------

    async def _cancel_started(self, request: RequestView, decision: RequestDecision, now: datetime.datetime) -> None:
        """An admin's cancel of a cycle cordoning or draining: written first, then the cycle stopped, then the node
        handed back (``interventions``). A cycle that authorized the reboot meanwhile wins, and finishes."""
        try:
            cancelled = await interventions.cancel_started(self.api, request, note=decision.message, now=now)
        except Conflict:
            self.kick()
            return
        if cancelled is None:
            return
        await self.cycles.halt(request.name)
        policy = self.policy(decision.policy) if decision.policy else None
        labels = policy.spec.node_labels if policy is not None and policy.spec is not None else None
        try:
            await interventions.hand_back(
                self.api, cancelled, policy=decision.policy, labels=labels, note=decision.message
            )
        except KubeEffectError as error:
            log.warning("could not hand node %s back after its cancel; trying again: %s", request.name, error)
            self.kick()

    def _free_claim(self, decision: RequestDecision) -> AfterWrite | None:
        """For a request cancelled after its slot was claimed, before its cycle began: free the claim once the
        cancel is written (then no cycle can start on the version the claim was made for)."""
        policy = self.policy(decision.policy) if decision.policy else None
        if policy is None or decision.name not in policy.status.slots:
            return None
        api, name = self.api, decision.name

        async def free() -> None:
            with contextlib.suppress(Conflict):
                await release_slot(api, policy.name, name, completed_at=None)

        return free

    async def tidy_controls(
        self,
        nodes: Mapping[str, NodeView],
        requests: Mapping[str, RequestView],
        decisions: Decisions,
        controlled: Set[str],
    ) -> None:
        """A cancel with nothing (left) to cancel is removed; a reboot-now is removed once its node's cycle has
        started (written by the cycle, so no race with its start), or gets a request if the node has none.
        ``controlled``: the nodes carrying either (``KeptFacts.controlled``), the only ones looked at."""
        for name in sorted(controlled):
            node = nodes.get(name)
            if node is None or not (node.facts.cancel or node.reboot_now is not None):
                continue
            decision = decisions.requests.get(name)
            try:
                if node.facts.cancel and (decision is None or decision.action is Action.NONE):
                    await node_effects.ensure_annotation_gone(self.api, name, CANCEL)
                elif node.reboot_now is not None and name not in requests:
                    await interventions.create_request(self.api, name)
                elif node.reboot_now is not None and requests[name].status.phase in ACTIVE_PHASES:
                    await node_effects.ensure_annotation_gone(self.api, name, REBOOT_NOW, node.reboot_now)
            except (KubeEffectError, ApiException) as error:
                log.warning("node %s: could not act on an admin's control: %s", name, error)
