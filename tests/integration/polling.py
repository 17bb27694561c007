"""``eventually``: the one way the integration tests wait for the cluster to get somewhere."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T | None]], *, what: str, timeout: float = 30.0) -> T:
    """Ask ``check`` every 0.1 s until it returns something truthy, and return that; fail saying ``what`` did not
    happen once ``timeout`` seconds are over (a check that hangs counts against the time too)."""
    try:
        async with asyncio.timeout(timeout):
            while not (result := await check()):
                await asyncio.sleep(0.1)
            return result
    except TimeoutError:
        raise AssertionError(f"gave up after {timeout:g} s waiting for {what}") from None
