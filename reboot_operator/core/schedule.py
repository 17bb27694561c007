"""One policy's turn in the decision: its compiled state (windows, budget, interval), why its whole queue may be
held, and who of its queue starts now. ``decide`` calls ``schedule`` once per policy whose inputs changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from reboot_operator.api.controls import STOP_CONFIGMAP
from reboot_operator.api.duration import parse_duration
from reboot_operator.api.vocabulary import WaitReason
from reboot_operator.core.budget import Budget, evaluate_budget
from reboot_operator.core.clock import policy_zone, stamp
from reboot_operator.core.decisions import EXACT_POSITIONS, Action, Counts, PolicyDecision, RequestDecision
from reboot_operator.core.facts import PolicyFacts
from reboot_operator.core.selection import Candidate, capacity
from reboot_operator.core.validation import compile_schedule, validate_policy
from reboot_operator.core.window import ScheduleState

_START, _WAIT = Action.START, Action.WAIT
_QUEUED, _NODE_NOT_READY, _BLOCKED = WaitReason.QUEUED, WaitReason.NODE_NOT_READY, WaitReason.BLOCKED
_SKIPPED = WaitReason.SKIPPED


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    facts: PolicyFacts
    problems: tuple[str, ...]
    window: ScheduleState | None
    budget: Budget
    min_interval: timedelta
    zone: str
    """The zone its times are told in (``clock.policy_zone``)."""


@dataclass(slots=True)
class Tally:
    """What the pass over the requests learns about one policy."""

    running: list[str] = field(default_factory=list)
    completed: int = 0
    failed: int = 0
    last_finish: datetime | None = None


@dataclass(frozen=True, slots=True)
class _Block:
    """Why none of a policy's requests may start now, and when that may change by itself."""

    reason: WaitReason
    message: str
    until: datetime | None = None


def compile_policy(facts: PolicyFacts, now: datetime) -> CompiledPolicy:
    problems = facts.problems + tuple(validate_policy(facts.spec))
    return CompiledPolicy(
        facts=facts,
        problems=problems,
        window=None if problems else compile_schedule(facts.spec).state(now),
        budget=evaluate_budget(facts, now),
        # A spec with problems starts nothing, and its durations may be what is wrong with it.
        min_interval=timedelta(0) if problems else parse_duration(facts.spec.min_interval_between_reboots),
        zone="UTC" if problems else policy_zone([w.time_zone for w in facts.spec.maintenance_windows]),
    )


def schedule(
    policy: CompiledPolicy,
    queue: list[Candidate],
    tally: Tally,
    *,
    selected: int,
    conflicts: tuple[str, ...],
    decided: dict[str, RequestDecision],
    wakeups: list[datetime],
    now: datetime,
    blocker: str | None,
    blocked_nodes: Mapping[str, str],
    stop: str | None,
) -> PolicyDecision:
    """Starts what may start of a policy's queue (sorted), in order, and tells the rest why they wait: their
    decisions go into ``decided``, and the instants this may change by itself into ``wakeups``. ``selected``: how
    many nodes the policy governs; ``conflicts``: the nodes it ties for."""
    name = policy.facts.name
    slots = capacity(policy.facts.spec.max_concurrent, selected)
    if policy.window is not None and policy.window.changes_at is not None:
        wakeups.append(policy.window.changes_at)
    block = blocked(policy, tally, blocker, now, stop) if queue else None
    # A node an admin asked to reboot now is held by everything but a closed window.
    forced_block = block
    if block is not None and block.reason is WaitReason.WINDOW_CLOSED and any(c.node.reboot_now for c in queue):
        forced_block = blocked(policy, tally, blocker, now, stop, past_window=True)
    for held in (block, forced_block):
        if held is not None and held.reason is WaitReason.MIN_INTERVAL and held.until is not None:
            wakeups.append(held.until)

    holds = [block, forced_block] if forced_block is not block else [block]
    consults = bool(queue) and any(held is None or held.reason is _BLOCKED for held in holds)
    running = len(tally.running)
    free = slots - running
    started: list[str] = []
    waiting: list[Candidate] = []
    for candidate in queue:
        node = candidate.node
        held = forced_block if node.reboot_now else block
        skip = node.skip
        if skip is not None and skip.until is not None and skip.until > now:
            wakeups.append(skip.until)
        if (
            free > 0
            and held is None
            and node.ready
            and candidate.name not in blocked_nodes
            and (skip is None or not skip.active(now))
        ):
            free -= 1
            started.append(candidate.name)
            decided[candidate.name] = RequestDecision(
                candidate.name,
                _START,
                name,
                queued_at=candidate.queued_at,
                new_cycle=candidate.new_cycle,
                boot_id=node.boot_id,
                was_unschedulable=node.unschedulable,
            )
        else:
            waiting.append(candidate)

    total = len(waiting)
    queued = (_QUEUED, f"{running + len(started)} of {slots} slots of policy {name} in use", None)
    not_ready = (_NODE_NOT_READY, "node is not Ready", None)
    node_blocks: list[tuple[str, str]] = []
    for position, candidate in enumerate(waiting, start=1):
        node = candidate.node
        held = forced_block if node.reboot_now else block
        skip = node.skip
        if skip is not None and skip.active(now):
            why, what, when = _SKIPPED, f"skipped by an admin {skip.note}", skip.until
        elif held is not None:
            why, what, when = held.reason, held.message, held.until
        elif not node.ready:
            why, what, when = not_ready
        elif candidate.name in blocked_nodes:
            why, what, when = _BLOCKED, blocked_nodes[candidate.name], None
            node_blocks.append((candidate.name, what))
        else:
            why, what, when = queued
        near = position <= EXACT_POSITIONS  # further back, no place is told: its decision stays as the queue moves
        decided[candidate.name] = RequestDecision(
            candidate.name,
            _WAIT,
            name,
            why,
            what,
            when,
            position if near else None,
            total if near else None,
            candidate.queued_at,
            candidate.new_cycle,
            further_back=not near,
        )

    return PolicyDecision(
        name=name,
        problems=policy.problems,
        window=policy.window,
        blocked=block.reason if block is not None else None,
        blocked_message=block.message if block is not None else "",
        queue=tuple(c.name for c in waiting),
        blocked_nodes=tuple(node_blocks),
        counts=Counts(
            selected=selected,
            pending=total,
            in_progress=running + len(started),
            completed=tally.completed,
            failed=tally.failed,
        ),
        conflicts=conflicts,
        budget=policy.budget,
        last_completion_at=tally.last_finish,
        started=tuple(started),
        slots=tuple(sorted([*tally.running, *started])),
        consults_blockers=consults,
    )


def blocked(
    policy: CompiledPolicy,
    tally: Tally,
    blocker: str | None,
    now: datetime,
    stop: str | None,
    *,
    past_window: bool = False,
) -> _Block | None:
    """Why no request of the policy may start now, if there is such a reason (``past_window``: but a closed
    window, for a node an admin asked to reboot now)."""
    name, spec, budget, window = policy.facts.name, policy.facts.spec, policy.budget, policy.window
    zone = policy.zone
    if stop is not None:
        return _Block(WaitReason.STOPPED, f"rollboot is stopped cluster-wide (ConfigMap {STOP_CONFIGMAP}): {stop}")
    if window is None:  # the spec has problems, so its windows were not evaluated
        return _Block(WaitReason.INVALID_SPEC, f"policy {name} has an invalid spec: {'; '.join(policy.problems)}")
    if spec.paused:
        return _Block(WaitReason.PAUSED, f"policy {name} is paused")
    if budget.halted:
        return _Block(
            WaitReason.HALTED,
            f"policy {name} halted after {budget.failures} failed nodes (maxFailures {budget.max_failures}); "
            "change spec.failureBudget.resetToken to resume",
        )
    if not window.open and (window.blackout is not None or not past_window):
        opening = window.next_opening
        if window.blackout is not None:
            why = f" ({window.blackout.reason})" if window.blackout.reason else ""
            then = f"next opening {stamp(opening, zone)}" if opening else "no opening within 8 years"
            return _Block(
                WaitReason.BLACKOUT, f"blackout{why} until {stamp(window.blackout.end, zone)}; {then}", opening
            )
        then = f" until {stamp(opening, zone)}" if opening else ", no opening within 8 years"
        return _Block(WaitReason.WINDOW_CLOSED, f"maintenance window closed{then}", opening)
    if tally.last_finish is not None and policy.min_interval:
        ready_at = tally.last_finish + policy.min_interval
        if ready_at > now:
            message = f"minIntervalBetweenReboots {spec.min_interval_between_reboots} since the last finish"
            return _Block(WaitReason.MIN_INTERVAL, f"{message}: next start at {stamp(ready_at, zone)}", ready_at)
    if blocker is not None:
        return _Block(_BLOCKED, f"policy {name} is blocked: {blocker}")
    return None


def latest(current: datetime | None, other: datetime | None) -> datetime | None:
    if current is None or other is None:
        return current or other
    return max(current, other)
