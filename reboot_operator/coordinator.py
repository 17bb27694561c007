"""The central brain: one loop that decides who reboots when, and carries the decisions out.

It wakes on watch events (a request created or changed, a node's Ready/boot ID/cordon/labels changed, a policy
edited) and at the exact instant the decision may change by itself (a window opening, an interval ending), never
on a polling tick. Each pass reads the watched state, asks the pure decision core, then:

- claims a slot for each request allowed to start (a compare-and-swap on the policy's status) and starts its
  :class:`~reboot_operator.rollout.cycle.Cycle`;
- makes sure every started request has a cycle running (so a restarted operator resumes them);
- tells waiting requests why they wait, cancels withdrawn ones, cleans up those whose node is gone;
- keeps each policy's status (conditions, counts, window, queue) current;
- asks the blockers (``blockers/gate.py``) only where a decision depends on them, and puts the reboot-pending taint
  on waiting nodes of policies that want it (``taints.py``);
- carries out an admin's controls (``api/controls.py``, ``rollout/interventions.py``): the cluster-wide stop (cycles
  hold before authorizing a reboot, through ``stopped``/``resumed``), a cancel (the cycle is stopped and its node
  handed back), a reboot-now (its annotation removed once the cycle started, a request created for a node without
  one).

Blockers are the one thing that changes with no Kubernetes event (alerts): while something is blocked, the loop
also wakes up to look again (``BlockerGate.next_check``).

Status writes for waiting requests and policies go through a small pool of writers, coalesced per object, so a
burst of events costs one write per object, not one per event.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from reboot_operator import metrics, statuses
from reboot_operator.aiotasks import cancel_and_wait
from reboot_operator.api.common import ConditionStatus
from reboot_operator.api.controls import CANCEL, REBOOT_NOW
from reboot_operator.api.meta import API_VERSION
from reboot_operator.api.policy_status import QUEUE_PREVIEW, RebootPolicyStatus
from reboot_operator.api.request import NodeRebootRequestStatus
from reboot_operator.api.vocabulary import (
    ACTIVE_PHASES,
    Phase,
    PolicyConditionType,
    Reason,
    RequestConditionType,
    WaitReason,
)
from reboot_operator.blockers.cache import DEFAULT_TTL
from reboot_operator.blockers.gate import BlockerGate
from reboot_operator.core.conditions import ConditionIntent, merge_conditions
from reboot_operator.core.decide import decide
from reboot_operator.core.decisions import Action, Decisions, PolicyDecision, RequestDecision
from reboot_operator.core.selection import capacity
from reboot_operator.core.status import policy_status
from reboot_operator.kube import nodes as node_effects
from reboot_operator.kube.errors import KubeEffectError
from reboot_operator.kube.events import EventType, ObjectRef, background
from reboot_operator.notify import Notice, Notifier, policy_events
from reboot_operator.notify.sender import secret_reader
from reboot_operator.observed import NodeView, PolicyView, RequestView, policy_view, request_view
from reboot_operator.rollout import interventions
from reboot_operator.rollout.announce import Announcer, request_blocked_condition
from reboot_operator.rollout.cycle import Cycle
from reboot_operator.rollout.slots import claim_slots, release_slot
from reboot_operator.rollout.world import utcnow
from reboot_operator.statuses import POLICIES, REQUESTS, Conflict, replace_status, with_fields
from reboot_operator.taints import PendingTaints

log = logging.getLogger(__name__)

COALESCE_SECONDS = 0.02
"""After a wake-up, how long to let further events pile up before deciding: a burst becomes one decision."""
STATUS_WRITERS = 16
WRITES_REMEMBERED = 20_000
"""Status writes the writer remembers, so a pass that began before one was made does not ask for it again."""
EXACT_POSITIONS = 5
"""Waiting requests this far up their queue have their exact position in their message."""
CYCLE_RESTART_BACKOFF = (1.0, 60.0)
ERROR_TEXT = 300
"""How much of an unexpected error a request's status message carries (the log has the traceback)."""
ORPHAN_GRACE = datetime.timedelta(minutes=5)
"""How long a node cordoned by a cycle whose request is gone stays so, Ready and not rebooting, before it is handed
back: longer than an approved reboot takes to begin."""


class State(Protocol):
    """The watched state as the coordinator reads it (``informers.WatchedState`` in production)."""

    def node(self, name: str) -> NodeView | None: ...

    def policy(self, name: str) -> PolicyView | None: ...

    def request(self, name: str) -> RequestView | None: ...

    def nodes(self) -> Mapping[str, NodeView]: ...

    def requests(self) -> Mapping[str, RequestView]: ...

    def policies(self) -> Mapping[str, PolicyView]: ...

    def stopped(self) -> str | None: ...


class _Writer:
    """Coalescing status writes: the latest desired status per object, written by a few workers, CAS each."""

    def __init__(self, api: client.ApiClient, workers: int = STATUS_WRITERS) -> None:
        self.api = api
        self.pending: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any], AfterWrite | None]] = {}
        self.urgent: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any], AfterWrite | None]] = {}
        """Policy statuses: written before any waiting request's, however many of those are queued."""
        self.inflight: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        """Writes under way: the resourceVersion each was made from, and the status written."""
        self.written: collections.OrderedDict[tuple[str, str], tuple[str, dict[str, Any]]] = collections.OrderedDict()
        """The last writes made, the same way (at most ``WRITES_REMEMBERED``)."""
        self._wake = asyncio.Event()
        self._tasks = [asyncio.create_task(self._work(), name=f"status-writer-{i}") for i in range(workers)]
        self._busy = 0

    def put(self, plural: str, body: dict[str, Any], status: dict[str, Any], after: AfterWrite | None = None) -> None:
        """Write ``status`` soon, replacing a write of the same object not made yet; ``after`` runs once it is
        written (it is how Events about a change are posted exactly once, by the replica whose write won)."""
        key = (plural, body["metadata"]["name"])
        write = (body["metadata"]["resourceVersion"], status)
        if self.inflight.get(key) == write or self.written.get(key) == write:
            # Being written or written already: a pass that began before could not see it and asks for it again.
            # The same write from the same version would only come back as a 409.
            return
        queue = self.urgent if plural == POLICIES else self.pending
        queue[key] = (body, status, after)
        self._wake.set()

    async def _work(self) -> None:
        while True:
            while not self.pending and not self.urgent:
                self._wake.clear()
                await self._wake.wait()
            queue = self.urgent or self.pending
            key = next(iter(queue))
            body, status, after = queue.pop(key)
            self._busy += 1
            self.inflight[key] = (body["metadata"]["resourceVersion"], status)
            try:
                await replace_status(self.api, key[0], body, status)
                self._remember(key, (body["metadata"]["resourceVersion"], status))
                if after is not None:
                    await after()
            except Conflict:
                pass  # newer than what we decided on: the watch event brings a new decision
            except Exception as error:
                log.warning("could not write the status of %s/%s: %s", key[0], key[1], error)
            finally:
                self._busy -= 1
                self.inflight.pop(key, None)

    def _remember(self, key: tuple[str, str], write: tuple[str, dict[str, Any]]) -> None:
        self.written[key] = write
        self.written.move_to_end(key)
        while len(self.written) > WRITES_REMEMBERED:
            self.written.popitem(last=False)

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)


AfterWrite = Callable[[], Awaitable[None]]


@dataclass
class Coordinator:
    """Decides and acts; see the module docstring. ``attach`` it to a state and an API client, then ``start``."""

    clock: Callable[[], datetime.datetime] = utcnow
    api: client.ApiClient | None = None
    state: State | None = None
    decisions: Decisions | None = None
    _kick: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _writer: _Writer | None = None
    _cycles: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    _cycle_failures: dict[str, tuple[int, datetime.datetime]] = field(default_factory=dict)
    _node_signals: dict[str, asyncio.Event] = field(default_factory=dict)
    _node_seen: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    blocker_ttl: float = DEFAULT_TTL
    _gate: BlockerGate | None = None
    _taints: PendingTaints | None = None
    notifier: Notifier | None = None
    _announcer: Announcer | None = None
    _written: dict[tuple[str, str], RequestView | PolicyView] = field(default_factory=dict)
    """Our own status writes the watch has not brought back yet (read-your-writes)."""
    _unlisten: Callable[[], None] | None = None
    _last_pass_seconds: float = 0.0
    _started_at: float | None = None
    _computing: float = 0.0
    _queued_since: dict[str, tuple[int, datetime.datetime]] = field(default_factory=dict)
    """When a decision put each request into its queue (by generation), until its status says so."""
    passes: int = 0
    orphan_grace: datetime.timedelta = ORPHAN_GRACE
    _orphaned: dict[str, tuple[str, str, datetime.datetime]] = field(default_factory=dict)
    """Nodes cordoned under a mark no running cycle owns: the mark, the boot ID and when that was first seen."""
    _resumed: asyncio.Event = field(default_factory=asyncio.Event)
    """Set while nothing is stopped: cycles holding before a reboot wait on it."""
    _stop: str | None = None

    # -- wiring --------------------------------------------------------------------------------------------

    def start(self, api: client.ApiClient, state: State) -> None:
        """Begin deciding; idempotent (the first watch event of any kind calls it)."""
        if self._task is not None:
            return
        self.api = api
        self.state = state
        self._writer = _Writer(api)
        self._gate = BlockerGate(api, on_change=self.kick, ttl=self.blocker_ttl)
        self._taints = PendingTaints(api)
        self.notifier = self.notifier or Notifier(read_secret=secret_reader(api), on_failure=policy_events(api))
        self._announcer = Announcer(api, self.notify)
        self._unlisten = statuses.listen(self._wrote)
        self._started_at = time.monotonic()
        self._task = asyncio.create_task(self._loop(), name="rollboot-coordinator")
        self._kick.set()

    async def stop(self) -> None:
        await cancel_and_wait([self._task, *self._cycles.values()], quiet=True)
        if self._writer is not None:
            await self._writer.stop()
        for part in (self._gate, self._taints, self.notifier):
            if part is not None:
                await part.stop()
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        self._task = None
        # Started again (leadership regained), it begins from the API, as a new process would.
        self._cycles.clear()
        self._cycle_failures.clear()
        self._node_signals.clear()
        self._node_seen.clear()
        self._written.clear()
        self._queued_since.clear()
        self._orphaned.clear()
        self.decisions = None
        self.notifier = None
        self._writer = self._gate = self._taints = self._announcer = None

    def kick(self) -> None:
        self._kick.set()

    def node_observed(self, view: NodeView) -> None:
        """A node event: wake waiters and the loop only if something the decisions use has changed."""
        facts = view.facts
        labels = tuple(sorted(facts.labels.items()))
        key = (
            facts.ready,
            facts.boot_id,
            facts.unschedulable,
            labels,
            view.kernel,
            view.cordon_mark,
            facts.skip,
            view.reboot_now,
            facts.cancel,
        )
        if self._node_seen.get(view.name) == key:
            return
        self._node_seen[view.name] = key
        signal = self._node_signals.get(view.name)
        if signal is not None:
            signal.set()
        self._kick.set()

    def node_deleted(self, name: str) -> None:
        self._node_seen.pop(name, None)
        signal = self._node_signals.get(name)
        if signal is not None:
            signal.set()
        self._kick.set()

    def _wrote(self, plural: str, body: dict[str, Any]) -> None:
        """A status we wrote: decide on it now rather than one watch round-trip later, if it matters to a decision
        (a phase other than Waiting, a slot claimed or freed, a failure counted), and not at all otherwise: at
        scale, thousands of waiting messages would each cost a decision pass."""
        view = request_view(body) if plural == REQUESTS else policy_view(body)
        if view is None:
            return
        key = (plural, view.name)
        before = self._written.get(key) or self._known(plural, view.name)
        self._written[key] = view
        if _matters(before, view):
            self._kick.set()

    def _known(self, plural: str, name: str) -> RequestView | PolicyView | None:
        if self.state is None:
            return None
        return self.state.request(name) if plural == REQUESTS else self.state.policy(name)

    def changed(self, plural: str, name: str, resource_version: str) -> None:
        """A watch event about one of our resources: decide again, unless it only echoes a write of ours."""
        ours = self._written.get((plural, name))
        if ours is None or ours.resource_version != resource_version:
            self._kick.set()

    def _freshest(self, plural: str, indexed: Mapping[str, _View]) -> Mapping[str, _View]:
        """The watched objects, with our own newer writes in place of what the watch has not caught up with."""
        if not self._written:
            return indexed
        merged = dict(indexed)
        for key, view in list(self._written.items()):
            if key[0] != plural:
                continue
            current = merged.get(key[1])
            if current is None or not _newer(view.resource_version, current.resource_version):
                del self._written[key]  # caught up (or gone): the watch is the truth again
            else:
                merged[key[1]] = view  # type: ignore[assignment]
        return merged

    def notify(self, notice: Notice) -> None:
        """Queue a notification to the subscribers of ``notice.policy``; returns at once."""
        policy = self.state.policy(notice.policy) if self.state is not None else None
        if self.notifier is not None and policy is not None and policy.spec is not None:
            self.notifier.submit(policy.spec.notifications, notice)

    def snapshot(self) -> metrics.Snapshot:
        """What the metrics endpoint reports, read at scrape time."""
        if self.state is None:
            return metrics.Snapshot(active=False, nodes=(), requests={}, decisions=None)
        return metrics.Snapshot(
            active=self._task is not None,
            nodes=tuple(sorted(self.state.nodes())),
            requests=self.state.requests(),
            decisions=self.decisions,
        )

    # -- World, for cycles ---------------------------------------------------------------------------------

    def node(self, name: str) -> NodeView | None:
        assert self.state is not None
        return self.state.node(name)

    def policy(self, name: str) -> PolicyView | None:
        assert self.state is not None
        return self.state.policy(name)

    def stopped(self) -> str | None:
        """Why everything is stopped (the ConfigMap rollboot-stop), as the last decision saw it; None when not."""
        return self._stop

    async def resumed(self) -> None:
        """Until nothing is stopped."""
        await self._resumed.wait()

    async def node_changed(self, name: str, timeout: float) -> None:
        signal = self._node_signals.setdefault(name, asyncio.Event())
        signal.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(signal.wait(), timeout)

    # -- the loop ------------------------------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            timeout = None
            if self.decisions is not None and self.decisions.next_wakeup is not None:
                timeout = max(0.0, (self.decisions.next_wakeup - self.clock()).total_seconds())
            recheck = self._gate.next_check() if self._gate is not None else None
            if recheck is not None:
                timeout = recheck if timeout is None else min(timeout, recheck)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), timeout)
            # Let a burst of events pile up; when passes grow expensive (thousands of requests), wait as long as
            # the last one took, so deciding never takes more than half of the loop's time.
            await asyncio.sleep(max(COALESCE_SECONDS, self._last_pass_seconds))
            self._kick.clear()
            started = time.monotonic()
            self._computing = 0.0
            try:
                await self._pass()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("decision pass failed; retrying shortly")
                await asyncio.sleep(1.0)
                self._kick.set()
            # Only the pass's own computing counts, not its waits on the API (claims, blockers): those leave the
            # event loop free for everything else.
            self._last_pass_seconds = self._computing
            self.passes += 1
            if self.passes == 1 and self._started_at is not None:
                log.info(
                    "first decision made %.2fs after the coordinator started (the pass took %.3fs, %.3fs of it "
                    "computing)",
                    time.monotonic() - self._started_at,
                    time.monotonic() - started,
                    self._computing,
                )

    @contextlib.contextmanager
    def _compute(self) -> Iterator[None]:
        """Count the time of a stretch of a pass that never awaits the API."""
        began = time.monotonic()
        try:
            yield
        finally:
            self._computing += time.monotonic() - began

    async def _pass(self) -> None:
        assert self.state is not None
        now = self.clock()
        self._stop = stop = self.state.stopped()
        if stop is None:
            self._resumed.set()
        else:
            self._resumed.clear()
        with self._compute():
            nodes = self.state.nodes()
            requests = self._freshest(REQUESTS, self.state.requests())
            policies = self._freshest(POLICIES, self.state.policies())
            claims = {node: p.name for p in policies.values() for node in p.status.slots}
            policy_facts = [f for f in (p.facts() for p in policies.values()) if f is not None]
            request_facts = [r.facts(claimed_by=claims.get(r.name)) for r in requests.values()]
            node_facts = {name: view.facts for name, view in nodes.items()}
            queued_since = self._steady_queue_times(requests)

        def decide_with(blocked_policies: Mapping[str, str], blocked_nodes: Mapping[str, str]) -> Decisions:
            with self._compute():
                return decide(
                    policies=policy_facts,
                    requests=request_facts,
                    nodes=node_facts,
                    now=now,
                    blocked_policies=blocked_policies,
                    blocked_nodes=blocked_nodes,
                    queued_since=queued_since,
                    stop=stop,
                )

        if self._gate is not None:
            waiting = (
                r.name
                for r in request_facts
                if r.phase not in ACTIVE_PHASES and (r.wants_reboot or (r.name in nodes and nodes[r.name].reboot_now))
            )
            self.decisions = await self._gate.decide(decide_with, policies, waiting)
        else:
            self.decisions = decide_with({}, {})
        if self._taints is not None:
            self._taints.reconcile(self.decisions, nodes, policies)
        for policy in policies.values():
            if policy.spec is None:
                self._report_unparseable(policy, now)
        # Policies are independent of each other: their claims go out side by side.
        # A policy whose spec cannot be parsed holds its nodes in the decision; its status is _report_unparseable's.
        await asyncio.gather(
            *(
                self._apply_policy(policies[name], d, requests, now)
                for name, d in self.decisions.policies.items()
                if policies[name].spec is not None
            )
        )
        await self._sweep_orphaned_cordons(nodes, requests, now)
        await self._tidy_controls(nodes, requests)
        with self._compute():
            for decision in self.decisions.requests.values():
                request = requests.get(decision.name)
                if request is not None:
                    if (
                        decision.action is Action.WAIT
                        and decision.queued_at is not None
                        and decision.queued_at != request.status.queued_at
                    ):
                        self._queued_since.setdefault(request.name, (request.generation, decision.queued_at))
                    await self._apply_request(request, decision, now)

    def _steady_queue_times(self, requests: Mapping[str, RequestView]) -> dict[str, datetime.datetime]:
        """The queue times earlier decisions gave requests whose Waiting status is not written (or seen) yet: a
        pass meanwhile keeps them rather than giving them its own ``now``, so it asks for the same write again,
        not for a different one from the same stale version (a 409 each, thousands at start-up)."""
        steady: dict[str, datetime.datetime] = {}
        for name, (generation, queued_at) in list(self._queued_since.items()):
            request = requests.get(name)
            status = request.status if request is not None else None
            if (
                request is None
                or request.generation != generation
                or status is None
                or (status.queued_at is not None and status.observed_generation == generation)
            ):
                del self._queued_since[name]  # gone, new need, or its status says when: no longer needed
            else:
                steady[name] = queued_at
        return steady

    async def _sweep_orphaned_cordons(
        self, nodes: Mapping[str, NodeView], requests: Mapping[str, RequestView], now: datetime.datetime
    ) -> None:
        """Uncordon nodes left cordoned by a cycle whose request is gone (issue 13, defect 4: `kubectl delete nrr`
        while Rebooting; the agent made a new request, which had nothing left to do, and the node stayed cordoned
        for good). Such a node carries our mark, but no request of it is in progress and no cycle of ours runs. It
        is handed back only once it has been Ready, with the same boot ID, for ``orphan_grace``: the deleted cycle
        may have approved a reboot that is still on its way, and a node must not take pods just before it reboots.
        The uncordon pins the mark, so a new cycle's cordon is never undone; passes run one at a time, so no cycle
        of ours starts meanwhile."""
        if self.api is None:
            return
        for name in [n for n in self._orphaned if n not in nodes]:
            del self._orphaned[name]
        for name, node in nodes.items():
            mark = node.cordon_mark
            request = requests.get(name)
            running = self._cycles.get(name)
            if (
                mark is None
                or not node.facts.unschedulable
                or (request is not None and request.status.phase in ACTIVE_PHASES)
                or (running is not None and not running.done())
            ):
                self._orphaned.pop(name, None)
                continue
            seen = self._orphaned.get(name)
            if seen is None or seen[:2] != (mark, node.facts.boot_id) or not node.facts.ready:
                self._orphaned[name] = (mark, node.facts.boot_id, now)
                if node.facts.ready:
                    log.info(
                        "node %s is cordoned by a cycle whose request is gone (mark %s); uncordoning it after %s "
                        "Ready without a reboot",
                        name,
                        mark,
                        self.orphan_grace,
                    )
                    asyncio.get_running_loop().call_later(self.orphan_grace.total_seconds(), self._kick.set)
                continue
            if now - seen[2] < self.orphan_grace:
                continue
            del self._orphaned[name]
            try:
                done = await node_effects.ensure_unmarked_cordon_gone(self.api, name, mark)
            except KubeEffectError as error:
                log.warning("could not uncordon node %s left cordoned by a deleted request: %s", name, error)
                self._kick.set()
                continue
            if done:
                message = (
                    f"uncordoned: its cordon was left by a reboot cycle whose request no longer exists (uid {mark}); "
                    f"the node was Ready, without a reboot, for {self.orphan_grace}"
                )
                log.warning("node %s %s", name, message)
                background().submit(
                    self.api, involved=ObjectRef.node(name, node.uid), reason="Uncordoned", message=message
                )

    # -- policies ------------------------------------------------------------------------------------------

    async def _apply_policy(
        self, policy: PolicyView, decision: PolicyDecision, requests: Mapping[str, RequestView], now: datetime.datetime
    ) -> None:
        assert self._writer is not None and policy.spec is not None
        starting = [requests[name] for name in decision.started if name in requests]
        if starting:
            slots = capacity(policy.spec.max_concurrent, decision.counts.selected)
            for request in await self._claim(policy, starting, slots, requests):
                self._run_cycle(request.name, policy.name, starting=True, decided=request)
                if self._announcer is not None and request_blocked_condition(request.status) is not None:
                    await self._announcer.node_unblocked(request, "its blockers cleared; starting")
        # The claims just rewrote the policy's status: build on what they wrote, or the summary would lose a race
        # against our own claims (409) and wait for the next pass.
        written = self._written.get((POLICIES, policy.name))
        if isinstance(written, PolicyView) and _newer(written.resource_version, policy.resource_version):
            policy = written
        desired = policy_status(decision, previous=policy.status, generation=policy.generation, now=now)
        desired = desired.model_copy(update={"slots": policy.status.slots})
        if desired.to_api() != policy.status.to_api():
            after = self._announcer.policy_changes(policy, desired) if self._announcer is not None else None
            self._writer.put(POLICIES, _body(policy.name, policy.resource_version), desired.to_api(), after)

    async def _claim(
        self, policy: PolicyView, starting: list[RequestView], slots: int, requests: Mapping[str, RequestView]
    ) -> list[RequestView]:
        """Take slots of the policy for ``starting``, in one write (see ``slots.claim_slots``); the requests that
        hold one now. Decide again if any was refused."""
        assert self.api is not None
        running = {
            r.name for r in requests.values() if r.status.phase in ACTIVE_PHASES and r.status.policy == policy.name
        }
        names = [r.name for r in starting]
        won = set(await claim_slots(self.api, policy, names, capacity=slots, running=running))
        for name in names:
            if name in won:
                log.info("node %s: slot claimed in policy %s", name, policy.name)
        if len(won) < len(names):
            self._kick.set()
        return [r for r in starting if r.name in won]

    def _report_unparseable(self, policy: PolicyView, now: datetime.datetime) -> None:
        assert self._writer is not None
        message = "; ".join(policy.problems)
        intent = ConditionIntent(PolicyConditionType.READY, ConditionStatus.FALSE, Reason.INVALID_SPEC, message)
        conditions = merge_conditions(policy.status.conditions, [intent], now=now, generation=policy.generation)
        desired = policy.status.model_copy(update={"conditions": conditions, "observed_generation": policy.generation})
        desired = RebootPolicyStatus.model_validate(desired.model_dump())
        if desired.to_api() != policy.status.to_api():
            log.warning("policy %s is invalid; it holds the nodes it selects and starts none: %s", policy.name, message)
            self._writer.put(POLICIES, _body(policy.name, policy.resource_version), desired.to_api())

    # -- requests ------------------------------------------------------------------------------------------

    async def _apply_request(self, request: RequestView, decision: RequestDecision, now: datetime.datetime) -> None:
        assert self._writer is not None and self.api is not None
        action = decision.action
        if action is Action.CONTINUE and decision.policy is not None:
            self._run_cycle(request.name, decision.policy, starting=False)
        elif action is Action.WAIT:
            self._wait(request, decision)
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
            self._writer.put(
                REQUESTS, _body(request.name, request.resource_version), status.to_api(), self._free_claim(decision)
            )
        elif action is Action.CLEANUP:
            await self._clean_up(request, decision)

    def _wait(self, request: RequestView, decision: RequestDecision) -> None:
        assert self._writer is not None
        message = decision.message
        if decision.position is not None and decision.position > EXACT_POSITIONS:
            # Exact positions further back would rewrite every waiting request at each hand-off: the first few
            # are told exactly, the others once (the policy's status.queue lists the order).
            prefix = message.split("; position", 1)[0] if "; position" in message else ""
            message = (f"{prefix}; " if prefix and not prefix.startswith("position") else "") + (
                f"more than {EXACT_POSITIONS} requests ahead (policy {decision.policy}'s status.queue lists the "
                f"next {QUEUE_PREVIEW})"
            )
        current = request.status
        reason = decision.reason or WaitReason.QUEUED
        if (
            current.phase is Phase.WAITING
            and current.policy == decision.policy
            and current.message == message
            and current.queued_at == decision.queued_at
            and current.observed_generation == request.generation
            and _waiting_reason(current) == reason
        ):
            return
        base = {} if decision.new_cycle or current.phase is not Phase.WAITING else current.model_dump()
        # A node held back by its own blockers (not its policy's) carries a Blocked condition: Events mark changes.
        policy = self.decisions.policies.get(decision.policy or "") if self.decisions is not None else None
        # Whether its own blockers hold it: known only when nothing else holds it first (a pause, the stop, a closed
        # window, a skip: then its Blocked condition is kept as it was, and no "Unblocked" is told, issue 14).
        node_blocked: bool | None = None
        if decision.reason is WaitReason.BLOCKED and policy is not None and policy.blocked is None:
            node_blocked = True
        elif decision.reason is WaitReason.QUEUED:
            node_blocked = False
        conditions, after = (
            self._announcer.request_conditions(request, blocked=node_blocked, why=decision.note, now=self.clock())
            if self._announcer is not None
            else (current.conditions, None)
        )
        # Why it waits, as a condition too (kubectl wait, dashboards): its reason is the wait reason. It has waited
        # since it was queued (a time that stays the same from one decision to the next, unlike the clock).
        waiting = ConditionIntent(RequestConditionType.WAITING, ConditionStatus.TRUE, reason, message)
        since = decision.queued_at or self.clock()
        conditions = merge_conditions(conditions, [waiting], now=since, generation=request.generation)
        status = NodeRebootRequestStatus.model_validate(
            {
                **base,
                "phase": Phase.WAITING,
                "policy": decision.policy,
                "message": message,
                "queued_at": decision.queued_at,
                "observed_generation": request.generation,
                "conditions": conditions,
            }
        )
        self._writer.put(REQUESTS, _body(request.name, request.resource_version), status.to_api(), after)

    async def _clean_up(self, request: RequestView, decision: RequestDecision) -> None:
        """The node is gone (e.g. scaled away): stop its cycle, free its slot, delete the request."""
        assert self.api is not None
        task = self._cycles.pop(request.name, None)
        if task is not None:
            task.cancel()
        policy = decision.policy or request.status.policy
        if policy is not None:
            with contextlib.suppress(Conflict):
                await release_slot(self.api, policy, request.name, completed_at=None)
        custom = client.CustomObjectsApi(self.api)
        try:
            await custom.delete_cluster_custom_object("rollboot.dev", "v1alpha1", REQUESTS, request.name)
            log.info("request %s deleted: its node no longer exists", request.name)
        except ApiException as error:
            if error.status != 404:
                log.warning("could not delete request %s: %s", request.name, error.reason)

    # -- an admin's controls -------------------------------------------------------------------------------

    async def _cancel_started(self, request: RequestView, decision: RequestDecision, now: datetime.datetime) -> None:
        """An admin's cancel of a cycle cordoning or draining: written first, then the cycle stopped, then the node
        handed back (``interventions``). A cycle that authorized the reboot meanwhile wins, and finishes."""
        assert self.api is not None
        try:
            cancelled = await interventions.cancel_started(self.api, request, note=decision.message, now=now)
        except Conflict:
            self._kick.set()
            return
        if cancelled is None:
            return
        task = self._cycles.pop(request.name, None)
        if task is not None:
            await cancel_and_wait([task], quiet=True)
        policy = self.state.policy(decision.policy) if self.state is not None and decision.policy else None
        labels = policy.spec.node_labels if policy is not None and policy.spec is not None else None
        try:
            await interventions.hand_back(
                self.api, cancelled, policy=decision.policy, labels=labels, note=decision.message
            )
        except KubeEffectError as error:
            log.warning("could not hand node %s back after its cancel; trying again: %s", request.name, error)
            self._kick.set()

    def _free_claim(self, decision: RequestDecision) -> AfterWrite | None:
        """For a request cancelled after its slot was claimed, before its cycle began: free the claim once the
        cancel is written (then no cycle can start on the version the claim was made for)."""
        policy = self.state.policy(decision.policy) if self.state is not None and decision.policy else None
        if policy is None or decision.name not in policy.status.slots or self.api is None:
            return None
        api, name = self.api, decision.name

        async def free() -> None:
            with contextlib.suppress(Conflict):
                await release_slot(api, policy.name, name, completed_at=None)

        return free

    async def _tidy_controls(self, nodes: Mapping[str, NodeView], requests: Mapping[str, RequestView]) -> None:
        """A cancel with nothing (left) to cancel is removed; a reboot-now is removed once its node's cycle has
        started (written by the cycle, so no race with its start), or gets a request if the node has none."""
        assert self.api is not None and self.decisions is not None
        for name, node in nodes.items():
            if not (node.facts.cancel or node.reboot_now is not None):
                continue
            decision = self.decisions.requests.get(name)
            try:
                if node.facts.cancel and (decision is None or decision.action is Action.NONE):
                    await node_effects.ensure_annotation_gone(self.api, name, CANCEL)
                elif node.reboot_now is not None and name not in requests:
                    await interventions.create_request(self.api, name)
                elif node.reboot_now is not None and requests[name].status.phase in ACTIVE_PHASES:
                    await node_effects.ensure_annotation_gone(self.api, name, REBOOT_NOW, node.reboot_now)
            except (KubeEffectError, ApiException) as error:
                log.warning("node %s: could not act on an admin's control: %s", name, error)

    # -- cycles --------------------------------------------------------------------------------------------

    def _run_cycle(self, name: str, policy: str, *, starting: bool, decided: RequestView | None = None) -> None:
        assert self.api is not None
        running = self._cycles.get(name)
        if running is not None and not running.done():
            return
        failure = self._cycle_failures.get(name)
        if failure is not None and failure[1] > self.clock() and not starting:
            return
        cycle = Cycle(
            api=self.api,
            world=self,
            name=name,
            policy=policy,
            clock=self.clock,
            starting=starting,
            decided_version=decided.resource_version if decided is not None else None,
            known=decided.as_stored() if decided is not None else None,
        )
        task = asyncio.create_task(cycle.run(), name=f"cycle-{name}")
        self._cycles[name] = task
        task.add_done_callback(functools.partial(self._cycle_done, name))

    def _cycle_done(self, name: str, task: asyncio.Task[None]) -> None:
        if self._cycles.get(name) is task:
            del self._cycles[name]
        if task.cancelled():
            return
        error = task.exception()
        if error is None:
            self._cycle_failures.pop(name, None)
        else:
            count = self._cycle_failures.get(name, (0, self.clock()))[0] + 1
            delay = min(CYCLE_RESTART_BACKOFF[0] * 2 ** (count - 1), CYCLE_RESTART_BACKOFF[1])
            log.error("cycle of %s stopped on an error (retrying in %.0fs): %s", name, delay, error, exc_info=error)
            self._cycle_failures[name] = (count, self.clock() + datetime.timedelta(seconds=delay))
            asyncio.get_running_loop().call_later(delay, self._kick.set)
            self._report_cycle_error(name, error, attempt=count, delay=delay)
        self._kick.set()

    def _report_cycle_error(self, name: str, error: BaseException, *, attempt: int, delay: float) -> None:
        """Say on the request (its message and a Warning Event, on its node too) that its cycle stopped on an
        unexpected error and when it is tried again: a node left cordoned must never be explained only in a log
        (issue 13). The cycle's next step rewrites the message; the Event stays."""
        message = f"its cycle stopped on an unexpected error (attempt {attempt}, retrying in {delay:.0f}s): " + (
            _error_text(error)
        )
        request = self._freshest(REQUESTS, self.state.requests()).get(name) if self.state is not None else None
        policy = request.status.policy if request is not None else None
        metrics.CYCLE_ERRORS.labels(policy or "").inc()
        if self.api is None or request is None:
            return
        node = self.state.node(name) if self.state is not None else None
        events = background()
        for involved in (
            ObjectRef.node(name, node.uid if node is not None else ""),
            ObjectRef(kind="NodeRebootRequest", name=name, uid=request.uid, api_version=API_VERSION),
        ):
            events.submit(self.api, involved=involved, reason="CycleError", message=message, type=EventType.WARNING)
        if self._writer is not None and request.status.phase in ACTIVE_PHASES:
            status = with_fields(request.status, message=message)
            self._writer.put(REQUESTS, _body(name, request.resource_version), status)


_View = TypeVar("_View", RequestView, PolicyView)


def _matters(before: RequestView | PolicyView | None, after: RequestView | PolicyView) -> bool:
    """Whether a status change can change a decision: anything but a waiting request's new message."""
    if isinstance(after, RequestView):
        if not isinstance(before, RequestView):
            return after.status.phase is not Phase.WAITING
        return before.status.phase != after.status.phase and after.status.phase is not Phase.WAITING
    if not isinstance(before, PolicyView):
        return True
    return (
        before.status.slots != after.status.slots
        or before.status.failure_budget != after.status.failure_budget
        or before.status.last_completion_at != after.status.last_completion_at
    )


def _error_text(error: BaseException) -> str:
    """An error for a status message: its type and text on one line, at most a few hundred characters."""
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text if len(text) <= ERROR_TEXT else text[: ERROR_TEXT - 1] + "…"


def _waiting_reason(status: NodeRebootRequestStatus) -> str | None:
    found = next((c for c in status.conditions if c.type == RequestConditionType.WAITING), None)
    return found.reason if found is not None else None


def _newer(version: str, than: str) -> bool:
    """Whether resourceVersion ``version`` is newer than ``than``. They are opaque by contract, but etcd's are
    revisions; anything else is never taken as newer, so the watch stays the truth."""
    return version.isdigit() and than.isdigit() and int(version) > int(than)


def _body(name: str, resource_version: str) -> dict[str, Any]:
    """What a status write needs of the object: its name and the resourceVersion the decision was made from."""
    return {"metadata": {"name": name, "resourceVersion": resource_version}}
