"""Claiming and freeing the slots of maxConcurrent, fast, over the in-memory stand-in (``tests/operator/memory.py``):
never more holders than slots, even when claims race from stale views; a policy edited since the decision starts
nothing; a failure counts once, and only for the node that held a slot.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Sequence
from typing import Any

import pytest

from reboot_operator.api.policy_status import RebootPolicyStatus
from reboot_operator.rollout.slots import Summary, claim_slots, release_slot
from reboot_operator.watch.observed import PolicyView, policy_view
from tests.operator.memory import START, MemoryApi, policy

POLICY = "pool-a"


def seen(memory: MemoryApi) -> PolicyView:
    stored = memory.get("rebootpolicies", POLICY)
    assert stored is not None
    return policy_view(stored)


def status(memory: MemoryApi) -> dict[str, Any]:
    stored = memory.get("rebootpolicies", POLICY)
    assert stored is not None
    return stored.get("status") or {}


def most_slots_ever(memory: MemoryApi) -> int:
    return max(
        len((w.body.get("status") or {}).get("slots") or [])
        for w in memory.history
        if w.kind == "rebootpolicies" and w.name == POLICY
    )


@pytest.fixture
def memory() -> MemoryApi:
    found = MemoryApi()
    found.put("rebootpolicies", policy(POLICY, {"maxConcurrent": 2}))
    return found


@pytest.mark.parametrize(
    ("held", "running", "asked", "capacity", "won", "slots"),
    [
        pytest.param([], set(), ["a", "b", "c"], 2, ["a", "b"], ["a", "b"], id="up-to-capacity-in-order"),
        pytest.param(["a"], set(), ["a", "b", "c"], 2, ["a", "b"], ["a", "b"], id="a-held-slot-is-kept"),
        pytest.param([], {"x"}, ["a", "b"], 2, ["a"], ["a"], id="running-requests-take-slots"),
        pytest.param(["a", "b"], set(), ["c"], 2, [], ["a", "b"], id="full"),
        pytest.param([], {"x", "y", "z"}, ["a"], 2, [], [], id="over-full-after-a-lowered-limit"),
        pytest.param(["a"], {"a"}, ["b"], 2, ["b"], ["a", "b"], id="a-holder-running-counts-once"),
        pytest.param([], set(), ["a"], 0, [], [], id="no-capacity"),
    ],
)
async def test_claims_never_take_more_than_capacity(
    memory: MemoryApi,
    held: list[str],
    running: set[str],
    asked: Sequence[str],
    capacity: int,
    won: list[str],
    slots: list[str],
) -> None:
    memory.edit("rebootpolicies", POLICY, lambda p: p["status"].update(slots=held))

    got = await claim_slots(await memory.client(), seen(memory), asked, capacity=capacity, running=running)

    assert got == won
    assert status(memory)["slots"] == slots


async def test_a_policy_edited_since_the_decision_starts_nothing(memory: MemoryApi) -> None:
    decided_on = seen(memory)
    memory.edit("rebootpolicies", POLICY, lambda p: p["spec"].update(maxConcurrent=5))

    got = await claim_slots(await memory.client(), decided_on, ["a"], capacity=2, running=set())

    assert got == [] and status(memory)["slots"] == []


def policy_writes(memory: MemoryApi) -> int:
    return sum(1 for w in memory.history if w.kind == "rebootpolicies" and w.name == POLICY)


async def test_a_claim_on_the_version_decided_on_writes_the_summary_with_the_slots(memory: MemoryApi) -> None:
    summary = Summary(RebootPolicyStatus(queue=["c", "d"], observed_generation=1))
    before = policy_writes(memory)

    got = await claim_slots(await memory.client(), seen(memory), ["a", "b"], capacity=2, running=set(), summary=summary)

    assert got == ["a", "b"]
    assert summary.written, "the claim says it wrote the summary: nobody writes it again"
    assert policy_writes(memory) == before + 1, "one write: the claim, with the summary"
    stored = status(memory)
    assert stored["slots"] == ["a", "b"] and stored["queue"] == ["c", "d"] and stored["observedGeneration"] == 1


async def test_a_claim_on_a_newer_version_than_decided_on_writes_only_the_slots(memory: MemoryApi) -> None:
    decided_on = seen(memory)
    memory.edit("rebootpolicies", POLICY, lambda p: p["status"].update(lastCompletionAt="2026-03-01T11:00:00Z"))
    summary = Summary(RebootPolicyStatus(queue=["c", "d"], observed_generation=1))

    got = await claim_slots(await memory.client(), decided_on, ["a"], capacity=2, running=set(), summary=summary)

    assert got == ["a"]
    assert not summary.written, "the summary of the older version is still to be written"
    stored = status(memory)
    assert stored["slots"] == ["a"]
    assert stored["lastCompletionAt"] == "2026-03-01T11:00:00Z", "a write made since the decision is kept"
    assert not stored.get("queue"), "the summary of the older version is not written over the newer one"


async def test_a_claim_that_wins_nothing_writes_no_summary(memory: MemoryApi) -> None:
    memory.edit("rebootpolicies", POLICY, lambda p: p["status"].update(slots=["x", "y"]))
    summary = Summary(RebootPolicyStatus(queue=["c"]))
    before = policy_writes(memory)

    got = await claim_slots(await memory.client(), seen(memory), ["a"], capacity=2, running=set(), summary=summary)

    assert got == [] and not summary.written
    assert policy_writes(memory) == before
    assert not status(memory).get("queue")


async def test_a_claim_whose_requests_hold_their_slots_already_writes_nothing_and_no_summary(memory: MemoryApi) -> None:
    memory.edit("rebootpolicies", POLICY, lambda p: p["status"].update(slots=["a"]))
    summary = Summary(RebootPolicyStatus(queue=["c"]))
    before = policy_writes(memory)

    got = await claim_slots(await memory.client(), seen(memory), ["a"], capacity=2, running=set(), summary=summary)

    assert got == ["a"], "it holds its slot"
    assert policy_writes(memory) == before, "nothing to claim: no write"
    assert not summary.written, "so the summary is still to be written"


async def test_claims_racing_from_the_same_stale_view_never_overfill(memory: MemoryApi) -> None:
    api = await memory.client()
    view = seen(memory)

    results = await asyncio.gather(
        *(claim_slots(api, view, [f"n{i}"], capacity=2, running=set()) for i in range(6)),
    )

    assert sum(len(won) for won in results) == 2, results
    assert most_slots_ever(memory) == 2, "the limit is reached, and never passed"


async def test_a_release_frees_the_slot_and_records_the_finish(memory: MemoryApi) -> None:
    memory.edit("rebootpolicies", POLICY, lambda p: p["status"].update(slots=["a", "b"]))

    await release_slot(await memory.client(), POLICY, "a", completed_at=START)

    assert status(memory)["slots"] == ["b"]
    assert status(memory)["lastCompletionAt"] == "2026-03-01T12:00:00Z"
    assert "failureBudget" not in status(memory)


async def test_a_failure_counts_once_however_often_it_is_released(memory: MemoryApi) -> None:
    memory.edit("rebootpolicies", POLICY, lambda p: p["status"].update(slots=["a", "b"]))
    api = await memory.client()
    later = START + datetime.timedelta(minutes=1)

    await release_slot(api, POLICY, "a", completed_at=START, failed=True)
    await release_slot(api, POLICY, "a", completed_at=later, failed=True)  # a second replica ending it too

    budget = status(memory)["failureBudget"]
    assert budget == {"failures": 1, "failedNodes": ["a"]}
    assert status(memory)["slots"] == ["b"]


async def test_failures_add_up_across_nodes(memory: MemoryApi) -> None:
    memory.edit("rebootpolicies", POLICY, lambda p: p["status"].update(slots=["a", "b"], failureBudget={"failures": 3}))
    api = await memory.client()

    await release_slot(api, POLICY, "a", completed_at=START, failed=True)
    await release_slot(api, POLICY, "b", completed_at=START, failed=True)

    assert status(memory)["failureBudget"] == {"failures": 5, "failedNodes": ["a", "b"]}


async def test_freeing_a_claim_left_behind_records_no_finish(memory: MemoryApi) -> None:
    memory.edit("rebootpolicies", POLICY, lambda p: p["status"].update(slots=["a"]))
    before = len(memory.history)

    await release_slot(await memory.client(), POLICY, "a", completed_at=None)
    await release_slot(await memory.client(), POLICY, "zz", completed_at=None)

    assert status(memory)["slots"] == []
    assert "lastCompletionAt" not in status(memory)
    assert len(memory.history) == before + 1, "freeing a slot nobody holds writes nothing"


async def test_a_release_from_a_stale_view_still_frees_the_slot(memory: MemoryApi) -> None:
    memory.edit("rebootpolicies", POLICY, lambda p: p["status"].update(slots=["a"]))
    stale = seen(memory)
    memory.edit("rebootpolicies", POLICY, lambda p: p["status"].update(slots=["a", "b"]))

    await release_slot(await memory.client(), POLICY, "a", completed_at=START, seen=stale)

    assert status(memory)["slots"] == ["b"], "the stale view cost a read, never the other holder's slot"


async def test_a_release_from_a_fresh_view_writes_without_reading(memory: MemoryApi) -> None:
    memory.edit("rebootpolicies", POLICY, lambda p: p["status"].update(slots=["a"]))

    await release_slot(await memory.client(), POLICY, "a", completed_at=START, seen=seen(memory))

    assert status(memory)["slots"] == []
    assert memory.reads == [], "the hand-off path saves the read"


async def test_a_view_of_another_policy_is_never_written_to_this_one(memory: MemoryApi) -> None:
    other = policy_view(
        policy("pool-b", {"maxConcurrent": 1}, slots=["a"])
        | {"metadata": {"name": "pool-b", "resourceVersion": "1", "generation": 1}}
    )
    memory.edit("rebootpolicies", POLICY, lambda p: p["status"].update(slots=["a", "b"]))

    await release_slot(await memory.client(), POLICY, "a", completed_at=START, seen=other)

    assert status(memory)["slots"] == ["b"]
