"""What the schema cannot check is checked by validate_policy, naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from reboot_operator.api import RebootPolicySpec
from reboot_operator.core import parse_policy, validate_policy


@pytest.mark.parametrize(
    ("windows", "problems"),
    [
        pytest.param(
            [
                {"start": "22:00", "end": "04:00", "timeZone": "Europe/Berlin"},
                {"schedule": "0 2 * * 1-5", "duration": "2h", "timeZone": "America/New_York"},
            ],
            [],
            id="valid",
        ),
        pytest.param(
            [{"start": "22:00", "end": "04:00", "timeZone": "Mars/Olympus_Mons"}],
            ["spec.maintenanceWindows[0].timeZone: unknown time zone 'Mars/Olympus_Mons'"],
            id="unknown-zone",
        ),
        pytest.param(
            [{"start": "22:00", "end": "04:00", "timeZone": "/etc/localtime"}],
            ["spec.maintenanceWindows[0].timeZone: unknown time zone '/etc/localtime'"],
            id="zone-as-a-file-path",
        ),
        pytest.param(
            [{"start": "22:00", "end": "04:00"}, {"schedule": "0 0 30 2 *", "duration": "1h"}],
            ["spec.maintenanceWindows[1].schedule: '0 0 30 2 *' never fires (no such date)"],
            id="cron-never-fires",
        ),
        pytest.param(
            [{"schedule": "0 25 * * *", "duration": "1h"}],
            ["spec.maintenanceWindows[0].schedule: hour: 25 is out of range 0-23"],
            id="cron-out-of-range",
        ),
    ],
)
def test_validate_policy(windows: list[dict[str, Any]], problems: list[str]) -> None:
    assert validate_policy(RebootPolicySpec.model_validate({"maintenanceWindows": windows})) == problems


def test_parse_policy_reports_schema_problems_by_path_without_raising() -> None:
    spec, problems = parse_policy({"maintenanceWindows": [{"start": "22:00", "end": "4am"}], "maxConcurrent": 0})
    assert spec is None
    assert problems == [
        "spec.maxConcurrent: maxConcurrent must be an integer of at least 1 or a percentage from 1% to 100% "
        'such as "25%"',
        "spec.maintenanceWindows[0].end: String should match pattern '^([01][0-9]|2[0-3]):[0-5][0-9]$'",
    ]


def test_parse_policy_runs_the_semantic_checks_too() -> None:
    spec, problems = parse_policy({"maintenanceWindows": [{"schedule": "0 0 31 4 *", "duration": "1h"}]})
    assert spec is not None
    assert problems == ["spec.maintenanceWindows[0].schedule: '0 0 31 4 *' never fires (no such date)"]


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"minIntervalBetweenReboots": "99999999999999999999h"}, "spec.minIntervalBetweenReboots: duration"),
        ({"reboot": {"timeout": "87600000h"}}, "spec.reboot.timeout: duration '87600000h' is longer than 87600h"),
        ({"reboot": {"soak": "90000h"}}, "spec.reboot.soak: duration"),
        ({"reboot": {"delay": "90000h"}}, "spec.reboot.delay: duration"),
        ({"drain": {"timeout": "90000h"}}, "spec.drain.timeout: duration"),
        ({"drain": {"skipWaitForDeleteTimeout": "90000h"}}, "spec.drain.skipWaitForDeleteTimeout: duration"),
        (
            {"maintenanceWindows": [{"schedule": "0 2 * * *", "duration": "90000h"}]},
            "spec.maintenanceWindows[0].duration: duration",
        ),
        (
            {"maintenanceWindows": [{"schedule": "0 2 * * *", "duration": "0.01ns"}]},
            "spec.maintenanceWindows[0].duration: duration '0.01ns' is shorter than 1us",
        ),
        ({"drain": {"timeout": "500ns"}}, "spec.drain.timeout: duration '500ns' is shorter than 1us"),
    ],
)
def test_a_duration_no_clock_can_use_is_a_problem_naming_its_field(spec: dict[str, Any], problem: str) -> None:
    parsed, problems = parse_policy(spec)
    assert parsed is None
    [found] = problems
    assert found.startswith(problem), found
