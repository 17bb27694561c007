"""Verdicts are reused while fresh, refreshed in the background once half-stale, and asked again when expired."""

from __future__ import annotations

import asyncio

from reboot_operator.blockers import CLEAR, Verdict
from reboot_operator.blockers.cache import BlockerCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeAlerts:
    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict
        self.asked = 0

    async def check(self) -> Verdict:
        self.asked += 1
        return self.verdict


class FakePods:
    def __init__(self, blocked: set[str]) -> None:
        self.blocked = blocked
        self.asked: list[str] = []

    async def check(self, node: str) -> Verdict:
        self.asked.append(node)
        return Verdict(True, f"pods on {node}") if node in self.blocked else CLEAR


async def test_a_policy_verdict_is_reused_then_refreshed_in_the_background_then_awaited() -> None:
    clock, changes = Clock(), []
    cache = BlockerCache(ttl=10, on_change=lambda: changes.append(1), clock=clock)
    alerts = FakeAlerts(Verdict(True, "alerts"))
    assert await cache.policy_verdicts({"p": ("spec", alerts)}) == {"p": Verdict(True, "alerts")}
    clock.now += 2
    await cache.policy_verdicts({"p": ("spec", alerts)})
    assert alerts.asked == 1
    assert cache.next_check() == 3.0
    clock.now += 4  # half-stale: answered from the cache, refreshed behind
    alerts.verdict = CLEAR
    assert await cache.policy_verdicts({"p": ("spec", alerts)}) == {"p": Verdict(True, "alerts")}
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert alerts.asked == 2 and changes == [1]
    assert cache.known_policies() == {"p": CLEAR}
    assert cache.next_check() is None
    clock.now += 20  # expired: asked again before answering
    await cache.policy_verdicts({"p": ("spec", alerts)})
    assert alerts.asked == 3
    await cache.policy_verdicts({"p": ("other spec", alerts)})
    assert alerts.asked == 4, "a changed spec asks again"
    await cache.policy_verdicts({})
    assert cache.known_policies() == {}
    await cache.stop()


async def test_a_blocked_node_is_kept_until_asked_again_and_forgotten_once_it_stops_waiting() -> None:
    clock = Clock()
    cache = BlockerCache(ttl=10, on_change=lambda: None, clock=clock)
    pods = FakePods({"a"})
    verdicts = await cache.node_verdicts([("a", "k", pods), ("b", "k", pods)])
    assert verdicts == {"a": Verdict(True, "pods on a"), "b": CLEAR}
    assert await cache.blocked_nodes(["a", "b"]) == {"a": "pods on a"}
    assert cache.next_check() == 10.0
    pods.blocked.clear()
    clock.now += 10
    assert await cache.blocked_nodes(["a", "b"]) == {}
    assert pods.asked == ["a", "b", "a"]
    await cache.node_verdicts([("a", "k", FakePods({"a"}))])
    assert await cache.blocked_nodes(["b"]) == {}, "a node that no longer waits is forgotten"
