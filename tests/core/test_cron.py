from __future__ import annotations

from datetime import datetime

import pytest

from reboot_operator.core.cron import CronError, parse_cron


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 2 * * *", datetime(2025, 11, 27, 1, 0), datetime(2025, 11, 27, 2, 0)),
        ("0 2 * * *", datetime(2025, 11, 27, 2, 0), datetime(2025, 11, 28, 2, 0)),
        ("*/15 * * * *", datetime(2025, 11, 27, 10, 7), datetime(2025, 11, 27, 10, 15)),
        ("30 1-3/2 * * *", datetime(2025, 11, 27, 1, 31), datetime(2025, 11, 27, 3, 30)),
        ("0 22 * * sat,sun", datetime(2025, 11, 27, 0, 0), datetime(2025, 11, 29, 22, 0)),
        ("0 22 * * 6-7", datetime(2025, 11, 30, 22, 0), datetime(2025, 12, 6, 22, 0)),
        ("0 0 1 jan *", datetime(2025, 11, 27, 0, 0), datetime(2026, 1, 1, 0, 0)),
        ("0 0 29 2 *", datetime(2025, 3, 1, 0, 0), datetime(2028, 2, 29, 0, 0)),
        ("0 0 29 2 *", datetime(2096, 3, 1, 0, 0), datetime(2104, 2, 29, 0, 0)),
        ("0 3 1 * mon", datetime(2025, 11, 27, 0, 0), datetime(2025, 12, 1, 3, 0)),
        ("0 3 2 * mon", datetime(2025, 11, 27, 0, 0), datetime(2025, 12, 1, 3, 0)),
        ("0 3 */10 * mon", datetime(2025, 12, 2, 0, 0), datetime(2026, 5, 11, 3, 0)),  # starts with *: both
        ("0 3 5/10 * *", datetime(2025, 12, 6, 0, 0), datetime(2025, 12, 15, 3, 0)),
        ("@daily", datetime(2025, 11, 27, 0, 0), datetime(2025, 11, 28, 0, 0)),
        ("@hourly", datetime(2025, 11, 27, 0, 30), datetime(2025, 11, 27, 1, 0)),
        ("@weekly", datetime(2025, 11, 27, 0, 0), datetime(2025, 11, 30, 0, 0)),
        ("@monthly", datetime(2025, 11, 27, 0, 0), datetime(2025, 12, 1, 0, 0)),
        ("@yearly", datetime(2025, 11, 27, 0, 0), datetime(2026, 1, 1, 0, 0)),
        ("59 23 31 12 *", datetime(2025, 12, 31, 23, 59, 30), datetime(2026, 12, 31, 23, 59)),
    ],
    ids=lambda value: str(value),
)
def test_next_firing(expression: str, after: datetime, expected: datetime) -> None:
    assert parse_cron(expression).next_after(after) == expected


def test_inclusive_search_returns_a_firing_at_the_instant_itself() -> None:
    cron = parse_cron("0 2 * * *")
    assert cron.next_after(datetime(2025, 11, 27, 2, 0), inclusive=True) == datetime(2025, 11, 27, 2, 0)
    assert cron.next_after(datetime(2025, 11, 27, 2, 0, 1), inclusive=True) == datetime(2025, 11, 28, 2, 0)


def test_search_gives_up_past_its_horizon() -> None:
    assert parse_cron("0 0 1 1 *").next_after(datetime(2025, 1, 2), max_days=30) is None


def test_when_both_day_fields_are_restricted_either_matches_as_in_vixie_cron() -> None:
    cron = parse_cron("0 0 13 * fri")
    assert cron.either_day
    assert cron.next_after(datetime(2025, 11, 27)) == datetime(2025, 11, 28)  # a Friday, not the 13th


@pytest.mark.parametrize(
    ("expression", "fires"),
    [
        ("0 0 30 2 *", False),
        ("0 0 31 4,6,9,11 *", False),
        ("0 0 29 2 *", True),
        ("0 0 31 4,5 *", True),
        ("0 0 30 2 mon", True),
        ("0 0 * 2 *", True),
    ],
)
def test_ever_fires(expression: str, fires: bool) -> None:
    assert parse_cron(expression).ever_fires() is fires


@pytest.mark.parametrize(
    ("expression", "complaint"),
    [
        ("0 2 * *", "expected 5 fields"),
        ("60 2 * * *", "minute: 60 is out of range 0-59"),
        ("0 24 * * *", "hour: 24 is out of range 0-23"),
        ("0 0 0 * *", "day-of-month: 0 is out of range 1-31"),
        ("0 0 * 13 *", "month: 13 is out of range 1-12"),
        ("0 0 * * 8", "day-of-week: 8 is out of range 0-7"),
        ("0 0 * * fri-mon", "day-of-week: range 'fri-mon' runs backwards"),
        ("*/0 * * * *", "minute: step must be at least 1"),
        ("*/x * * * *", "minute: step 'x' is not a number"),
        ("0 0 * foo *", "month: value 'foo' is not a number"),
        ("0 0 * * ²", "day-of-week: value '²' is not a number"),
    ],
)
def test_bad_expressions_name_the_field(expression: str, complaint: str) -> None:
    with pytest.raises(CronError, match=complaint):
        parse_cron(expression)
