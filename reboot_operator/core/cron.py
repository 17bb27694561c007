"""Five-field cron expressions (minute hour day-of-month month day-of-week), read as Vixie cron reads them.

Supported: ``*``, numbers, names (``jan``…``dec``, ``sun``…``sat``), ranges ``a-b``, steps ``*/n``, ``a-b/n`` and
``a/n``, lists ``a,b``, and the macros ``@yearly``, ``@annually``, ``@monthly``, ``@weekly``, ``@daily``,
``@midnight``, ``@hourly``. Day-of-week 0 and 7 are Sunday. As in Vixie cron, when both day fields are restricted
(neither starts with ``*``) a day matches if either does; otherwise both must.

Times are naive local wall-clock times here; ``core.window`` maps them to instants in a time zone.
"""

from __future__ import annotations

import calendar
from bisect import bisect_left
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_abbr) if name}
_WEEKDAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
_LONGEST_MONTH = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}

MAX_SEARCH_DAYS = 366 * 8 + 2
"""How far ahead a firing is looked for: a 29 February can be eight years away (2096 → 2104)."""


class CronError(ValueError):
    """A cron expression that cannot be read; the message names the field."""


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int]


_FIELDS = (
    _Field("minute", 0, 59, {}),
    _Field("hour", 0, 23, {}),
    _Field("day-of-month", 1, 31, {}),
    _Field("month", 1, 12, _MONTHS),
    _Field("day-of-week", 0, 7, _WEEKDAYS),
)


@dataclass(frozen=True, slots=True)
class Cron:
    """A parsed cron expression: the sets of values each field allows."""

    expression: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    """0 = Sunday … 6 = Saturday."""
    either_day: bool
    """Both day fields are restricted, so a day matches if either does (Vixie cron)."""

    def matches_day(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        by_date = day.day in self.days
        by_weekday = (day.weekday() + 1) % 7 in self.weekdays
        return (by_date or by_weekday) if self.either_day else (by_date and by_weekday)

    def next_after(
        self, after: datetime, *, inclusive: bool = False, max_days: int = MAX_SEARCH_DAYS
    ) -> datetime | None:
        """The first firing after ``after`` (or at it, when ``inclusive``), within ``max_days`` days; else None."""
        start = after.replace(second=0, microsecond=0)
        if start < after or not inclusive:
            start += timedelta(minutes=1)
        day = start.date()
        first_hour, first_minute = start.hour, start.minute
        for _ in range(max_days + 1):
            if self.matches_day(day):
                found = self._first_time(first_hour, first_minute)
                if found is not None:
                    return datetime(day.year, day.month, day.day, found[0], found[1])
            day += timedelta(days=1)
            first_hour = first_minute = 0
        return None

    def _first_time(self, hour: int, minute: int) -> tuple[int, int] | None:
        """The earliest (hour, minute) the expression allows at or after hour:minute on a matching day."""
        hours = self.hours
        index = bisect_left(hours, hour)
        if index < len(hours) and hours[index] == hour:
            position = bisect_left(self.minutes, minute)
            if position < len(self.minutes):
                return hour, self.minutes[position]
            index += 1
        if index < len(hours):
            return hours[index], self.minutes[0]
        return None

    def ever_fires(self) -> bool:
        """False for expressions naming only dates that do not exist, such as ``0 0 30 2 *``."""
        if self.either_day:
            return True
        return any(day <= _LONGEST_MONTH[month] for month in self.months for day in self.days)


@lru_cache(maxsize=1024)
def parse_cron(expression: str) -> Cron:
    """Reads a cron expression; raises ``CronError`` naming the faulty field."""
    text = _MACROS.get(expression.strip().lower(), expression)
    parts = text.split()
    if len(parts) != len(_FIELDS):
        raise CronError(f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(parts)}")
    minutes, hours, days, months, weekdays = (
        _parse_field(part, spec) for part, spec in zip(parts, _FIELDS, strict=True)
    )
    return Cron(
        expression=expression,
        minutes=tuple(sorted(minutes)),
        hours=tuple(sorted(hours)),
        days=frozenset(days),
        months=frozenset(months),
        weekdays=frozenset(value % 7 for value in weekdays),
        either_day=not parts[2].startswith("*") and not parts[4].startswith("*"),
    )


def _parse_field(text: str, field: _Field) -> set[int]:
    values: set[int] = set()
    for item in text.split(","):
        values.update(_parse_item(item, field))
    return values


def _parse_item(item: str, field: _Field) -> range:
    span, _, step_text = item.partition("/")
    step = _number(step_text, field, what="step") if step_text else 1
    if step < 1:
        raise CronError(f"{field.name}: step must be at least 1 in {item!r}")
    if span == "*":
        low, high = field.low, field.high
    elif "-" in span:
        first, _, last = span.partition("-")
        low, high = _value(first, field), _value(last, field)
        if low > high:
            raise CronError(f"{field.name}: range {span!r} runs backwards")
    else:
        low = _value(span, field)
        high = field.high if step_text else low
    return range(low, high + 1, step)


def _value(text: str, field: _Field) -> int:
    number = field.names.get(text.lower())
    if number is None:
        number = _number(text, field, what="value")
    if not field.low <= number <= field.high:
        raise CronError(f"{field.name}: {number} is out of range {field.low}-{field.high}")
    return number


def _number(text: str, field: _Field, *, what: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise CronError(f"{field.name}: {what} {text!r} is not a number")
    return int(text)
