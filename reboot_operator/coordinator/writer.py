"""The status writer: the latest desired status per object, written soon by a few workers, each write a
compare-and-swap on the resourceVersion the decision was made from.

A burst of events costs one write per object, not one per event: a status asked for again before it was written
replaces the one waiting. Policy statuses go before any waiting request's (claims and counts matter more than a
waiting message), however many of those are queued.

A waiting request's status is written ``WAITING_SETTLE`` after it was first asked for, not at once: a hand-off
moves the first few of its queue up a place (``decisions.EXACT_POSITIONS``), and written at once those writes
competed with the hand-off's own (the release, the next node's claim and start: at 15,000 nodes, 15 of them with
each burst of 5 hand-offs); a burst of hand-offs also moves the same requests several times, each move then one
write. Only the waiting message is later; nothing waits on it.

A status may also be queued as the way to compose it (``put_composed``), composed only when a worker takes it: at a
first start, 15,000 waiting statuses are queued in one pass and written over tens of seconds, and composed up front
they were held all at once (about 20 MB at the peak of the operator's memory); composed as they are written, a few
at a time.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from kubernetes_asyncio import client

from reboot_operator.kube.statuses import POLICIES, replace_status
from reboot_operator.runtime.aiotasks import cancel_and_wait
from reboot_operator.runtime.errors import Conflict

log = logging.getLogger(__name__)

STATUS_WRITERS = 16
WAITING_SETTLE = 0.5
"""Seconds a waiting request's status waits before it is written (see the module docstring)."""
WRITES_REMEMBERED = 20_000
"""Status writes the writer remembers, so a pass that began before one was made does not ask for it again."""

AfterWrite = Callable[[], Awaitable[None]]
Composed = tuple[dict[str, Any], dict[str, Any], AfterWrite | None]
"""What a status write needs: the object's ``body_of``, the status, and what to run once it is written."""
Compose = Callable[[], Composed | None]
"""Composes a status write when a worker takes it; None: nothing to write after all."""
Key = tuple[str, str]
"""(plural, name) of the object written."""
Write = tuple[str, int]
"""The resourceVersion a write is made from, and the ``fingerprint`` of the status written: thousands are kept,
and a whole status is a few kilobytes."""


class StatusWriter:
    """Coalescing status writes; see the module docstring.

    Its caches, and the rule each keeps so that no write is sent that can only come back as 409 Conflict:

    - ``pending`` / ``urgent``: one waiting write per object, the latest asked for (an older one from the same or
      an older version would lose to it anyway);
    - ``inflight`` and ``written``: a write under way or made, as (resourceVersion, status). ``put`` drops a write
      equal to one of these: a pass that began before the write was made (or before its watch event arrived)
      decides on the old version and asks for the same status again, which the API would refuse with a 409, the
      version having moved on with our own write. A different status, or the same from another version, is
      queued. ``written`` keeps the last ``WRITES_REMEMBERED`` writes, oldest forgotten first.

    A write refused with a conflict is dropped (the watch brings the newer object, and a new decision on it); one
    that fails otherwise is told to ``on_failure``, whose caller asks for it again on its next pass.
    """

    def __init__(
        self,
        api: client.ApiClient,
        workers: int = STATUS_WRITERS,
        on_failure: Callable[[str, str], None] | None = None,
        settle: float = WAITING_SETTLE,
    ) -> None:
        self.api = api
        self.on_failure = on_failure
        """Told (plural, name) when a write fails other than by a conflict."""
        self.settle = settle
        self.pending: dict[Key, Composed | Compose] = {}
        self.due: dict[Key, float] = {}
        """When each of ``pending`` is to be written: ``settle`` after it was first asked for (``pending`` is in
        that order: a write asked for again keeps its place and its time)."""
        self.urgent: dict[Key, Composed | Compose] = {}
        """Policy statuses: written before any waiting request's."""
        self.inflight: dict[Key, Write] = {}
        self.written: collections.OrderedDict[Key, Write] = collections.OrderedDict()
        self._wake = asyncio.Event()
        self._tasks = [asyncio.create_task(self._work(), name=f"status-writer-{i}") for i in range(workers)]

    def put(self, plural: str, body: dict[str, Any], status: dict[str, Any], after: AfterWrite | None = None) -> None:
        """Write ``status`` soon, replacing a write of the same object not made yet; ``after`` runs once it is
        written (it is how Events about a change are posted exactly once, by the replica whose write won)."""
        key = (plural, body["metadata"]["name"])
        write = (body["metadata"]["resourceVersion"], fingerprint(status))
        if self.inflight.get(key) == write or self.written.get(key) == write:
            return  # see the class docstring: it could only come back as a 409
        self._queue(key, (body, status, after))

    def put_composed(self, plural: str, name: str, resource_version: str, compose: Compose) -> None:
        """``put`` the write ``compose`` gives (made from ``resource_version``), composed when a worker takes it, in
        the place this call gives it in the queue (see the module docstring). ``compose`` must give the same write
        whenever it is called (composed from the objects of the decision, not from ones that change meanwhile):
        only the time of composing moves. ``put``'s rule holds: when a write from the same version is under way or
        made, it is composed at once and dropped if equal (a pass that began before that write was made asks for it
        again; queued, it would also keep that pass's objects alive until its turn)."""
        key = (plural, name)
        made = self.inflight.get(key) or self.written.get(key)
        if made is not None and made[0] == resource_version:
            composed = compose()
            if composed is not None:
                self.put(plural, *composed)
            return
        self._queue(key, compose)

    def _queue(self, key: Key, queued: Composed | Compose) -> None:
        if key[0] == POLICIES:
            self.urgent[key] = queued
        else:
            if key not in self.pending:
                self.due[key] = asyncio.get_running_loop().time() + self.settle
            self.pending[key] = queued
        self._wake.set()

    def drop(self, plural: str, name: str) -> bool:
        """Forget the write of an object not sent yet (its cycle just started: the cycle's own write replaces it,
        and sent first it would only turn the cycle's compare-and-swap into a 409, a read and a retry on the way to
        the next node's start); whether one was waiting."""
        key = (plural, name)
        self.due.pop(key, None)
        return self.pending.pop(key, None) is not None or self.urgent.pop(key, None) is not None

    async def _work(self) -> None:
        while True:
            while not self.pending and not self.urgent:
                self._wake.clear()
                await self._wake.wait()
            if self.urgent:
                key = next(iter(self.urgent))
                queued = self.urgent.pop(key)
            else:
                key = next(iter(self.pending))
                wait = self.due[key] - asyncio.get_running_loop().time()
                if wait > 0:  # not due yet, nor any behind it; a policy's status may come meanwhile
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), wait)
                    continue
                del self.due[key]
                queued = self.pending.pop(key)
            try:
                composed = queued if isinstance(queued, tuple) else queued()
            except Exception as error:  # a worker outlives any one write, even one that could not be composed
                self._failed(key, error)
                continue
            if composed is None:
                continue  # nothing to write after all
            body, status, after = composed
            write = (body["metadata"]["resourceVersion"], fingerprint(status))
            if self.inflight.get(key) == write or self.written.get(key) == write:
                continue  # composed only now: ``put``'s rule, applied now (see the class docstring)
            self.inflight[key] = write
            try:
                await replace_status(self.api, key[0], body, status)
                self._remember(key, write)
                if after is not None:
                    await after()
            except Conflict:
                pass  # newer than what we decided on: the watch event brings a new decision
            except Exception as error:  # the writer outlives any one write (and its ``after`` callback)
                self._failed(key, error)
            finally:
                self.inflight.pop(key, None)

    def _failed(self, key: Key, error: Exception) -> None:
        log.warning("could not write the status of %s/%s: %s", key[0], key[1], error)
        if self.on_failure is not None:
            self.on_failure(*key)

    def _remember(self, key: Key, write: Write) -> None:
        self.written[key] = write
        self.written.move_to_end(key)
        while len(self.written) > WRITES_REMEMBERED:
            self.written.popitem(last=False)

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)


def fingerprint(status: dict[str, Any]) -> int:
    """A status, for telling whether it is the one written: the hash of its canonical JSON."""
    return hash(json.dumps(status, sort_keys=True, separators=(",", ":"), default=str))


def body_of(name: str, resource_version: str) -> dict[str, Any]:
    """What a status write needs of the object: its name and the resourceVersion the decision was made from."""
    return {"metadata": {"name": name, "resourceVersion": resource_version}}
