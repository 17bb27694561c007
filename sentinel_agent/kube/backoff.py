"""Exponential backoff with jitter, and the Retry-After header.

Every retry in the agent (API requests, watch reconnects) waits through a ``Backoff``, so a fleet of agents that
lost the API server at the same moment does not come back at the same moment. The jitter keeps at least half of
each step, so a retry is never immediate.
"""

from __future__ import annotations

import random
from datetime import datetime
from email.utils import parsedate_to_datetime


class Backoff:
    """Delays that double from ``initial`` up to ``maximum``, each drawn from [ceiling/2, ceiling]."""

    def __init__(
        self,
        *,
        initial: float = 0.5,
        maximum: float = 30.0,
        multiplier: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        if initial <= 0 or maximum < initial or multiplier < 1:
            raise ValueError("backoff needs 0 < initial <= maximum and multiplier >= 1")
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
        self._rng = rng or random.Random()
        self._failures = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts one more failure."""
        ceiling = min(self.maximum, self.initial * self.multiplier ** min(self._failures, 64))
        self._failures += 1
        return self._rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        """Start again from ``initial`` after a success."""
        self._failures = 0


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())
