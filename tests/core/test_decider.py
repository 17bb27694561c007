"""The incremental ``Decider`` gives, call after call, exactly what ``decide`` gives from scratch on the same input:
over random clusters and random sequences of events (requests moving through their cycle, nodes changing labels,
readiness, an admin's skip, cancel or reboot-now, policies edited, blockers and the stop coming and going, time
passing), each call compared whole (every request's decision, every policy's, the next wake-up)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reboot_operator.api import Phase
from reboot_operator.api.controls import Skip
from reboot_operator.core import Action, NodeFacts, PolicyFacts, decide
from reboot_operator.core.decide import Decider
from reboot_operator.core.decisions import Decisions
from tests.core.builders import NOW, ago, node, nodes, policy, request
from tests.core.test_properties import EVENTS, POOLS, Simulation, clusters, policy_sets

NODE_EVENTS = st.lists(
    st.one_of(
        st.tuples(st.just("relabel"), st.integers(0, 11), st.sampled_from(POOLS)),
        st.tuples(st.just("ready"), st.integers(0, 11), st.booleans()),
        st.tuples(st.just("skip"), st.integers(0, 11), st.sampled_from([None, 0, 30, 240])),
        st.tuples(st.just("cancel"), st.integers(0, 11), st.booleans()),
        st.tuples(st.just("reboot-now"), st.integers(0, 11), st.booleans()),
        st.tuples(st.just("priority"), st.integers(0, 3), st.integers(0, 3)),
        st.tuples(st.just("pause"), st.integers(0, 3), st.booleans()),
        st.tuples(st.just("blocker"), st.integers(0, 3), st.sampled_from([None, "alert firing"])),
        st.tuples(st.just("pods"), st.integers(0, 11), st.booleans()),
        st.tuples(st.just("stop"), st.sampled_from([None, "maintenance freeze"])),
        st.tuples(st.just("reset"), st.integers(0, 3), st.sampled_from(["t1", "t2"])),
        st.tuples(st.just("claim"), st.integers(0, 3), st.integers(0, 11)),
        st.tuples(st.just("same"), st.integers(0, 11)),
    ),
    max_size=30,
)


@dataclasses.dataclass
class Inputs:
    """What the operator would pass beside the facts: the blockers' verdicts and the stop."""

    blocked_policies: dict[str, str] = dataclasses.field(default_factory=dict)
    blocked_nodes: dict[str, str] = dataclasses.field(default_factory=dict)
    stop: str | None = None


def _node_event(sim: Simulation, inputs: Inputs, event: tuple[Any, ...]) -> None:
    kind, names = event[0], sorted(sim.nodes)
    if kind in ("priority", "pause", "blocker", "reset", "claim"):
        name = sorted(sim.policies)[event[1] % len(sim.policies)]
        facts = sim.policies[name]
        if kind == "reset":  # an admin's new resetToken: failed requests may start again
            budget = facts.spec.failure_budget.model_copy(update={"reset_token": event[2]})
            sim.policies[name] = dataclasses.replace(
                facts, spec=facts.spec.model_copy(update={"failure_budget": budget})
            )
        elif kind == "claim":  # a slot claimed in the policy's status, the request's own status not written yet
            sim.policies[name] = dataclasses.replace(facts, slots=facts.slots | {f"n{event[2]}"})
        elif kind == "priority":
            sim.policies[name] = dataclasses.replace(facts, spec=facts.spec.model_copy(update={"priority": event[2]}))
        elif kind == "pause":
            sim.policies[name] = dataclasses.replace(facts, spec=facts.spec.model_copy(update={"paused": event[2]}))
        elif event[2] is None:
            inputs.blocked_policies.pop(name, None)
        else:
            inputs.blocked_policies[name] = event[2]
        return
    if kind == "stop":
        inputs.stop = event[1]
        return
    if not names:
        return
    name = names[event[1] % len(names)]
    node = sim.nodes[name]
    if kind == "relabel":
        sim.nodes[name] = dataclasses.replace(node, labels={"pool": event[2]})
    elif kind == "ready":
        sim.nodes[name] = dataclasses.replace(node, ready=event[2])
    elif kind == "skip":
        until = None if event[2] is None else sim.now + timedelta(minutes=event[2])
        sim.nodes[name] = dataclasses.replace(node, skip=Skip(until=until, note="by a test"))
    elif kind == "cancel":
        sim.nodes[name] = dataclasses.replace(node, cancel=event[2])
    elif kind == "reboot-now":
        sim.nodes[name] = dataclasses.replace(node, reboot_now=event[2])
    elif kind == "pods":
        if event[2]:
            inputs.blocked_nodes[name] = "a blocking pod"
        else:
            inputs.blocked_nodes.pop(name, None)
    elif kind == "same":  # an equal but new object, as a watch event with no change brings
        sim.nodes[name] = dataclasses.replace(node)


def _touched(before: Mapping[str, object], after: Mapping[str, object]) -> set[str]:
    """The names whose object is not the very same one as before (added and removed ones included)."""
    return {name for name in before.keys() | after.keys() if before.get(name) is not after.get(name)}


@settings(max_examples=300, deadline=None)
@given(
    policies=policy_sets(windows=True),
    cluster=clusters(),
    events=EVENTS,
    node_events=NODE_EVENTS,
    hinted=st.booleans(),
    data=st.data(),
)
def test_the_decider_decides_as_decide_from_scratch_after_every_change(
    policies: list[PolicyFacts],
    cluster: dict[str, NodeFacts],
    events: list[tuple[Any, ...]],
    node_events: list[tuple[Any, ...]],
    hinted: bool,
    data: st.DataObject,
) -> None:
    """``hinted``: the Decider is told which requests and nodes changed (as the operator tells it), else it
    finds out by itself."""
    sim = Simulation(policies={p.name: p for p in policies}, nodes=dict(cluster))
    inputs = Inputs()
    decider = Decider()
    mixed = data.draw(st.permutations([*events, *node_events]))
    last_requests: dict[str, Any] = {}
    last_nodes: dict[str, Any] = {}
    last_decisions: Decisions | None = None
    for event in [("need", i) for i in range(12)] + mixed:
        if event[0] in {e[0] for e in node_events}:
            _node_event(sim, inputs, event)
        else:
            sim.event(event)
        arguments: dict[str, Any] = {
            "policies": list(sim.policies.values()),
            "nodes": dict(sim.nodes),
            "now": sim.now,
            "blocked_policies": dict(inputs.blocked_policies),
            "blocked_nodes": dict(inputs.blocked_nodes),
            "stop": inputs.stop,
        }
        expected = decide(requests=list(sim.requests.values()), **arguments)
        touched = _touched(last_requests, sim.requests) | _touched(last_nodes, sim.nodes) if hinted else None
        kept = decider.decide(requests=dict(sim.requests), touched=touched, **arguments)
        assert kept == expected, event
        _assert_changed_named(last_decisions, kept)
        # Deciding again on the same input changes nothing.
        again = decider.decide(requests=dict(sim.requests), touched=set() if hinted else None, **arguments)
        assert again == expected
        assert again.changed is not None, "the same input is no reason to start afresh"
        _assert_changed_named(kept, again)
        last_decisions = again
        last_requests, last_nodes = dict(sim.requests), dict(sim.nodes)
        sim.apply(expected)


def _assert_changed_named(before: Decisions | None, after: Decisions) -> None:
    """``Decisions.changed`` names every request whose decision is not the very object of the call before (the
    operator carries out only those again), unless it is None (the Decider started afresh: everything may be)."""
    if before is None or after.changed is None:
        return
    moved = {
        name
        for name in before.requests.keys() | after.requests.keys()
        if before.requests.get(name) is not after.requests.get(name)
    }
    assert moved <= after.changed, f"decisions changed but not named: {sorted(moved - after.changed)}"


QUEUED = request("n1", phase=Phase.WAITING, policy="p", observed=1, queued_at=ago(60))
"""A request whose queue time its status holds already: nothing about it changes from one call to the next."""


def test_a_policy_held_by_its_minimum_interval_starts_once_the_clock_passes_it_with_nothing_else_new() -> None:
    facts = policy("p", minIntervalBetweenReboots="1h", last_completion_at=ago(30))
    arguments: dict[str, Any] = {"policies": [facts], "requests": {"n1": QUEUED}, "nodes": nodes("n1")}
    decider = Decider()
    assert decider.decide(now=NOW, **arguments).requests["n1"].action is Action.WAIT
    later = NOW + timedelta(minutes=31)
    assert decider.decide(now=later, **arguments) == decide(
        policies=[facts], requests=[arguments["requests"]["n1"]], nodes=arguments["nodes"], now=later
    )
    assert decider.decide(now=later, **arguments).requests["n1"].action is Action.START


def test_a_node_skipped_until_a_time_starts_once_the_clock_passes_it_with_nothing_else_new() -> None:
    skipped = dataclasses.replace(node("n1"), skip=Skip(until=NOW + timedelta(minutes=10), note="by a test"))
    arguments: dict[str, Any] = {"policies": [policy("p")], "requests": {"n1": QUEUED}, "nodes": {"n1": skipped}}
    decider = Decider()
    assert decider.decide(now=NOW, **arguments).requests["n1"].action is Action.WAIT
    assert decider.decide(now=NOW + timedelta(minutes=11), **arguments).requests["n1"].action is Action.START


def test_a_slot_claimed_in_the_policys_status_puts_its_request_first_though_the_request_is_not_touched() -> None:
    waiting = {
        name: request(name, phase=Phase.WAITING, policy="p", observed=1, queued_at=ago(60 - i))
        for i, name in enumerate(("n1", "n2"))
    }
    arguments: dict[str, Any] = {"requests": waiting, "nodes": nodes("n1", "n2"), "now": NOW}
    decider = Decider()
    paused = policy("p", paused=True)
    assert decider.decide(policies=[paused], **arguments).policies["p"].queue == ("n1", "n2")
    claimed = dataclasses.replace(policy("p", maxConcurrent=1), slots=frozenset({"n2"}))
    kept = decider.decide(policies=[claimed], touched=set(), **arguments)
    assert kept.policies["p"].started == ("n2",)
    assert kept == decide(policies=[claimed], requests=list(waiting.values()), nodes=arguments["nodes"], now=NOW)


def test_a_failed_request_starts_again_after_a_budget_reset_though_the_request_is_not_touched() -> None:
    """A reset changes what classifying a failed request reads of its policy (whether it may start again):
    the policy's requests are classified again, not only those whose slot changed."""
    failed = {"a": request("a", phase=Phase.FAILED, policy="p", observed=1, completed_at=ago(60))}
    arguments: dict[str, Any] = {"requests": failed, "nodes": nodes("a"), "now": NOW}
    decider = Decider()
    spent = policy("p", failures=1, observed_reset_token="one", failureBudget={"maxFailures": 1, "resetToken": "one"})
    assert decider.decide(policies=[spent], **arguments).requests["a"].action is Action.NONE
    reset = policy("p", failures=1, observed_reset_token="one", failureBudget={"maxFailures": 1, "resetToken": "two"})
    kept = decider.decide(policies=[reset], touched=set(), **arguments)
    assert kept == decide(policies=[reset], requests=list(failed.values()), nodes=arguments["nodes"], now=NOW)
    assert kept.requests["a"].action is Action.START


def test_a_hand_off_changes_the_decisions_of_the_few_it_tells_something_new_and_keeps_the_others() -> None:
    """When the node in the slot completes and the first in line starts, the next three move to the exact places;
    those further back are decided alike, and keep their very decision (the operator carries out nothing for
    them: at 15,000 nodes in 50 policies, 300 per hand-off)."""
    names = [f"r{i}" for i in range(10)]
    waiting = {
        name: request(name, phase=Phase.WAITING, policy="p", observed=1, queued_at=ago(60 - i))
        for i, name in enumerate(names)
    }
    cluster = nodes("x", *names)
    rebooting = request("x", phase=Phase.REBOOTING, policy="p", observed=1)
    decider = Decider()
    before = decider.decide(policies=[policy("p")], requests={"x": rebooting, **waiting}, nodes=cluster, now=NOW)
    completed = request("x", phase=Phase.COMPLETED, policy="p", observed=1, completed_at=NOW)
    after = decider.decide(
        policies=[policy("p")], requests={"x": completed, **waiting}, nodes=cluster, now=NOW, touched={"x"}
    )
    assert after.policies["p"].started == ("r0",)
    assert after.changed == frozenset({"x", "r0", "r1", "r2", "r3"})
    assert [after.requests[n].position for n in ("r1", "r2", "r3")] == [1, 2, 3]
    assert all(after.requests[n] is before.requests[n] for n in names[4:]), "decided alike: the very same decision"
    assert after == decide(policies=[policy("p")], requests=[completed, *waiting.values()], nodes=cluster, now=NOW)
