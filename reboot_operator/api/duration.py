"""Go-style duration strings ("30s", "5m", "1h30m", "1.5h") as used throughout the API, read into timedeltas."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import lru_cache

_UNIT_MICROSECONDS = {"ns": 0.001, "us": 1, "ms": 1_000, "s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000}
_TERM = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|ms|s|m|h)")
MAX_DURATION_TEXT = "87600h"
MAX_DURATION = timedelta(hours=87600)
"""Ten years: the longest duration any field may hold. The schema's pattern admits "99999999999999999999h", which
no timedelta can hold (and a date that far ahead does not exist); such a value is refused, naming this limit."""


@lru_cache(maxsize=1024)
def parse_duration(text: str) -> timedelta:
    """``"1h30m"`` → ``timedelta(hours=1, minutes=30)``; ``"0"`` → zero. Raises ``ValueError`` on anything else,
    on a duration longer than ``MAX_DURATION``, and on one shorter than a microsecond but not zero.

    Nanoseconds below a microsecond are dropped (timedelta's resolution)."""
    if text == "0":
        return timedelta(0)
    position = 0
    microseconds = 0.0
    for term in _TERM.finditer(text):
        if term.start() != position:
            break
        microseconds += float(term.group(1)) * _UNIT_MICROSECONDS[term.group(2)]
        position = term.end()
    if position != len(text) or not text:
        raise ValueError(f"not a duration: {text!r} (expected e.g. 30s, 5m, 1h30m)")
    if 0 < microseconds < 1:
        # "0.01ns" or "500ns" would read as zero, which means "never open" for a window and "forever" for a time-out.
        raise ValueError(f"duration {text!r} is shorter than 1us, the finest a duration may be (write 0 for none)")
    if microseconds > MAX_DURATION / timedelta(microseconds=1):
        raise ValueError(f"duration {text!r} is longer than {MAX_DURATION_TEXT} (ten years), the most allowed")
    return timedelta(microseconds=int(microseconds))
