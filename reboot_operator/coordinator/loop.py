"""The coordinator's loop: when to decide (wake, coalesce, timing), and one pass of deciding and carrying out.

It wakes on watch events (a request created or changed, a node's Ready/boot ID/cordon/labels changed, a policy
edited) and at the exact instant the decision may change by itself (a window opening, an interval ending), never
on a polling tick. Each pass reads the watched state, asks the decision core (a ``Decider`` kept from pass to pass,
which redoes only what changed), then has the decisions carried out (``apply.py``): slots claimed and cycles
started (``supervise.py``), waiting requests told why, withdrawn ones cancelled, gone ones cleaned up, policy
statuses kept current; it asks the blockers (``blockers/gate.py``) only where a decision depends on them, and keeps
the reboot-pending taint (``taints.py``) and an admin's controls (``api/controls.py``) in step.

Blockers are the one thing that changes with no Kubernetes event (alerts): while something is blocked, the loop
also wakes up to look again (``BlockerGate.next_check``). Status writes go through the coalescing status writer
(``writer.py``): a burst of events costs one write per object, not one per event.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import gc
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from kubernetes_asyncio import client

from reboot_operator.blockers.cache import DEFAULT_TTL
from reboot_operator.blockers.gate import BlockerGate
from reboot_operator.coordinator.apply import DecisionApplier
from reboot_operator.coordinator.claims import ClaimsUnderWay
from reboot_operator.coordinator.cycleworld import CycleWorld
from reboot_operator.coordinator.facts import KeptFacts
from reboot_operator.coordinator.supervise import ORPHAN_GRACE, CycleSupervisor
from reboot_operator.coordinator.taints import PendingTaints
from reboot_operator.coordinator.unseen import OwnWrites, QueueTimes
from reboot_operator.coordinator.writer import StatusWriter
from reboot_operator.core.decide import Decider
from reboot_operator.core.decisions import Decisions
from reboot_operator.kube import statuses
from reboot_operator.kube.node_view import NodeView
from reboot_operator.kube.statuses import POLICIES, REQUESTS
from reboot_operator.notify import Notifier, policy_events
from reboot_operator.notify.sender import secret_reader
from reboot_operator.rollout.announce import Announcer
from reboot_operator.rollout.world import utcnow
from reboot_operator.runtime import metrics
from reboot_operator.runtime.aiotasks import cancel_and_wait
from reboot_operator.watch.observed import PolicyView, RequestView

log = logging.getLogger(__name__)

COALESCE_SECONDS = 0.02
"""After a wake-up, how long to let further events pile up before deciding: a burst becomes one decision."""


class State(Protocol):
    """The watched state as the coordinator reads it (``informers.WatchedState`` in production)."""

    def node(self, name: str) -> NodeView | None: ...

    def policy(self, name: str) -> PolicyView | None: ...

    def request(self, name: str) -> RequestView | None: ...

    def nodes(self) -> Mapping[str, NodeView]: ...

    def requests(self) -> Mapping[str, RequestView]: ...

    def policies(self) -> Mapping[str, PolicyView]: ...

    def stopped(self) -> str | None: ...


@dataclass
class _Running:
    """The parts that live from ``start`` to ``stop``."""

    api: client.ApiClient
    state: State
    writer: StatusWriter
    gate: BlockerGate
    taints: PendingTaints
    cycles: CycleSupervisor
    applier: DecisionApplier
    unlisten: Callable[[], None]
    claims: ClaimsUnderWay
    task: asyncio.Task[None] | None = None


@dataclass
class Coordinator:
    """Decides and acts; see the module docstring. ``start`` it on an API client and a watched state.

    Its caches are its parts' (``facts.KeptFacts``, the ``Decider``, the applier's, the taints', the writer's, the
    supervisor's): each says its rule. A pass that fails starts the decision and its facts afresh."""

    clock: Callable[[], datetime.datetime] = utcnow
    blocker_ttl: float = DEFAULT_TTL
    orphan_grace: datetime.timedelta = ORPHAN_GRACE
    notifier: Notifier | None = None
    decisions: Decisions | None = None
    passes: int = 0
    _run: _Running | None = None
    _kick: asyncio.Event = field(default_factory=asyncio.Event)
    _freed: asyncio.Event = field(default_factory=asyncio.Event)
    _decider: Decider = field(default_factory=Decider)
    _own: OwnWrites | None = None
    _queue_times: QueueTimes = field(default_factory=QueueTimes)
    _announcer: Announcer | None = None
    _facts: KeptFacts = field(default_factory=KeptFacts)
    _last_pass_seconds: float = 0.0
    _started_at: float | None = None
    _computing: float = 0.0
    _world: CycleWorld | None = None

    # -- wiring --------------------------------------------------------------------------------------------

    def start(self, api: client.ApiClient, state: State) -> None:
        """Begin deciding; idempotent (the first watch event of any kind calls it)."""
        if self._run is not None:
            return
        notifier = self.notifier = self.notifier or Notifier(
            read_secret=secret_reader(api), on_failure=policy_events(api)
        )
        own = self._own = OwnWrites(kick=self.kick, known=self._known, on_freed=self._freed.set)
        world = self._world = CycleWorld(
            node=state.node, policy=state.policy, own=own, notifier=notifier, kick=self.kick
        )
        self._announcer = Announcer(api, world.notify)
        writer = StatusWriter(api, on_failure=self._write_failed)
        cycles = world.cycles = CycleSupervisor(
            api=api,
            world=world,
            clock=self.clock,
            kick=self.kick,
            writer=writer,
            request=lambda name: own.freshest(REQUESTS, state.requests()).get(name),
            node=state.node,
            orphan_grace=self.orphan_grace,
        )
        applier = DecisionApplier(
            api=api,
            writer=writer,
            cycles=cycles,
            own=own,
            queue_times=self._queue_times,
            announcer=self._announcer,
            policy=state.policy,
            kick=self.kick,
        )
        self._run = _Running(
            api=api,
            state=state,
            writer=writer,
            gate=BlockerGate(api, on_change=self.kick, ttl=self.blocker_ttl),
            taints=PendingTaints(api, on_failure=self._taint_failed),
            cycles=cycles,
            applier=applier,
            unlisten=statuses.listen(self._wrote),
            claims=ClaimsUnderWay(kick=self._claim_ended),
        )
        self._started_at = time.monotonic()
        _keep_from_the_collector()  # the listing, just made
        self._run.task = asyncio.create_task(self._loop(), name="rollboot-coordinator")
        self._kick.set()

    async def stop(self) -> None:
        run, self._run = self._run, None
        if run is not None:
            await cancel_and_wait([run.task], quiet=True)
            await run.claims.stop()
            await run.cycles.stop()
            await run.writer.stop()
            for part in (run.gate, run.taints):
                await part.stop()
            run.unlisten()
        if self.notifier is not None:
            await self.notifier.stop()
        # Started again (leadership regained), it begins from the API, as a new process would.
        self._facts.clear()
        self._queue_times.clear()
        self._afresh()
        self._own = self._world = None
        self.decisions = None
        self.notifier = None
        self._announcer = None

    @property
    def state(self) -> State | None:
        return self._run.state if self._run is not None else None

    def kick(self) -> None:
        self._kick.set()

    def _claim_ended(self) -> None:
        """A claim ended (``claims.py``): a pass made while it was under way started nothing in its policy, so the
        next pass is due now, as when a slot is freed (no wait for a burst)."""
        if self._own is not None:
            self._own.freed = True
        self._freed.set()
        self._kick.set()

    def _write_failed(self, plural: str, name: str) -> None:
        """A status write failed (not a conflict): carry its decision out again on the next pass."""
        if plural == REQUESTS and self._run is not None:
            self._run.applier.forget(name)
            self._facts.touch(name)
        elif self._run is not None:
            self._run.applier.forget_policy(name)
        self._kick.set()

    def _taint_failed(self, name: str) -> None:
        self._facts.touch(name)
        self._kick.set()

    # -- what the informers tell (informers.Listener) -------------------------------------------------------

    def node_observed(self, view: NodeView) -> None:
        """A node event: wake waiters and the loop only if something the decisions use has changed."""
        if not self._facts.node_seen(view):
            return
        if self._run is not None:
            self._run.cycles.signal(view.name)
        self._kick.set()

    def node_deleted(self, name: str) -> None:
        self._facts.node_gone(name)
        if self._run is not None:
            self._run.cycles.signal(name)
        self._kick.set()

    def changed(self, plural: str, name: str, resource_version: str) -> None:
        """A watch event about one of our resources: decide again, unless it only echoes a write of ours."""
        if plural == REQUESTS:
            self._facts.touch(name)  # even an echo: the view now comes from the watch instead of our write
        if self._own is None or not self._own.echoes(plural, name, resource_version):
            self._kick.set()

    def _wrote(self, plural: str, body: dict[str, Any]) -> None:
        """A status written by this process (``statuses.listen``)."""
        if plural == REQUESTS:
            self._facts.touch(body["metadata"]["name"])
        if self._own is not None:
            self._own.wrote(plural, body)

    def _known(self, plural: str, name: str) -> RequestView | PolicyView | None:
        state = self.state
        if state is None:
            return None
        return state.request(name) if plural == REQUESTS else state.policy(name)

    def snapshot(self) -> metrics.Snapshot:
        """What the metrics endpoint reports, read at scrape time."""
        state = self.state
        if state is None:
            return metrics.Snapshot(active=False, nodes=(), requests={}, decisions=None)
        return metrics.Snapshot(
            active=True, nodes=tuple(sorted(state.nodes())), requests=state.requests(), decisions=self.decisions
        )

    # -- the loop ------------------------------------------------------------------------------------------

    async def _loop(self) -> None:
        assert self._run is not None
        gate = self._run.gate
        while True:
            timeout = None
            if self.decisions is not None and self.decisions.next_wakeup is not None:
                timeout = max(0.0, (self.decisions.next_wakeup - self.clock()).total_seconds())
            recheck = gate.next_check()
            if recheck is not None:
                timeout = recheck if timeout is None else min(timeout, recheck)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), timeout)
            await self._burst()
            self._kick.clear()
            started = time.monotonic()
            self._computing = 0.0
            if self._run.claims.failed:  # as a failed pass: decide afresh
                self._run.claims.failed = False
                self._afresh()
            try:
                await self._pass(self._run)
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop outlives a failed pass, whatever failed: the next pass decides afresh
                log.exception("decision pass failed; retrying shortly")
                self._afresh()
                await asyncio.sleep(1.0)
                self._kick.set()
            # Only the pass's own computing counts, not its waits on the API (claims, blockers): those leave the
            # event loop free for everything else.
            self._last_pass_seconds = self._computing
            self.passes += 1
            if self.passes == 1:
                _keep_from_the_collector()  # what the first decision built
            if self.passes == 1 and self._started_at is not None:
                log.info(
                    "first decision made %.2fs after the coordinator started (the pass took %.3fs, %.3fs of it "
                    "computing)",
                    time.monotonic() - self._started_at,
                    time.monotonic() - started,
                    self._computing,
                )

    async def _burst(self) -> None:
        """Let a burst of events pile up before a pass; when passes grow expensive (thousands of requests), wait as
        long as the last one took, so deciding never takes more than half of the loop's time. A slot just freed by
        our own write (a cycle ended) is no burst: the next node starts without the wait, and a wait already begun
        when the slot is freed ends then (at 15,000 nodes it could be a whole pass's time)."""
        own = self._own
        if own is None or not own.freed:
            self._freed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._freed.wait(), max(COALESCE_SECONDS, self._last_pass_seconds))
        if own is not None:
            own.freed = False

    def _afresh(self) -> None:
        """Decide the next pass from scratch, as a new process would."""
        self._decider = Decider()
        self._facts.afresh()

    @contextlib.contextmanager
    def _compute(self) -> Iterator[None]:
        """Count the time of a stretch of a pass that never awaits the API."""
        began = time.monotonic()
        try:
            yield
        finally:
            self._computing += time.monotonic() - began

    async def _pass(self, run: _Running) -> None:
        """One decision, carried out. ``now`` is read once, here: everything the pass decides or writes uses it.
        Nothing in it walks every node or request: the facts, the decisions, the taints, the decisions carried out,
        the cordons and the controls are looked at for the names that changed (``KeptFacts``,
        ``Decisions.changed``)."""
        assert self._own is not None
        now = self.clock()
        stop = run.state.stopped()
        if self._world is not None:
            self._world.stop(stop)
        facts = self._facts
        with self._compute():
            nodes = run.state.nodes()
            requests = self._own.freshest(REQUESTS, run.state.requests())
            policies = self._own.freshest(POLICIES, run.state.policies())
            policy_facts = [f for f in (p.facts() for p in policies.values()) if f is not None]
            touched = facts.update(nodes, requests, policies)
            queued_since = self._queue_times.steady(requests)
        changed: set[str] | None = set(touched) if touched is not None else None

        def decide_with(blocked_policies: Mapping[str, str], blocked_nodes: Mapping[str, str]) -> Decisions:
            nonlocal touched, changed
            with self._compute():
                decided = self._decider.decide(
                    policies=policy_facts,
                    requests=facts.requests,
                    nodes=facts.nodes,
                    now=now,
                    blocked_policies=blocked_policies,
                    blocked_nodes=blocked_nodes,
                    queued_since=queued_since,
                    stop=stop,
                    touched=touched,
                )
                touched = set()  # the gate may decide again in this pass: on the same facts
                if changed is not None and decided.changed is not None:
                    changed.update(decided.changed)
                else:
                    changed = None
                return decided

        decisions = self.decisions = await run.gate.decide(decide_with, policies, facts.waiting())
        with self._compute():
            run.taints.reconcile(decisions, nodes, policies, changed)
        for policy in policies.values():
            if policy.spec is None:
                run.applier.report_unparseable(policy, now)
        # Policies are independent of each other: their claims go out side by side, and the loop does not wait for
        # them (``claims.py``). A policy whose spec cannot be parsed holds its nodes in the decision; its status is
        # report_unparseable's.
        summaries = []
        for name, decided in decisions.policies.items():
            policy = policies[name]
            if policy.spec is None or name in run.claims:
                continue
            carry_out = run.applier.apply_policy(policy, decided, requests, now, facts.running(name))
            if decided.started:
                run.claims.start(name, carry_out)
            else:
                summaries.append(carry_out)
        await asyncio.gather(*summaries)
        await asyncio.sleep(0)  # the claims just sent go out before the rest of the pass
        await run.cycles.sweep_orphaned_cordons(nodes, requests, now, facts.marked)
        await run.applier.tidy_controls(nodes, requests, decisions, facts.controlled)
        with self._compute():
            await run.applier.apply_requests(decisions, requests, now, changed)


def _keep_from_the_collector() -> None:
    """Move every object alive now out of the cyclic garbage collector's reach (``gc.freeze``): the views of a
    whole cluster listed at start-up (15,000 nodes and as many requests: millions of objects) live until replaced,
    and are then freed by reference counting, as none is part of a cycle. Left in its generations, each full
    collection would walk all of them: at 15,000 nodes that made one decision after one change 4 times slower and
    the first decision 5 times slower (``bench/bench_scale.py``)."""
    gc.freeze()
