"""The failure budget, as a pure function: halted at maxFailures, a new reset token clears the count once, and a
request that failed at or before the reset may start again."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from reboot_operator.core.budget import Budget, evaluate_budget
from tests.core.builders import NOW, policy


@pytest.mark.parametrize(
    ("failures", "max_failures", "halted"),
    [
        pytest.param(0, 1, False, id="none-of-one"),
        pytest.param(1, 1, True, id="one-of-one"),
        pytest.param(2, 3, False, id="two-of-three"),
        pytest.param(3, 3, True, id="three-of-three"),
        pytest.param(4, 3, True, id="past-the-budget"),
    ],
)
def test_a_policy_halts_once_its_failures_reach_the_budget(failures: int, max_failures: int, halted: bool) -> None:
    budget = evaluate_budget(policy(failures=failures, failureBudget={"maxFailures": max_failures}), NOW)
    assert budget.halted is halted
    assert budget.resetting is False, "nothing to reset: no token"


def test_a_new_reset_token_clears_the_count_once() -> None:
    new = evaluate_budget(policy(failures=5, failureBudget={"maxFailures": 1, "resetToken": "t2"}), NOW)
    assert (new.failures, new.halted, new.resetting, new.reset_at, new.observed_reset_token) == (
        0,
        False,
        True,
        NOW,
        "t2",
    )

    earlier = NOW - timedelta(hours=1)
    seen = policy(
        failures=1, observed_reset_token="t2", reset_at=earlier, failureBudget={"maxFailures": 1, "resetToken": "t2"}
    )
    acted_on = evaluate_budget(seen, NOW)
    assert (acted_on.failures, acted_on.halted, acted_on.resetting, acted_on.reset_at) == (1, True, False, earlier)


@pytest.mark.parametrize(
    ("failed_at", "retries"),
    [
        pytest.param(NOW - timedelta(seconds=1), True, id="failed-before-the-reset"),
        pytest.param(NOW, True, id="failed-at-the-reset"),
        pytest.param(NOW + timedelta(seconds=1), False, id="failed-after-the-reset"),
        pytest.param(None, True, id="failed-at-an-unknown-time"),
    ],
)
def test_a_request_that_failed_before_the_reset_may_start_again(failed_at: object, retries: bool) -> None:
    budget = Budget(failures=0, max_failures=1, reset_at=NOW, resetting=False, observed_reset_token="t")
    assert budget.retries(failed_at) is retries  # type: ignore[arg-type]


def test_without_a_reset_nothing_failed_starts_again() -> None:
    budget = Budget(failures=0, max_failures=1, reset_at=None, resetting=False, observed_reset_token=None)
    assert budget.retries(NOW) is False


def test_a_budget_is_an_immutable_value() -> None:
    budget = Budget(failures=0, max_failures=1, reset_at=None, resetting=False, observed_reset_token=None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        budget.failures = 1  # type: ignore[misc]
    assert not hasattr(budget, "__dict__"), "slots: one of these per policy per decision"
