"""Maintenance windows and blackouts: is a policy open at instant t, when does it close, when does it open next.

A ``Schedule`` is the union of a policy's windows (always open when it has none) minus its blackouts. Each window
produces its openings as UTC intervals ``[start, end)`` in start order; the schedule merges them and cuts the
blackouts out. All answers are bounded: openings are looked for up to ``NEXT_OPENING_HORIZON`` ahead, and an
opening that keeps extending (a cron firing every minute) is followed for at most ``MERGE_LIMIT`` intervals, after
which it is reported as open "at least until" the furthest point seen.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from reboot_operator.api.vocabulary import WindowState
from reboot_operator.core.clock import to_instant, to_local
from reboot_operator.core.cron import Cron

NEXT_OPENING_HORIZON = timedelta(days=366 * 8 + 2)
MERGE_LIMIT = 500
_DAY = timedelta(days=1)
_NEVER = datetime.max.replace(tzinfo=UTC)
_ALWAYS = datetime.min.replace(tzinfo=UTC)

Interval = tuple[datetime, datetime]


class Window(Protocol):
    """Something that opens repeatedly."""

    def openings(self, after: datetime, until: datetime) -> Iterator[Interval]:
        """Its openings ending after ``after`` and starting before ``until``, in start order."""
        ...


@dataclass(frozen=True, slots=True)
class DailyWindow:
    """Open from ``start`` to ``end`` local time on each of ``weekdays`` (0 = Monday); an end at or before the
    start is on the next day, and the window belongs to the day it starts on."""

    weekdays: frozenset[int]
    start: time
    end: time
    tz: ZoneInfo

    def openings(self, after: datetime, until: datetime) -> Iterator[Interval]:
        crosses_midnight = self.end <= self.start
        day = to_local(after, self.tz).date() - _DAY
        last = to_local(min(until, _NEVER - 2 * _DAY), self.tz).date()
        while day <= last:
            if day.weekday() in self.weekdays:
                opens = to_instant(datetime.combine(day, self.start), self.tz)
                closes = to_instant(datetime.combine(day + _DAY if crosses_midnight else day, self.end), self.tz)
                # A window that lies wholly in a spring-forward gap never opens.
                if closes > after and opens < closes and opens < until:
                    yield opens, closes
            day += _DAY


@dataclass(frozen=True, slots=True)
class CronWindow:
    """Open for ``duration`` from each firing of ``cron`` in ``tz`` (the duration is real elapsed time)."""

    cron: Cron
    duration: timedelta
    tz: ZoneInfo

    def openings(self, after: datetime, until: datetime) -> Iterator[Interval]:
        local = to_local(after - self.duration, self.tz)
        max_days = (until - after + self.duration).days + 2
        fire = self.cron.next_after(local, inclusive=True, max_days=max_days)
        while fire is not None:
            opens = to_instant(fire, self.tz)
            if opens >= until:
                return
            closes = opens + self.duration
            if closes > after:
                yield opens, closes
            fire = self.cron.next_after(fire, max_days=max_days)


@dataclass(frozen=True, slots=True)
class Blackout:
    """A fixed period during which nothing starts."""

    start: datetime
    end: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class ScheduleState:
    """A schedule's answer for one instant."""

    state: WindowState
    open: bool
    closes_at: datetime | None
    """End of the current opening; None when closed, or open for longer than was looked at."""
    next_opening: datetime | None
    """Start of the next opening when closed; None when open, or when none is within the horizon."""
    changes_at: datetime | None
    """The next instant the answer may change: a timer should fire then."""
    blackout: Blackout | None
    """The blackout in force at the instant, if any."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """A policy's windows (always open when there are none) minus its blackouts."""

    windows: tuple[Window, ...]
    blackouts: tuple[Blackout, ...] = ()

    def contains(self, t: datetime) -> bool:
        return self.state(t).open

    def next_opening(self, t: datetime) -> datetime | None:
        """``t`` itself when open at ``t``, else the start of the next opening (None beyond the horizon)."""
        state = self.state(t)
        return t if state.open else state.next_opening

    def closes_at(self, t: datetime) -> datetime | None:
        return self.state(t).closes_at

    def state(self, t: datetime) -> ScheduleState:
        opening = next(self._openings(t), None)
        if opening is not None and opening[0] <= t:
            _, closes, known = opening
            return ScheduleState(
                state=WindowState.OPEN if self.windows else WindowState.ALWAYS,
                open=True,
                closes_at=closes if known and closes != _NEVER else None,
                next_opening=None,
                changes_at=closes if closes != _NEVER else None,
                blackout=None,
            )
        blackout = next((b for b in self.blackouts if b.start <= t < b.end), None)
        next_opening = opening[0] if opening is not None else None
        return ScheduleState(
            state=WindowState.BLACKOUT if blackout else WindowState.CLOSED,
            open=False,
            closes_at=None,
            next_opening=next_opening,
            changes_at=next_opening,
            blackout=blackout,
        )

    def _openings(self, t: datetime) -> Iterator[tuple[datetime, datetime, bool]]:
        """Disjoint openings ending after ``t``, blackouts cut out; the flag says whether the end is known."""
        # Inside a blackout (or a chain of them) nothing opens before it ends: look from there, so that a long
        # blackout costs nothing, and the horizon counts from its end.
        start = t
        for blackout in self.blackouts:
            if blackout.start <= start < blackout.end:
                start = blackout.end
        until = start + NEXT_OPENING_HORIZON
        if len(self.windows) == 1:
            merged = _merge(self.windows[0].openings(start, until))
        elif self.windows:
            merged = _merge(heapq.merge(*(w.openings(start, until) for w in self.windows)))
        else:
            merged = iter([(_ALWAYS, _NEVER, True)])
        for opens, closes, known in merged:
            pieces = _cut(opens, closes, self.blackouts)
            for index, (start, end) in enumerate(pieces):
                if end > t:
                    yield start, end, known or index < len(pieces) - 1


def _merge(openings: Iterable[Interval]) -> Iterator[tuple[datetime, datetime, bool]]:
    """Joins overlapping or touching intervals; gives up extending one after ``MERGE_LIMIT`` steps."""
    current: list[datetime] | None = None
    steps = 0
    for opens, closes in openings:
        if current is not None and opens <= current[1]:
            current[1] = max(current[1], closes)
            steps += 1
            if steps >= MERGE_LIMIT:
                yield current[0], current[1], False
                return
            continue
        if current is not None:
            yield current[0], current[1], True
        current, steps = [opens, closes], 0
    if current is not None:
        yield current[0], current[1], True


def _cut(opens: datetime, closes: datetime, blackouts: tuple[Blackout, ...]) -> list[Interval]:
    """``[opens, closes)`` without the blackouts (sorted by start)."""
    pieces: list[Interval] = []
    cursor = opens
    for blackout in blackouts:
        if blackout.end <= cursor:
            continue
        if blackout.start >= closes:
            break
        if blackout.start > cursor:
            pieces.append((cursor, blackout.start))
        cursor = max(cursor, blackout.end)
        if cursor >= closes:
            break
    if cursor < closes:
        pieces.append((cursor, closes))
    return pieces
