"""Claims under way: a decision that starts nodes of a policy (its slots claimed by compare-and-swap, then their
cycles started) is carried out on its own task, and the loop goes on without waiting for its round trip.

In a burst of hand-offs (cycles of the same length end together) the claims' round trips were the longest part of
a pass (at 15,000 nodes, about 0.1 s each, the API server being busy with the burst), and a slot freed in another
policy meanwhile waited for all of it before its own pass. Now the next pass claims it at once. A policy with a
claim under way starts nothing more until it ends (the claim and a decision made before it lands would race for
the same slots); its end wakes the loop, whose next pass sees the slots it took.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from reboot_operator.runtime.aiotasks import cancel_and_wait

log = logging.getLogger(__name__)

RETRY_AFTER = 1.0
"""Seconds before the loop is woken after a claim failed (as after a failed pass: a failure that repeats must not
spin the loop)."""


class ClaimsUnderWay:
    """The claims being carried out, one per policy at most. ``kick`` wakes the loop when one ends; after one that
    failed, ``failed`` is set for the loop to decide afresh."""

    def __init__(self, kick: Callable[[], None]) -> None:
        self.kick = kick
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.failed = False

    def __contains__(self, policy: str) -> bool:
        return policy in self.tasks

    def start(self, policy: str, carry_out: Coroutine[Any, Any, None]) -> None:
        """Carry out ``carry_out`` (the decision's claim in ``policy`` and its starts) on its own task."""
        task = self.tasks[policy] = asyncio.create_task(carry_out, name=f"rollboot-claim-{policy}")
        task.add_done_callback(lambda done: self._ended(policy, done))

    def _ended(self, policy: str, task: asyncio.Task[None]) -> None:
        if self.tasks.get(policy) is task:
            del self.tasks[policy]
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("claiming slots in policy %s failed; deciding again shortly", policy, exc_info=error)
            self.failed = True
            asyncio.get_running_loop().call_later(RETRY_AFTER, self.kick)
            return
        self.kick()

    async def stop(self) -> None:
        tasks, self.tasks = list(self.tasks.values()), {}
        await cancel_and_wait(tasks, quiet=True)
