"""A scripted ``listwatch.Source`` for the fast tests of the list-then-watch loop and its users: our own boundary,
in place of the API server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

HANG = "hang"
"""A watch step: the watch says nothing more and never ends by itself."""


class ScriptedSource:
    """Lists give the current objects; each watch plays the next script: an exception first is raised as the watch
    opens (the server refused it), later ones mid-stream; events are given in order; HANG never ends. A script that
    runs out ends the watch, as the server does at its time-out."""

    def __init__(self, objects: Sequence[dict[str, Any]], watches: list[list[Any]]) -> None:
        self.objects = objects
        self.watches = watches
        self.listed = 0
        self.watched_from: list[str] = []

    async def list(self, each: Callable[[dict[str, Any]], None]) -> str:
        self.listed += 1
        for item in self.objects:
            each(item)
        return str(self.listed)

    @contextlib.asynccontextmanager
    async def watch(self, resource_version: str, timeout_seconds: int) -> AsyncIterator[AsyncIterator[Any]]:
        self.watched_from.append(resource_version)
        script = self.watches.pop(0) if self.watches else [HANG]
        if script and isinstance(script[0], BaseException):
            raise script[0]
        yield self._play(script)

    async def _play(self, script: Sequence[Any]) -> AsyncIterator[Mapping[str, Any]]:
        for step in script:
            if step == HANG:
                await asyncio.Event().wait()
            elif isinstance(step, BaseException):
                raise step
            else:
                assert isinstance(step, dict)
                yield step
