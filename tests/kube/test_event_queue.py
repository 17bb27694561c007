"""Events posted in the background: submitting never waits, each object's Events keep their order, none is lost."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from kubernetes_asyncio import client

from reboot_operator.kube.events import EventQueue, EventType, ObjectRef, background

API = cast(client.ApiClient, object())  # the fake poster never uses it


class FakePoster:
    """Records what it posts; while ``gate`` is clear, every post waits for it (a slow API server)."""

    def __init__(self) -> None:
        self.posted: list[tuple[str, str, str]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, api: client.ApiClient, *, involved: ObjectRef, reason: str, **_: Any) -> None:
        await self.gate.wait()
        self.posted.append((involved.kind, involved.name, reason))


def submit(queue: EventQueue, kind: str, name: str, reason: str) -> None:
    queue.submit(API, involved=ObjectRef(kind=kind, name=name), reason=reason, message=reason, type=EventType.NORMAL)


async def test_submitting_returns_at_once_even_while_the_api_server_is_slow() -> None:
    poster = FakePoster()
    poster.gate.clear()
    queue = EventQueue(post=poster)
    submit(queue, "Node", "n1", "Uncordoned")
    submit(queue, "Node", "n1", "Completed")
    await asyncio.sleep(0.01)
    assert poster.posted == []
    poster.gate.set()
    await queue.drain()
    assert poster.posted == [("Node", "n1", "Uncordoned"), ("Node", "n1", "Completed")]


async def test_every_event_is_posted_and_each_names_events_keep_their_order() -> None:
    poster = FakePoster()
    queue = EventQueue(post=poster, lanes=3)
    reasons = ["Started", "Cordoned", "Draining", "RebootAuthorized", "NodeReturned", "Uncordoned", "Completed"]
    nodes = [f"node-{i}" for i in range(10)]
    for reason in reasons:
        for node in nodes:
            submit(queue, "Node", node, reason)
            submit(queue, "NodeRebootRequest", node, reason)
    await queue.drain()
    assert len(poster.posted) == 2 * len(reasons) * len(nodes)
    for node in nodes:
        for kind in ("Node", "NodeRebootRequest"):
            assert [r for k, n, r in poster.posted if (k, n) == (kind, node)] == reasons


async def test_a_poster_that_fails_does_not_stop_the_events_after_it() -> None:
    posted: list[str] = []

    async def flaky(api: client.ApiClient, *, reason: str, **_: Any) -> None:
        if reason == "Broken":
            raise RuntimeError("the API server said no")
        posted.append(reason)

    queue = EventQueue(post=flaky, lanes=1)
    for reason in ("Cordoned", "Broken", "Draining"):
        submit(queue, "Node", "n1", reason)
    await queue.drain()
    assert posted == ["Cordoned", "Draining"]


async def test_a_full_lane_drops_its_oldest_events_not_its_newest() -> None:
    poster = FakePoster()
    queue = EventQueue(post=poster, lanes=1, limit=3)
    for i in range(6):  # submitting never yields, so the worker has taken none of them yet
        submit(queue, "Node", "n1", f"E{i}")
    await queue.drain()
    assert [reason for _, _, reason in poster.posted] == ["E3", "E4", "E5"]
    assert queue.dropped == 3


async def test_each_event_loop_has_one_queue_of_its_own() -> None:
    assert background() is background()
