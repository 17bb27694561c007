"""Drain options refuse values that would make a drain misbehave, above all a busy loop on a PodDisruptionBudget."""

from __future__ import annotations

from typing import Any

import pytest

from reboot_operator.api.policy import DrainSpec
from reboot_operator.kube.drain_types import MIN_EVICTION_RETRY_DELAY, DrainOptions
from reboot_operator.kube.options import drain_options, own_pod


def test_the_defaults_follow_kubectl_and_retry_a_budget_every_five_seconds() -> None:
    options = DrainOptions()
    assert options.eviction_retry_delay == MIN_EVICTION_RETRY_DELAY == 5.0
    assert (options.force, options.delete_emptydir_data, options.grace_period_seconds, options.timeout) == (
        False,
        False,
        None,
        None,
    )


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"eviction_retry_delay": 0}, id="zero-retry-delay-would-busy-loop"),
        pytest.param({"eviction_retry_delay": 4.9}, id="retry-delay-under-five-seconds"),
        pytest.param({"grace_period_seconds": -1}, id="negative-grace-period"),
        pytest.param({"timeout": 0}, id="zero-timeout"),
        pytest.param({"skip_wait_for_delete_timeout": -1}, id="negative-skip-timeout"),
        pytest.param({"relist_interval": 0}, id="zero-relist-interval"),
    ],
)
def test_options_that_would_misbehave_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        DrainOptions(**bad)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            {"POD_NAMESPACE": "rollboot-system", "POD_NAME": "rollboot-operator-abc"},
            {("rollboot-system", "rollboot-operator-abc")},
        ),
        ({"POD_NAME": "rollboot-operator-abc"}, set()),
        ({"POD_NAMESPACE": "rollboot-system", "POD_NAME": ""}, set()),
        ({}, set()),
    ],
)
def test_the_operators_own_pod_comes_from_the_downward_api(environ: dict[str, str], expected: set[Any]) -> None:
    assert own_pod(environ) == expected


def test_a_policys_drain_keeps_the_pods_to_evict_last() -> None:
    last = frozenset({("rollboot-system", "rollboot-operator-abc")})
    assert drain_options(DrainSpec(), evict_last=last).evict_last == last
    assert drain_options(DrainSpec()).evict_last == frozenset()


@pytest.mark.parametrize(
    "edge",
    [
        pytest.param({"grace_period_seconds": 0}, id="grace-period-zero-deletes-at-once"),
        pytest.param({"grace_period_seconds": 1}, id="grace-period-one"),
        pytest.param({"timeout": 0.5}, id="timeout-under-a-second"),
        pytest.param({"timeout": 1}, id="timeout-one-second"),
        pytest.param({"skip_wait_for_delete_timeout": 0}, id="skip-timeout-zero-waits-for-all"),
        pytest.param({"relist_interval": 1}, id="relist-interval-one"),
        pytest.param({"relist_interval": 600}, id="relist-interval-ten-minutes"),
        pytest.param({"eviction_retry_delay": 5}, id="retry-delay-five"),
    ],
)
def test_options_at_the_edge_of_what_is_allowed_are_accepted(edge: dict[str, Any]) -> None:
    options = DrainOptions(**edge)
    assert getattr(options, next(iter(edge))) == next(iter(edge.values()))


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"relist_interval": 0.5}, id="relist-interval-under-a-second"),
        pytest.param({"relist_interval": 601}, id="relist-interval-over-ten-minutes"),
        pytest.param({"timeout": -1}, id="negative-timeout"),
    ],
)
def test_options_just_past_the_edge_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        DrainOptions(**bad)
