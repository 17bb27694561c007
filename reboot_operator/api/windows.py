"""When a RebootPolicy may start reboots: maintenance windows (daily or cron) and blackouts.

Only the shapes live here; ``core.window`` evaluates them and ``core.validation`` checks what a schema cannot
(that a time zone exists, that a cron expression ever fires).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, ConfigDict, Field, model_validator

from reboot_operator.api.base import ApiModel, Duration, cel, validations

CLOCK_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
CRON_MACROS = ("yearly", "annually", "monthly", "weekly", "daily", "midnight", "hourly")
CRON_PATTERN = r"^(@(" + "|".join(CRON_MACROS) + r")|[0-9A-Za-z*/,-]+( +[0-9A-Za-z*/,-]+){4})$"
TIME_ZONE_PATTERN = r"^[A-Za-z0-9_+\-/]+$"
DEFAULT_TIME_ZONE = "UTC"

Clock = Annotated[str, Field(pattern=CLOCK_PATTERN, max_length=5)]
CronExpression = Annotated[str, Field(pattern=CRON_PATTERN, max_length=128)]


class Weekday(StrEnum):
    """A day of the week, as kured spells it."""

    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


_WINDOW_SHAPE = "a window has either start and end (and optionally days), or schedule and duration"


class MaintenanceWindow(ApiModel):
    """A recurring time when reboots may start: every listed day from start to end, or from each firing of a cron
    schedule for a duration. Either way it is read in its own time zone, with daylight-saving time taken into
    account: on the night clocks spring forward, a start or end in the skipped hour is read as the moment of the
    jump (a window from 02:30 to 04:00 opens at 03:00 that night), and a window lying wholly inside the skipped hour
    does not open that night; on the night they fall back, a start or end in the repeated hour is its first pass
    (01:00 to 01:45 opens once), and a window across the change is an hour longer. A cron window lasts its duration in
    real time. A window only gates starting: a node already draining or rebooting finishes."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel("has(self.start) != has(self.schedule)", _WINDOW_SHAPE),
            cel("has(self.start) == has(self.end)", "start and end go together", field_path=".end"),
            cel(
                "has(self.schedule) == has(self.duration)",
                "schedule and duration go together",
                field_path=".duration",
            ),
            cel(
                "!has(self.days) || has(self.start)",
                "days only go with start and end; a cron schedule has its own day fields",
                field_path=".days",
            ),
            cel(
                "!has(self.start) || !has(self.end) || self.start != self.end",
                "end must differ from start",
                field_path=".end",
            ),
            cel(
                "!has(self.duration) || self.duration.matches('[1-9]')",
                "duration must be longer than zero",
                field_path=".duration",
            ),
        )
    )

    days: list[Weekday] | None = Field(
        default=None,
        min_length=1,
        max_length=7,
        json_schema_extra={"x-kubernetes-list-type": "set"},
        description="Days on which the window opens (mon … sun); every day when unset. A window crossing midnight "
        "belongs to the day it starts on.",
    )
    start: Clock | None = Field(default=None, description="Local time the window opens, HH:MM (24-hour clock).")
    end: Clock | None = Field(
        default=None,
        description="Local time the window closes, HH:MM; an end earlier than the start means the next day.",
    )
    schedule: CronExpression | None = Field(
        default=None,
        description="A 5-field cron expression (minute hour day-of-month month day-of-week) or @daily, @weekly … "
        "at which the window opens; used with duration instead of start and end.",
    )
    duration: Duration | None = Field(
        default=None, description="How long the window stays open after each firing of schedule, e.g. 4h."
    )
    time_zone: Annotated[str, Field(pattern=TIME_ZONE_PATTERN, max_length=64)] = Field(
        default=DEFAULT_TIME_ZONE,
        description="IANA time zone the window is read in, e.g. Europe/Berlin.",
    )

    @model_validator(mode="after")
    def _one_shape(self) -> MaintenanceWindow:
        if (self.start is not None) == (self.schedule is not None):
            raise ValueError(_WINDOW_SHAPE)
        if (self.start is None) != (self.end is None):
            raise ValueError("start and end go together")
        if (self.schedule is None) != (self.duration is None):
            raise ValueError("schedule and duration go together")
        if self.days is not None and self.start is None:
            raise ValueError("days only go with start and end; a cron schedule has its own day fields")
        if self.start is not None and self.start == self.end:
            raise ValueError("end must differ from start")
        if self.duration is not None and not re.search("[1-9]", self.duration):
            raise ValueError("duration must be longer than zero")
        if self.days is not None and len(set(self.days)) != len(self.days):
            raise ValueError("days must not repeat")
        return self


class Blackout(ApiModel):
    """A fixed period during which no reboot starts, whatever the windows say (a release freeze, a holiday)."""

    model_config = ConfigDict(
        json_schema_extra=validations(cel("self.end > self.start", "end must be after start", field_path=".end"))
    )

    start: AwareDatetime = Field(description="When the blackout begins (RFC 3339, e.g. 2025-12-20T00:00:00Z).")
    end: AwareDatetime = Field(description="When the blackout ends (RFC 3339); must be after start.")
    reason: Annotated[str, Field(max_length=256)] = Field(
        default="", description="Why nothing may start, shown in the waiting requests' messages."
    )

    @model_validator(mode="after")
    def _ends_after_start(self) -> Blackout:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self
