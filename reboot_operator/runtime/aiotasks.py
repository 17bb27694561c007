"""Stopping background tasks: cancel them all, then wait for each to end."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable


async def cancel_and_wait(tasks: Iterable[asyncio.Task[object] | None], *, quiet: bool = False) -> None:
    """Cancel every task (None is skipped), then wait until each has ended. A task that ends by raising something
    else than its cancellation raises it here, unless ``quiet`` (stopping must go on whatever a task did)."""
    running = [task for task in tasks if task is not None]
    for task in running:
        task.cancel()
    swallowed = (asyncio.CancelledError, Exception) if quiet else (asyncio.CancelledError,)
    for task in running:
        with contextlib.suppress(*swallowed):
            await task
