"""Conditions and the policy status built from a decision, and facts built from the API models."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reboot_operator.api import NodeRebootRequestSpec, NodeRebootRequestStatus, Phase, RebootPolicyStatus
from reboot_operator.api.common import Condition, ConditionStatus
from reboot_operator.api.policy_status import FailureBudgetStatus
from reboot_operator.api.vocabulary import PolicyConditionType, Reason, WaitReason, WindowState
from reboot_operator.core import PolicyFacts, RequestFacts, decide
from reboot_operator.core.conditions import changed_conditions, merge_conditions, policy_conditions
from reboot_operator.core.decisions import PolicyDecision
from reboot_operator.core.status import policy_status
from tests.core.builders import NOW, ago, nodes, policy, request


def decision_of(facts: PolicyFacts, *requests: RequestFacts, cluster_size: int = 3) -> PolicyDecision:
    cluster = nodes(*(f"n{i}" for i in range(cluster_size)))
    return decide(policies=[facts], requests=list(requests), nodes=cluster, now=NOW).policies[facts.name]


def conditions(decision: PolicyDecision) -> dict[str, tuple[ConditionStatus, str]]:
    return {c.type: (c.status, c.reason) for c in policy_conditions(decision)}


T, F = ConditionStatus.TRUE, ConditionStatus.FALSE


def test_an_idle_valid_policy() -> None:
    assert conditions(decision_of(policy())) == {
        "Ready": (T, Reason.VALID),
        "Progressing": (F, Reason.IDLE),
        "Blocked": (F, Reason.NOT_BLOCKED),
        "Halted": (F, Reason.WITHIN_BUDGET),
        "Conflict": (F, Reason.NO_CONFLICT),
    }


def test_a_policy_with_work_in_progress() -> None:
    found = conditions(decision_of(policy(), request("n0"), request("n1")))
    assert found["Progressing"] == (T, Reason.IN_PROGRESS)


@pytest.mark.parametrize(
    ("facts", "condition", "expected"),
    [
        pytest.param(policy(paused=True), "Blocked", (T, WaitReason.PAUSED), id="paused-is-blocked"),
        pytest.param(policy(failures=1), "Halted", (T, Reason.BUDGET_EXHAUSTED), id="halted"),
        pytest.param(
            policy(maintenanceWindows=[{"start": "00:00", "end": "01:00", "timeZone": "Nowhere/Land"}]),
            "Ready",
            (F, Reason.INVALID_SPEC),
            id="invalid",
        ),
    ],
)
def test_policy_conditions(facts: PolicyFacts, condition: str, expected: tuple[ConditionStatus, str]) -> None:
    assert conditions(decision_of(facts, request("n0")))[condition] == expected


def test_conflict_condition_lists_a_few_nodes() -> None:
    tied = [policy("a"), policy("b")]
    cluster = nodes(*(f"n{i:02d}" for i in range(12)))
    decision = decide(policies=tied, requests=[], nodes=cluster, now=NOW).policies["a"]
    conflict = next(c for c in policy_conditions(decision) if c.type == PolicyConditionType.CONFLICT)
    assert conflict.status is T
    assert conflict.message.startswith("12 nodes also selected by another policy of the same priority: n00, n01")
    assert conflict.message.endswith("n09 …")


def _condition(kind: str, status: ConditionStatus, reason: str = "Because") -> Condition:
    return Condition(type=kind, status=status, reason=reason, last_transition_time=ago(60))


def test_merge_keeps_the_transition_time_while_the_status_holds() -> None:
    previous = [_condition("Ready", T), _condition("Blocked", F), _condition("SomeoneElses", T)]
    merged = merge_conditions(
        previous, policy_conditions(decision_of(policy(paused=True), request("n0"))), now=NOW, generation=4
    )
    by_type = {c.type: c for c in merged}
    assert by_type["Ready"].last_transition_time == ago(60)
    assert by_type["Blocked"].last_transition_time == NOW
    assert by_type["Halted"].last_transition_time == NOW
    assert by_type["SomeoneElses"] == previous[2]
    assert by_type["Ready"].observed_generation == 4
    # Ready held its status but changed its reason; SomeoneElses did not change at all.
    assert {c.type for c in changed_conditions(previous, merged)} == {
        "Ready",
        "Progressing",
        "Blocked",
        "Halted",
        "Conflict",
    }


def test_policy_status_reports_window_queue_counts_and_budget() -> None:
    facts = policy(maxConcurrent=1, maintenanceWindows=[{"start": "11:00", "end": "13:00"}])
    previous = RebootPolicyStatus(failure_budget=FailureBudgetStatus(failures=0, failed_nodes=["old"]))
    status = policy_status(
        decision_of(facts, request("n0"), request("n1"), request("n2")), previous=previous, generation=2, now=NOW
    )
    assert status.observed_generation == 2
    assert status.counts is not None and (status.counts.selected, status.counts.pending) == (3, 2)
    assert status.window is not None
    assert (status.window.state, status.window.open, status.window.closes_at) == (
        WindowState.OPEN,
        True,
        NOW + timedelta(hours=1),
    )
    assert status.queue == ["n1", "n2"]
    assert status.slots == ["n0"]
    assert status.failure_budget is not None and status.failure_budget.failed_nodes == ["old"]


def test_policy_status_of_an_invalid_policy_and_a_reset() -> None:
    facts = policy(
        failures=2,
        observed_reset_token="a",
        failureBudget={"maxFailures": 3, "resetToken": "b"},
        maintenanceWindows=[{"start": "11:00", "end": "13:00", "timeZone": "Nowhere/Land"}],
    )
    previous = RebootPolicyStatus(failure_budget=FailureBudgetStatus(failures=2, failed_nodes=["x", "y"]))
    status = policy_status(decision_of(facts), previous=previous, generation=1, now=NOW)
    assert status.window is not None and status.window.state is WindowState.UNKNOWN
    assert status.failure_budget == FailureBudgetStatus(
        failures=0, failed_nodes=[], observed_reset_token="b", reset_at=NOW
    )
    assert policy_status(decision_of(policy()), previous=None, generation=1, now=NOW).failure_budget is not None


def test_facts_from_the_api_models() -> None:
    spec = NodeRebootRequestSpec.model_validate({"nodeName": "n0", "reasons": [{"source": "sentinel-file"}]})
    status = NodeRebootRequestStatus(phase=Phase.WAITING, policy="p", queued_at=ago(5), observed_generation=3)
    facts = RequestFacts.from_api(name="n0", generation=3, spec=spec, status=status)
    assert (facts.wants_reboot, facts.phase, facts.policy, facts.queued_at) == (True, Phase.WAITING, "p", ago(5))
    assert RequestFacts.from_api(name="n0", generation=1, spec=spec, status=None).phase is None

    budget = FailureBudgetStatus(failures=2, observed_reset_token="t", reset_at=ago(9))
    base = policy()
    from_status = PolicyFacts.from_api(
        name="p",
        spec=base.spec,
        status=RebootPolicyStatus(failure_budget=budget, last_completion_at=ago(1), slots=["n1"]),
    )
    assert from_status.slots == {"n1"}
    assert (from_status.failures, from_status.observed_reset_token, from_status.reset_at) == (2, "t", ago(9))
    assert from_status.last_completion_at == ago(1)
    assert PolicyFacts.from_api(name="p", spec=base.spec, status=None).failures == 0


@pytest.mark.parametrize(
    ("count", "ending"),
    [pytest.param(1, "n0: pods on n0", id="one"), pytest.param(7, "n4: pods on n4 (and 2 more)", id="many")],
)
def test_nodes_held_back_by_blockers_make_the_policy_blocked(count: int, ending: str) -> None:
    names = [f"n{i}" for i in range(count)]
    decision = decide(
        policies=[policy(maxConcurrent=10)],
        requests=[request(n, queued_at=ago(60 - i)) for i, n in enumerate(names)],
        nodes=nodes(*names),
        now=NOW,
        blocked_nodes={n: f"pods on {n}" for n in names},
    ).policies["p"]
    blocked = next(c for c in policy_conditions(decision) if c.type == "Blocked")
    assert (blocked.status, blocked.reason) == (T, WaitReason.BLOCKED)
    assert blocked.message.startswith(f"{count} waiting nodes held back by blockers: n0: pods on n0")
    assert blocked.message.endswith(ending)
