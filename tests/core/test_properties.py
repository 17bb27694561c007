"""Properties of the decision over random clusters and random event sequences:

- never more than maxConcurrent nodes of a policy between start and finish (a lowered maxConcurrent only holds
  back new starts), counted with this test's own reading of docs/operator.md (which phases are in progress, what a
  percentage means), not with the product's ``ACTIVE_PHASES`` and ``capacity``, over requests spread across every
  phase of a cycle;
- every request eventually starts and completes when windows open and nothing fails;
- the same input gives the same decisions, whatever order it comes in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reboot_operator.api import ACTIVE_PHASES, Phase
from reboot_operator.core import Action, Decisions, NodeFacts, PolicyFacts, RequestFacts, decide
from reboot_operator.core.selection import capacity
from tests.core.builders import NOW, policy

POOLS = ("a", "b", "c")
MAX_CONCURRENT = st.one_of(st.integers(1, 3), st.sampled_from(["10%", "34%", "50%", "100%"]))


@st.composite
def policy_sets(draw: st.DrawFn, *, windows: bool = False) -> list[PolicyFacts]:
    """A catch-all policy plus up to three pool policies, all of distinct priorities (so no conflicts)."""
    pools = draw(st.lists(st.sampled_from(POOLS), max_size=3, unique=True))
    priorities = draw(st.permutations(range(1, len(pools) + 1)))
    found = [policy("all", priority=0, maxConcurrent=draw(MAX_CONCURRENT), **_windows(draw, windows))]
    for pool, priority in zip(pools, priorities, strict=True):
        selector = {"matchLabels": {"pool": pool}}
        extra = _windows(draw, windows)
        found.append(
            policy(
                f"pool-{pool}", priority=priority, nodeSelector=selector, maxConcurrent=draw(MAX_CONCURRENT), **extra
            )
        )
    return found


def _windows(draw: st.DrawFn, enabled: bool) -> dict[str, Any]:
    if not enabled:
        return {}
    hour = draw(st.integers(0, 23))
    return {
        "maintenanceWindows": [{"start": f"{hour:02d}:00", "end": f"{(hour + 2) % 24:02d}:00"}],
        "minIntervalBetweenReboots": draw(st.sampled_from(["0s", "5m", "1h"])),
    }


@st.composite
def clusters(draw: st.DrawFn) -> dict[str, NodeFacts]:
    count = draw(st.integers(1, 12))
    return {
        f"n{i}": NodeFacts(name=f"n{i}", labels={"pool": draw(st.sampled_from(POOLS))}, boot_id=f"b{i}")
        for i in range(count)
    }


IN_PROGRESS = ("Cordoning", "Draining", "Rebooting", "Verifying", "Uncordoning")
"""The phases between start and finish, in order, as docs/operator.md lists them: the oracle's own list."""


def allowed(max_concurrent: int | str, nodes: int) -> int:
    """maxConcurrent as docs/operator.md means it: a count, or a percentage of the policy's nodes rounded down but
    at least one. The oracle's own arithmetic."""
    if isinstance(max_concurrent, int):
        return max_concurrent
    return max(1, nodes * int(max_concurrent[:-1]) // 100)


EVENTS = st.lists(
    st.one_of(
        st.tuples(st.just("progress"), st.integers(0, 11)),
        st.tuples(st.just("progress"), st.integers(0, 11)),
        st.tuples(st.just("need"), st.integers(0, 11)),
        st.tuples(st.just("withdraw"), st.integers(0, 11)),
        st.tuples(st.just("finish"), st.integers(0, 11)),
        st.tuples(st.just("fail"), st.integers(0, 11)),
        st.tuples(st.just("advance"), st.integers(1, 180)),
        st.tuples(st.just("resize"), st.integers(0, 3), MAX_CONCURRENT),
        st.tuples(st.just("delete"), st.integers(0, 11)),
    ),
    max_size=40,
)


@dataclasses.dataclass
class Simulation:
    """A tiny stand-in for the operator and the agents: it applies decisions and events to the facts."""

    policies: dict[str, PolicyFacts]
    nodes: dict[str, NodeFacts]
    requests: dict[str, RequestFacts] = dataclasses.field(default_factory=dict)
    now: datetime = NOW

    def decide(self) -> Decisions:
        return decide(
            policies=list(self.policies.values()), requests=list(self.requests.values()), nodes=self.nodes, now=self.now
        )

    def in_progress(self, policy_name: str) -> set[str]:
        return {n for n, r in self.requests.items() if r.phase in IN_PROGRESS and r.policy == policy_name}

    def governed(self, policy_name: str) -> int:
        """How many nodes ``policy_name`` governs: a pool policy its pool's, the catch-all the others."""
        pools = {name.removeprefix("pool-") for name in self.policies if name.startswith("pool-")}
        return sum(
            1
            for n in self.nodes.values()
            if (f"pool-{n.labels['pool']}" if n.labels["pool"] in pools else "all") == policy_name
        )

    def apply(self, decisions: Decisions) -> None:
        for name, d in decisions.requests.items():
            r = self.requests[name]
            if d.action is Action.START:
                self.requests[name] = dataclasses.replace(
                    r, phase=Phase.CORDONING, policy=d.policy, queued_at=d.queued_at, observed_generation=r.generation
                )
            elif d.action is Action.WAIT:
                self.requests[name] = dataclasses.replace(
                    r, phase=Phase.WAITING, policy=d.policy, queued_at=d.queued_at, observed_generation=r.generation
                )
            elif d.action is Action.CANCEL:
                self.requests[name] = dataclasses.replace(
                    r, phase=Phase.CANCELLED, observed_generation=r.generation, completed_at=self.now
                )
            elif d.action is Action.CLEANUP:
                del self.requests[name]
        for name, p in decisions.policies.items():
            self.policies[name] = dataclasses.replace(
                self.policies[name], slots=frozenset(p.slots), last_completion_at=p.last_completion_at
            )

    def event(self, event: tuple[Any, ...]) -> None:
        kind = event[0]
        names = sorted(self.nodes)
        running = sorted(n for n, r in self.requests.items() if r.phase in IN_PROGRESS)
        if kind == "progress" and running:
            name = running[event[1] % len(running)]
            r = self.requests[name]
            following = IN_PROGRESS[min(IN_PROGRESS.index(r.phase) + 1, len(IN_PROGRESS) - 1)]
            self.requests[name] = dataclasses.replace(r, phase=Phase(following))
        elif kind in ("need", "withdraw") and names:
            name = names[event[1] % len(names)]
            old = self.requests.get(name)
            generation = old.generation + 1 if old else 1
            base = old or RequestFacts(name=name, generation=generation, wants_reboot=True)
            self.requests[name] = dataclasses.replace(base, generation=generation, wants_reboot=kind == "need")
        elif kind in ("finish", "fail") and running:
            name = running[event[1] % len(running)]
            r = self.requests[name]
            phase = Phase.COMPLETED if kind == "finish" else Phase.FAILED
            self.requests[name] = dataclasses.replace(r, phase=phase, completed_at=self.now, wants_reboot=False)
            if kind == "fail" and r.policy in self.policies:
                facts = self.policies[r.policy]
                self.policies[r.policy] = dataclasses.replace(facts, failures=facts.failures + 1)
        elif kind == "advance":
            self.now += timedelta(minutes=event[1])
        elif kind == "resize":
            name = sorted(self.policies)[event[1] % len(self.policies)]
            facts = self.policies[name]
            spec = facts.spec.model_copy(update={"max_concurrent": event[2]})
            self.policies[name] = dataclasses.replace(facts, spec=spec)
        elif kind == "delete" and names:
            del self.nodes[names[event[1] % len(names)]]


def _capacities(decisions: Decisions, policies: Mapping[str, PolicyFacts]) -> dict[str, int]:
    return {
        name: capacity(policies[name].spec.max_concurrent, d.counts.selected) for name, d in decisions.policies.items()
    }


@settings(max_examples=200, deadline=None)
@given(policies=policy_sets(), cluster=clusters(), events=EVENTS)
def test_never_more_than_max_concurrent_between_start_and_finish(
    policies: list[PolicyFacts], cluster: dict[str, NodeFacts], events: list[tuple[Any, ...]]
) -> None:
    sim = Simulation(policies={p.name: p for p in policies}, nodes=dict(cluster))
    for event in [("need", i) for i in range(12)] + events:
        sim.event(event)
        before = {name: sim.in_progress(name) for name in sim.policies}
        sim.apply(sim.decide())
        for name, facts in sim.policies.items():
            after = sim.in_progress(name)
            limit = allowed(facts.spec.max_concurrent, sim.governed(name))
            if after - before[name]:
                assert len(after) <= limit, (name, sorted(after), limit)
            assert len(after) <= max(limit, len(before[name])), "a lowered limit only holds back new starts"


@settings(max_examples=100, deadline=None)
@given(policies=policy_sets(), cluster=clusters(), events=EVENTS)
def test_free_slots_are_used(
    policies: list[PolicyFacts], cluster: dict[str, NodeFacts], events: list[tuple[Any, ...]]
) -> None:
    """The other side of the limit: while requests wait for no other reason, a policy fills its slots."""
    sim = Simulation(policies={p.name: p for p in policies}, nodes=dict(cluster))
    for event in [("need", i) for i in range(12)] + events:
        sim.event(event)
        sim.apply(sim.decide())
        for name, facts in sim.policies.items():
            waiting = [
                n
                for n, r in sim.requests.items()
                if r.phase is Phase.WAITING and r.policy == name and r.wants_reboot and facts.failures == 0
            ]
            limit = allowed(facts.spec.max_concurrent, sim.governed(name))
            if waiting and facts.spec.failure_budget.max_failures > 0:
                assert len(sim.in_progress(name)) >= limit, (name, waiting, sorted(sim.in_progress(name)), limit)


@settings(max_examples=100, deadline=None)
@given(policies=policy_sets(windows=True), cluster=clusters())
def test_every_request_completes_when_windows_open_and_nothing_fails(
    policies: list[PolicyFacts], cluster: dict[str, NodeFacts]
) -> None:
    sim = Simulation(policies={p.name: p for p in policies}, nodes=dict(cluster))
    for name in cluster:
        sim.event(("need", int(name[1:])))
    for _ in range(20 * len(cluster) + 10):
        decisions = sim.decide()
        sim.apply(decisions)
        if all(r.phase is Phase.COMPLETED for r in sim.requests.values()):
            break
        running = [n for n, r in sim.requests.items() if r.phase in ACTIVE_PHASES]
        for _ in running:
            sim.event(("finish", 0))
        if not running and not decisions.with_action(Action.START):
            assert decisions.next_wakeup is not None, "waiting with nothing to wake up for"
            sim.now = decisions.next_wakeup
    assert all(r.phase is Phase.COMPLETED for r in sim.requests.values())


@settings(max_examples=100, deadline=None)
@given(policies=policy_sets(windows=True), cluster=clusters(), events=EVENTS, data=st.data())
def test_same_input_same_decisions_in_any_order(
    policies: list[PolicyFacts], cluster: dict[str, NodeFacts], events: list[tuple[Any, ...]], data: st.DataObject
) -> None:
    sim = Simulation(policies={p.name: p for p in policies}, nodes=dict(cluster))
    for event in [("need", i) for i in range(12)] + events:
        sim.event(event)
        sim.apply(sim.decide())
    reference = sim.decide()
    shuffled_policies = data.draw(st.permutations(list(sim.policies.values())))
    shuffled_requests = data.draw(st.permutations(list(sim.requests.values())))
    shuffled_nodes = dict(data.draw(st.permutations(list(sim.nodes.items()))))
    again = decide(policies=shuffled_policies, requests=shuffled_requests, nodes=shuffled_nodes, now=sim.now)
    assert again == reference


@settings(max_examples=100, deadline=None)
@given(policies=policy_sets(), cluster=clusters(), events=EVENTS, data=st.data())
def test_blocked_nodes_never_start_and_never_keep_a_ready_one_from_a_free_slot(
    policies: list[PolicyFacts], cluster: dict[str, NodeFacts], events: list[tuple[Any, ...]], data: st.DataObject
) -> None:
    sim = Simulation(policies={p.name: p for p in policies}, nodes=dict(cluster))
    for event in [("need", i) for i in range(12)] + events:
        sim.event(event)
        blocked = {n: "pods" for n in data.draw(st.sets(st.sampled_from(sorted(cluster))))}
        decisions = decide(
            policies=list(sim.policies.values()),
            requests=list(sim.requests.values()),
            nodes=sim.nodes,
            now=sim.now,
            blocked_nodes=blocked,
        )
        limits = _capacities(decisions, sim.policies)
        for name, decision in decisions.policies.items():
            assert not set(decision.started) & set(blocked)
            unblocked_waiting = [
                n for n in decision.queue if n not in blocked and sim.nodes[n].ready and decision.blocked is None
            ]
            if unblocked_waiting:
                assert decision.counts.in_progress >= limits[name], "a blocked node kept a ready one from its slot"
        sim.apply(decisions)
