from __future__ import annotations

from datetime import timedelta

import pytest

from reboot_operator.api.duration import MAX_DURATION, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", timedelta(0)),
        ("0s", timedelta(0)),
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1.5h", timedelta(hours=1, minutes=30)),
        ("2h45m30s", timedelta(hours=2, minutes=45, seconds=30)),
        ("300ms", timedelta(milliseconds=300)),
        ("10us", timedelta(microseconds=10)),
        ("1500ns", timedelta(microseconds=1)),
        ("48h", timedelta(days=2)),
    ],
)
def test_go_durations_are_read(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "5", "5 m", "m5", "1h 30m", "-5m", "5min", "1d", "h", "1.h"])
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["99999999999999999999h", "87600000h", "87601h", "315360001s"])
def test_a_duration_longer_than_ten_years_is_refused_not_overflowed(text: str) -> None:
    # The schema's pattern admits these; a timedelta cannot hold the first, nor a date ten thousand years ahead.
    with pytest.raises(ValueError, match="longer than 87600h"):
        parse_duration(text)


def test_ten_years_is_the_longest_duration() -> None:
    assert parse_duration("87600h") == MAX_DURATION == timedelta(days=3650)


@pytest.mark.parametrize("text", ["0.01ns", "500ns", "0.5us"])
def test_a_duration_that_would_read_as_zero_but_is_not_zero_is_refused(text: str) -> None:
    # Issue 13: a window of "0.01ns" passed the schema, read as zero, and never opened.
    with pytest.raises(ValueError, match="shorter than 1us"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["0", "0s", "0h0m", "0.0s"])
def test_zero_written_as_zero_is_zero(text: str) -> None:
    assert parse_duration(text) == timedelta(0)
