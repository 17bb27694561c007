"""The coordinator's loop: how long it lets a burst of events pile up before a pass."""

from __future__ import annotations

import asyncio
from typing import Any

from reboot_operator.coordinator import Coordinator
from reboot_operator.coordinator.unseen import OwnWrites
from reboot_operator.kube.statuses import REQUESTS
from tests.operator.memory import request


def _request(phase: str, version: str) -> dict[str, Any]:
    body = request("node-a", status={"phase": phase})
    body["metadata"]["resourceVersion"] = version
    return body


async def test_a_slot_freed_while_the_loop_waits_for_a_burst_ends_the_wait() -> None:
    """At scale a pass waits as long as the last one computed (a whole pass's time, at 15,000 nodes): a cycle that
    ends meanwhile must not wait for it, or the next node starts that much later."""
    coordinator = Coordinator()
    own = coordinator._own = OwnWrites(
        kick=coordinator.kick, known=lambda _plural, _name: None, on_freed=coordinator._freed.set
    )
    own.wrote(REQUESTS, _request("Uncordoning", "1"))
    coordinator._last_pass_seconds = 30.0
    waiting = asyncio.create_task(coordinator._burst())
    await asyncio.sleep(0.05)
    assert not waiting.done(), "a burst is waited for"

    own.wrote(REQUESTS, _request("Completed", "2"))

    await asyncio.wait_for(waiting, 1.0)
    assert not own.freed, "the loop took the freed slot"


async def test_a_slot_freed_before_the_wait_skips_it() -> None:
    coordinator = Coordinator()
    own = coordinator._own = OwnWrites(kick=coordinator.kick, known=lambda _plural, _name: None)
    own.wrote(REQUESTS, _request("Uncordoning", "1"))
    own.wrote(REQUESTS, _request("Completed", "2"))
    coordinator._last_pass_seconds = 30.0

    await asyncio.wait_for(coordinator._burst(), 1.0)
