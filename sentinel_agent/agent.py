"""The agent's loop: check on a timer, react to the request at once, write and reboot only when needed.

All state changes happen in one thread, in the order of an inbox: the watcher thread posts each new state of
the request, the timer runs the checks, a signal handler posts "stop". Decisions are the pure functions in
``reporting`` and ``approval``; this module only gathers their inputs and carries out what they return.
Nothing here crashes on API trouble: a failed write is retried at a later check, with a growing pause.
"""

from __future__ import annotations

import logging
import math
import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple, Protocol

from sentinel_agent.approval import Action, decide_reboot
from sentinel_agent.bootid import read_boot_id
from sentinel_agent.checkers import Checker
from sentinel_agent.errors import ApiConflict, ApiError, ApiNotFound, BootIdError, DetectionError, RebootError
from sentinel_agent.guard import GuardStore, RebootAttempt
from sentinel_agent.kube.backoff import Backoff
from sentinel_agent.model import NodeRebootRequest, Reason, Spec
from sentinel_agent.rebooters import Rebooter
from sentinel_agent.reporting import Write, plan_report

log = logging.getLogger(__name__)

CHECK_JITTER = 0.1
#: The longest pause between retries of a write the API server keeps refusing.
MAX_WRITE_PAUSE = 900.0


class SpecWriter(Protocol):
    """The two writes the agent makes; ``resource.RequestResource`` is the real one."""

    def create(self, spec: Spec) -> NodeRebootRequest: ...

    def patch_spec(self, spec: Spec) -> NodeRebootRequest: ...


class Seen(NamedTuple):
    """The request's newest state (None: it does not exist), from the watcher."""

    request: NodeRebootRequest | None


class _Stop:
    pass


class Agent:
    """One node's agent. ``run()`` in the main thread; ``offer()`` and ``stop()`` from anywhere."""

    def __init__(
        self,
        *,
        node_name: str,
        checkers: Sequence[Checker],
        rebooter: Rebooter,
        writer: SpecWriter,
        boot_id_file: Path,
        guard: GuardStore,
        check_interval: float,
        guard_interval: float,
        stop: threading.Event | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._node_name = node_name
        self._checkers = tuple(checkers)
        self._rebooter = rebooter
        self._writer = writer
        self._boot_id_file = boot_id_file
        self._guard = guard
        self._check_interval = check_interval
        self._guard_interval = timedelta(seconds=guard_interval)
        self._stop = stop or threading.Event()
        self._clock = clock
        self._monotonic = monotonic
        self._rng = rng or random.Random()
        self._inbox: queue.SimpleQueue[Seen | _Stop] = queue.SimpleQueue()

        self._request: NodeRebootRequest | None = None
        self._request_known = False
        # The last successful detection and the boot it was made in; None while unknown.
        self._reasons: tuple[Reason, ...] | None = None
        self._reasons_boot: str | None = None
        self._last_detection_log: object = None
        self._wake_at: float | None = None
        self._logged_wait: datetime | None = None
        self._write_backoff = Backoff(initial=check_interval, maximum=max(check_interval, MAX_WRITE_PAUSE))
        self._no_write_before = -math.inf

    # Called from other threads.

    def offer(self, request: NodeRebootRequest | None) -> None:
        """Post the request's newest state."""
        self._inbox.put(Seen(request))

    def stop(self) -> None:
        """Ask ``run`` to return; safe from a signal handler."""
        self._stop.set()
        self._inbox.put(_Stop())

    # The loop.

    def run(self) -> None:
        """Check now and every interval, react to each posted request state, until stopped."""
        next_check = self._monotonic()
        while not self._stop.is_set():
            deadline = min(next_check, self._wake_at if self._wake_at is not None else math.inf)
            try:
                item = self._inbox.get(timeout=max(0.0, deadline - self._monotonic()))
            except queue.Empty:
                item = None
            if isinstance(item, _Stop) or self._stop.is_set():
                break
            if isinstance(item, Seen):
                self.on_request(item.request)
            now = self._monotonic()
            if now >= next_check:
                self.check()
                next_check = now + self._check_interval * self._rng.uniform(1 - CHECK_JITTER, 1 + CHECK_JITTER)
            if self._wake_at is not None and now >= self._wake_at:
                self._wake_at = None
                self.act()

    def on_request(self, request: NodeRebootRequest | None) -> None:
        """A new state of the request: act on an approval at once, then write if the detection says so."""
        if request is not None and self._request is not None and _older(request, than=self._request):
            return
        if not self._request_known or _status_key(request) != _status_key(self._request):
            log.info(
                "request status",
                extra={
                    "fields": {
                        "exists": request is not None,
                        "phase": request.phase if request else None,
                        "approved_boot": request.approval.boot_id if request and request.approval else None,
                    }
                },
            )
        self._request = request
        self._request_known = True
        self.act()
        self.report()

    def check(self) -> None:
        """Run every checker, then report and act."""
        self._reasons_boot = self._boot_id()
        reasons: list[Reason] = []
        try:
            for checker in self._checkers:
                reasons.extend(checker.check())
        except DetectionError as error:
            # Unknown is not "required": keep what the request says until a check succeeds.
            self._reasons = None
            self._log_detection(("error", str(error)), logging.ERROR, "detection failed", error=str(error))
        else:
            self._reasons = tuple(reasons)
            self._log_detection(
                self._reasons,
                logging.INFO,
                "reboot required" if reasons else "no reboot required",
                reasons=[f"{reason.source}: {reason.detail}" for reason in reasons],
                packages=sorted({package for reason in reasons for package in reason.packages}),
            )
        self.report()
        self.act()

    def report(self) -> None:
        """Make the request's spec tell the latest successful detection, if it does not already."""
        if self._reasons is None or not self._request_known or self._monotonic() < self._no_write_before:
            return
        boot_id = self._boot_id()
        if boot_id is None or boot_id != self._reasons_boot:
            # A detection from before a reboot says nothing about this boot; the next check will.
            return
        plan = plan_report(
            node_name=self._node_name,
            reasons=self._reasons,
            request=self._request,
            current_boot_id=boot_id,
            now=self._clock(),
        )
        if plan.write is Write.NOTHING or plan.spec is None:
            return
        try:
            if plan.write is Write.CREATE:
                written = self._writer.create(plan.spec)
            else:
                written = self._writer.patch_spec(plan.spec)
        except (ApiConflict, ApiNotFound) as error:
            # The request changed under us; the watch brings its new state, and with it a new plan.
            log.info("request changed meanwhile", extra={"fields": {"write": plan.write, "error": str(error)}})
            return
        except ApiError as error:
            pause = self._write_backoff.next_delay()
            self._no_write_before = self._monotonic() + pause
            log.warning(
                "cannot write the request; will try again",
                extra={"fields": {"write": plan.write, "error": str(error), "retry_in": round(pause, 1)}},
            )
            return
        self._write_backoff.reset()
        self._no_write_before = -math.inf
        log.info(
            "request written",
            extra={"fields": {"write": plan.write, "why": plan.why, "boot_id": plan.spec.boot_id}},
        )
        self.on_request(written)

    def act(self) -> None:
        """Reboot if the approval says so and the guard allows it."""
        if not self._request_known:
            return
        boot_id = self._boot_id()
        if boot_id is None:
            return
        now = self._clock()
        decision = decide_reboot(
            request=self._request,
            current_boot_id=boot_id,
            last_attempt=self._guard.last_attempt,
            now=now,
            guard_interval=self._guard_interval,
        )
        if decision.action is Action.WAIT and decision.retry_at is not None:
            self._wake_in((decision.retry_at - now).total_seconds())
            if decision.retry_at != self._logged_wait:
                self._logged_wait = decision.retry_at
                log.info(
                    "waiting before asking for the reboot again",
                    extra={"fields": {"why": decision.why, "retry_at": decision.retry_at.isoformat()}},
                )
            return
        if decision.action is not Action.REBOOT:
            log.debug("no reboot", extra={"fields": {"why": decision.why}})
            return
        approval = self._request.approval if self._request else None
        log.warning(
            "rebooting the node",
            extra={
                "fields": {
                    "why": decision.why,
                    "method": self._rebooter.describe(),
                    "boot_id": boot_id,
                    "attempt": approval.attempt if approval else None,
                }
            },
        )
        # Recorded before asking: a crash in between must not lead to a second reboot at once.
        self._guard.record(RebootAttempt(boot_id=boot_id, at=now))
        self._wake_in(self._guard_interval.total_seconds())
        try:
            self._rebooter.reboot()
        except RebootError as error:
            log.error(
                "reboot failed; will try again after the guard interval",
                extra={"fields": {"error": str(error), "retry_in": self._guard_interval.total_seconds()}},
            )

    def _wake_in(self, seconds: float) -> None:
        moment = self._monotonic() + max(0.0, seconds)
        self._wake_at = moment if self._wake_at is None else min(self._wake_at, moment)

    def _boot_id(self) -> str | None:
        try:
            return read_boot_id(self._boot_id_file)
        except BootIdError as error:
            log.error("cannot read the boot ID", extra={"fields": {"error": str(error)}})
            return None

    def _log_detection(self, key: object, level: int, message: str, **fields: object) -> None:
        """Log a detection result when it differs from the previous one, at debug otherwise."""
        changed = key != self._last_detection_log
        self._last_detection_log = key
        log.log(level if changed else logging.DEBUG, message, extra={"fields": fields})


def _status_key(request: NodeRebootRequest | None) -> object:
    return None if request is None else (request.phase, request.approval)


def _older(request: NodeRebootRequest, *, than: NodeRebootRequest) -> bool:
    """True when both versions are numbers (as etcd's are) and ``request``'s is smaller: a late event."""
    mine, theirs = request.resource_version, than.resource_version
    if mine is None or theirs is None or not mine.isdigit() or not theirs.isdigit():
        return False
    return int(mine) < int(theirs)
