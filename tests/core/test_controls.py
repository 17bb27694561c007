"""An admin's controls in the decision: the cluster-wide stop, and per-node skip, reboot-now and cancel."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reboot_operator.api import Phase
from reboot_operator.api.controls import Skip, parse_skip, stop_reason
from reboot_operator.api.vocabulary import WaitReason
from reboot_operator.core import Action, Decisions, NodeFacts, PolicyFacts, RequestFacts, decide
from tests.core.builders import NOW, ago, node, nodes, policy, request

A, W, C, X, N = Action.START, Action.WAIT, Action.CONTINUE, Action.CANCEL, Action.NONE
CLOSED = [{"start": "22:00", "end": "04:00"}]
"""A window closed at NOW (noon)."""
FREEZE = {"start": "2025-12-01T00:00:00Z", "end": "2025-12-02T00:00:00Z", "reason": "freeze"}
LATER = NOW + timedelta(hours=3)


def run(
    policies: list[PolicyFacts],
    requests: list[RequestFacts],
    cluster: Mapping[str, NodeFacts],
    *,
    stop: str | None = None,
    now: datetime = NOW,
) -> Decisions:
    return decide(policies=policies, requests=requests, nodes=cluster, now=now, stop=stop)


def summary(decisions: Decisions) -> dict[str, tuple[Action, WaitReason | None]]:
    return {name: (d.action, d.reason) for name, d in sorted(decisions.requests.items())}


def controlled(name: str, **controls: Any) -> NodeFacts:
    return dataclasses.replace(node(name), **controls)


# -- the stop --------------------------------------------------------------------------------------------------


def test_the_stop_starts_nothing_anywhere_and_lets_started_nodes_go_on() -> None:
    policies = [policy("blue", maxConcurrent=5), policy("green", maxConcurrent=5, priority=1, nodeSelector={})]
    requests = [request("a", phase=Phase.DRAINING, policy="green"), request("b"), request("c")]
    cluster = {"a": node("a"), "b": controlled("b", reboot_now=True), "c": node("c")}
    decisions = run(policies, requests, cluster, stop="incident 42")
    assert summary(decisions) == {"a": (C, None), "b": (W, WaitReason.STOPPED), "c": (W, WaitReason.STOPPED)}
    assert decisions.requests["c"].message.startswith(
        "rollboot is stopped cluster-wide (ConfigMap rollboot-stop): incident 42"
    )
    assert {p.blocked for p in decisions.policies.values() if p.queue} == {WaitReason.STOPPED}


def test_without_the_stop_the_same_requests_start() -> None:
    decisions = run([policy(maxConcurrent=5)], [request("b"), request("c")], nodes("b", "c"))
    assert summary(decisions) == {"b": (A, None), "c": (A, None)}


@pytest.mark.parametrize(
    ("configmap", "reason"),
    [
        pytest.param(None, None, id="absent"),
        pytest.param({"metadata": {"name": "rollboot-stop"}}, "no reason given", id="present-without-data"),
        pytest.param({"data": {"reason": "  bad   kernel "}}, "bad kernel", id="reason-on-one-line"),
        pytest.param({"data": {"stopped": "false", "reason": "kept in git"}}, None, id="switched-off"),
        pytest.param({"data": {"stopped": "true"}}, "no reason given", id="switched-on"),
        pytest.param({"data": {"stopped": "anything"}}, "no reason given", id="anything-but-false-stops"),
    ],
)
def test_the_stop_configmap_is_read(configmap: dict[str, Any] | None, reason: str | None) -> None:
    assert stop_reason(configmap) == reason


# -- skip --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "until", "active"),
    [
        pytest.param(None, None, None, id="absent"),
        pytest.param("", None, True, id="empty-until-further-notice"),
        pytest.param("true", None, True, id="true-until-further-notice"),
        pytest.param("2025-12-01T15:00:00Z", datetime(2025, 12, 1, 15, tzinfo=UTC), True, id="until-later"),
        pytest.param("2025-12-01T13:00:00+02:00", datetime(2025, 12, 1, 11, tzinfo=UTC), False, id="until-passed"),
        pytest.param("tomorrow", None, True, id="unreadable-skips-for-good"),
        pytest.param("2025-12-01T15:00:00", None, True, id="no-zone-skips-for-good"),
    ],
)
def test_the_skip_annotation_is_read_and_a_typo_never_reboots(
    value: str | None, until: datetime | None, active: bool | None
) -> None:
    skip = parse_skip(value)
    if active is None:
        assert skip is None
        return
    assert skip is not None
    assert skip.until == until
    assert skip.active(NOW) is active


def test_a_skipped_node_waits_and_the_next_one_takes_its_slot() -> None:
    cluster = {"a": controlled("a", skip=Skip(None, "until further notice")), "b": node("b")}
    decisions = run([policy(maxConcurrent=1)], [request("a", queued_at=ago(60)), request("b")], cluster)
    assert summary(decisions) == {"a": (W, WaitReason.SKIPPED), "b": (A, None)}
    assert decisions.requests["a"].message == "skipped by an admin until further notice; position 1 of 1"


def test_a_skip_until_a_time_wakes_the_decision_then_and_the_node_starts_after_it() -> None:
    cluster = {"a": controlled("a", skip=Skip(LATER, "until later"))}
    before = run([policy()], [request("a")], cluster)
    assert summary(before) == {"a": (W, WaitReason.SKIPPED)}
    assert before.requests["a"].until == LATER
    assert before.next_wakeup == LATER
    assert summary(run([policy()], [request("a")], cluster, now=LATER)) == {"a": (A, None)}


def test_a_skip_leaves_a_started_node_alone() -> None:
    cluster = {"a": controlled("a", skip=Skip(None, "until further notice"))}
    decisions = run([policy()], [request("a", phase=Phase.REBOOTING, policy="p")], cluster)
    assert summary(decisions) == {"a": (C, None)}


# -- reboot now --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "facts", "running", "reason"),
    [
        pytest.param({"maintenanceWindows": CLOSED}, {}, False, None, id="window-closed-passed"),
        pytest.param({"maintenanceWindows": CLOSED}, {}, True, WaitReason.QUEUED, id="never-beyond-maxConcurrent"),
        pytest.param({"paused": True}, {}, False, WaitReason.PAUSED, id="paused-holds"),
        pytest.param({"blackouts": [FREEZE]}, {}, False, WaitReason.BLACKOUT, id="blackout-holds"),
        pytest.param(
            {"maintenanceWindows": CLOSED, "blackouts": [FREEZE]}, {}, False, WaitReason.BLACKOUT, id="both-hold"
        ),
        pytest.param(
            {"failureBudget": {"maxFailures": 1}}, {"failures": 1}, False, WaitReason.HALTED, id="halted-holds"
        ),
        pytest.param(
            {"maintenanceWindows": CLOSED, "minIntervalBetweenReboots": "1h"},
            {"last_completion_at": ago(10)},
            False,
            WaitReason.MIN_INTERVAL,
            id="min-interval-holds-even-with-the-window-closed",
        ),
    ],
)
def test_reboot_now_passes_a_closed_window_and_nothing_else(
    spec: dict[str, Any], facts: dict[str, Any], running: bool, reason: WaitReason | None
) -> None:
    cluster = {"now": controlled("now", reboot_now=True), "busy": node("busy")}
    requests = [request("now")]
    if running:
        requests.append(request("busy", phase=Phase.DRAINING, policy="p"))
    decisions = run([policy(maxConcurrent=1, **facts, **spec)], requests, cluster)
    expected = (A, None) if reason is None else (W, reason)
    assert (decisions.requests["now"].action, decisions.requests["now"].reason) == expected


def test_reboot_now_is_first_in_the_queue() -> None:
    cluster = {"old": node("old"), "now": controlled("now", reboot_now=True)}
    decisions = run([policy(maxConcurrent=1)], [request("old", queued_at=ago(600)), request("now")], cluster)
    assert summary(decisions) == {"now": (A, None), "old": (W, WaitReason.QUEUED)}


def test_reboot_now_is_held_by_a_policy_blocker_even_with_the_window_closed() -> None:
    cluster = {"now": controlled("now", reboot_now=True)}
    decisions = decide(
        policies=[policy(maintenanceWindows=CLOSED)],
        requests=[request("now")],
        nodes=cluster,
        now=NOW,
        blocked_policies={"p": "alert NodeDown firing"},
    )
    assert summary(decisions) == {"now": (W, WaitReason.BLOCKED)}


@pytest.mark.parametrize(
    "facts",
    [
        pytest.param(request("a", wants=False), id="no-need-and-no-cycle-yet"),
        pytest.param(request("a", wants=False, phase=Phase.CANCELLED, observed=1), id="withdrawn"),
        pytest.param(request("a", phase=Phase.COMPLETED, observed=1, policy="p"), id="rebooted-for-this-need"),
    ],
)
def test_reboot_now_starts_a_node_whatever_its_need(facts: RequestFacts) -> None:
    decisions = run([policy()], [facts], {"a": controlled("a", reboot_now=True)})
    assert summary(decisions) == {"a": (A, None)}
    assert summary(run([policy()], [facts], nodes("a")))["a"][0] in (X, N)


# -- cancel ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "action"),
    [
        pytest.param(request("a"), X, id="new"),
        pytest.param(request("a", phase=Phase.WAITING, policy="p"), X, id="waiting"),
        pytest.param(request("a", phase=Phase.CORDONING, policy="p"), X, id="cordoning"),
        pytest.param(request("a", phase=Phase.DRAINING, policy="p"), X, id="draining"),
        pytest.param(request("a", phase=Phase.REBOOTING, policy="p"), C, id="rebooting-finishes"),
        pytest.param(request("a", phase=Phase.VERIFYING, policy="p"), C, id="verifying-finishes"),
        pytest.param(request("a", phase=Phase.UNCORDONING, policy="p"), C, id="uncordoning-finishes"),
        pytest.param(request("a", phase=Phase.COMPLETED, policy="p", observed=1), N, id="completed"),
        pytest.param(request("a", phase=Phase.COMPLETED, policy="p", observed=1, generation=2), X, id="new-need"),
    ],
)
def test_cancel_hands_back_what_has_not_been_authorized_to_reboot(facts: RequestFacts, action: Action) -> None:
    decisions = run([policy()], [facts], {"a": controlled("a", cancel=True)})
    assert decisions.requests["a"].action is action
    if action is X:
        assert decisions.requests["a"].note.startswith("cancelled by an admin (annotation rollboot.dev/cancel")


def test_a_cancelled_running_node_keeps_its_slot_until_handed_back() -> None:
    cluster = {"a": controlled("a", cancel=True), "b": node("b")}
    decisions = run([policy(maxConcurrent=1)], [request("a", phase=Phase.DRAINING, policy="p"), request("b")], cluster)
    assert summary(decisions) == {"a": (X, None), "b": (W, WaitReason.QUEUED)}


@pytest.mark.parametrize(
    ("spec", "cluster", "blocker", "consults"),
    [
        pytest.param({}, nodes("a"), None, True, id="open-window"),
        pytest.param({}, nodes("a"), "alert", True, id="blocked-by-its-alerts"),
        pytest.param({"maintenanceWindows": CLOSED}, nodes("a"), None, False, id="closed-window"),
        pytest.param({"paused": True}, nodes("a"), None, False, id="paused"),
        pytest.param(
            {"maintenanceWindows": CLOSED}, {"a": controlled("a", reboot_now=True)}, None, True, id="closed-but-now"
        ),
        pytest.param(
            {"maintenanceWindows": CLOSED}, {"a": controlled("a", reboot_now=True)}, "alert", True, id="now-and-alert"
        ),
    ],
)
def test_the_alerts_are_asked_about_whenever_they_may_change_who_starts(
    spec: dict[str, Any], cluster: dict[str, NodeFacts], blocker: str | None, consults: bool
) -> None:
    # Issue 14: a reboot-now in a closed window started once the alerts' verdict had been forgotten.
    decisions = decide(
        policies=[policy(**spec)],
        requests=[request("a")],
        nodes=cluster,
        now=NOW,
        blocked_policies={"p": blocker} if blocker else {},
    )
    assert decisions.policies["p"].consults_blockers is consults
