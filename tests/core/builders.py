"""Small builders for the decision's inputs, so each test states only what matters to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from reboot_operator.api import Phase, RebootPolicySpec
from reboot_operator.core import NodeFacts, PolicyFacts, RequestFacts

NOW = datetime(2025, 12, 1, 12, 0, tzinfo=UTC)
"""A Monday, noon UTC."""


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def policy(
    name: str = "p",
    *,
    failures: int = 0,
    observed_reset_token: str | None = None,
    reset_at: datetime | None = None,
    last_completion_at: datetime | None = None,
    slots: tuple[str, ...] = (),
    **spec: Any,
) -> PolicyFacts:
    """A policy whose spec is given in its JSON form (camelCase keys)."""
    return PolicyFacts(
        name=name,
        spec=RebootPolicySpec.model_validate(spec),
        failures=failures,
        observed_reset_token=observed_reset_token,
        reset_at=reset_at,
        last_completion_at=last_completion_at,
        slots=frozenset(slots),
    )


def node(name: str, *, ready: bool = True, unschedulable: bool = False, **labels: str) -> NodeFacts:
    return NodeFacts(name=name, labels=labels, ready=ready, unschedulable=unschedulable, boot_id=f"boot-{name}")


def nodes(*names: str) -> dict[str, NodeFacts]:
    """Ready, schedulable, unlabelled nodes."""
    return {name: node(name) for name in names}


def request(
    name: str,
    *,
    phase: Phase | None = None,
    policy: str | None = None,
    generation: int = 1,
    observed: int | None = None,
    wants: bool = True,
    queued_at: datetime | None = None,
    completed_at: datetime | None = None,
) -> RequestFacts:
    return RequestFacts(
        name=name,
        generation=generation,
        wants_reboot=wants,
        phase=phase,
        observed_generation=observed,
        policy=policy,
        queued_at=queued_at,
        completed_at=completed_at,
    )
