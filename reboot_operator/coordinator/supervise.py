"""Supervising the reboot cycles: one task per started request, restarted with a backoff when it stops on an
unexpected error (said on the request and in Events, never only in a log), and the sweep of nodes left cordoned by
a cycle whose request is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import logging
from collections.abc import Callable, Mapping, Set

from kubernetes_asyncio import client

from reboot_operator.api.meta import API_VERSION
from reboot_operator.api.vocabulary import ACTIVE_PHASES
from reboot_operator.coordinator.writer import StatusWriter, body_of
from reboot_operator.kube import nodes as node_effects
from reboot_operator.kube.events import EventType, ObjectRef, background
from reboot_operator.kube.node_view import NodeView
from reboot_operator.kube.statuses import REQUESTS, with_fields
from reboot_operator.rollout.cycle import Cycle
from reboot_operator.rollout.world import Clock, World
from reboot_operator.runtime import metrics
from reboot_operator.runtime.aiotasks import cancel_and_wait
from reboot_operator.runtime.errors import KubeEffectError
from reboot_operator.watch.observed import RequestView

log = logging.getLogger(__name__)

CYCLE_RESTART_BACKOFF = (1.0, 60.0)
ERROR_TEXT = 300
"""How much of an unexpected error a request's status message carries (the log has the traceback)."""
ORPHAN_GRACE = datetime.timedelta(minutes=5)
"""How long a node cordoned by a cycle whose request is gone stays so, Ready and not rebooting, before it is handed
back: longer than an approved reboot takes to begin."""


class CycleSupervisor:
    """The running cycles, by request name.

    Its caches and their rules:

    - ``cycles``: the task of each running cycle; at most one per request (``run`` does nothing while one runs).
    - ``failures``: per request, how many times in a row its cycle stopped on an error and when it may run again;
      until then the decisions' "continue" does not restart it (a claim's "start" does). Cleared when a cycle ends
      well. Nothing here is written to the API, so it cannot cause a 409: a restarted operator resumes from the
      request's status.
    - ``signals``: an event per node a cycle waits on, set when the node's decision-relevant facts change.
    - ``orphaned``: nodes cordoned under our mark that no running cycle owns (see ``sweep_orphaned_cordons``).
    """

    def __init__(
        self,
        *,
        api: client.ApiClient,
        world: World,
        clock: Clock,
        kick: Callable[[], None],
        writer: StatusWriter,
        request: Callable[[str], RequestView | None],
        node: Callable[[str], NodeView | None],
        orphan_grace: datetime.timedelta = ORPHAN_GRACE,
    ) -> None:
        self.api, self.world, self.clock, self.kick, self.writer = api, world, clock, kick, writer
        self._request, self._node = request, node
        """The freshest view of a request (our own writes included) and the watched node."""
        self.orphan_grace = orphan_grace
        self.cycles: dict[str, asyncio.Task[None]] = {}
        self.failures: dict[str, tuple[int, datetime.datetime]] = {}
        self.signals: dict[str, asyncio.Event] = {}
        self.orphaned: dict[str, tuple[str, str, datetime.datetime]] = {}
        """The mark, the boot ID and when that was first seen."""

    def run(
        self, name: str, policy: str, *, starting: bool, now: datetime.datetime, decided: RequestView | None = None
    ) -> None:
        """Make sure the cycle of ``name`` runs: ``starting`` right after its claim (``decided``: the view the
        decision was made on), else resumed, unless it stopped on an error less than its backoff ago."""
        running = self.cycles.get(name)
        if running is not None and not running.done():
            return
        failure = self.failures.get(name)
        if failure is not None and failure[1] > now and not starting:
            return
        cycle = Cycle(
            api=self.api,
            world=self.world,
            name=name,
            policy=policy,
            clock=self.clock,
            starting=starting,
            decided_version=decided.resource_version if decided is not None else None,
            known=decided.as_stored() if decided is not None else None,
            known_marks=decided.marks if decided is not None else None,
        )
        task = asyncio.create_task(cycle.run(), name=f"cycle-{name}")
        self.cycles[name] = task
        task.add_done_callback(functools.partial(self._done, name))

    def running(self, name: str) -> bool:
        task = self.cycles.get(name)
        return task is not None and not task.done()

    def drop(self, name: str) -> None:
        """Stop the cycle of ``name`` (its node is gone), without waiting."""
        task = self.cycles.pop(name, None)
        if task is not None:
            task.cancel()

    async def halt(self, name: str) -> None:
        """Stop the cycle of ``name`` and wait until it has (an admin's cancel)."""
        task = self.cycles.pop(name, None)
        if task is not None:
            await cancel_and_wait([task], quiet=True)

    async def stop(self) -> None:
        await cancel_and_wait(list(self.cycles.values()), quiet=True)
        self.cycles.clear()
        self.failures.clear()
        self.signals.clear()
        self.orphaned.clear()

    # -- nodes a cycle waits on ------------------------------------------------------------------------------

    def signal(self, name: str) -> None:
        """The node ``name`` changed in a way a decision reads: wake a cycle waiting on it."""
        signal = self.signals.get(name)
        if signal is not None:
            signal.set()

    async def node_changed(self, name: str, timeout: float) -> None:
        signal = self.signals.setdefault(name, asyncio.Event())
        signal.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(signal.wait(), timeout)

    # -- errors ----------------------------------------------------------------------------------------------

    def _done(self, name: str, task: asyncio.Task[None]) -> None:
        if self.cycles.get(name) is task:
            del self.cycles[name]
        if task.cancelled():
            return
        error = task.exception()
        if error is None:
            self.failures.pop(name, None)
        else:
            now = self.clock()
            count = self.failures.get(name, (0, now))[0] + 1
            delay = min(CYCLE_RESTART_BACKOFF[0] * 2 ** (count - 1), CYCLE_RESTART_BACKOFF[1])
            log.error("cycle of %s stopped on an error (retrying in %.0fs): %s", name, delay, error, exc_info=error)
            self.failures[name] = (count, now + datetime.timedelta(seconds=delay))
            asyncio.get_running_loop().call_later(delay, self.kick)
            self._report_error(name, error, attempt=count, delay=delay)
        self.kick()

    def _report_error(self, name: str, error: BaseException, *, attempt: int, delay: float) -> None:
        """Say on the request (its message and a Warning Event, on its node too) that its cycle stopped on an
        unexpected error and when it is tried again: a node left cordoned must never be explained only in a log
        (issue 13). The cycle's next step rewrites the message; the Event stays."""
        message = f"its cycle stopped on an unexpected error (attempt {attempt}, retrying in {delay:.0f}s): " + (
            error_text(error)
        )
        request = self._request(name)
        metrics.CYCLE_ERRORS.labels((request.status.policy if request is not None else None) or "").inc()
        if request is None:
            return
        node = self._node(name)
        events = background()
        for involved in (
            ObjectRef.node(name, node.uid if node is not None else ""),
            ObjectRef(kind="NodeRebootRequest", name=name, uid=request.uid, api_version=API_VERSION),
        ):
            events.submit(self.api, involved=involved, reason="CycleError", message=message, type=EventType.WARNING)
        if request.status.phase in ACTIVE_PHASES:
            status = with_fields(request.status, message=message)
            self.writer.put(REQUESTS, body_of(name, request.resource_version), status)

    # -- cordons nobody owns ---------------------------------------------------------------------------------

    async def sweep_orphaned_cordons(
        self,
        nodes: Mapping[str, NodeView],
        requests: Mapping[str, RequestView],
        now: datetime.datetime,
        marked: Set[str],
    ) -> None:
        """Uncordon nodes left cordoned by a cycle whose request is gone (issue 13, defect 4: `kubectl delete nrr`
        while Rebooting; the agent made a new request, which had nothing left to do, and the node stayed cordoned
        for good). Such a node carries our mark, but no request of it is in progress and no cycle of ours runs. It
        is handed back only once it has been Ready, with the same boot ID, for ``orphan_grace``: the deleted cycle
        may have approved a reboot that is still on its way, and a node must not take pods just before it reboots.
        The uncordon pins the mark, so a new cycle's cordon is never undone; passes run one at a time, so no cycle
        of ours starts meanwhile. ``marked``: the nodes carrying our mark (``KeptFacts.marked``): with the ones
        already found orphaned, the only ones looked at."""
        for name in [n for n in self.orphaned if n not in nodes]:
            del self.orphaned[name]
        for name in sorted(marked | self.orphaned.keys()):
            node = nodes.get(name)
            if node is None:
                continue
            mark = node.cordon_mark
            request = requests.get(name)
            running = self.cycles.get(name)
            if (
                mark is None
                or not node.facts.unschedulable
                or (request is not None and request.status.phase in ACTIVE_PHASES)
                or (running is not None and not running.done())
            ):
                self.orphaned.pop(name, None)
                continue
            seen = self.orphaned.get(name)
            if seen is None or seen[:2] != (mark, node.facts.boot_id) or not node.facts.ready:
                self.orphaned[name] = (mark, node.facts.boot_id, now)
                if node.facts.ready:
                    log.info(
                        "node %s is cordoned by a cycle whose request is gone (mark %s); uncordoning it after %s "
                        "Ready without a reboot",
                        name,
                        mark,
                        self.orphan_grace,
                    )
                    asyncio.get_running_loop().call_later(self.orphan_grace.total_seconds(), self.kick)
                continue
            if now - seen[2] < self.orphan_grace:
                continue
            del self.orphaned[name]
            try:
                done = await node_effects.ensure_unmarked_cordon_gone(self.api, name, mark)
            except KubeEffectError as error:
                log.warning("could not uncordon node %s left cordoned by a deleted request: %s", name, error)
                self.kick()
                continue
            if done:
                message = (
                    f"uncordoned: its cordon was left by a reboot cycle whose request no longer exists (uid {mark}); "
                    f"the node was Ready, without a reboot, for {self.orphan_grace}"
                )
                log.warning("node %s %s", name, message)
                background().submit(
                    self.api, involved=ObjectRef.node(name, node.uid), reason="Uncordoned", message=message
                )


def error_text(error: BaseException) -> str:
    """An error for a status message: its type and text on one line, at most a few hundred characters."""
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text if len(text) <= ERROR_TEXT else text[: ERROR_TEXT - 1] + "…"
