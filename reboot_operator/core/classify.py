"""Classifying one request for the decision: decided outright where it can be (running, ended, withdrawn,
cancelled, ungoverned), or a candidate of its governing policy's queue (``schedule.py`` decides those)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from reboot_operator.api.controls import CANCEL
from reboot_operator.api.vocabulary import ACTIVE_PHASES, CANCELLABLE_PHASES, TERMINAL_PHASES, Phase, WaitReason
from reboot_operator.core.decisions import Action, RequestDecision
from reboot_operator.core.facts import NodeFacts, RequestFacts
from reboot_operator.core.schedule import CompiledPolicy
from reboot_operator.core.selection import Candidate

_WAIT, _CONTINUE, _CANCEL, _NONE = Action.WAIT, Action.CONTINUE, Action.CANCEL, Action.NONE
_FAILED = Phase.FAILED
_CANCELLED_NOTE = f"cancelled by an admin (annotation {CANCEL} on the node)"

Outcome = str | tuple[str, ...] | None
"""Of governance for one node: the governing policy, the tied policies (a conflict), or none."""


@dataclass(slots=True)
class Entry:
    """What classifying one request found, kept while the objects it was made from stay the same."""

    request: RequestFacts
    node: NodeFacts
    governing: Outcome
    decided: RequestDecision | None
    """Decided outright (running, ended, withdrawn, cancelled, ungoverned); else ``candidate``."""
    candidate: Candidate | None
    queued_since: datetime | None
    """The ``queued_since`` value read (compared on the next call); None when none was read."""
    volatile: bool
    """Its queue time is this call's ``now``: classified again on the next call."""


def classify(
    request: RequestFacts,
    node: NodeFacts,
    *,
    governing: Outcome,
    policies: Mapping[str, CompiledPolicy],
    queued_since: Mapping[str, datetime],
    now: datetime,
) -> Entry:
    """Decides a request outright where it can (running, ended, withdrawn, ungoverned); else it becomes a
    candidate of its governing policy."""
    name, phase, policy = request.name, request.phase, request.policy

    def outright(decision: RequestDecision) -> Entry:
        return Entry(request, node, governing, decision, None, None, False)

    if phase in ACTIVE_PHASES:
        if node.cancel and phase in CANCELLABLE_PHASES:
            return outright(RequestDecision(name, _CANCEL, policy, note=f"{_CANCELLED_NOTE}; handed back"))
        return outright(RequestDecision(name, _CONTINUE, policy))
    wants = request.wants_reboot or node.reboot_now
    new_cycle = phase in TERMINAL_PHASES
    if new_cycle:
        if not _starts_again(request, policies, wants=wants, forced=node.reboot_now):
            return outright(RequestDecision(name, _NONE, policy))
    elif not wants:
        return outright(RequestDecision(name, _CANCEL, policy, note="withdrawn by the agent: no reasons left"))
    if node.cancel:
        return outright(RequestDecision(name, _CANCEL, policy, note=_CANCELLED_NOTE))
    since: datetime | None = None
    volatile = False
    if new_cycle or request.queued_at is None:
        since = queued_since.get(name)
        volatile = since is None
        queued_at = now if since is None else since
    else:
        queued_at = request.queued_at
    if isinstance(governing, str):
        rank = 0 if name in policies[governing].facts.slots else 1 if node.reboot_now else 2
        candidate = Candidate(rank, queued_at, name, node, new_cycle)
        return Entry(request, node, governing, None, candidate, since, volatile)
    return Entry(request, node, governing, _ungoverned(name, governing, queued_at, new_cycle), None, since, volatile)


def policies_of(entry: Entry) -> set[str]:
    found = {entry.request.policy} if entry.request.policy is not None else set()
    if isinstance(entry.governing, str):
        found.add(entry.governing)
    return found


def _ungoverned(name: str, tied: Outcome, queued_at: datetime, new_cycle: bool) -> RequestDecision:
    """A request no policy governs: a conflict between policies of the same priority, or no policy at all."""
    if isinstance(tied, tuple):
        reason = WaitReason.CONFLICT
        note = f"policies {', '.join(tied)} select this node with the same priority; resolve the conflict"
    else:
        reason, note = WaitReason.NO_POLICY, "no RebootPolicy selects this node"
    return RequestDecision(name, _WAIT, None, reason, note, queued_at=queued_at, new_cycle=new_cycle)


def _starts_again(request: RequestFacts, compiled: Mapping[str, CompiledPolicy], *, wants: bool, forced: bool) -> bool:
    """Whether an ended request begins a new cycle: a new need (spec generation), a retry after a reset, or an
    admin's reboot-now (removed once its cycle starts, so it asks for one cycle)."""
    if not wants:
        return False
    if forced or request.generation != request.observed_generation:
        return True
    policy = compiled.get(request.policy) if request.policy is not None else None
    return request.phase is _FAILED and policy is not None and policy.budget.retries(request.completed_at)
