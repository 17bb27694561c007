"""A node reboots only after a drain that completed, or timed out under ``onTimeout: Reboot``: every drain outcome
against both settings, and anything unknown gives the node back."""

from __future__ import annotations

import dataclasses

import pytest

from reboot_operator.kube.drain_types import (
    AfterDrain,
    BlockingPod,
    BlockReason,
    DrainOptions,
    DrainOutcome,
    DrainProgress,
    DrainResult,
    PodRef,
    SkippedPod,
    SkipReason,
    after_drain,
)

EXPECTED = {
    (DrainOutcome.COMPLETED, False): AfterDrain.REBOOT,
    (DrainOutcome.COMPLETED, True): AfterDrain.REBOOT,
    (DrainOutcome.TIMED_OUT, False): AfterDrain.GIVE_BACK,
    (DrainOutcome.TIMED_OUT, True): AfterDrain.REBOOT,
    (DrainOutcome.REFUSED, False): AfterDrain.GIVE_BACK,
    (DrainOutcome.REFUSED, True): AfterDrain.GIVE_BACK,
    (DrainOutcome.FAILED, False): AfterDrain.GIVE_BACK,
    (DrainOutcome.FAILED, True): AfterDrain.GIVE_BACK,
}


def test_the_table_covers_every_outcome() -> None:
    assert {outcome for outcome, _ in EXPECTED} == set(DrainOutcome)


@pytest.mark.parametrize(("outcome", "reboot_on_timeout"), sorted(EXPECTED))
def test_a_node_reboots_only_after_a_completed_drain_or_an_allowed_timeout(
    outcome: DrainOutcome, reboot_on_timeout: bool
) -> None:
    assert after_drain(outcome, reboot_on_timeout=reboot_on_timeout) is EXPECTED[outcome, reboot_on_timeout]


@pytest.mark.parametrize("reboot_on_timeout", [False, True])
def test_an_outcome_the_rule_does_not_know_gives_the_node_back(reboot_on_timeout: bool) -> None:
    unknown = "Interrupted"  # as a future outcome would arrive: not one the rule names
    assert after_drain(unknown, reboot_on_timeout=reboot_on_timeout) is AfterDrain.GIVE_BACK  # type: ignore[arg-type]


@pytest.mark.parametrize("outcome", list(DrainOutcome))
def test_a_result_says_whether_it_completed_or_timed_out(outcome: DrainOutcome) -> None:
    result = DrainResult(outcome)
    assert (result.completed, result.timed_out) == (
        outcome is DrainOutcome.COMPLETED,
        outcome is DrainOutcome.TIMED_OUT,
    )


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(DrainOptions(), id="options"),
        pytest.param(PodRef("ns", "web"), id="pod-ref"),
        pytest.param(BlockingPod("ns", "web", BlockReason.EVICTING), id="blocking-pod"),
        pytest.param(SkippedPod("ns", "web", SkipReason.DAEMONSET), id="skipped-pod"),
        pytest.param(DrainProgress(total=1, remaining=1, blocking=()), id="progress"),
        pytest.param(DrainResult(DrainOutcome.COMPLETED), id="result"),
    ],
)
def test_the_drains_vocabulary_is_immutable(value: object) -> None:
    field = dataclasses.fields(value)[0].name  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, field, None)


def test_options_are_named_never_positional() -> None:
    with pytest.raises(TypeError):
        DrainOptions(True)  # type: ignore[call-arg]


def test_pod_refs_sort_by_namespace_then_name() -> None:
    refs = [PodRef("b", "a"), PodRef("a", "z"), PodRef("a", "b")]
    assert sorted(refs) == [PodRef("a", "b"), PodRef("a", "z"), PodRef("b", "a")]
