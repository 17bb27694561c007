"""Local wall-clock times happen at the first instant the clock reads them, or at the jump that skips them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reboot_operator.core.clock import to_instant, to_local, zone


@pytest.mark.parametrize(
    ("tz", "local", "instant"),
    [
        pytest.param("UTC", datetime(2025, 3, 9, 2, 30), datetime(2025, 3, 9, 2, 30), id="utc"),
        pytest.param("America/New_York", datetime(2025, 3, 9, 1, 59), datetime(2025, 3, 9, 6, 59), id="before-gap"),
        pytest.param("America/New_York", datetime(2025, 3, 9, 2, 0), datetime(2025, 3, 9, 7, 0), id="gap-start"),
        pytest.param("America/New_York", datetime(2025, 3, 9, 2, 30), datetime(2025, 3, 9, 7, 0), id="in-gap"),
        pytest.param("America/New_York", datetime(2025, 3, 9, 3, 0), datetime(2025, 3, 9, 7, 0), id="after-gap"),
        pytest.param("America/New_York", datetime(2025, 11, 2, 1, 30), datetime(2025, 11, 2, 5, 30), id="overlap"),
        pytest.param("America/New_York", datetime(2025, 11, 2, 2, 0), datetime(2025, 11, 2, 7, 0), id="after-overlap"),
        pytest.param("Europe/Berlin", datetime(2025, 3, 30, 2, 30), datetime(2025, 3, 30, 1, 0), id="berlin-gap"),
        pytest.param(
            "Europe/Berlin", datetime(2025, 10, 26, 2, 30), datetime(2025, 10, 26, 0, 30), id="berlin-overlap"
        ),
        pytest.param(
            "Australia/Lord_Howe", datetime(2025, 10, 5, 2, 15), datetime(2025, 10, 4, 15, 30), id="half-hour-gap"
        ),
    ],
)
def test_local_time_to_instant(tz: str, local: datetime, instant: datetime) -> None:
    assert to_instant(local, zone(tz)) == instant.replace(tzinfo=UTC)


def test_to_local_reads_the_zones_wall_clock() -> None:
    assert to_local(datetime(2025, 7, 1, 12, 0, tzinfo=UTC), zone("Europe/Berlin")) == datetime(2025, 7, 1, 14, 0)
