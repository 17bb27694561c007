"""What ``decide`` is given: plain, immutable snapshots of policies, requests and nodes.

The operator builds them from the API objects it watches (``from_api``); the decision itself then runs on
attribute reads only, with no parsing or validation on its hot path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from reboot_operator.api.controls import Skip
from reboot_operator.api.policy import RebootPolicySpec
from reboot_operator.api.policy_status import RebootPolicyStatus
from reboot_operator.api.request import NodeRebootRequestSpec, NodeRebootRequestStatus
from reboot_operator.api.vocabulary import Phase


@dataclass(frozen=True, slots=True)
class NodeFacts:
    """What the decision needs to know about a node."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    ready: bool = True
    unschedulable: bool = False
    boot_id: str = ""
    skip: Skip | None = None
    """An admin's ``rollboot.dev/skip``: the node starts no cycle while it holds."""
    reboot_now: bool = False
    """An admin's ``rollboot.dev/reboot-now``: first in its queue, past closed windows, needed or not."""
    cancel: bool = False
    """An admin's ``rollboot.dev/cancel``: hand the node back, unless its reboot is authorized already."""


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """A NodeRebootRequest as the decision sees it."""

    name: str
    """Also the node's name: a request is named after its node."""
    generation: int
    wants_reboot: bool
    """spec.reasons is not empty; False means the agent withdrew the request."""
    phase: Phase | None = None
    observed_generation: int | None = None
    policy: str | None = None
    """status.policy: the policy the request waits or runs under (its slot is counted there while it runs)."""
    queued_at: datetime | None = None
    completed_at: datetime | None = None

    @classmethod
    def from_api(
        cls, *, name: str, generation: int, spec: NodeRebootRequestSpec, status: NodeRebootRequestStatus | None
    ) -> RequestFacts:
        status = status or NodeRebootRequestStatus()
        return cls(
            name=name,
            generation=generation,
            wants_reboot=bool(spec.reasons),
            phase=status.phase,
            observed_generation=status.observed_generation,
            policy=status.policy,
            queued_at=status.queued_at,
            completed_at=status.completed_at,
        )


@dataclass(frozen=True, slots=True)
class PolicyFacts:
    """A RebootPolicy as the decision sees it: its spec and the bookkeeping kept in its status."""

    name: str
    spec: RebootPolicySpec
    failures: int = 0
    observed_reset_token: str | None = None
    reset_at: datetime | None = None
    last_completion_at: datetime | None = None
    slots: frozenset[str] = frozenset()
    """status.slots: requests that claimed a slot (by compare-and-swap) before being cordoned."""
    problems: tuple[str, ...] = ()
    """Problems found before the decision: the stored spec could not be parsed as a whole, and ``spec`` holds only
    its selector and priority. Such a policy still owns the nodes it selects, and holds them (InvalidSpec)."""

    @classmethod
    def from_api(
        cls,
        *,
        name: str,
        spec: RebootPolicySpec,
        status: RebootPolicyStatus | None,
        problems: tuple[str, ...] = (),
    ) -> PolicyFacts:
        status = status or RebootPolicyStatus()
        budget = status.failure_budget
        return cls(
            name=name,
            spec=spec,
            problems=problems,
            failures=budget.failures if budget else 0,
            observed_reset_token=budget.observed_reset_token if budget else None,
            reset_at=budget.reset_at if budget else None,
            last_completion_at=status.last_completion_at,
            slots=frozenset(status.slots),
        )
