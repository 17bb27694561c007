"""Claims under way: carried out on their own, holding their policy, waking the loop when they end."""

from __future__ import annotations

import asyncio

import pytest

from reboot_operator.coordinator import claims
from reboot_operator.coordinator.claims import ClaimsUnderWay


class Kicks:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


async def test_a_claim_goes_on_by_itself_holding_its_policy_and_its_end_wakes_the_loop() -> None:
    """The loop does not wait for a claim's round trip: the next pass may claim a slot freed in another policy
    meanwhile; the policy under claim starts nothing more until the claim ends, which wakes the loop."""
    kicks = Kicks()
    under_way = ClaimsUnderWay(kick=kicks)
    answered = asyncio.Event()

    async def claim() -> None:
        await answered.wait()

    under_way.start("pool-a", claim())
    await asyncio.sleep(0.01)
    assert "pool-a" in under_way and "pool-b" not in under_way
    assert kicks.count == 0

    answered.set()
    await asyncio.sleep(0.01)
    assert "pool-a" not in under_way
    assert kicks.count == 1 and not under_way.failed


async def test_a_failed_claim_wakes_the_loop_a_moment_later_to_decide_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    kicks = Kicks()
    under_way = ClaimsUnderWay(kick=kicks)
    monkeypatch.setattr(claims, "RETRY_AFTER", 0.2)

    async def claim() -> None:
        raise RuntimeError("the API server went away")

    under_way.start("pool-a", claim())
    await asyncio.sleep(0.05)
    assert "pool-a" not in under_way and under_way.failed
    assert kicks.count == 0, "not at once: a failure that repeats must not spin the loop"
    await asyncio.sleep(0.3)
    assert kicks.count == 1


async def test_stopping_cancels_the_claims_under_way_without_waking_the_loop() -> None:
    kicks = Kicks()
    under_way = ClaimsUnderWay(kick=kicks)
    under_way.start("pool-a", asyncio.sleep(60))
    await asyncio.sleep(0)
    await under_way.stop()
    await asyncio.sleep(0.01)
    assert "pool-a" not in under_way and kicks.count == 0 and not under_way.failed
