"""What the API server cannot check about a RebootPolicy, checked here: time zones that exist, cron expressions
that parse and fire. The operator reports the problems as ``Ready=False, reason InvalidSpec``.

Also the one place a policy spec becomes something ``core`` can evaluate (``compile_schedule``), and where a raw
spec that somehow slipped past the schema becomes a list of problems instead of an exception (``parse_policy``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

from pydantic import ValidationError

from reboot_operator.api.duration import parse_duration
from reboot_operator.api.policy import RebootPolicySpec
from reboot_operator.api.windows import MaintenanceWindow, Weekday
from reboot_operator.core.clock import zone
from reboot_operator.core.cron import CronError, parse_cron
from reboot_operator.core.window import Blackout, CronWindow, DailyWindow, Schedule, Window

_WEEKDAY_NUMBERS = {day: number for number, day in enumerate(Weekday)}


def validate_policy(spec: RebootPolicySpec) -> list[str]:
    """The problems of a policy spec that passed the schema, each naming its field; empty when it is valid. (Its
    durations are bounded by the model itself, as by the CRD's CEL rule: ``api.base.Duration``.)"""
    problems: list[str] = []
    for index, window in enumerate(spec.maintenance_windows):
        where = f"spec.maintenanceWindows[{index}]"
        try:
            zone(window.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"{where}.timeZone: unknown time zone {window.time_zone!r}")
        if window.schedule is not None:
            try:
                cron = parse_cron(window.schedule)
            except CronError as error:
                problems.append(f"{where}.schedule: {error}")
            else:
                if not cron.ever_fires():
                    problems.append(f"{where}.schedule: {window.schedule!r} never fires (no such date)")
    return problems


def compile_schedule(spec: RebootPolicySpec) -> Schedule:
    """The evaluable schedule of a valid spec (``validate_policy`` returned no problems)."""
    blackouts = sorted(
        (Blackout(start=b.start, end=b.end, reason=b.reason) for b in spec.blackouts),
        key=lambda b: (b.start, b.end),
    )
    return Schedule(windows=tuple(_window(w) for w in spec.maintenance_windows), blackouts=tuple(blackouts))


def _window(window: MaintenanceWindow) -> Window:
    tz = zone(window.time_zone)
    if window.schedule is not None and window.duration is not None:
        return CronWindow(cron=parse_cron(window.schedule), duration=parse_duration(window.duration), tz=tz)
    # The model guarantees one shape or the other.
    assert window.start is not None
    assert window.end is not None
    days = window.days or list(Weekday)
    return DailyWindow(
        weekdays=frozenset(_WEEKDAY_NUMBERS[d] for d in days),
        start=time.fromisoformat(window.start),
        end=time.fromisoformat(window.end),
        tz=tz,
    )


def parse_policy(raw: Mapping[str, Any]) -> tuple[RebootPolicySpec | None, list[str]]:
    """A raw spec (as stored) parsed into the model, or None and its problems, each naming the field."""
    try:
        spec = RebootPolicySpec.model_validate(raw)
    except ValidationError as error:
        return None, [f"{_path(e['loc'])}: {e['msg'].removeprefix('Value error, ')}" for e in error.errors()]
    return spec, validate_policy(spec)


def holding_spec(raw: Mapping[str, Any]) -> RebootPolicySpec | None:
    """For a spec ``parse_policy`` could not parse: its selector and priority alone, so that the policy still owns
    the nodes it selects (and holds them) instead of leaving them to another policy; None if even those cannot be
    read, and then it selects nothing."""
    try:
        return RebootPolicySpec.model_validate({key: raw[key] for key in ("nodeSelector", "priority") if key in raw})
    except ValidationError:
        return None


def _path(location: tuple[int | str, ...]) -> str:
    path = "spec"
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path
