from __future__ import annotations

from datetime import timedelta

import pytest

from reboot_operator.core.duration import parse_duration


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
