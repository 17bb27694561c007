"""What one rollout measured, and how the rollouts of a run become figures.

Everything here works on what was observed (the timeline of watch events, the audit log); nothing talks to the API.
"""

from __future__ import annotations

import heapq
import itertools
import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from bench import harness
from bench.observe import AuditedRequest, Timeline, count

TARGET_RATIO = 1.05
TARGET_RATIO_ONE_AT_A_TIME = 1.03
"""Issue 16: makespan / ideal at most 1.03 at maxConcurrent 1 (nothing but hand-offs between cycles), 1.05 above."""
TARGET_REQUESTS_PER_NODE = 25
TARGET_HANDOFF_P50, TARGET_HANDOFF_P99 = 0.2, 1.0
TARGET_REACTION_P50, TARGET_REACTION_P99 = 0.2, 1.0


@dataclass
class Rollout:
    """What one rollout measured."""

    concurrency: int
    makespan: float
    """Policy resumed → last node seen uncordoned."""
    cycles: list[float]
    """Each node's cordon → uncordon time."""
    start: float
    """Policy resumed → first node seen cordoned."""
    gaps: list[float]
    """maxConcurrent 1: a node seen uncordoned → the next one seen cordoned (with ``start`` and ``cycles``, these
    add up to the makespan)."""
    handoffs: list[float]
    """A request seen Completed → the next node seen cordoned."""
    most_cordoned: int
    idle_queue: float
    """Slot-seconds idle while requests still waited: from the resume, and at each hand-off."""
    idle_tail: float
    """Slot-seconds idle after the last start, nothing left to start. The cycles and both idles add up to
    concurrency x makespan."""
    requests: int | None = None
    """The operator's API requests from the resume until every node is seen Completed (None without an audit log)."""
    window: float = 0.0
    kinds: dict[str, int] = field(default_factory=dict)
    gap_requests: list[int] = field(default_factory=list)
    """maxConcurrent 1: the operator's requests between its uncordon of one node and its cordon of the next."""
    gap_rewrites: list[int] = field(default_factory=list)
    """... of which status writes of requests still waiting (their queue position changed)."""
    steps: dict[str, list[float]] = field(default_factory=dict)
    """Each step of the nodes' cycles (``STEPS``), as seen: the seconds between its two marks, per node."""

    @property
    def cycle(self) -> float:
        return statistics.median(self.cycles)

    @property
    def ideal(self) -> float:
        return math.ceil(len(self.cycles) / self.concurrency) * self.cycle

    @property
    def back_to_back(self) -> float:
        """The same cycles, each as long as it was, started in the same order on the first free slot with no time
        between one cycle's end and the next one's start: the makespan of an operator whose hand-offs cost
        nothing. ``makespan / back_to_back`` is the operator's own share; ``ratio`` also counts how unequal the
        cycles were (a slow cycle, the last batch's spread), which the ideal's median cycle does not."""
        free = [0.0] * self.concurrency
        for cycle in self.cycles:
            heapq.heapreplace(free, free[0] + cycle)
        return max(free)

    @property
    def requests_per_minute(self) -> float | None:
        return None if self.requests is None else self.requests / (self.window / 60)

    @property
    def ratio(self) -> float:
        return self.makespan / self.ideal


STEPS = (
    ("cordon", "Draining"),
    ("Draining", "Rebooting"),
    ("Rebooting", "boot"),
    ("boot", "Verifying"),
    ("Verifying", "Uncordoning"),
    ("Uncordoning", "uncordon"),
    ("uncordon", "Completed"),
)
"""A cycle's steps between the marks the timeline sees: a phase written, the node seen cordoned or uncordoned,
its new boot ID seen. cordon → Draining: the cordon step; Draining → Rebooting: the drain and the approval;
Rebooting → boot: the agent and the simulated reboot (``--reboot-seconds``); boot → Verifying: the operator seeing
the node back; Verifying → Uncordoning: the verify; then the uncordon and the end's write."""


def _marks(timeline: Timeline, nodes: set[str], started: float) -> dict[str, dict[str, float]]:
    """Per node, when each mark of ``STEPS`` was first seen after ``started``."""
    marks: dict[str, dict[str, float]] = {n: {} for n in nodes}
    seen = [(t, n, str(p)) for t, n, p in timeline.phases]
    seen += [(t, n, "cordon" if v else "uncordon") for t, n, v in timeline.cordons]
    seen += [(t, n, "boot") for t, n, _ in timeline.boots]
    for moment, name, mark in sorted(seen):
        if moment >= started and name in nodes:
            marks[name].setdefault(mark, moment)
    return marks


def steps(timeline: Timeline, nodes: set[str], started: float) -> dict[str, list[float]]:
    """Each step's seconds, per node that went through both of its marks."""
    marks = _marks(timeline, nodes, started)
    return {
        f"{a} → {b}": [m[b] - m[a] for m in (marks[n] for n in sorted(nodes)) if a in m and b in m] for a, b in STEPS
    }


def analyse(
    timeline: Timeline,
    nodes: list[str],
    *,
    concurrency: int,
    started: float,
    audited: list[AuditedRequest] | None,
    window: tuple[float, float],
) -> Rollout:
    """One rollout from what was seen: ``started`` on the timeline's clock, ``window`` the same span in epoch
    seconds (the audit log's clock), ``audited`` the operator's requests (None without an audit log)."""
    failed = [n for n in nodes if timeline.phase(n) != "Completed"]
    if failed:
        raise RuntimeError(f"{len(failed)} nodes failed their reboot, e.g. {failed[0]}: see the operator's log")
    mine = set(nodes)
    cordons = [(t, n, v) for t, n, v in timeline.cordons if t >= started and n in mine]
    cordoned = {n: min(t for t, m, v in cordons if m == n and v) for n in mine}
    uncordoned = {n: min(t for t, m, v in cordons if m == n and not v and t > cordoned[n]) for n in mine}
    order = sorted(mine, key=cordoned.__getitem__)
    gaps = []
    if concurrency == 1:
        gaps = [cordoned[b] - uncordoned[a] for a, b in itertools.pairwise(order)]
    completions = sorted(t for t, n, p in timeline.phases if t >= started and n in mine and p == "Completed")
    starts = sorted(cordoned.values())
    handoffs = [next(t for t in starts if t > done) - done for done in completions if done < starts[-1]]
    # Slot-seconds: concurrency x makespan = the cycles + slots idle while requests still waited (the start
    # and the hand-offs) + slots idle after the last start (the tail, when nothing was left to start).
    edges = sorted([(cordoned[n], 1) for n in mine] + [(uncordoned[n], -1) for n in mine])
    busy = most = 0
    at, idle_queue, idle_tail = started, 0.0, 0.0
    for moment, step in edges:
        idle = (concurrency - busy) * (moment - at)
        if at >= starts[-1]:
            idle_tail += idle
        else:
            idle_queue += idle
        busy, at = busy + step, moment
        most = max(most, busy)
    run = Rollout(
        concurrency=concurrency,
        makespan=max(uncordoned.values()) - started,
        cycles=[uncordoned[n] - cordoned[n] for n in order],
        start=starts[0] - started,
        gaps=gaps,
        handoffs=handoffs,
        most_cordoned=most,
        idle_queue=idle_queue,
        idle_tail=idle_tail,
        steps=steps(timeline, mine, started),
    )
    if audited is not None:
        run.requests, run.kinds = count(audited, *window)
        run.window = window[1] - window[0]
        if concurrency == 1:
            inside = [r for r in audited if window[0] <= r.at < window[1]]
            run.gap_requests, run.gap_rewrites = _between_nodes(inside, mine)
    return run


def _between_nodes(requests: list[AuditedRequest], nodes: set[str]) -> tuple[list[int], list[int]]:
    """For one node after another (maxConcurrent 1): the operator's requests between its patch uncordoning one node
    and its patch cordoning the next, and how many of them rewrite the status of a request still waiting."""
    patches = [r for r in requests if r.verb == "patch" and r.resource == "nodes" and r.name in nodes]
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for patch in patches:
        first.setdefault(patch.name, patch.at)
        last[patch.name] = patch.at
    totals, rewrites = [], []
    for before, after in itertools.pairwise(sorted(first, key=first.__getitem__)):
        between = [r for r in requests if last[before] < r.at < first[after]]
        totals.append(len(between))
        rewrites.append(
            sum(r.resource == "noderebootrequests/status" and r.name not in (before, after) for r in between)
        )
    return totals, rewrites


def _median(values: list[float] | list[int]) -> float:
    return statistics.median(values) if values else math.nan


def describe(run: Rollout, repeat: int, repeats: int) -> str:
    """What one rollout measured, in a few lines."""
    lines = [
        f"maxConcurrent {run.concurrency}, run {repeat}/{repeats}: makespan {run.makespan:.2f} s, cycle (median) "
        f"{run.cycle:.3f} s, ideal {run.ideal:.2f} s, ratio {run.ratio:.4f}; at most {run.most_cordoned} cordoned",
        f"  first cordon {run.start:.3f} s after the resume; cycle mean {statistics.fmean(run.cycles):.3f} s, "
        f"max {max(run.cycles):.3f} s; hand-off (Completed → next cordon) p50 "
        f"{harness.percentile(run.handoffs, 50):.3f} s, p99 {harness.percentile(run.handoffs, 99):.3f} s",
    ]
    lines.append(
        f"  {run.concurrency} x makespan = {run.concurrency * run.makespan:.2f} slot-s: cycles {sum(run.cycles):.2f}"
        f" + idle while requests waited {run.idle_queue:.2f} + idle after the last start {run.idle_tail:.2f}"
    )
    lines.append(
        f"  the same cycles back to back: {run.back_to_back:.2f} s; makespan / that (the operator's own share) "
        f"{run.makespan / run.back_to_back:.4f}"
    )
    for step, seconds in run.steps.items():
        if seconds:
            lines.append(
                f"  step {step}: median {statistics.median(seconds):.3f} s, p90 "
                f"{harness.percentile(seconds, 90):.3f} s, max {max(seconds):.3f} s"
            )
    if run.gaps:
        lines.append(
            f"  makespan = first cordon {run.start:.2f} s + {len(run.cycles)} cycles {sum(run.cycles):.2f} s + "
            f"{len(run.gaps)} gaps (uncordon → next cordon) {sum(run.gaps):.2f} s, median gap {_median(run.gaps):.3f} s"
        )
    if run.gap_requests:
        lines.append(
            f"  per gap the operator sends a median of {_median(run.gap_requests):g} requests, "
            f"{_median(run.gap_rewrites):g} of them rewriting waiting requests' status"
        )
    if run.requests_per_minute is not None:
        top = ", ".join(f"{k} {v}" for k, v in list(run.kinds.items())[:8])
        lines.append(f"  operator: {run.requests} requests, {run.requests_per_minute:.1f}/min ({top})")
    return "\n".join(lines)


def figures(
    ctx: harness.Context,
    *,
    nodes: int,
    reboot_seconds: float,
    reaction: list[float],
    rollouts: list[Rollout],
    rest: tuple[float, dict[str, int]] | None,
    rest_window: tuple[float, float],
) -> dict[str, dict[str, Any]]:
    """The figures of a whole run; ``rest_window``: (seconds after the last rollout, length) of the at-rest count."""
    figures: dict[str, dict[str, Any]] = {}
    for concurrency in sorted({r.concurrency for r in rollouts}):
        runs = [r for r in rollouts if r.concurrency == concurrency]
        figures[f"rollout_makespan_ratio_c{concurrency}"] = ctx.figure(
            value=round(statistics.median(r.ratio for r in runs), 4),
            unit="ratio",
            target=TARGET_RATIO_ONE_AT_A_TIME if concurrency == 1 else TARGET_RATIO,
            runs=len(runs),
            note=f"makespan (policy resumed → last node uncordoned) / ideal ceil({nodes}/{concurrency}) x per-node "
            f"cycle, the cycle being the median cordon → uncordon time of the same run's {nodes} nodes; "
            f"simulated reboot {reboot_seconds:g} s, soak 0 s, no pods; median of the runs",
            makespan_s=[round(r.makespan, 2) for r in runs],
            cycle_s=[round(r.cycle, 3) for r in runs],
            ideal_s=[round(r.ideal, 2) for r in runs],
            cycle_mean_s=[round(statistics.fmean(r.cycles), 3) for r in runs],
            first_cordon_s=[round(r.start, 3) for r in runs],
            **({"gap_median_s": [round(_median(r.gaps), 3) for r in runs]} if concurrency == 1 else {}),
            handoff_p50_s=[round(harness.percentile(r.handoffs, 50), 3) for r in runs],
            nodes=nodes,
            concurrency=concurrency,
            slot_s_idle_waiting=[round(r.idle_queue, 2) for r in runs],
            slot_s_idle_tail=[round(r.idle_tail, 2) for r in runs],
            back_to_back_s=[round(r.back_to_back, 2) for r in runs],
            operator_share=[round(r.makespan / r.back_to_back, 4) for r in runs],
        )
        audited = [r for r in runs if r.requests is not None]
        if audited:
            figures[f"api_operator_requests_per_minute_rollout_c{concurrency}"] = ctx.figure(
                value=round(statistics.median(r.requests_per_minute or 0.0 for r in audited), 1),
                unit="requests/min",
                target=None,
                runs=len(audited),
                note=f"the operator's requests (audit log, its own user) during a {nodes}-node rollout at "
                f"maxConcurrent {concurrency}, from the resume to the last node seen Completed; median of the runs",
                per_node=[round((r.requests or 0) / nodes, 1) for r in audited],
                by_kind=audited[-1].kinds,
            )
            figures[f"api_operator_requests_per_node_c{concurrency}"] = ctx.figure(
                value=round(statistics.median((r.requests or 0) / nodes for r in audited), 1),
                unit="requests",
                target=TARGET_REQUESTS_PER_NODE,
                runs=len(audited),
                note=f"the operator's requests (audit log, its own user, Events included) during a {nodes}-node "
                f"rollout at maxConcurrent {concurrency}, divided by the nodes; median of the runs",
                events_per_node=[round(r.kinds.get("create events", 0) / nodes, 1) for r in audited],
            )
    c1 = [r for r in rollouts if r.concurrency == 1]
    handoffs = [h for r in c1 for h in r.handoffs]
    if handoffs:
        for q, target in ((50, TARGET_HANDOFF_P50), (99, TARGET_HANDOFF_P99)):
            figures[f"handoff_latency_p{q}_s"] = ctx.figure(
                value=round(harness.percentile(handoffs, q), 3),
                unit="s",
                target=target,
                runs=len(c1),
                samples=len(handoffs),
                note=f"a request seen Completed → the next node seen cordoned (watch receive times in the bench "
                f"process), maxConcurrent 1, {nodes} nodes; nearest-rank p{q} over all hand-offs of all runs. "
                "gap_*: between the operator's uncordon of one node and its cordon of the next (audit log), its "
                "requests and how many rewrite a waiting request's status (medians per run)",
                **(
                    {
                        "gap_requests": [_median(r.gap_requests) for r in c1],
                        "gap_waiting_rewrites": [_median(r.gap_rewrites) for r in c1],
                    }
                    if any(r.gap_requests for r in c1)
                    else {}
                ),
            )
    for q, target in ((50, TARGET_REACTION_P50), (99, TARGET_REACTION_P99)):
        figures[f"reaction_latency_p{q}_s"] = ctx.figure(
            value=round(harness.percentile(reaction, q), 3),
            unit="s",
            target=target,
            runs=1,
            samples=len(reaction),
            note="NodeRebootRequest created (the create call returned) with the window open and a free slot → "
            f"node seen cordoned; nearest-rank p{q} over the samples, each started from a quiet operator",
        )
    if rest is not None:
        figures["api_operator_requests_per_minute_at_rest"] = ctx.figure(
            value=round(rest[0], 2),
            unit="requests/min",
            target=None,
            runs=1,
            note=f"the operator's requests in {rest_window[1]:g} s starting {rest_window[0]:g} s after the last "
            f"rollout ({nodes} nodes, each with its agent, all requests Completed)",
            by_kind=rest[1],
        )
    return figures
