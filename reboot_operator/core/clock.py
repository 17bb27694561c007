"""Wall-clock times in IANA time zones mapped to instants, daylight-saving time included.

The one rule, used for window boundaries and cron firings alike: a local time happens at the first instant the
zone's clock reads it, or, if a spring-forward jump skips it, at the jump. So in a fall-back overlap the first
occurrence counts, and nothing is ever placed at a wall-clock time that does not exist.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

_SECOND = timedelta(seconds=1)


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name; raises ``ZoneInfoNotFoundError`` or ``ValueError`` for unknown names."""
    return ZoneInfo(name)


def to_local(instant: datetime, tz: ZoneInfo) -> datetime:
    """The naive wall-clock time in ``tz`` at ``instant`` (an aware datetime)."""
    return instant.astimezone(tz).replace(tzinfo=None)


def to_instant(local: datetime, tz: ZoneInfo) -> datetime:
    """The first instant (in UTC) at which ``tz``'s clock reads ``local`` or, inside a gap, passes it."""
    instant = local.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if to_local(instant, tz) == local:
        return instant
    # In a gap: fold=1 reads ``local`` with the offset after the jump, which lands before it; fold=0 after it.
    before = local.replace(tzinfo=tz, fold=1).astimezone(UTC)
    after = instant
    while after - before > _SECOND:
        middle = before + (after - before) // 2
        middle -= timedelta(microseconds=middle.microsecond)
        if to_local(middle, tz) >= local:
            after = middle
        else:
            before = middle
    return after


def policy_zone(zones: list[str]) -> str:
    """The time zone a policy's times are told in: that of its windows when they all share one, else UTC."""
    distinct = set(zones)
    return distinct.pop() if len(distinct) == 1 else "UTC"


def stamp(instant: datetime, zone_name: str = "UTC") -> str:
    """An instant, to the second, as RFC 3339 in ``zone_name``: ``2025-11-29T02:00:00Z`` in UTC,
    ``2025-11-29T03:00:00+01:00 (Europe/Berlin)`` elsewhere."""
    if zone_name == "UTC":
        return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    local = instant.astimezone(zone(zone_name)).isoformat(timespec="seconds")
    return f"{local} ({zone_name})"
