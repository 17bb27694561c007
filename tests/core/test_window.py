"""Maintenance windows and blackouts, including crossing midnight and daylight-saving time in both directions."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reboot_operator.api import RebootPolicySpec
from reboot_operator.api.vocabulary import WindowState
from reboot_operator.core.clock import zone
from reboot_operator.core.cron import parse_cron
from reboot_operator.core.validation import compile_schedule
from reboot_operator.core.window import MERGE_LIMIT, CronWindow, DailyWindow, Schedule, _merge


def schedule(windows: list[dict[str, Any]], blackouts: list[dict[str, Any]] | None = None) -> Schedule:
    spec = RebootPolicySpec.model_validate({"maintenanceWindows": windows, "blackouts": blackouts or []})
    return compile_schedule(spec)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


NIGHTLY = {"start": "22:00", "end": "04:00"}
NY = "America/New_York"

# (windows, blackouts, now, open, closes_at, next_opening); 2025-11-29 is a Saturday.
CASES = [
    pytest.param([NIGHTLY], [], utc(2025, 11, 27, 23), True, utc(2025, 11, 28, 4), None, id="nightly-open"),
    pytest.param([NIGHTLY], [], utc(2025, 11, 27, 12), False, None, utc(2025, 11, 27, 22), id="nightly-closed"),
    pytest.param([NIGHTLY], [], utc(2025, 11, 28, 4), False, None, utc(2025, 11, 28, 22), id="end-is-exclusive"),
    pytest.param(
        [{**NIGHTLY, "days": ["sat"]}],
        [],
        utc(2025, 11, 30, 1),
        True,
        utc(2025, 11, 30, 4),
        None,
        id="crossing-midnight-belongs-to-its-start-day",
    ),
    pytest.param(
        [{**NIGHTLY, "days": ["sat"]}],
        [],
        utc(2025, 11, 29, 1),
        False,
        None,
        utc(2025, 11, 29, 22),
        id="friday-night-is-not-saturdays-window",
    ),
    pytest.param(
        [{"days": ["mon"], "start": "09:00", "end": "10:00"}],
        [],
        utc(2025, 11, 25, 12),
        False,
        None,
        utc(2025, 12, 1, 9),
        id="next-monday",
    ),
    pytest.param(
        [{**NIGHTLY, "timeZone": "Europe/Berlin"}],
        [],
        utc(2025, 11, 27, 21, 30),
        True,
        utc(2025, 11, 28, 3),
        None,
        id="berlin-in-winter",
    ),
    pytest.param(
        [{"start": "02:30", "end": "04:00", "timeZone": NY}],
        [],
        utc(2025, 3, 9, 6),
        False,
        None,
        utc(2025, 3, 9, 7),
        id="start-in-spring-forward-gap-opens-at-the-jump",
    ),
    pytest.param(
        [{"start": "01:00", "end": "02:30", "timeZone": NY}],
        [],
        utc(2025, 3, 9, 6, 30),
        True,
        utc(2025, 3, 9, 7),
        None,
        id="end-in-spring-forward-gap-closes-at-the-jump",
    ),
    pytest.param(
        [{"start": "02:00", "end": "02:30", "timeZone": NY}],
        [],
        utc(2025, 3, 9, 5),
        False,
        None,
        utc(2025, 3, 10, 6),
        id="window-inside-the-gap-skips-that-day",
    ),
    pytest.param(
        [{"start": "01:00", "end": "01:45", "timeZone": NY}],
        [],
        utc(2025, 11, 2, 5, 30),
        True,
        utc(2025, 11, 2, 5, 45),
        None,
        id="fall-back-overlap-first-pass-counts",
    ),
    pytest.param(
        [{"start": "01:00", "end": "01:45", "timeZone": NY}],
        [],
        utc(2025, 11, 2, 6, 30),
        False,
        None,
        utc(2025, 11, 3, 6),
        id="fall-back-overlap-second-pass-stays-closed",
    ),
    pytest.param(
        [{"start": "00:30", "end": "03:00", "timeZone": NY}],
        [],
        utc(2025, 11, 2, 7, 30),
        True,
        utc(2025, 11, 2, 8),
        None,
        id="fall-back-night-is-an-hour-longer",
    ),
    pytest.param(
        [{"schedule": "0 2 * * 1-5", "duration": "2h", "timeZone": NY}],
        [],
        utc(2025, 12, 1, 6, 30),
        False,
        None,
        utc(2025, 12, 1, 7),
        id="cron-closed",
    ),
    pytest.param(
        [{"schedule": "0 2 * * 1-5", "duration": "2h", "timeZone": NY}],
        [],
        utc(2025, 12, 1, 8),
        True,
        utc(2025, 12, 1, 9),
        None,
        id="cron-open",
    ),
    pytest.param(
        [{"schedule": "0 22 * * *", "duration": "8h"}],
        [],
        utc(2025, 12, 1, 3),
        True,
        utc(2025, 12, 1, 6),
        None,
        id="cron-opened-the-day-before",
    ),
    pytest.param(
        [{"schedule": "30 2 * * *", "duration": "1h", "timeZone": NY}],
        [],
        utc(2025, 3, 9, 6),
        False,
        None,
        utc(2025, 3, 9, 7),
        id="cron-in-spring-forward-gap-fires-at-the-jump",
    ),
    pytest.param(
        [{"schedule": "0 0 29 2 *", "duration": "1h"}],
        [],
        utc(2025, 3, 1),
        False,
        None,
        utc(2028, 2, 29),
        id="cron-years-away",
    ),
    pytest.param(
        [{"start": "22:00", "end": "00:00"}, {"start": "00:00", "end": "02:00"}],
        [],
        utc(2025, 12, 1, 23),
        True,
        utc(2025, 12, 2, 2),
        None,
        id="touching-windows-merge",
    ),
    pytest.param(
        [{"start": "20:00", "end": "23:00"}, {"start": "22:00", "end": "04:00", "timeZone": "Europe/London"}],
        [],
        utc(2025, 12, 1, 21),
        True,
        utc(2025, 12, 2, 4),
        None,
        id="overlapping-windows-merge",
    ),
]


@pytest.mark.parametrize(("windows", "blackouts", "now", "is_open", "closes_at", "next_opening"), CASES)
def test_window_state(
    windows: list[dict[str, Any]],
    blackouts: list[dict[str, Any]],
    now: datetime,
    is_open: bool,
    closes_at: datetime | None,
    next_opening: datetime | None,
) -> None:
    state = schedule(windows, blackouts).state(now)
    assert (state.open, state.closes_at, state.next_opening) == (is_open, closes_at, next_opening)
    assert state.changes_at == (closes_at if is_open else next_opening)


FREEZE = {"start": "2025-12-01T02:00:00Z", "end": "2025-12-01T03:00:00Z", "reason": "release freeze"}
EARLY = {"start": "00:00", "end": "06:00"}


@pytest.mark.parametrize(
    ("windows", "now", "state", "closes_at", "next_opening"),
    [
        pytest.param([EARLY], utc(2025, 12, 1, 1), WindowState.OPEN, utc(2025, 12, 1, 2), None, id="cuts-an-opening"),
        pytest.param([EARLY], utc(2025, 12, 1, 2, 30), WindowState.BLACKOUT, None, utc(2025, 12, 1, 3), id="inside"),
        pytest.param([], utc(2025, 12, 1, 1), WindowState.ALWAYS, utc(2025, 12, 1, 2), None, id="always-until-it"),
        pytest.param([], utc(2025, 12, 1, 2), WindowState.BLACKOUT, None, utc(2025, 12, 1, 3), id="always-inside"),
        pytest.param([], utc(2025, 12, 1, 3), WindowState.ALWAYS, None, None, id="always-after"),
    ],
)
def test_blackouts_cut_windows(
    windows: list[dict[str, Any]],
    now: datetime,
    state: WindowState,
    closes_at: datetime | None,
    next_opening: datetime | None,
) -> None:
    result = schedule(windows, [FREEZE]).state(now)
    assert (result.state, result.closes_at, result.next_opening) == (state, closes_at, next_opening)
    assert (result.blackout is not None) == (state is WindowState.BLACKOUT)


def test_overlapping_blackouts_are_both_cut_out() -> None:
    second = {"start": "2025-12-01T02:30:00Z", "end": "2025-12-01T04:00:00Z"}
    assert schedule([], [second, FREEZE]).next_opening(utc(2025, 12, 1, 2)) == utc(2025, 12, 1, 4)


LEAP_DAY = {"schedule": "0 0 29 2 *", "duration": "1h"}
LEAP_DAYS_BLACKED_OUT = [
    {"start": "2028-02-29T00:00:00Z", "end": "2028-03-01T00:00:00Z"},
    {"start": "2032-02-29T00:00:00Z", "end": "2032-03-01T00:00:00Z"},
]


def test_no_opening_within_the_horizon() -> None:
    state = schedule([LEAP_DAY], LEAP_DAYS_BLACKED_OUT).state(utc(2025, 6, 1))
    assert (state.open, state.next_opening, state.changes_at) == (False, None, None)


def test_a_long_blackout_is_skipped_not_walked_through() -> None:
    years = {"start": "2025-01-01T00:00:00Z", "end": "2040-01-01T00:00:00Z"}
    state = schedule([NIGHTLY], [years]).state(utc(2025, 6, 1))
    # The window opened on the last night of 2039 is still open when the blackout ends.
    assert (state.state, state.next_opening) == (WindowState.BLACKOUT, utc(2040, 1, 1))


def test_an_opening_that_keeps_extending_is_open_at_least_as_far_as_looked() -> None:
    state = schedule([{"schedule": "* * * * *", "duration": "10m"}]).state(utc(2025, 12, 1))
    assert state.open
    assert state.closes_at is None
    assert state.changes_at is not None and state.changes_at > utc(2025, 12, 1, 8)


def test_convenience_queries() -> None:
    nightly = schedule([NIGHTLY])
    assert nightly.contains(utc(2025, 12, 1, 23))
    assert nightly.next_opening(utc(2025, 12, 1, 23)) == utc(2025, 12, 1, 23)
    assert nightly.next_opening(utc(2025, 12, 1, 12)) == utc(2025, 12, 1, 22)
    assert nightly.closes_at(utc(2025, 12, 1, 23)) == utc(2025, 12, 2, 4)


ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "America/Santiago", "Asia/Kolkata"]
CLOCK = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
DST_SEASONS = st.sampled_from(
    [utc(2025, 3, 8), utc(2025, 3, 29), utc(2025, 10, 4), utc(2025, 10, 25), utc(2025, 11, 1)]
)


@settings(max_examples=150, deadline=None)
@given(
    tz=st.sampled_from(ZONES),
    start=CLOCK,
    end=CLOCK,
    days=st.lists(
        st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]), min_size=1, max_size=7, unique=True
    ),
    season=DST_SEASONS,
    offset=st.integers(0, 4 * 24 * 60),
)
def test_window_answers_agree_with_each_other(
    tz: str, start: str, end: str, days: list[str], season: datetime, offset: int
) -> None:
    """Whatever the zone and the DST transition nearby: the window is closed from t until nextOpening and open
    there; open from t until closesAt and closed there."""
    if start == end:
        return
    window = schedule([{"start": start, "end": end, "days": days, "timeZone": tz}])
    now = season + timedelta(minutes=offset)
    state = window.state(now)
    if state.open:
        assert state.closes_at is not None
        assert not window.contains(state.closes_at)
        probes, expected = _between(now, state.closes_at), True
    else:
        assert state.next_opening is not None
        assert window.contains(state.next_opening)
        probes, expected = _between(now, state.next_opening), False
    assert all(window.contains(t) is expected for t in probes)


def _between(first: datetime, last: datetime, count: int = 12) -> list[datetime]:
    step = (last - first) / count
    return [first + step * i for i in range(count)]


def test_past_and_future_blackouts_leave_the_current_opening_alone() -> None:
    past = {"start": "2025-01-01T00:00:00Z", "end": "2025-01-02T00:00:00Z"}
    future = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"}
    state = schedule([EARLY], [past, future]).state(utc(2025, 12, 1, 1))
    assert (state.open, state.closes_at) == (True, utc(2025, 12, 1, 6))


@pytest.mark.parametrize(
    ("cron", "next_opening"), [("0 2 * * *", utc(2040, 1, 1, 2)), ("0 0 29 2 *", utc(2040, 2, 29))]
)
def test_a_cron_window_after_years_of_blackout_opens_at_its_first_firing_after(
    cron: str, next_opening: datetime
) -> None:
    years = {"start": "2025-01-01T00:00:00Z", "end": "2040-01-01T00:00:00Z"}
    state = schedule([{"schedule": cron, "duration": "1h"}], [years]).state(utc(2025, 6, 1))
    assert (state.open, state.next_opening) == (False, next_opening)


def test_cron_openings_stop_at_the_search_horizon() -> None:
    yearly = CronWindow(cron=parse_cron("@yearly"), duration=timedelta(hours=1), tz=zone("UTC"))
    assert list(yearly.openings(utc(2025, 6, 1), utc(2025, 6, 2))) == []


def test_merging_nothing_gives_nothing_and_a_runaway_merge_stops() -> None:
    assert list(_merge([])) == []
    minute = timedelta(minutes=1)
    endless = [(utc(2025, 1, 1) + i * minute, utc(2025, 1, 1) + (i + 2) * minute) for i in range(MERGE_LIMIT + 10)]
    merged = list(_merge(endless))
    assert merged == [(utc(2025, 1, 1), utc(2025, 1, 1) + (MERGE_LIMIT + 2) * minute, False)]


def test_daily_openings_stop_at_the_search_horizon() -> None:
    nightly = DailyWindow(weekdays=frozenset(range(7)), start=time(22), end=time(4), tz=zone("UTC"))
    assert list(nightly.openings(utc(2025, 6, 1, 12), utc(2025, 6, 1, 13))) == []
