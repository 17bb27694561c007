"""Slots claimed and released from a view of the policy instead of a read: a stale view costs a retry, never a slot."""

from __future__ import annotations

import asyncio
import datetime

import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from reboot_operator.api.meta import GROUP, VERSION
from reboot_operator.rollout.slots import claim_slots, release_slot
from reboot_operator.watch.observed import PolicyView, policy_view
from tests.integration.rollout import Rig


@pytest.fixture(autouse=True)
async def _crds_serving(rig: Rig) -> None:
    """Until the API server serves our resources. These tests are quick and can be a session's first: right after a
    CRD is established its storage may still answer "(re)initializing" (429), and the rig's clean-up lists them."""
    async with asyncio.timeout(30):
        for plural in ("rebootpolicies", "noderebootrequests"):
            while True:
                try:
                    await rig.custom.list_cluster_custom_object(GROUP, VERSION, plural)
                    break
                except ApiException as error:
                    if error.status != 429:
                        raise
                await asyncio.sleep(0.5)


async def _apply_policy(rig: Rig, name: str) -> None:
    await rig.apply_policy(name, {"nodeSelector": {"matchLabels": {"pool": name}}, "maxConcurrent": 1})


async def _view(rig: Rig, name: str) -> PolicyView:
    return policy_view(await rig.policy(name))


async def test_a_claim_from_a_stale_view_never_takes_a_slot_claimed_since(rig: Rig, unique: str) -> None:
    await _apply_policy(rig, unique)
    stale = await _view(rig, unique)
    assert await claim_slots(rig.api, stale, ["first"], capacity=1, running=set()) == ["first"]
    assert await claim_slots(rig.api, stale, ["second"], capacity=1, running=set()) == []
    assert (await _view(rig, unique)).status.slots == ["first"]
    assert await claim_slots(rig.api, stale, ["first"], capacity=1, running=set()) == [
        "first"
    ]  # already held: still ours


async def test_a_claim_from_a_fresh_view_takes_the_slot(rig: Rig, unique: str) -> None:
    await _apply_policy(rig, unique)
    assert await claim_slots(rig.api, await _view(rig, unique), ["first"], capacity=1, running=set()) == ["first"]
    assert (await _view(rig, unique)).status.slots == ["first"]


async def test_a_release_from_a_stale_view_frees_the_slot_and_keeps_what_was_written_since(
    rig: Rig, unique: str
) -> None:
    await _apply_policy(rig, unique)
    stale = await _view(rig, unique)
    assert await claim_slots(rig.api, stale, ["first"], capacity=2, running=set()) == ["first"]
    assert await claim_slots(rig.api, stale, ["second"], capacity=2, running=set()) == ["second"]
    finished = datetime.datetime(2026, 11, 28, 1, 2, 3, tzinfo=datetime.UTC)
    await release_slot(rig.api, unique, "first", completed_at=finished, failed=True, seen=stale)
    status = (await _view(rig, unique)).status
    assert status.slots == ["second"]
    assert status.last_completion_at == finished
    assert status.failure_budget is not None and status.failure_budget.failures == 1


async def test_a_release_from_a_fresh_view_frees_the_slot(rig: Rig, unique: str) -> None:
    await _apply_policy(rig, unique)
    assert await claim_slots(rig.api, await _view(rig, unique), ["first"], capacity=1, running=set()) == ["first"]
    await release_slot(rig.api, unique, "first", completed_at=None, seen=await _view(rig, unique))
    assert (await _view(rig, unique)).status.slots == []


@pytest.mark.parametrize(
    ("capacity", "running", "won"),
    [
        pytest.param(3, set(), ["a", "b", "c"], id="room-for-all"),
        pytest.param(2, set(), ["a", "b"], id="the-first-in-order-get-the-slots"),
        pytest.param(2, {"busy"}, ["a"], id="running-requests-hold-slots"),
        pytest.param(1, {"busy"}, [], id="none-left"),
    ],
)
async def test_claims_for_several_requests_go_in_one_write_in_their_order(
    rig: Rig, unique: str, capacity: int, running: set[str], won: list[str]
) -> None:
    await _apply_policy(rig, unique)
    before = await _view(rig, unique)
    assert await claim_slots(rig.api, before, ["a", "b", "c"], capacity=capacity, running=running) == won
    after = await _view(rig, unique)
    assert after.status.slots == won
    if not won:
        assert after.resource_version == before.resource_version, "nothing to claim: nothing written"


async def test_several_claims_from_a_stale_view_count_the_slots_claimed_since(rig: Rig, unique: str) -> None:
    await _apply_policy(rig, unique)
    stale = await _view(rig, unique)
    assert await claim_slots(rig.api, stale, ["first"], capacity=2, running=set()) == ["first"]
    assert await claim_slots(rig.api, stale, ["first", "second", "third"], capacity=2, running=set()) == [
        "first",
        "second",
    ]
    assert (await _view(rig, unique)).status.slots == ["first", "second"]
