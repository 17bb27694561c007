"""Carrying out a policy's decision (``coordinator/apply.py``), fast, over the in-memory stand-in
(``tests/operator/memory.py``): the claim passes the policy's capacity (maxConcurrent, a percentage of the nodes it
governs) and the requests already running under it to the compare-and-swap, so a decision made on a stale view
never puts more nodes in progress than maxConcurrent allows, and only the requests that won a slot get a cycle.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest

from reboot_operator.coordinator.apply import DecisionApplier
from reboot_operator.coordinator.facts import KeptFacts
from reboot_operator.coordinator.supervise import CycleSupervisor
from reboot_operator.coordinator.unseen import OwnWrites, QueueTimes
from reboot_operator.coordinator.writer import StatusWriter
from reboot_operator.core import decide
from reboot_operator.core.decisions import Action
from reboot_operator.kube.node_view import node_view
from reboot_operator.watch.observed import policy_view, request_view
from tests.operator.memory import START, MemoryApi, MemoryWorld, node, policy, request

POLICY = "pool-a"
NODES = ("a", "b", "c", "d")


@dataclasses.dataclass
class Setup:
    memory: MemoryApi
    applier: DecisionApplier
    cycles: CycleSupervisor


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    memory = MemoryApi()
    for name in NODES:
        memory.put("nodes", node(name))
        memory.put("noderebootrequests", request(name))
    api = await memory.client()
    world = MemoryWorld(memory)
    writer = StatusWriter(api, workers=0)  # status summaries are not this test's subject: none is sent
    cycles = CycleSupervisor(
        api=api,
        world=world,
        clock=world.clock,
        kick=lambda: None,
        writer=writer,
        request=lambda _: None,
        node=world.node,
    )
    applier = DecisionApplier(
        api=api,
        writer=writer,
        cycles=cycles,
        own=OwnWrites(kick=lambda: None, known=lambda _, __: None),
        queue_times=QueueTimes(),
        announcer=None,
        policy=world.policy,
        kick=lambda: None,
    )
    yield Setup(memory, applier, cycles)
    await cycles.stop()
    await writer.stop()


def _views(memory: MemoryApi, kind: str) -> dict[str, Any]:
    parse = {"nodes": node_view, "noderebootrequests": request_view, "rebootpolicies": policy_view}[kind]
    return {name: parse(body) for (k, name), body in memory.objects.items() if k == kind}


def _running(facts: KeptFacts, memory: MemoryApi, *, touched: tuple[str, ...] = ()) -> set[str]:
    """The requests in progress under the policy, as the coordinator hands them to the claim: from the facts it
    keeps, brought up to date for the names the watch touched."""
    for name in touched:
        facts.touch(name)
    facts.update(*(_views(memory, k) for k in ("nodes", "noderebootrequests", "rebootpolicies")))
    return set(facts.running(POLICY))


def _decide(memory: MemoryApi) -> tuple[dict[str, Any], dict[str, Any], Any]:
    policies, requests, nodes = (_views(memory, k) for k in ("rebootpolicies", "noderebootrequests", "nodes"))
    decided = decide(
        policies=[p.facts() for p in policies.values()],
        requests=[r.facts() for r in requests.values()],
        nodes={name: view.facts for name, view in nodes.items()},
        now=START,
    )
    return policies, requests, decided.policies[POLICY]


@pytest.mark.parametrize("max_concurrent", [2, "50%"], ids=["a-count", "a-percentage-of-the-governed-nodes"])
async def test_a_decision_made_before_another_node_started_claims_only_the_slots_left(
    setup: Setup, max_concurrent: int | str
) -> None:
    memory = setup.memory
    memory.put("rebootpolicies", policy(POLICY, {"maxConcurrent": max_concurrent}))
    policies, requests, decision = _decide(memory)
    assert decision.started == ("a", "b"), "two slots of four nodes, both free when decided"
    facts = KeptFacts()
    assert _running(facts, memory) == set()
    # Meanwhile node d's cycle began (another replica, or the pass before): it runs under the policy.
    memory.edit("noderebootrequests", "d", lambda r: r.update(status={"phase": "Draining", "policy": POLICY}))
    requests = _views(memory, "noderebootrequests")
    running = _running(facts, memory, touched=("d",))

    await setup.applier.apply_policy(policies[POLICY], decision, requests, START, running)

    stored = memory.get("rebootpolicies", POLICY)
    assert stored is not None
    assert stored["status"]["slots"] == ["a"], "one slot left beside the running d"
    assert set(setup.cycles.cycles) == {"a"}, "only the request that won a slot gets a cycle"


async def test_a_decision_starting_nothing_claims_nothing(setup: Setup) -> None:
    memory = setup.memory
    memory.put("rebootpolicies", policy(POLICY, {"maxConcurrent": 2, "paused": True}))
    policies, requests, decision = _decide(memory)
    writes = len(memory.history)

    await setup.applier.apply_policy(policies[POLICY], decision, requests, START, set())

    assert len(memory.history) == writes and not setup.cycles.cycles


async def test_the_slot_left_beside_a_running_node_is_claimed(setup: Setup) -> None:
    memory = setup.memory
    memory.put("rebootpolicies", policy(POLICY, {"maxConcurrent": 2}))
    memory.edit("noderebootrequests", "d", lambda r: r.update(status={"phase": "Draining", "policy": POLICY}))
    policies, requests, decision = _decide(memory)
    assert decision.started == ("a",)
    running = _running(KeptFacts(), memory)

    await setup.applier.apply_policy(policies[POLICY], decision, requests, START, running)

    stored = memory.get("rebootpolicies", POLICY)
    assert stored is not None and stored["status"]["slots"] == ["a"]
    assert set(setup.cycles.cycles) == {"a"}


async def test_a_cycle_to_keep_running_is_looked_at_on_every_pass_though_nothing_about_it_changed(setup: Setup) -> None:
    """A pass carries out only the decisions that changed, but "continue" is not settled by doing it once: a cycle
    stopped meanwhile (an error, a lost task) is started again on the next pass with nothing new about it."""
    memory = setup.memory
    memory.put("rebootpolicies", policy(POLICY, {"maxConcurrent": 2}, slots=["d"]))
    memory.edit("noderebootrequests", "d", lambda r: r.update(status={"phase": "Rebooting", "policy": POLICY}))
    policies, requests, nodes = (_views(memory, k) for k in ("rebootpolicies", "noderebootrequests", "nodes"))
    decided = decide(
        policies=[p.facts() for p in policies.values()],
        requests=[r.facts() for r in requests.values()],
        nodes={name: view.facts for name, view in nodes.items()},
        now=START,
    )
    await setup.applier.apply_requests(decided, requests, START)
    assert setup.cycles.running("d")
    setup.cycles.drop("d")

    await setup.applier.apply_requests(decided, requests, START, look=set())

    assert setup.cycles.running("d"), "started again, though no name was given to look at"


async def test_a_waiting_message_not_sent_yet_is_dropped_once_the_request_won_its_slot(setup: Setup) -> None:
    """Its cycle's start writes the request next: the queued message would only make that write a 409."""
    memory = setup.memory
    memory.put("rebootpolicies", policy(POLICY, {"maxConcurrent": 1}))
    policies, requests, decision = _decide(memory)
    assert decision.started == ("a",)
    writer = setup.applier.writer
    for name in ("a", "b"):
        writer.put("noderebootrequests", {"metadata": {"name": name, "resourceVersion": "1"}}, {"phase": "Waiting"})

    await setup.applier.apply_policy(policies[POLICY], decision, requests, START, set())

    assert set(setup.cycles.cycles) == {"a"}
    assert [name for _, name in writer.pending] == ["b"], "only the started request's queued write is dropped"


async def test_no_summary_races_the_release_of_a_cycle_that_just_ended(setup: Setup) -> None:
    """Our write ending d's cycle is made, its release of the slot is under way: the policy's summary waits for
    it, instead of making the release a 409, a read and a retry on the way to the next node."""
    memory = setup.memory
    memory.put("rebootpolicies", policy(POLICY, {"maxConcurrent": 1, "paused": True}, slots=["d"]))
    memory.edit("noderebootrequests", "d", lambda r: r.update(status={"phase": "Uncordoning", "policy": POLICY}))
    policies, requests, decision = _decide(memory)
    ended = memory.edit("noderebootrequests", "d", lambda r: r.update(status={"phase": "Completed", "policy": POLICY}))
    setup.applier.own.wrote("noderebootrequests", ended)
    writer = setup.applier.writer

    await setup.applier.apply_policy(policies[POLICY], decision, requests, START, {"d"})
    assert not writer.urgent, "the release goes first"

    released = memory.edit("rebootpolicies", POLICY, lambda p: p["status"].update(slots=[]))
    await setup.applier.apply_policy(policy_view(released), decision, requests, START, set())
    assert list(writer.urgent) == [("rebootpolicies", POLICY)], "then the summary"


async def test_the_claim_carries_the_policys_summary_one_write_on_the_way_to_the_start(setup: Setup) -> None:
    memory = setup.memory
    memory.put("rebootpolicies", policy(POLICY, {"maxConcurrent": 2}))
    policies, requests, decision = _decide(memory)
    writes = len(memory.history)

    await setup.applier.apply_policy(policies[POLICY], decision, requests, START, set())

    assert len(memory.history) == writes + 1, "one write of the policy: the claim, with the summary"
    status = (memory.get("rebootpolicies", POLICY) or {})["status"]
    assert status["slots"] == ["a", "b"]
    assert status["counts"]["inProgress"] == 2 and status["counts"]["pending"] == 2
    assert status["queue"] == ["c", "d"] and status["observedGeneration"] == 1
    assert not setup.applier.writer.urgent, "no summary left to write after the claim"
    assert set(setup.cycles.cycles) == {"a", "b"}


async def test_a_claim_on_a_newer_version_than_decided_on_changes_only_the_slots(setup: Setup) -> None:
    """Someone else wrote the policy's status since the decision (another replica's summary, a release): the
    summary made from the older version is not written over it; the claim takes its slot, the summary follows."""
    memory = setup.memory
    memory.put("rebootpolicies", policy(POLICY, {"maxConcurrent": 2}))
    policies, requests, decision = _decide(memory)
    memory.edit("rebootpolicies", POLICY, lambda p: p["status"].update(lastCompletionAt="2026-03-01T11:00:00Z"))

    await setup.applier.apply_policy(policies[POLICY], decision, requests, START, set())

    status = (memory.get("rebootpolicies", POLICY) or {})["status"]
    assert status["slots"] == ["a", "b"], "the slots are claimed all the same"
    assert status["lastCompletionAt"] == "2026-03-01T11:00:00Z", "a write made since the decision is kept"
    assert "counts" not in status, "the summary of the older version is not written over the newer one"
    assert list(setup.applier.writer.urgent) == [("rebootpolicies", POLICY)], "the summary goes after, on its own"


async def test_a_wait_that_moves_up_the_queue_beyond_the_exact_places_is_not_carried_out_again(setup: Setup) -> None:
    """A hand-off moves every waiting request of its policy one place up. Those beyond the exact places are decided
    alike (their decision does not name the place), so they are not carried out again, even when decided from
    scratch (new objects, as after a failed pass); the ones that come within the exact places are told their
    place."""
    memory = setup.memory
    for name in ("e", "f"):
        memory.put("nodes", node(name))
        memory.put("noderebootrequests", request(name))
    memory.put("rebootpolicies", policy(POLICY, {"maxConcurrent": 1}, slots=["x"]))
    memory.put("nodes", node("x"))
    memory.put("noderebootrequests", request("x", status={"phase": "Rebooting", "policy": POLICY}))
    policies, requests, nodes = (_views(memory, k) for k in ("rebootpolicies", "noderebootrequests", "nodes"))

    def decided(names: set[str]) -> Any:
        return decide(
            policies=[p.facts() for p in policies.values()],
            requests=[r.facts() for n, r in requests.items() if n in names],
            nodes={name: view.facts for name, view in nodes.items()},
            now=START,
        )

    before = decided({"x", "a", "b", "c", "d", "e", "f"})
    assert [before.requests[n].position for n in "abcdef"] == [1, 2, 3, None, None, None]
    assert [before.requests[n].further_back for n in "abcdef"] == [False, False, False, True, True, True]
    await setup.applier.apply_requests(before, requests, START)
    carried: list[str] = []
    apply_request = setup.applier._apply_request

    async def counted(request: Any, decision: Any, decisions: Any, now: Any) -> None:
        carried.append(request.name)
        await apply_request(request, decision, decisions, now)

    setup.applier._apply_request = counted  # type: ignore[method-assign]

    after = decided({"x", "b", "c", "d", "e", "f"})  # a left the queue
    assert [after.requests[n].position for n in "bcdef"] == [1, 2, 3, None, None]
    assert after.requests["e"] is not before.requests["e"], "decided from scratch: equal decisions, new objects"
    await setup.applier.apply_requests(after, requests, START)

    waits = [n for n in carried if n != "x"]  # x, in progress, is looked at on every pass
    assert waits == ["b", "c", "d"], "e and f stay beyond the exact places: nothing new to tell them"
    assert [name for _, name in setup.applier.writer.pending if name in "ef"] == ["e", "f"], "told once, before"


async def test_the_waiting_requests_are_told_in_the_decisions_order_each_status_composed_only_when_written(
    setup: Setup,
) -> None:
    """A first start queues every waiting request's status in one pass (15,000 at the bench's scale): queued in
    the decision's order, as the way to compose it, so none is held composed before the status writer takes it."""
    memory = setup.memory
    memory.put("rebootpolicies", policy(POLICY, {"maxConcurrent": 1}))
    policies, requests = _views(memory, "rebootpolicies"), _views(memory, "noderebootrequests")
    decided = decide(
        policies=[p.facts() for p in policies.values()],
        requests=[r.facts() for r in requests.values()],
        nodes={name: view.facts for name, view in _views(memory, "nodes").items()},
        now=START,
    )
    writer = setup.applier.writer

    await setup.applier.apply_requests(decided, requests, START)

    waiting = [name for name, d in decided.requests.items() if d.action is Action.WAIT]
    assert [name for _, name in writer.pending] == waiting == ["b", "c", "d"]
    assert not any(isinstance(queued, tuple) for queued in writer.pending.values()), "none composed yet"
    written = {name: queued() for (_, name), queued in writer.pending.items() if not isinstance(queued, tuple)}
    for position, name in enumerate(waiting, start=1):
        composed = written[name]
        assert composed is not None
        body, status, _ = composed
        assert body == {"metadata": {"name": name, "resourceVersion": requests[name].resource_version}}
        assert status["phase"] == "Waiting" and f"position {position} of 3" in status["message"]
