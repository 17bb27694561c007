"""The benchmarks' pure parts: percentiles, merging figures, reading the audit log, and RESULTS.md from results.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import harness, report


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        pytest.param([3.0, 1.0, 2.0], 50, 2.0, id="median-of-three"),
        pytest.param([1.0, 2.0, 3.0, 4.0], 50, 2.0, id="lower-of-two-middles"),
        pytest.param([float(v) for v in range(1, 101)], 99, 99.0, id="p99-of-a-hundred"),
        pytest.param([float(v) for v in range(1, 50)], 99, 49.0, id="p99-of-few-is-the-largest"),
        pytest.param([0.5], 99, 0.5, id="one-sample"),
    ],
)
def test_percentile_is_nearest_rank_a_value_that_was_measured(values: list[float], q: float, expected: float) -> None:
    assert harness.percentile(values, q) == expected


def test_recording_merges_figures_and_keeps_every_other_key(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"decide_5000_nodes": {"value": 18.0}, "old": {"value": 1}}))
    harness.record({"old": {"value": 2}, "new": {"value": 3}}, path)
    assert json.loads(path.read_text()) == {
        "decide_5000_nodes": {"value": 18.0},
        "old": {"value": 2},
        "new": {"value": 3},
    }


def _event(audit_id: str, stage: str, verb: str, at: str, code: int = 200, **ref: str) -> str:
    return json.dumps(
        {
            "auditID": audit_id,
            "stage": stage,
            "verb": verb,
            "user": {"username": ref.pop("user", harness.OPERATOR_USER)},
            "requestURI": "/apis/x",
            "objectRef": ref,
            "responseStatus": {"code": code},
            "requestReceivedTimestamp": at,
        }
    )


def test_audited_requests_count_a_watch_once_and_keep_only_the_user_asked_for(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    lines = [
        _event("w", "ResponseStarted", "watch", "2026-01-01T00:00:00.000000Z", resource="nodes"),
        _event(
            "u", "ResponseComplete", "update", "2026-01-01T00:00:01.500000Z", 409, resource="x", subresource="status"
        ),
        _event("o", "ResponseComplete", "get", "2026-01-01T00:00:01.000000Z", resource="nodes", user="someone"),
        _event("w", "ResponseComplete", "watch", "2026-01-01T00:00:00.000000Z", resource="nodes"),
    ]
    log.write_text("\n".join(lines) + "\n")
    requests = harness.audited_requests(log, harness.OPERATOR_USER)
    assert [r.kind for r in requests] == ["watch nodes", "update x/status → 409"]
    start = requests[0].at
    assert harness.count(requests, start, start + 1.0) == (1, {"watch nodes": 1})
    assert harness.count(requests, start, start + 2.0)[0] == 2


def _figure(value: float, target: float | None, **extra: Any) -> dict[str, Any]:
    return {
        "value": value,
        "unit": "s",
        "target": target,
        "command": "python -m x",
        "date": "d",
        "machine": "m",
        **extra,
    }


def test_the_report_shows_every_key_with_its_verdict_and_unknown_keys_apart() -> None:
    text = report.render(
        {
            "reaction_latency_p50_s": _figure(0.1, 0.2, runs=1, samples=20),
            "handoff_latency_p50_s": _figure(0.3, 0.2, runs=3),
            "api_operator_requests_per_minute_at_rest": _figure(1.5, None),
            "something_new": _figure(7.0, 5.0),
        }
    )
    assert "| `reaction_latency_p50_s` | 0.1 s | <= 0.2 s | met | 1 |" in text
    assert "| `handoff_latency_p50_s` | 0.3 s | <= 0.2 s | **not met** | 3 |" in text
    assert "`api_operator_requests_per_minute_at_rest`: 1.5 s — no target" in text
    assert text.index("## Other figures") < text.index("### `something_new`")
    assert "(1 run, 20 samples)" in text


def test_the_report_explains_where_the_first_decision_time_went_from_the_recorded_milestones() -> None:
    marks = [{"first request": 1.0, "every watch open": 9.0, "first write": 10.0}] * 3
    text = report.render({"scale_1000_first_decision_s": _figure(20.0, 10.0, runs=3, milestones_s=marks)})
    assert "first request 1 s (start-up); every watch open 9 s" in text
    assert "first write 10 s (the first claim); every policy's status correct 20.0 s." in text
