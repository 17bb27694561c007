"""The benchmarks' pure parts: percentiles, merging figures, reading the audit log, and RESULTS.md from results.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest

from bench import harness, observe, report, rollouts
from bench.observe import Timeline


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
    requests = observe.audited_requests(log, harness.OPERATOR_USER)
    assert [r.kind for r in requests] == ["watch nodes", "update x/status → 409"]
    start = requests[0].at
    assert observe.count(requests, start, start + 1.0) == (1, {"watch nodes": 1})
    assert observe.count(requests, start, start + 2.0)[0] == 2


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
    marks = [{"first request": 1.0, "every watch open": 9.0, "first write": 7.0}] * 3
    text = report.render({"scale_1000_first_decision_s": _figure(20.0, 10.0, runs=3, milestones_s=marks)})
    assert "first request 1 s (start-up); first write 7 s (the first claim, once every kind is listed)" in text
    assert "every watch open 9 s (the last to open is Kopf's own watch" in text
    assert "every policy's status correct 20.0 s." in text


def _seen(cordons: list[tuple[float, str, bool]], completed: dict[str, float]) -> Timeline:
    timeline = Timeline(api=cast(Any, None), prefix="n")
    timeline.cordons = cordons
    timeline.phases = [(t, name, "Completed") for name, t in completed.items()]
    timeline.requests = {name: {"status": {"phase": "Completed"}} for name in completed}
    return timeline


def test_a_rollout_one_at_a_time_adds_up_to_first_cordon_cycles_and_gaps() -> None:
    cordons = [(0.1, "n1", True), (3.1, "n1", False), (3.3, "n2", True), (6.4, "n2", False)]
    cordons += [(6.6, "n3", True), (9.6, "n3", False)]
    timeline = _seen(cordons, {"n1": 3.15, "n2": 6.45, "n3": 9.65})
    run = rollouts.analyse(
        timeline, ["n1", "n2", "n3"], concurrency=1, started=0.0, audited=None, window=(100.0, 110.0)
    )
    assert run.makespan == pytest.approx(9.6)
    assert run.cycle == pytest.approx(3.0)
    assert run.ideal == pytest.approx(9.0)
    assert run.ratio == pytest.approx(9.6 / 9.0)
    assert run.start == pytest.approx(0.1)
    assert run.gaps == pytest.approx([0.2, 0.2])
    assert run.handoffs == pytest.approx([0.15, 0.15])
    assert run.start + sum(run.cycles) + sum(run.gaps) == pytest.approx(run.makespan)
    assert run.idle_queue == pytest.approx(0.1 + 0.2 + 0.2)  # the start and the two gaps
    assert (run.idle_tail, run.most_cordoned) == (0.0, 1)


def test_slot_seconds_of_a_rollout_two_at_a_time_split_into_cycles_waiting_and_tail() -> None:
    cordons = [(0.0, "n1", True), (0.5, "n2", True), (3.0, "n1", False), (3.2, "n3", True)]
    cordons += [(3.5, "n2", False), (6.2, "n3", False)]
    timeline = _seen(cordons, {"n1": 3.05, "n2": 3.55, "n3": 6.25})
    run = rollouts.analyse(timeline, ["n1", "n2", "n3"], concurrency=2, started=0.0, audited=None, window=(0, 1))
    assert run.most_cordoned == 2
    assert run.idle_queue == pytest.approx(0.5 + 0.2)  # the second slot until n2, the first between n1 and n3
    assert run.idle_tail == pytest.approx(6.2 - 3.5)  # after n2, nothing was left to start
    assert sum(run.cycles) + run.idle_queue + run.idle_tail == pytest.approx(2 * run.makespan)
    assert run.gaps == []
    # Back to back: n1 (3.0) and n2 (3.0) at once, n3 (3.0) on the first slot free, at 3.0: done at 6.0.
    assert run.back_to_back == pytest.approx(6.0)


def test_back_to_back_puts_each_cycle_in_order_on_the_first_free_slot() -> None:
    run = rollouts.Rollout(
        concurrency=2, makespan=10.0, cycles=[4.0, 1.0, 1.0, 1.0, 3.0], start=0.0, gaps=[], handoffs=[],
        most_cordoned=2, idle_queue=0.0, idle_tail=0.0,
    )  # fmt: skip
    # slot A: 4 → (free at 4); slot B: 1, 1, 1 (free at 3), then 3 → 6.
    assert run.back_to_back == pytest.approx(6.0)
    one = rollouts.Rollout(
        concurrency=1, makespan=7.0, cycles=[2.0, 3.0], start=0.5, gaps=[1.5], handoffs=[], most_cordoned=1,
        idle_queue=2.0, idle_tail=0.0,
    )  # fmt: skip
    assert one.back_to_back == pytest.approx(5.0), "one at a time: the cycles' sum"


def test_a_cycle_splits_into_its_steps_between_the_marks_the_timeline_saw() -> None:
    timeline = _seen([(0.1, "n1", True), (3.6, "n1", False)], {"n1": 3.7})
    timeline.phases = [(0.05, "n1", "Cordoning"), (0.2, "n1", "Draining"), (0.4, "n1", "Rebooting")]
    timeline.phases += [(3.35, "n1", "Verifying"), (3.5, "n1", "Uncordoning"), (3.7, "n1", "Completed")]
    timeline.boots = [(3.3, "n1", "boot-2"), (9.0, "n1", "boot-3")]
    taken = rollouts.steps(timeline, {"n1"}, 0.0)
    assert taken["cordon → Draining"] == pytest.approx([0.1])
    assert taken["Draining → Rebooting"] == pytest.approx([0.2])
    assert taken["Rebooting → boot"] == pytest.approx([2.9]), "the first boot seen after the start"
    assert taken["boot → Verifying"] == pytest.approx([0.05])
    assert taken["Verifying → Uncordoning"] == pytest.approx([0.15])
    assert taken["Uncordoning → uncordon"] == pytest.approx([0.1])
    assert taken["uncordon → Completed"] == pytest.approx([0.1])
    assert rollouts.steps(timeline, {"n1"}, 1.0)["cordon → Draining"] == [], "marks before the start are not its"
