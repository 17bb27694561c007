"""The alert filter keeps kured's semantics; a bad answer is an error, never an empty list."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from reboot_operator.api.policy import PrometheusBlocker
from reboot_operator.blockers.prometheus import Alert, blocking_alerts, describe, parse_alerts
from reboot_operator.runtime.errors import AlertQueryError

ALERTS = [
    Alert("NodeDown", "firing"),
    Alert("NodeDown", "firing"),  # the same alert for another label set
    Alert("HighLatency", "pending"),
    Alert("Watchdog", "firing"),
]


@pytest.mark.parametrize(
    ("regexp", "match_only", "firing_only", "expected"),
    [
        pytest.param(None, False, False, ["HighLatency", "NodeDown", "Watchdog"], id="no-filter-firing-and-pending"),
        pytest.param(None, False, True, ["NodeDown", "Watchdog"], id="firing-only"),
        pytest.param("^Watch", False, False, ["HighLatency", "NodeDown"], id="matching-names-ignored"),
        pytest.param("^Watch", True, False, ["Watchdog"], id="match-only-inverts"),
        pytest.param("Down", False, False, ["HighLatency", "Watchdog"], id="searched-anywhere-in-the-name"),
        pytest.param("Latency", True, True, [], id="match-only-and-firing-only"),
    ],
)
def test_blocking_alerts_follow_kured(
    regexp: str | None, match_only: bool, firing_only: bool, expected: list[str]
) -> None:
    found = blocking_alerts(ALERTS, filter_regexp=regexp, match_only=match_only, firing_only=firing_only)
    assert [a.name for a in found] == expected


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"status": "error", "error": "boom"}, id="error-status"),
        pytest.param({"status": "success"}, id="no-data"),
        pytest.param({"status": "success", "data": {"alerts": "none"}}, id="alerts-not-a-list"),
    ],
)
def test_a_bad_answer_is_an_error(payload: dict[str, Any]) -> None:
    with pytest.raises(AlertQueryError):
        parse_alerts(payload)


def test_an_answer_is_parsed_into_names_and_states() -> None:
    payload = {"status": "success", "data": {"alerts": [{"labels": {"alertname": "A"}, "state": "firing"}, {}]}}
    assert parse_alerts(payload) == [Alert("A", "firing"), Alert("", "")]


def test_the_message_names_the_alerts_and_counts_the_rest() -> None:
    many = [Alert(f"A{i:02d}", "firing") for i in range(12)]
    assert describe(many[:1]) == "1 Prometheus alert active: A00 (firing)"
    assert describe(many).endswith("A09 (firing) and 2 more")


@pytest.mark.timeout(20)
@pytest.mark.parametrize("length", [30, 10_000])
def test_no_filter_can_make_a_match_take_exponential_time(length: int) -> None:
    # Issue 13: Python's re took 93 s for 30 a's (2^30 ways to split them between the two +'s), the event loop
    # frozen; RE2 matches in linear time. The time-out is a backstop orders of magnitude above RE2's microseconds.
    alerts = [Alert("a" * length + "!", "firing")]
    found = blocking_alerts(alerts, filter_regexp="(a+)+$", match_only=False, firing_only=False)
    assert [a.name for a in found] == ["a" * length + "!"], "the name does not match, so the alert blocks"


@pytest.mark.parametrize(
    ("regexp", "reason"),
    [
        pytest.param("Watchdog|[Info", "missing ]", id="unclosed-class"),
        pytest.param(r"(Node)\1", "invalid escape", id="backreference-python-only"),
        pytest.param("Node(?=Down)", "invalid perl operator", id="lookahead-python-only"),
    ],
)
def test_a_filter_that_is_no_re2_expression_is_refused_with_the_policy(regexp: str, reason: str) -> None:
    spec = {"url": "http://prometheus:9090", "alertFilterRegexp": regexp}
    with pytest.raises(ValidationError, match=f"alertFilterRegexp is not a valid RE2 regular expression: {reason}"):
        PrometheusBlocker.model_validate(spec)
