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

``decide`` decides from scratch. The operator keeps a :class:`Decider` instead, which gives the same answer to the
same input but redoes only what the input changed since its last call: a request is classified again only when its
facts, its node's facts, its node's governing policy or a policy it read are new objects or values; a policy is
scheduled again only when one of those requests, its own compiled state, its blockers, the stop, or the clock
passing one of its wake-up instants says so. On a cluster of 15,000 nodes where one node changed, that is one
request and one policy, plus an identity check per request (docs/operator.md, "Scale").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from reboot_operator.api.controls import CANCEL
from reboot_operator.api.vocabulary import ACTIVE_PHASES, Phase
from reboot_operator.core.classify import Entry, Outcome, classify, policies_of
from reboot_operator.core.decisions import Action, Decisions, PolicyDecision, RequestDecision
from reboot_operator.core.facts import NodeFacts, PolicyFacts, RequestFacts
from reboot_operator.core.governance import Claim, outcome
from reboot_operator.core.schedule import CompiledPolicy, Tally, compile_policy, latest, schedule
from reboot_operator.core.selection import Candidate
from reboot_operator.core.selector import compile_selector

_FINISHED = frozenset({Phase.COMPLETED, Phase.FAILED})
"""Ends of a cycle that ran: the minimum interval counts from them."""

# Enum members read once: attribute access on an Enum class is slow, and the loops below run per request.
_WAIT, _CONTINUE, _CANCEL, _CLEANUP, _NONE = Action.WAIT, Action.CONTINUE, Action.CANCEL, Action.CLEANUP, Action.NONE
_COMPLETED, _FAILED = Phase.COMPLETED, Phase.FAILED
_NOTHING_BLOCKED: Mapping[str, str] = MappingProxyType({})
_NOTHING_QUEUED: Mapping[str, datetime] = MappingProxyType({})
_CANCELLED_NOTE = f"cancelled by an admin (annotation {CANCEL} on the node)"


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
    return Decider().decide(
        policies=policies,
        requests={r.name: r for r in requests},
        nodes=nodes,
        now=now,
        blocked_policies=blocked_policies,
        blocked_nodes=blocked_nodes,
        queued_since=queued_since,
        stop=stop,
    )


@dataclass(slots=True)
class _Scheduled:
    """One policy's last scheduling: its decision, and until when it holds."""

    decision: PolicyDecision
    wakeups: list[datetime]
    """When it may change by itself (a window, an interval, a skip ending): it is scheduled again then."""
    blocker: str | None
    """The verdict of its own blockers it was scheduled with."""


@dataclass
class Decider:
    """``decide``, kept between calls so that each call redoes only what changed (see the module docstring). Pure as
    ``decide`` is: the same sequence of inputs gives the same decisions; each call's answer equals ``decide``'s on
    the same input. Not safe for concurrent use (one loop calls it)."""

    _policies: dict[str, CompiledPolicy] = field(default_factory=dict)
    _claims: tuple[Claim, ...] = ()
    _keys: tuple[str, ...] = ()
    _outcomes: dict[tuple[str | None, ...], Outcome] = field(default_factory=dict)
    """Governance by the node's values of the selectors' keys (reset when a selector or priority changes)."""
    _governed: dict[str, tuple[NodeFacts, Outcome]] = field(default_factory=dict)
    _selected: Counter[str] = field(default_factory=Counter)
    _conflicts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _entries: dict[str, Entry] = field(default_factory=dict)
    _members: dict[str, set[str]] = field(default_factory=dict)
    """Policy → the requests it schedules or counts (a candidate it governs, or a request under its name)."""
    _scheduled: dict[str, _Scheduled] = field(default_factory=dict)
    _decided: dict[str, RequestDecision] = field(default_factory=dict)
    _blocked_nodes: dict[str, str] = field(default_factory=dict)
    _unsettled: set[str] = field(default_factory=set)
    """Requests whose queue time is this call's ``now`` or an earlier decision's (``queued_since``): looked at
    again on every call, since neither is in their facts."""
    _stop: str | None = None
    _changed: set[str] | None = None
    _fresh: bool = True
    """The requests whose decision this call made anew or dropped (``Decisions.changed``); None: from scratch."""

    def decide(
        self,
        *,
        policies: Iterable[PolicyFacts],
        requests: Mapping[str, RequestFacts],
        nodes: Mapping[str, NodeFacts],
        now: datetime,
        blocked_policies: Mapping[str, str] = _NOTHING_BLOCKED,
        blocked_nodes: Mapping[str, str] = _NOTHING_BLOCKED,
        queued_since: Mapping[str, datetime] = _NOTHING_QUEUED,
        stop: str | None = None,
        touched: Collection[str] | None = None,
    ) -> Decisions:
        """As ``decide`` (``requests`` by name). ``touched``, when given, promises that every request or node
        not named in it is the very same object (or absent) as in the last call: only those named are looked at
        again (with the requests of policies that changed, and those whose queue time is not settled). None
        (the default): every request and node is compared with the last call's."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self._changed, self._fresh = (None if self._fresh else set()), False
        compiled = {p.name: compile_policy(p, now) for p in sorted(policies, key=lambda p: p.name)}
        changed = {
            name for name in compiled.keys() | self._policies.keys() if compiled.get(name) != self._policies.get(name)
        }
        reread = _reread(self._policies, compiled, changed)
        self._policies = compiled
        dirty = set(changed)
        if stop != self._stop:
            dirty.update(compiled)
            self._stop = stop
        claims = self._claims_of(compiled)
        if claims != self._claims:
            self._start_afresh(claims)
            dirty.update(compiled)
            touched = None
        regoverned = self._govern(nodes, dirty, touched)
        self._classify(requests, nodes, reread, regoverned, queued_since, now, dirty, touched)
        if blocked_nodes != self._blocked_nodes:
            for node in blocked_nodes.keys() | self._blocked_nodes.keys():
                entry = self._entries.get(node)
                if blocked_nodes.get(node) != self._blocked_nodes.get(node) and entry is not None:
                    dirty.update(policies_of(entry))
            self._blocked_nodes = dict(blocked_nodes)

        for name in list(self._scheduled):
            if name not in compiled:
                del self._scheduled[name]
        for name in compiled:
            last = self._scheduled.get(name)
            if (
                name in dirty
                or last is None
                or last.blocker != blocked_policies.get(name)
                or any(now >= at for at in last.wakeups)
            ):
                self._schedule(compiled[name], now, blocked_policies.get(name), blocked_nodes, stop)

        results = {name: self._scheduled[name].decision for name in compiled}
        wakeups = [at for name in compiled for at in self._scheduled[name].wakeups if at > now]
        renewed = frozenset(self._changed) if self._changed is not None else None
        return Decisions(
            now=now,
            requests=dict(self._decided),
            policies=results,
            next_wakeup=min(wakeups, default=None),
            changed=renewed,
        )

    def _decide(self, name: str, decision: RequestDecision | None) -> None:
        """Record ``name``'s decision (None: it has none), noting it as changed unless it is the same. A decision
        equal to the one made before is not recorded: the one before stays, the very same object (a policy
        scheduled again decides each of its waiting requests again, and most decide the same)."""
        decided = self._decided
        before = decided.pop(name, None) if decision is None else decided.get(name)
        if decision is not None:
            if before is not None and before == decision:
                return
            decided[name] = decision
        if before is not decision and self._changed is not None:
            self._changed.add(name)

    # -- governance ----------------------------------------------------------------------------------------------

    @staticmethod
    def _claims_of(compiled: Mapping[str, CompiledPolicy]) -> tuple[Claim, ...]:
        return tuple(
            sorted(
                (
                    Claim(name, p.facts.spec.priority, compile_selector(p.facts.spec.node_selector))
                    for name, p in compiled.items()
                ),
                key=lambda c: (-c.priority, c.policy),
            )
        )

    def _govern(self, nodes: Mapping[str, NodeFacts], dirty: set[str], touched: Collection[str] | None) -> set[str]:
        """Brings each node's governing policy up to date; the nodes whose outcome changed (their old and new
        policies join ``dirty``). A new selector or priority starts everything afresh (``_start_afresh``)."""
        regoverned: set[str] = set()
        governed, outcomes, keys, claims = self._governed, self._outcomes, self._keys, self._claims
        gone = governed.keys() - nodes.keys() if touched is None else [n for n in touched if n not in nodes]
        for name in gone:
            if name in governed:
                self._set_outcome(name, governed.pop(name)[1], None, regoverned, dirty)
        for name in nodes if touched is None else touched:
            facts = nodes.get(name)
            known = governed.get(name)
            if facts is None or (known is not None and known[0] is facts):
                continue
            labels = facts.labels
            group = tuple(map(labels.get, keys))
            if group in outcomes:
                found = outcomes[group]
            else:
                found = outcomes[group] = outcome(claims, labels)
            governed[name] = (facts, found)
            before = known[1] if known is not None else None
            if found != before:
                self._set_outcome(name, before, found, regoverned, dirty)
        return regoverned

    def _start_afresh(self, claims: tuple[Claim, ...]) -> None:
        """Forget everything but the compiled policies and the stop: the next pass decides from scratch."""
        self._claims, self._outcomes = claims, {}
        self._keys = tuple(sorted(set().union(*(c.selector.keys for c in claims))))
        self._governed, self._selected, self._conflicts = {}, Counter(), {}
        self._entries, self._members, self._scheduled, self._decided, self._blocked_nodes = {}, {}, {}, {}, {}
        self._unsettled = set()
        self._changed = None

    def _set_outcome(self, name: str, before: Outcome, after: Outcome, regoverned: set[str], dirty: set[str]) -> None:
        regoverned.add(name)
        for value, step in ((before, -1), (after, 1)):
            if isinstance(value, str):
                self._selected[value] += step
                dirty.add(value)
            elif value is not None:
                dirty.update(value)
        if isinstance(after, tuple):
            self._conflicts[name] = after
        else:
            self._conflicts.pop(name, None)

    # -- requests ------------------------------------------------------------------------------------------------

    def _classify(
        self,
        requests: Mapping[str, RequestFacts],
        nodes: Mapping[str, NodeFacts],
        reread: Mapping[str, frozenset[str] | None],
        regoverned: set[str],
        queued_since: Mapping[str, datetime],
        now: datetime,
        dirty: set[str],
        touched: Collection[str] | None,
    ) -> None:
        entries, decided = self._entries, self._decided
        if touched is None:
            gone: Iterable[str] = decided.keys() - requests.keys()
            looked_at: Iterable[str] = requests
        else:
            gone = [n for n in touched if n not in requests and n in decided]
            again = {*touched, *regoverned, *self._unsettled}
            for policy, names in reread.items():
                again.update(self._members.get(policy, ()) if names is None else names)
            looked_at = [n for n in again if n in requests]
        for name in gone:
            self._decide(name, None)
            self._unsettled.discard(name)
            old = entries.pop(name, None)
            if old is not None:
                self._forget(name, old, dirty)
        node_of, governed = nodes.get, self._governed
        # The policies whose every request must be classified again, and the requests named by the others.
        changed = {policy for policy, names in reread.items() if names is None}
        named = set().union(*(names for names in reread.values() if names is not None))
        for name in looked_at:
            request = requests[name]
            entry = entries.get(name)
            node = node_of(name)
            if (
                entry is not None
                and entry.request is request
                and entry.node is node
                and not entry.volatile
                and name not in regoverned
                and not (changed and (entry.request.policy in changed or entry.governing in changed))
                and name not in named
                and (entry.queued_since is None or queued_since.get(name) == entry.queued_since)
            ):
                continue
            if entry is not None:
                self._forget(name, entry, dirty)
            if node is None:
                self._decide(
                    name, RequestDecision(name, _CLEANUP, request.policy, note=f"node {name} no longer exists")
                )
                entries.pop(name, None)
                self._unsettled.discard(name)
                continue
            fresh = classify(
                request, node, governing=governed[name][1], policies=self._policies, queued_since=queued_since, now=now
            )
            entries[name] = fresh
            if fresh.volatile or fresh.queued_since is not None:
                self._unsettled.add(name)
            else:
                self._unsettled.discard(name)
            for policy in policies_of(fresh):
                self._members.setdefault(policy, set()).add(name)
                dirty.add(policy)
            self._decide(name, fresh.decided)

    def _forget(self, name: str, entry: Entry, dirty: set[str]) -> None:
        for policy in policies_of(entry):
            members = self._members.get(policy)
            if members is not None:
                members.discard(name)
            dirty.add(policy)

    # -- policies ------------------------------------------------------------------------------------------------

    def _schedule(
        self,
        policy: CompiledPolicy,
        now: datetime,
        blocker: str | None,
        blocked_nodes: Mapping[str, str],
        stop: str | None,
    ) -> None:
        name = policy.facts.name
        tally = Tally()
        queue: list[Candidate] = []
        for member in sorted(self._members.get(name, ())):
            entry = self._entries[member]
            request = entry.request
            if request.policy == name:
                phase = request.phase
                if phase in ACTIVE_PHASES:
                    tally.running.append(member)
                elif phase in _FINISHED:
                    tally.last_finish = latest(tally.last_finish, request.completed_at)
                    if entry.decided is not None and entry.decided.action is _NONE:
                        if phase is _COMPLETED:
                            tally.completed += 1
                        else:
                            tally.failed += 1
            if entry.candidate is not None and entry.governing == name:
                queue.append(entry.candidate)
        tally.last_finish = latest(tally.last_finish, policy.facts.last_completion_at)
        queue.sort()
        decided: dict[str, RequestDecision] = {}
        wakeups: list[datetime] = []
        conflicts = tuple(sorted(node for node, tied in self._conflicts.items() if name in tied))
        decision = schedule(
            policy,
            queue,
            tally,
            selected=self._selected[name],
            conflicts=conflicts,
            decided=decided,
            wakeups=wakeups,
            now=now,
            blocker=blocker,
            blocked_nodes=blocked_nodes,
            stop=stop,
        )
        # A request it decided before and no longer queues was classified again, and decided by that.
        for member, made in decided.items():
            self._decide(member, made)
        self._scheduled[name] = _Scheduled(decision, wakeups, blocker)


def _reread(
    before: Mapping[str, CompiledPolicy], after: Mapping[str, CompiledPolicy], changed: set[str]
) -> dict[str, frozenset[str] | None]:
    """For each changed policy, the requests whose classification may have changed with it: None for all of its
    members, or, when nothing a classification reads of it changed but its slots (a claim made or freed: the
    claimed go first in the queue), the requests that joined or left its slots. What ``classify`` reads of a
    policy: that it exists, its budget (whether a failed request may start again), its slots."""
    reread: dict[str, frozenset[str] | None] = {}
    for name in changed:
        old, new = before.get(name), after.get(name)
        if old is None or new is None or old.budget != new.budget:
            reread[name] = None
        else:
            reread[name] = old.facts.slots ^ new.facts.slots
    return reread
