"""The decision: given policies, requests, nodes and ``now``, which requests start, which wait and why, each
policy's window and queue, and when to decide again. Pure: no I/O, no clock, same input, same output.

The checks for a policy's waiting requests, in order (the first that applies is the reason given): the node is
skipped by an admin (``rollboot.dev/skip``); the cluster-wide stop, invalid spec, paused, failure budget spent,
blackout or window closed, minimum interval since the last finish, a blocker of the whole policy (firing alerts);
then per request, in queue order: node not Ready or node blocked (blocking pods; either way it is passed over and
holds no slot, kured #792), no free slot (queued). A node an admin asked to reboot now (``rollboot.dev/reboot-now``)
goes first in its queue and is not held by a closed window, by nothing else.

An admin's cancel (``rollboot.dev/cancel``) cancels a request that waits or is cordoning or draining; later phases
finish, since the reboot is authorized already.

Blockers are looked up by the operator (they are I/O) and arrive as plain text per policy and per node: the core
only decides what they mean for the queue.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType

from reboot_operator.api.controls import CANCEL, STOP_CONFIGMAP
from reboot_operator.api.vocabulary import ACTIVE_PHASES, CANCELLABLE_PHASES, TERMINAL_PHASES, Phase, WaitReason
from reboot_operator.core.budget import Budget, evaluate_budget
from reboot_operator.core.clock import policy_zone, stamp
from reboot_operator.core.decisions import Action, Counts, Decisions, PolicyDecision, RequestDecision
from reboot_operator.core.duration import parse_duration
from reboot_operator.core.facts import NodeFacts, PolicyFacts, RequestFacts
from reboot_operator.core.governance import Claim, Governance, govern
from reboot_operator.core.selection import Candidate, capacity
from reboot_operator.core.selector import compile_selector
from reboot_operator.core.validation import compile_schedule, validate_policy
from reboot_operator.core.window import ScheduleState

_FINISHED = frozenset({Phase.COMPLETED, Phase.FAILED})
"""Ends of a cycle that ran: the minimum interval counts from them."""

# Enum members read once: attribute access on an Enum class is slow, and the loops below run per request.
_START, _WAIT, _CONTINUE, _CANCEL, _CLEANUP, _NONE = (
    Action.START,
    Action.WAIT,
    Action.CONTINUE,
    Action.CANCEL,
    Action.CLEANUP,
    Action.NONE,
)
_COMPLETED, _FAILED = Phase.COMPLETED, Phase.FAILED
_QUEUED, _NODE_NOT_READY, _BLOCKED = WaitReason.QUEUED, WaitReason.NODE_NOT_READY, WaitReason.BLOCKED
_SKIPPED = WaitReason.SKIPPED
_NOTHING_BLOCKED: Mapping[str, str] = MappingProxyType({})
_NOTHING_QUEUED: Mapping[str, datetime] = MappingProxyType({})
_CANCELLED_NOTE = f"cancelled by an admin (annotation {CANCEL} on the node)"


@dataclass(frozen=True, slots=True)
class _Policy:
    facts: PolicyFacts
    problems: tuple[str, ...]
    window: ScheduleState | None
    budget: Budget
    min_interval: timedelta
    zone: str
    """The zone its times are told in (``clock.policy_zone``)."""


@dataclass(slots=True)
class _Tally:
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


def decide(
    *,
    policies: Iterable[PolicyFacts],
    requests: Iterable[RequestFacts],
    nodes: Mapping[str, NodeFacts],
    now: datetime,
    blocked_policies: Mapping[str, str] = _NOTHING_BLOCKED,
    blocked_nodes: Mapping[str, str] = _NOTHING_BLOCKED,
    queued_since: Mapping[str, datetime] = _NOTHING_QUEUED,
    stop: str | None = None,
) -> Decisions:
    """Decides every request and policy at instant ``now`` (an aware datetime).

    ``blocked_policies`` maps a policy to why none of its nodes may start (e.g. the alerts firing);
    ``blocked_nodes`` maps a node to why it may not start (e.g. the blocking pods on it). A blocked node is passed
    over: the next one in the queue may take the free slot. ``queued_since`` maps a request entering the queue to
    when an earlier decision put it there, while its status does not say so yet: its place and its status stay the
    same from one decision to the next (else ``now``). ``stop``, when set, is why everything is stopped (the
    cluster-wide stop): nothing starts."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    compiled = {p.name: _compile(p, now) for p in sorted(policies, key=lambda p: p.name)}
    governance = govern(
        [
            Claim(name, p.facts.spec.priority, compile_selector(p.facts.spec.node_selector))
            for name, p in compiled.items()
        ],
        {name: node.labels for name, node in nodes.items()},
    )
    decided, tallies, candidates = _classify(requests, nodes, compiled, governance, now, queued_since)

    results: dict[str, PolicyDecision] = {}
    wakeups: list[datetime] = []
    for name, policy in compiled.items():
        tally = tallies[name]
        tally.last_finish = _latest(tally.last_finish, policy.facts.last_completion_at)
        queue = sorted(candidates.get(name, ()))
        results[name] = _schedule(
            policy, queue, tally, governance, decided, wakeups, now, blocked_policies.get(name), blocked_nodes, stop
        )
    return Decisions(
        now=now,
        requests=decided,
        policies=results,
        next_wakeup=min((t for t in wakeups if t > now), default=None),
    )


def _compile(facts: PolicyFacts, now: datetime) -> _Policy:
    problems = facts.problems + tuple(validate_policy(facts.spec))
    return _Policy(
        facts=facts,
        problems=problems,
        window=None if problems else compile_schedule(facts.spec).state(now),
        budget=evaluate_budget(facts, now),
        # A spec with problems starts nothing, and its durations may be what is wrong with it.
        min_interval=timedelta(0) if problems else parse_duration(facts.spec.min_interval_between_reboots),
        zone="UTC" if problems else policy_zone([w.time_zone for w in facts.spec.maintenance_windows]),
    )


def _classify(
    requests: Iterable[RequestFacts],
    nodes: Mapping[str, NodeFacts],
    compiled: Mapping[str, _Policy],
    governance: Governance,
    now: datetime,
    queued_since: Mapping[str, datetime],
) -> tuple[dict[str, RequestDecision], defaultdict[str, _Tally], defaultdict[str, list[Candidate]]]:
    """Decides each request outright where it can (running, ended, withdrawn, gone, ungoverned); the others become
    candidates of their governing policy. One loop for all requests: it runs thousands of times per decision."""
    decided: dict[str, RequestDecision] = {}
    tallies: defaultdict[str, _Tally] = defaultdict(_Tally)
    candidates: defaultdict[str, list[Candidate]] = defaultdict(list)
    node_of, governing_of = nodes.get, governance.governing.get
    for request in requests:
        name, phase, policy = request.name, request.phase, request.policy
        node = node_of(name)
        if node is None:
            decided[name] = RequestDecision(name, _CLEANUP, policy, note=f"node {name} no longer exists")
            continue
        if phase in ACTIVE_PHASES:
            if policy is not None:
                tallies[policy].running.append(name)
            if node.cancel and phase in CANCELLABLE_PHASES:
                decided[name] = RequestDecision(name, _CANCEL, policy, note=f"{_CANCELLED_NOTE}; handed back")
            else:
                decided[name] = RequestDecision(name, _CONTINUE, policy)
            continue
        wants = request.wants_reboot or node.reboot_now
        new_cycle = phase in TERMINAL_PHASES
        if new_cycle:
            if policy is not None and phase in _FINISHED:
                tally = tallies[policy]
                tally.last_finish = _latest(tally.last_finish, request.completed_at)
            if not _starts_again(request, compiled, wants=wants, forced=node.reboot_now):
                if policy is not None and phase is _COMPLETED:
                    tallies[policy].completed += 1
                elif policy is not None and phase is _FAILED:
                    tallies[policy].failed += 1
                decided[name] = RequestDecision(name, _NONE, policy)
                continue
        elif not wants:
            decided[name] = RequestDecision(name, _CANCEL, policy, note="withdrawn by the agent: no reasons left")
            continue
        if node.cancel:
            decided[name] = RequestDecision(name, _CANCEL, policy, note=_CANCELLED_NOTE)
            continue
        queued_at = queued_since.get(name, now) if new_cycle or request.queued_at is None else request.queued_at
        governing = governing_of(name)
        if governing is not None:
            rank = 0 if name in compiled[governing].facts.slots else 1 if node.reboot_now else 2
            candidates[governing].append(Candidate(rank, queued_at, name, node, new_cycle))
        else:
            decided[name] = _ungoverned(name, governance.conflicts.get(name), queued_at, new_cycle)
    return decided, tallies, candidates


def _ungoverned(name: str, tied: tuple[str, ...] | None, queued_at: datetime, new_cycle: bool) -> RequestDecision:
    """A request no policy governs: a conflict between policies of the same priority, or no policy at all."""
    if tied is not None:
        reason = WaitReason.CONFLICT
        note = f"policies {', '.join(tied)} select this node with the same priority; resolve the conflict"
    else:
        reason, note = WaitReason.NO_POLICY, "no RebootPolicy selects this node"
    return RequestDecision(name, _WAIT, None, reason, note, queued_at=queued_at, new_cycle=new_cycle)


def _starts_again(request: RequestFacts, compiled: Mapping[str, _Policy], *, wants: bool, forced: bool) -> bool:
    """Whether an ended request begins a new cycle: a new need (spec generation), a retry after a reset, or an
    admin's reboot-now (removed once its cycle starts, so it asks for one cycle)."""
    if not wants:
        return False
    if forced or request.generation != request.observed_generation:
        return True
    policy = compiled.get(request.policy) if request.policy is not None else None
    return request.phase is _FAILED and policy is not None and policy.budget.retries(request.completed_at)


def _schedule(
    policy: _Policy,
    queue: list[Candidate],
    tally: _Tally,
    governance: Governance,
    decided: dict[str, RequestDecision],
    wakeups: list[datetime],
    now: datetime,
    blocker: str | None,
    blocked_nodes: Mapping[str, str],
    stop: str | None,
) -> PolicyDecision:
    """Starts what may start of a policy's queue, in order, and tells the rest why they wait."""
    name = policy.facts.name
    selected = governance.selected[name]
    slots = capacity(policy.facts.spec.max_concurrent, selected)
    if policy.window is not None and policy.window.changes_at is not None:
        wakeups.append(policy.window.changes_at)
    block = _blocked(policy, tally, blocker, now, stop) if queue else None
    # A node an admin asked to reboot now is held by everything but a closed window.
    forced_block = block
    if block is not None and block.reason is WaitReason.WINDOW_CLOSED and any(c.node.reboot_now for c in queue):
        forced_block = _blocked(policy, tally, blocker, now, stop, past_window=True)
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
        decided[candidate.name] = RequestDecision(
            candidate.name, _WAIT, name, why, what, when, position, total, candidate.queued_at, candidate.new_cycle
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
        conflicts=tuple(sorted(node for node, tied in governance.conflicts.items() if name in tied)),
        budget=policy.budget,
        last_completion_at=tally.last_finish,
        started=tuple(started),
        slots=tuple(sorted([*tally.running, *started])),
        consults_blockers=consults,
    )


def _blocked(
    policy: _Policy, tally: _Tally, blocker: str | None, now: datetime, stop: str | None, *, past_window: bool = False
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


def _latest(current: datetime | None, other: datetime | None) -> datetime | None:
    if current is None or other is None:
        return current or other
    return max(current, other)
