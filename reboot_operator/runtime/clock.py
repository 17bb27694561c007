"""The wall clock, as the one function effects are given (and tests replace): read it once per decision."""

from __future__ import annotations

import datetime
from collections.abc import Callable

Clock = Callable[[], datetime.datetime]
"""Returns the current time, timezone-aware, in UTC."""


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
