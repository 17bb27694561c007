"""Stopping background tasks."""

from __future__ import annotations

import asyncio

import pytest

from reboot_operator.runtime.aiotasks import cancel_and_wait


async def forever() -> None:
    await asyncio.Event().wait()


async def fails_when_cancelled() -> None:
    try:
        await asyncio.Event().wait()
    finally:
        raise RuntimeError("cleanup failed")


async def test_every_task_is_cancelled_and_ended_and_none_is_skipped() -> None:
    tasks = [asyncio.create_task(forever()) for _ in range(3)]
    await asyncio.sleep(0)
    await cancel_and_wait([*tasks, None])
    assert all(task.cancelled() for task in tasks)


async def test_a_task_failing_as_it_stops_is_told_unless_quiet() -> None:
    loud = asyncio.create_task(fails_when_cancelled())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="cleanup failed"):
        await cancel_and_wait([loud])
    quiet, other = asyncio.create_task(fails_when_cancelled()), asyncio.create_task(forever())
    await asyncio.sleep(0)
    await cancel_and_wait([quiet, other], quiet=True)
    assert quiet.done() and other.cancelled(), "stopping goes on past a task that failed"
