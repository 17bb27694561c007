"""The decision, scenario by scenario: who starts, who waits and why, what each policy reports."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from reboot_operator.api import Phase
from reboot_operator.api.vocabulary import WaitReason, WindowState
from reboot_operator.core import Action, Decisions, NodeFacts, PolicyFacts, RequestFacts, decide
from reboot_operator.core.validation import parse_policy
from tests.core.builders import NOW, ago, node, nodes, policy, request

A, W, C = Action.START, Action.WAIT, Action.CONTINUE


def run(
    policies: Sequence[PolicyFacts],
    requests: Sequence[RequestFacts],
    cluster: Mapping[str, NodeFacts],
    now: datetime = NOW,
) -> Decisions:
    return decide(policies=policies, requests=requests, nodes=cluster, now=now)


def summary(decisions: Decisions) -> dict[str, tuple[Action, WaitReason | None]]:
    return {name: (d.action, d.reason) for name, d in sorted(decisions.requests.items())}


def test_oldest_request_starts_first_and_ties_go_by_name() -> None:
    requests = [
        request("c", queued_at=ago(30)),
        request("b", queued_at=ago(60)),
        request("a", queued_at=ago(30)),
        request("d"),
    ]
    decisions = run([policy(maxConcurrent=1)], requests, nodes("a", "b", "c", "d"))
    assert decisions.with_action(A)[0].name == "b"
    assert decisions.policies["p"].queue == ("a", "c", "d")
    assert [decisions.requests[n].position for n in "acd"] == [1, 2, 3]
    assert decisions.requests["d"].queued_at == NOW
    assert decisions.requests["a"].message == "1 of 1 slots of policy p in use; position 1 of 3"


def test_only_the_first_three_in_a_queue_are_told_their_place_the_others_that_they_wait_further_back() -> None:
    """Exact places further back would change every waiting request's decision (and status) at each hand-off."""
    names = [f"r{i}" for i in range(6)]
    requests = [request(name, queued_at=ago(60 - i)) for i, name in enumerate(names)]
    decisions = run(
        [policy(maxConcurrent=1)], [request("x", phase=Phase.REBOOTING, policy="p"), *requests], nodes("x", *names)
    )
    told = [(decisions.requests[n].position, decisions.requests[n].further_back) for n in names]
    assert told == [(1, False), (2, False), (3, False), (None, True), (None, True), (None, True)]
    assert decisions.requests["r2"].message == "1 of 1 slots of policy p in use; position 3 of 6"
    assert decisions.requests["r3"].message == (
        "1 of 1 slots of policy p in use; more than 3 requests ahead (policy p's status.queue lists the next 20)"
    )
    assert decisions.policies["p"].queue == tuple(names), "the policy's queue still holds the whole order"


@pytest.mark.parametrize(
    ("max_concurrent", "node_count", "starts"),
    [(1, 5, 1), (3, 5, 3), (10, 5, 5), ("25%", 10, 2), ("25%", 3, 1), ("100%", 4, 4), ("50%", 5, 2)],
    ids=lambda v: str(v),
)
def test_max_concurrent_counts_and_percentages(max_concurrent: int | str, node_count: int, starts: int) -> None:
    names = [f"n{i}" for i in range(node_count)]
    decisions = run([policy(maxConcurrent=max_concurrent)], [request(n) for n in names], nodes(*names))
    assert len(decisions.with_action(A)) == starts
    assert decisions.policies["p"].counts.in_progress == starts
    assert decisions.policies["p"].counts.pending == node_count - starts


def test_started_nodes_keep_their_slots_when_max_concurrent_is_lowered() -> None:
    running = [request(n, phase=Phase.DRAINING, policy="p") for n in ("a", "b", "c")]
    decisions = run([policy(maxConcurrent=1)], [*running, request("d")], nodes("a", "b", "c", "d"))
    assert summary(decisions) == {"a": (C, None), "b": (C, None), "c": (C, None), "d": (W, WaitReason.QUEUED)}
    assert decisions.policies["p"].counts.in_progress == 3


def test_a_slot_is_counted_in_the_policy_the_request_started_under() -> None:
    cluster = {"a": node("a", pool="blue"), "b": node("b", pool="blue")}
    policies = [policy("old", maxConcurrent=1, priority=0), policy("new", maxConcurrent=1, priority=5)]
    requests = [request("a", phase=Phase.REBOOTING, policy="old"), request("b")]
    decisions = run(policies, requests, cluster)
    assert summary(decisions) == {"a": (C, None), "b": (A, None)}
    assert decisions.requests["b"].policy == "new"
    assert decisions.policies["old"].counts.in_progress == 1


def test_a_running_request_of_a_deleted_policy_continues_and_counts_nowhere() -> None:
    decisions = run([policy()], [request("a", phase=Phase.DRAINING, policy="gone"), request("b")], nodes("a", "b"))
    assert summary(decisions) == {"a": (C, None), "b": (A, None)}


@pytest.mark.parametrize(
    ("spec", "facts", "reason", "until"),
    [
        pytest.param({"paused": True}, {}, WaitReason.PAUSED, None, id="paused"),
        pytest.param(
            {"failureBudget": {"maxFailures": 2}}, {"failures": 2}, WaitReason.HALTED, None, id="budget-spent"
        ),
        pytest.param(
            {"maintenanceWindows": [{"start": "22:00", "end": "04:00"}]},
            {},
            WaitReason.WINDOW_CLOSED,
            datetime(2025, 12, 1, 22, tzinfo=UTC),
            id="window-closed",
        ),
        pytest.param(
            {"blackouts": [{"start": "2025-12-01T00:00:00Z", "end": "2025-12-02T00:00:00Z", "reason": "freeze"}]},
            {},
            WaitReason.BLACKOUT,
            datetime(2025, 12, 2, tzinfo=UTC),
            id="blackout",
        ),
        pytest.param(
            {"minIntervalBetweenReboots": "10m"},
            {"last_completion_at": NOW - timedelta(minutes=4)},
            WaitReason.MIN_INTERVAL,
            NOW + timedelta(minutes=6),
            id="min-interval",
        ),
        pytest.param(
            {"maintenanceWindows": [{"start": "22:00", "end": "04:00", "timeZone": "Mars/Olympus_Mons"}]},
            {},
            WaitReason.INVALID_SPEC,
            None,
            id="invalid-spec",
        ),
    ],
)
def test_policy_wide_reasons_hold_back_new_starts_but_not_running_nodes(
    spec: dict[str, object], facts: dict[str, object], reason: WaitReason, until: datetime | None
) -> None:
    facts_ = policy(**facts, **spec)  # type: ignore[arg-type]
    requests = [request("a", phase=Phase.DRAINING, policy="p"), request("b"), request("c")]
    decisions = run([facts_], requests, nodes("a", "b", "c"))
    assert summary(decisions) == {"a": (C, None), "b": (W, reason), "c": (W, reason)}
    assert decisions.requests["b"].until == until
    assert decisions.requests["c"].message.endswith("position 2 of 2")
    assert decisions.policies["p"].blocked is reason
    assert decisions.policies["p"].started == ()


def test_blackout_message_names_its_reason_and_the_next_opening() -> None:
    freeze = {"start": "2025-12-01T00:00:00Z", "end": "2025-12-02T00:00:00Z", "reason": "freeze"}
    decisions = run([policy(blackouts=[freeze])], [request("a")], nodes("a"))
    assert decisions.requests["a"].message == (
        "blackout (freeze) until 2025-12-02T00:00:00Z; next opening 2025-12-02T00:00:00Z; position 1 of 1"
    )
    assert decisions.policies["p"].window is not None
    assert decisions.policies["p"].window.state is WindowState.BLACKOUT


def test_window_closed_message_and_wakeup() -> None:
    decisions = run([policy(maintenanceWindows=[{"start": "22:00", "end": "04:00"}])], [request("a")], nodes("a"))
    assert decisions.requests["a"].message == "maintenance window closed until 2025-12-01T22:00:00Z; position 1 of 1"
    assert decisions.next_wakeup == datetime(2025, 12, 1, 22, tzinfo=UTC)


def test_window_never_opening_again_says_so() -> None:
    windows = [{"schedule": "0 0 29 2 *", "duration": "1h"}]
    leap_days = [
        {"start": "2028-02-29T00:00:00Z", "end": "2028-03-01T00:00:00Z"},
        {"start": "2032-02-29T00:00:00Z", "end": "2032-03-01T00:00:00Z"},
    ]
    decisions = run([policy(maintenanceWindows=windows, blackouts=leap_days)], [request("a")], nodes("a"))
    assert decisions.requests["a"].message == "maintenance window closed, no opening within 8 years; position 1 of 1"
    assert decisions.next_wakeup is None


def test_min_interval_counts_from_the_last_finish_of_a_request_in_the_policy() -> None:
    requests = [request("a", phase=Phase.FAILED, policy="p", observed=1, completed_at=ago(3)), request("b")]
    decisions = run([policy(minIntervalBetweenReboots="10m")], requests, nodes("a", "b"))
    assert summary(decisions)["b"] == (W, WaitReason.MIN_INTERVAL)
    assert decisions.next_wakeup == NOW + timedelta(minutes=7)
    assert decisions.policies["p"].last_completion_at == ago(3)
    assert decisions.requests["b"].message.startswith(
        "minIntervalBetweenReboots 10m since the last finish: next start at 2025-12-01T12:07:00Z"
    )


def test_min_interval_over_lets_the_next_start() -> None:
    requests = [request("a", phase=Phase.COMPLETED, policy="p", observed=1, completed_at=ago(11)), request("b")]
    decisions = run([policy(minIntervalBetweenReboots="10m")], requests, nodes("a", "b"))
    assert summary(decisions) == {"a": (Action.NONE, None), "b": (A, None)}
    assert decisions.policies["p"].counts.completed == 1


def test_highest_priority_governs_and_a_tie_is_a_conflict() -> None:
    cluster = {
        "blue": node("blue", pool="blue"),
        "green": node("green", pool="green"),
        "plain": node("plain"),
    }
    policies = [
        policy("all", priority=0),
        policy("blue-1", priority=10, nodeSelector={"matchLabels": {"pool": "blue"}}),
        policy("green-1", priority=10, nodeSelector={"matchLabels": {"pool": "green"}}),
        policy("green-2", priority=10, nodeSelector={"matchExpressions": [{"key": "pool", "operator": "Exists"}]}),
    ]
    decisions = run(policies, [request(n) for n in cluster], cluster)
    assert summary(decisions) == {
        "blue": (W, WaitReason.CONFLICT),
        "green": (W, WaitReason.CONFLICT),
        "plain": (A, None),
    }
    assert decisions.requests["green"].message == (
        "policies green-1, green-2 select this node with the same priority; resolve the conflict"
    )
    assert decisions.policies["green-2"].conflicts == ("blue", "green")
    assert decisions.policies["blue-1"].conflicts == ("blue",)
    assert decisions.policies["all"].counts.selected == 1


def test_a_node_no_policy_selects_waits_for_one() -> None:
    decisions = run([policy(nodeSelector={"matchLabels": {"pool": "blue"}})], [request("a")], nodes("a"))
    assert summary(decisions) == {"a": (W, WaitReason.NO_POLICY)}
    assert decisions.requests["a"].policy is None


def test_a_request_whose_node_is_gone_is_cleaned_up_and_holds_no_slot() -> None:
    requests = [request("gone", phase=Phase.REBOOTING, policy="p"), request("gone-too"), request("b")]
    decisions = run([policy()], requests, nodes("b"))
    assert summary(decisions) == {"b": (A, None), "gone": (Action.CLEANUP, None), "gone-too": (Action.CLEANUP, None)}
    assert decisions.requests["gone"].message == "node gone no longer exists"


@pytest.mark.parametrize(
    ("phase", "wants", "generation", "observed", "action"),
    [
        pytest.param(None, False, 1, None, Action.CANCEL, id="new-and-withdrawn"),
        pytest.param(Phase.WAITING, False, 2, 1, Action.CANCEL, id="waiting-and-withdrawn"),
        pytest.param(Phase.DRAINING, False, 2, 1, Action.CONTINUE, id="running-finishes-anyway"),
        pytest.param(Phase.COMPLETED, False, 2, 1, Action.NONE, id="completed-and-withdrawn"),
        pytest.param(Phase.COMPLETED, True, 1, 1, Action.NONE, id="completed-same-generation"),
        pytest.param(Phase.COMPLETED, True, 2, 1, Action.START, id="completed-new-need"),
        pytest.param(Phase.CANCELLED, True, 3, 2, Action.START, id="cancelled-new-need"),
        pytest.param(Phase.CANCELLED, False, 2, 2, Action.NONE, id="cancelled-stays"),
        pytest.param(Phase.FAILED, True, 1, 1, Action.NONE, id="failed-stays-failed"),
        pytest.param(Phase.FAILED, True, 2, 1, Action.START, id="failed-new-need"),
    ],
)
def test_request_lifecycle(
    phase: Phase | None, wants: bool, generation: int, observed: int | None, action: Action
) -> None:
    facts = request(
        "a", phase=phase, wants=wants, generation=generation, observed=observed, policy="p", queued_at=ago(60)
    )
    decision = run([policy()], [facts], nodes("a")).requests["a"]
    assert decision.action is action
    if action is Action.START and phase is not None:
        assert decision.new_cycle
        assert decision.queued_at == NOW


def test_a_started_request_carries_what_the_decision_saw_of_its_node() -> None:
    cluster = {"a": node("a", unschedulable=True)}
    decision = run([policy()], [request("a")], cluster).requests["a"]
    assert (decision.action, decision.boot_id, decision.was_unschedulable) == (A, "boot-a", True)


def test_a_node_that_is_not_ready_is_passed_over_without_taking_a_slot() -> None:
    cluster = {"a": node("a", ready=False), "b": node("b")}
    decisions = run([policy()], [request("a", queued_at=ago(10)), request("b")], cluster)
    assert summary(decisions) == {"a": (W, WaitReason.NODE_NOT_READY), "b": (A, None)}
    assert decisions.requests["a"].position == 1


def test_a_spent_budget_halts_until_the_reset_token_changes() -> None:
    failed = request("a", phase=Phase.FAILED, policy="p", observed=1, completed_at=ago(60))
    halted = policy(failures=1, observed_reset_token="one", failureBudget={"maxFailures": 1, "resetToken": "one"})
    decisions = run([halted], [failed, request("b")], nodes("a", "b"))
    assert summary(decisions) == {"a": (Action.NONE, None), "b": (W, WaitReason.HALTED)}
    assert decisions.policies["p"].budget.halted
    assert decisions.policies["p"].counts.failed == 1

    reset = policy(failures=1, observed_reset_token="one", failureBudget={"maxFailures": 1, "resetToken": "two"})
    decisions = run([reset], [failed, request("b", queued_at=ago(30))], nodes("a", "b"))
    budget = decisions.policies["p"].budget
    assert (budget.resetting, budget.failures, budget.observed_reset_token, budget.reset_at) == (True, 0, "two", NOW)
    # The retried node starts a new cycle, so it joins the queue behind those already waiting.
    assert summary(decisions) == {"a": (W, WaitReason.QUEUED), "b": (A, None)}
    assert decisions.requests["a"].new_cycle


def test_failed_nodes_are_retried_only_if_they_failed_before_the_last_reset() -> None:
    facts = policy(observed_reset_token="two", reset_at=ago(30), failureBudget={"maxFailures": 5, "resetToken": "two"})
    before = request("a", phase=Phase.FAILED, policy="p", observed=1, completed_at=ago(60))
    after = request("b", phase=Phase.FAILED, policy="p", observed=1, completed_at=ago(10))
    decisions = run([facts], [before, after], nodes("a", "b"))
    assert summary(decisions) == {"a": (A, None), "b": (Action.NONE, None)}


def test_policy_window_changes_schedule_the_next_wakeup_even_when_nothing_waits() -> None:
    decisions = run([policy(maintenanceWindows=[{"start": "10:00", "end": "14:00"}])], [], {})
    assert decisions.next_wakeup == datetime(2025, 12, 1, 14, tzinfo=UTC)
    assert decisions.policies["p"].blocked is None


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        run([], [], {}, now=datetime(2025, 12, 1))


def test_a_running_request_without_a_recorded_policy_continues_and_holds_no_slot() -> None:
    decisions = run([policy()], [request("a", phase=Phase.VERIFYING), request("b")], nodes("a", "b"))
    assert summary(decisions) == {"a": (C, None), "b": (A, None)}


def test_a_request_that_claimed_a_slot_before_a_restart_starts_first() -> None:
    requests = [request("old", queued_at=ago(60)), request("claimed", queued_at=ago(1))]
    decisions = run([policy(maxConcurrent=1, slots=("claimed",))], requests, nodes("old", "claimed"))
    assert summary(decisions) == {"claimed": (A, None), "old": (W, WaitReason.QUEUED)}
    assert decisions.policies["p"].slots == ("claimed",)


def test_slots_to_record_are_the_running_and_the_started_and_stale_claims_are_released() -> None:
    requests = [
        request("running", phase=Phase.DRAINING, policy="p"),
        request("done", phase=Phase.COMPLETED, policy="p", observed=1, completed_at=ago(5)),
        request("next", queued_at=ago(10)),
        request("later"),
    ]
    facts = policy(maxConcurrent=2, slots=("running", "done", "gone"))
    decisions = run([facts], requests, nodes("running", "done", "next", "later"))
    assert decisions.policies["p"].slots == ("next", "running")


def test_a_claim_made_before_the_policy_was_paused_is_released_without_starting() -> None:
    decisions = run([policy(paused=True, slots=("a",))], [request("a")], nodes("a"))
    assert summary(decisions) == {"a": (W, WaitReason.PAUSED)}
    assert decisions.policies["p"].slots == ()


def test_firing_alerts_hold_back_new_starts_of_the_policy_but_not_running_nodes() -> None:
    requests = [request("a", phase=Phase.DRAINING, policy="p"), request("b"), request("c")]
    decisions = decide(
        policies=[policy(maxConcurrent=3)],
        requests=requests,
        nodes=nodes("a", "b", "c"),
        now=NOW,
        blocked_policies={"p": "alerts firing: NodeDown"},
    )
    assert summary(decisions) == {"a": (C, None), "b": (W, WaitReason.BLOCKED), "c": (W, WaitReason.BLOCKED)}
    assert decisions.requests["b"].message == "policy p is blocked: alerts firing: NodeDown; position 1 of 2"
    assert decisions.policies["p"].blocked is WaitReason.BLOCKED
    assert decisions.policies["p"].blocked_nodes == ()
    assert decisions.next_wakeup is None, "the operator re-checks blockers itself; the core knows no time for it"


def test_a_blocker_of_another_policy_holds_nothing_back() -> None:
    decisions = decide(
        policies=[policy()], requests=[request("a")], nodes=nodes("a"), now=NOW, blocked_policies={"other": "x"}
    )
    assert summary(decisions) == {"a": (A, None)}


@pytest.mark.parametrize(
    ("max_concurrent", "blocked", "not_ready", "expected"),
    [
        pytest.param(
            1,
            {"a"},
            set(),
            {"a": (W, WaitReason.BLOCKED), "b": (A, None), "c": (W, WaitReason.QUEUED)},
            id="blocked-first-is-passed-over",
        ),
        pytest.param(
            1, {"a", "b", "c"}, set(), {n: (W, WaitReason.BLOCKED) for n in "abc"}, id="all-blocked-none-starts"
        ),
        pytest.param(
            2,
            {"b"},
            {"a"},
            {"a": (W, WaitReason.NODE_NOT_READY), "b": (W, WaitReason.BLOCKED), "c": (A, None)},
            id="not-ready-and-blocked-both-passed-over",
        ),
        pytest.param(
            1,
            {"a"},
            {"a"},
            {"a": (W, WaitReason.NODE_NOT_READY), "b": (A, None), "c": (W, WaitReason.QUEUED)},
            id="not-ready-is-said-first",
        ),
        pytest.param(
            3,
            {"c"},
            set(),
            {"a": (A, None), "b": (A, None), "c": (W, WaitReason.BLOCKED)},
            id="blocked-with-free-slots",
        ),
    ],
)
def test_a_blocked_node_is_passed_over_and_holds_no_slot(
    max_concurrent: int,
    blocked: set[str],
    not_ready: set[str],
    expected: dict[str, tuple[Action, WaitReason | None]],
) -> None:
    cluster = {n: node(n, ready=n not in not_ready) for n in "abc"}
    requests = [request(n, queued_at=ago(30 - i)) for i, n in enumerate("abc")]
    decisions = decide(
        policies=[policy(maxConcurrent=max_concurrent)],
        requests=requests,
        nodes=cluster,
        now=NOW,
        blocked_nodes={n: f"blocking pods on {n}" for n in blocked},
    )
    assert summary(decisions) == expected
    held = tuple((n, f"blocking pods on {n}") for n in "abc" if expected[n] == (W, WaitReason.BLOCKED))
    assert decisions.policies["p"].blocked_nodes == held
    assert decisions.policies["p"].blocked is None
    for name in held:
        assert decisions.requests[name[0]].note == name[1]


def test_a_policy_wide_reason_is_given_before_a_node_blocker() -> None:
    decisions = decide(
        policies=[policy(paused=True)],
        requests=[request("a")],
        nodes=nodes("a"),
        now=NOW,
        blocked_policies={"p": "alerts"},
        blocked_nodes={"a": "pods"},
    )
    assert summary(decisions) == {"a": (W, WaitReason.PAUSED)}
    assert decisions.policies["p"].blocked_nodes == ()


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        pytest.param(request("new"), ago(5), id="not-queued-yet-keeps-the-earlier-decision's-time"),
        pytest.param(
            request("again", phase=Phase.COMPLETED, generation=2, observed=1, policy="p", queued_at=ago(90)),
            ago(5),
            id="new-cycle-keeps-the-earlier-decision's-time",
        ),
        pytest.param(request("queued", queued_at=ago(60)), ago(60), id="its-status-says-when-and-wins"),
    ],
)
def test_a_request_entering_the_queue_keeps_the_time_an_earlier_decision_gave_it(
    facts: RequestFacts, expected: datetime
) -> None:
    """Until its Waiting status is written, each decision would otherwise put the request in at its own ``now``:
    its place would move and its status would be rewritten at every pass."""
    others = [request("first", queued_at=ago(30))]
    decisions = decide(
        policies=[policy(maxConcurrent=1)],
        requests=[*others, facts],
        nodes=nodes("first", facts.name),
        now=NOW,
        queued_since={facts.name: ago(5), "first": ago(1)},
    )
    assert decisions.requests[facts.name].queued_at == expected
    assert decisions.requests["first"].queued_at == ago(30), "a queued request's own time is never replaced"


def test_a_policy_with_a_duration_no_clock_can_hold_blocks_its_nodes_and_the_others_go_on() -> None:
    # Issue 13: "99999999999999999999h" matched the schema's pattern and made every decision pass raise. The model
    # (and the CRD) now refuse it, naming the field; a policy stored before is seen through its selector alone.
    raw = {"minIntervalBetweenReboots": "99999999999999999999h", "nodeSelector": {"matchLabels": {"pool": "a"}}}
    spec, problems = parse_policy(raw)
    assert spec is None
    broken = dataclasses.replace(policy("broken", nodeSelector=raw["nodeSelector"]), problems=tuple(problems))
    healthy = policy("healthy", nodeSelector={"matchLabels": {"pool": "b"}})
    cluster = {"a1": node("a1", pool="a"), "b1": node("b1", pool="b")}
    decisions = run([broken, healthy], [request("a1"), request("b1")], cluster)
    assert summary(decisions) == {"a1": (W, WaitReason.INVALID_SPEC), "b1": (A, None)}
    assert "spec.minIntervalBetweenReboots" in decisions.requests["a1"].message
    assert "87600h" in decisions.requests["a1"].message


def test_a_policy_that_cannot_be_parsed_holds_its_nodes_instead_of_leaving_them_to_a_looser_one() -> None:
    # Issue 13: a priority-10 policy whose alertFilterRegexp Python cannot compile, and a priority-0 catch-all. The
    # broken one is seen through its selector and priority alone, with its problems: its nodes wait, the rest go on.
    broken = dataclasses.replace(
        policy("broken", priority=10, nodeSelector={"matchLabels": {"pool": "a"}}),
        problems=("spec.blockers.prometheus.alertFilterRegexp: not a regular expression",),
    )
    catch_all = policy("catch-all")
    cluster = {"a1": node("a1", pool="a"), "b1": node("b1", pool="b")}
    decisions = run([broken, catch_all], [request("a1"), request("b1")], cluster)
    assert summary(decisions) == {"a1": (W, WaitReason.INVALID_SPEC), "b1": (A, None)}
    assert decisions.requests["a1"].policy == "broken"
    assert "alertFilterRegexp" in decisions.requests["a1"].message
    assert decisions.policies["catch-all"].started == ("b1",)


@pytest.mark.parametrize(
    ("windows", "told"),
    [
        pytest.param([{"start": "22:00", "end": "04:00"}], "until 2025-12-01T22:00:00Z", id="utc"),
        pytest.param(
            [{"start": "22:00", "end": "04:00", "timeZone": "Europe/Berlin"}],
            "until 2025-12-01T22:00:00+01:00 (Europe/Berlin)",
            id="the-windows-zone",
        ),
        pytest.param(
            [
                {"start": "22:00", "end": "04:00", "timeZone": "Europe/Berlin"},
                {"start": "23:00", "end": "04:00", "timeZone": "America/New_York"},
            ],
            "until 2025-12-01T21:00:00Z",
            id="several-zones-in-utc",
        ),
    ],
)
def test_a_closed_window_is_told_in_the_zone_its_windows_are_written_in(
    windows: list[dict[str, str]], told: str
) -> None:
    decisions = run([policy(maintenanceWindows=windows)], [request("a")], nodes("a"))
    assert f"maintenance window closed {told}; position 1 of 1" == decisions.requests["a"].message
