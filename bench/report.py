"""``bench/RESULTS.md`` from ``bench/results.json``: one is generated from the other, so they never disagree.

    .venv/bin/python -m bench.report [--check]

Every key of the results file appears: the figures of the known benchmarks under their headings with what they
mean, any other key under "Other figures". ``--check`` writes nothing and exits 1 when RESULTS.md is out of date.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results.json"
REPORT = BENCH / "RESULTS.md"


@dataclass(frozen=True)
class Section:
    title: str
    script: str
    prefixes: tuple[str, ...]
    about: str


SECTIONS = (
    Section(
        "Rolling reboot: makespan, hand-off, reaction, API cost",
        "python -m bench.bench_rollout",
        ("rollout_", "handoff_", "reaction_", "api_operator_"),
        "A rolling reboot of simulated nodes, each with its own real `sentinel_agent` process, by the real operator "
        "on the local control plane. Every time is the receive time of a watch event in the benchmark's process, on "
        "one clock. The makespan is compared with the ideal `ceil(N / maxConcurrent) x per-node cycle`, the cycle "
        "being the median cordon → uncordon time of the same run's nodes, so what the ratio adds up is the first "
        "start, the hand-offs, cycles longer than the median, and (maxConcurrent > 1) slots idle at the end with "
        "nothing left to start, which an ideal of even rounds never has; each figure says how much each took. The "
        "operator's API requests are counted in the API server's audit log under a user of its own.",
    ),
    Section(
        "Scale: a big cluster",
        "python -m bench.bench_scale",
        ("scale_",),
        "The real operator started on a cluster of simulated nodes, each with a NodeRebootRequest as its agent "
        "would create it, and 50 RebootPolicies of maxConcurrent 2 whose windows are open. The first correct "
        "decision is seen from outside: every policy's status counts its nodes and holds its 2 claimed slots. "
        "Memory is the operator process's VmHWM (peak resident set). The decision's time is one decision after one "
        "node changed, by a `Decider` kept between decisions and told which node changed, as the coordinator "
        "keeps and tells it (the first decision, from scratch, and the same not told are beside it). Then the "
        "operator is restarted on the settled cluster (its writes counted), left at rest under node churn (its "
        "CPU), and a few policies' nodes are rebooted (the hand-offs). Each run is a fresh control plane.",
    ),
    Section(
        "Decision core",
        "python bench/bench_decide.py",
        ("decide_",),
        "One call of the pure decision core on a synthetic cluster of 5,000 nodes, 5,000 requests and 50 policies "
        "of mixed windows, blackouts and concurrency (median of repeated calls, in process, no API server).",
    ),
    Section(
        "Mutation testing of the safety rules",
        "make mutants",
        ("mutants_",),
        "One-line slips (a comparison turned, `and`/`or` swapped, a `not` dropped, a boolean flipped, a small number "
        "off by one, an awaited effect dropped) made one at a time in the modules that carry out the safety rules, "
        "each run against the fast tests of its module (`bench/mutants.py`). The score is the share of mutants "
        "some test kills, of those not written down as equivalent in `bench/mutants_equivalent.txt` with the "
        "reason.",
    ),
    Section(
        "Agent footprint",
        "python bench/bench_agent.py",
        ("agent_",),
        "The real agent process against the real API server through a counting proxy: its peak resident memory "
        "and its steady-state API requests per node-hour at the default watch timeout.",
    ),
)


def _section_of(key: str) -> Section | None:
    return next((s for s in SECTIONS if key.startswith(s.prefixes)), None)


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _verdict(figure: Mapping[str, Any]) -> str:
    target, value = figure.get("target"), figure.get("value")
    if target is None:
        return "no target"
    if not isinstance(value, int | float):
        return "?"
    return "met" if value <= target else "**not met**"


def _target(figure: Mapping[str, Any]) -> str:
    target = figure.get("target")
    return "—" if target is None else f"<= {_number(target)} {figure.get('unit', '')}".rstrip()


def _load(figure: Mapping[str, Any]) -> str:
    load = figure.get("load")
    return " / ".join(_number(x) for x in load) if isinstance(load, list) else "not noted"


def _extras(figure: Mapping[str, Any]) -> list[str]:
    known = {"value", "unit", "target", "command", "date", "machine", "runs", "load", "note", "samples", "revision"}
    known |= {"nodes", "concurrency"}
    lines = []
    for key, value in figure.items():
        if key in known:
            continue
        text = json.dumps(value, sort_keys=False, ensure_ascii=False)
        lines.append(f"  - {key}: `{text}`")
    return lines


def _median_of(values: Any) -> float | None:
    numbers = [v for v in values if isinstance(v, int | float)] if isinstance(values, list) else []
    return round(statistics.median(numbers), 3) if numbers else None


def _explain(key: str, figure: Mapping[str, Any]) -> str:
    """A sentence derived from the figure's recorded details, so it can never disagree with them."""
    if key.startswith("rollout_makespan_ratio_"):
        cycle, mean = _median_of(figure.get("cycle_s")), _median_of(figure.get("cycle_mean_s"))
        first, gap = _median_of(figure.get("first_cordon_s")), _median_of(figure.get("gap_median_s"))
        if cycle is None or mean is None or first is None:
            return ""
        text = (
            f"Where the makespan goes beyond the ideal (medians of the runs): the first node is cordoned {first:g} s "
            f"after the resume; the mean cycle is {mean:g} s against the median {cycle:g} s the ideal counts"
        )
        if gap is not None:
            share = f"{gap / cycle:.1%}"
            text += f"; between one node's uncordon and the next node's cordon {gap:g} s pass ({share} of a cycle)"
        text += "."
        nodes, slots = figure.get("nodes"), figure.get("concurrency")
        waiting, tail = _median_of(figure.get("slot_s_idle_waiting")), _median_of(figure.get("slot_s_idle_tail"))
        ideal = _median_of(figure.get("ideal_s"))
        if isinstance(nodes, int) and isinstance(slots, int) and waiting is not None and tail is not None and ideal:
            longer = nodes * mean / slots - ideal
            text += (
                f" In seconds of makespan: cycles longer than the median the ideal counts {longer:+.2f}, slots idle "
                f"while requests waited (the first start, the hand-offs) {waiting / slots:+.2f}, slots idle after the "
                f"last start with nothing left to start {tail / slots:+.2f}."
            )
        return text
    if key.startswith("handoff_latency_") and figure.get("gap_requests"):
        requests, rewrites = _median_of(figure["gap_requests"]), _median_of(figure.get("gap_waiting_rewrites"))
        return (
            f"Between its uncordon of one node and its cordon of the next, the operator sends a median of {requests:g} "
            f"API requests, {rewrites:g} of them rewriting the status of requests still waiting."
        )
    if key.startswith("scale_") and key.endswith("_first_decision_s") and figure.get("milestones_s"):
        runs = [m for m in figure["milestones_s"] if isinstance(m, dict)]
        names = ("first request", "every watch open", "first write")
        first, opened, written = (_median_of([m.get(name) for m in runs]) for name in names)
        if first is None or opened is None or written is None:
            return ""
        return (
            "Where the time goes (medians, seconds after the operator's process started, from the API server's audit "
            f"log): first request {first:g} s (start-up); first write {written:g} s (the first claim, once every "
            f"kind is listed); every watch open {opened:g} s (the last to open is Kopf's own watch of RebootPolicies, "
            f"after its start-up handler has waited for the operator's listing and started the coordinator); "
            f"every policy's status correct {figure.get('value')} s."
        )
    return ""


def _figure_block(key: str, figure: Mapping[str, Any]) -> list[str]:
    runs = figure.get("runs")
    samples = figure.get("samples")
    counted = ", ".join(
        part
        for part in (f"{runs} run{'s' if runs != 1 else ''}" if runs else "", f"{samples} samples" if samples else "")
        if part
    )
    lines = [
        f"### `{key}`: {_number(figure.get('value'))} {figure.get('unit', '')} — "
        + (f"target {_target(figure)}: {_verdict(figure)}" if figure.get("target") is not None else "no target"),
        "",
    ]
    if figure.get("note"):
        note = str(figure["note"]).rstrip(".")
        lines += [note[:1].upper() + note[1:] + ".", ""]
    if explanation := _explain(key, figure):
        lines += [explanation, ""]
    lines += [
        f"- command: `{figure.get('command', '?')}`" + (f" ({counted})" if counted else ""),
        f"- date: {figure.get('date', '?')}; load at the start (1 / 5 / 15 min): {_load(figure)}",
        f"- machine: {figure.get('machine', '?')}",
        *([f"- code: {figure['revision']}"] if figure.get("revision") else []),
        *_extras(figure),
        "",
    ]
    return lines


def render(results: Mapping[str, Mapping[str, Any]]) -> str:
    lines = [
        "# Benchmark results",
        "",
        "Generated by `python -m bench.report` from `bench/results.json`; edit neither by hand. `make bench` runs "
        "every benchmark (tens of minutes), then this. Benchmarks measure and report: CI does not depend on their "
        "figures. A figure is the median of repeated runs where that makes sense (`runs`); percentiles are "
        "nearest-rank over all samples. The machine has 2 cores shared with other work, so the load at the start "
        "of each benchmark is noted: figures taken under a high load are slower than the code is.",
        "",
        "| figure | value | target | verdict | runs | load (1 min) | date |",
        "|---|---|---|---|---|---|---|",
    ]
    ordered = sorted(results, key=lambda k: (SECTIONS.index(s) if (s := _section_of(k)) else len(SECTIONS), k))
    for key in ordered:
        figure = results[key]
        load = figure.get("load")
        lines.append(
            f"| `{key}` | {_number(figure.get('value'))} {figure.get('unit', '')} | {_target(figure)} | "
            f"{_verdict(figure)} | {figure.get('runs', '—')} | {_number(load[0]) if isinstance(load, list) else '—'} "
            f"| {figure.get('date', '?')} |"
        )
    lines.append("")
    for section in SECTIONS:
        keys = [k for k in ordered if _section_of(k) is section]
        lines += [f"## {section.title}", "", f"`{section.script}`. {section.about}", ""]
        if not keys:
            lines += ["No figures recorded yet.", ""]
        for key in keys:
            lines += _figure_block(key, results[key])
    others = [k for k in ordered if _section_of(k) is None]
    if others:
        lines += ["## Other figures", ""]
        for key in others:
            lines += _figure_block(key, results[key])
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if RESULTS.md is not what results.json gives")
    args = parser.parse_args(argv)
    results = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.exists() else {}
    text = render(results)
    if args.check:
        current = REPORT.read_text(encoding="utf-8") if REPORT.exists() else ""
        if current != text:
            print("bench/RESULTS.md is out of date: run python -m bench.report", file=sys.stderr)
            return 1
        return 0
    REPORT.write_text(text, encoding="utf-8")
    print(f"wrote bench/{REPORT.name} ({len(results)} figures)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
