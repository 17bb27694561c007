"""Mutation testing of the modules that carry out the safety rules: ``make mutants`` (``python -m bench.mutants``).

Each mutant is one small change to one module, the kind of one-line slip a review can miss: a comparison's
boundary or sense turned (``<`` / ``<=``, ``==`` / ``!=``, ``is`` / ``is not``, ``in`` / ``not in``), ``and`` /
``or`` swapped, a ``not`` dropped, ``True`` / ``False`` swapped, a small number off by one, or an awaited effect
(a cordon, a status write, a slot release) dropped. Each is run against the fast tests that cover its module
(``TARGETS``) in a copy of the tree; a test that fails kills it. A mutant no test kills is a hole in the tests,
unless it is written down in ``bench/mutants_equivalent.txt`` as equivalent (no behaviour changes), with the
reason; one that is neither fails the run. Log calls, assertions and f-strings are not mutated.

The score (killed / mutants not equivalent) is recorded in ``bench/results.json`` as ``mutants_score`` with
``--record``. Not part of ``make test``: a full run takes minutes (``--jobs`` runs mutants side by side).
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import harness

REPO = Path(__file__).resolve().parent.parent
EQUIVALENT = REPO / "bench" / "mutants_equivalent.txt"
COPIED = ("reboot_operator", "sentinel_agent", "hack", "tests", "bench", "pyproject.toml")

TARGETS: Mapping[str, Sequence[str]] = {
    "reboot_operator/rollout/cycle.py": ["tests/rollout/test_cycle_rules.py"],
    "reboot_operator/rollout/starting.py": ["tests/rollout/test_cycle_rules.py"],
    "reboot_operator/rollout/returning.py": ["tests/rollout/test_cycle_rules.py"],
    "reboot_operator/rollout/context.py": ["tests/rollout/test_cycle_rules.py"],
    "reboot_operator/rollout/handback.py": ["tests/rollout/test_handback.py", "tests/rollout/test_cycle_rules.py"],
    "reboot_operator/rollout/slots.py": ["tests/rollout/test_slot_rules.py", "tests/rollout/test_cycle_rules.py"],
    "reboot_operator/kube/drain_types.py": ["tests/kube/test_after_drain.py", "tests/kube/test_drain_options.py"],
    "reboot_operator/kube/nodes.py": [
        "tests/kube/test_node_patches.py",
        "tests/kube/test_node_effects_fast.py",
        "tests/rollout/test_cycle_rules.py",
    ],
    "reboot_operator/core/budget.py": [
        "tests/core/test_budget.py",
        "tests/core/test_decide.py",
        "tests/core/test_properties.py",
    ],
    "reboot_operator/core/selection.py": ["tests/core/test_decide.py", "tests/core/test_properties.py"],
    "sentinel_agent/approval.py": ["tests/agent/test_approval.py"],
}
"""Each safety-carrying module, and the fast tests that must catch a slip in it."""

_SWAPS: Mapping[type[ast.AST], type[ast.AST]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.And: ast.Or,
    ast.Or: ast.And,
}


@dataclass(frozen=True)
class Site:
    """One place a mutant can be made: the index of its node in ``ast.walk`` order, and what the mutant does."""

    index: int
    line: int
    what: str
    function: str = ""
    """The function (``Class.method``) it is in; empty at module level."""


def _functions(tree: ast.AST) -> dict[int, str]:
    """Each node's enclosing function, by ``id``."""
    found: dict[int, str] = {}

    def visit(node: ast.AST, name: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = name
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                inner = f"{name}.{child.name}" if name else child.name
            found[id(child)] = inner
            visit(child, inner)

    visit(tree, "")
    return found


def _protected(tree: ast.AST) -> set[int]:
    """Nodes left alone: inside log calls, assertions and f-strings (a mutant there tests the tests of nothing)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        logging_call = (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "log"
        )
        if logging_call or isinstance(node, ast.Assert | ast.JoinedStr):
            found.update(id(inner) for inner in ast.walk(node))
    return found


def _mutations(node: ast.AST) -> Iterator[str]:
    """The mutants ``node`` allows, by name."""
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _SWAPS:
        yield f"{type(node.ops[0]).__name__}->{_SWAPS[type(node.ops[0])].__name__}"
    elif isinstance(node, ast.BoolOp):
        yield f"{type(node.op).__name__}->{_SWAPS[type(node.op)].__name__}"
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "drop-not"
    elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
        yield f"{node.value}->{not node.value}"
    elif isinstance(node, ast.Constant) and type(node.value) is int and 0 <= node.value <= 10:
        yield f"{node.value}->{node.value + 1}"
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Await):
        yield "drop-await"


def sites(source: str) -> list[Site]:
    tree = ast.parse(source)
    protected = _protected(tree)
    functions = _functions(tree)
    return [
        Site(index, getattr(node, "lineno", 0), what, functions.get(id(node), ""))
        for index, node in enumerate(ast.walk(tree))
        if id(node) not in protected
        for what in _mutations(node)
    ]


def mutate(source: str, site: Site) -> str:
    """``source`` with the mutant ``site`` made."""
    tree = ast.parse(source)
    node = next(n for i, n in enumerate(ast.walk(tree)) if i == site.index)
    if isinstance(node, ast.Compare):
        node.ops = [_SWAPS[type(node.ops[0])]()]  # type: ignore[list-item]
    elif isinstance(node, ast.BoolOp):
        node.op = _SWAPS[type(node.op)]()  # type: ignore[assignment]
    elif isinstance(node, ast.UnaryOp):
        replace_with(tree, node, node.operand)
    elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
        node.value = not node.value
    elif isinstance(node, ast.Constant) and isinstance(node.value, int):
        node.value = node.value + 1
    elif isinstance(node, ast.Expr):
        replace_with(tree, node, ast.Pass())
    return ast.unparse(ast.fix_missing_locations(tree))


def replace_with(tree: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, name, new)
                return
            if isinstance(value, list) and any(item is old for item in value):
                setattr(parent, name, [new if item is old else item for item in value])
                return
    raise ValueError("node not in tree")


@dataclass(frozen=True)
class Outcome:
    path: str
    site: Site
    source_line: str
    killed: bool

    def key(self) -> str:
        """How ``mutants_equivalent.txt`` names it: path, function, the line's code, the mutant (not the line
        number, which every edit above it shifts)."""
        return f"{self.path} | {self.site.function} | {self.source_line} | {self.site.what}"


def _copy(into: Path, repo: Path, copied: Sequence[str]) -> Path:
    into.mkdir(parents=True)
    for name in copied:
        source = repo / name
        if source.is_dir():
            shutil.copytree(
                source, into / name, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        else:
            shutil.copy2(source, into / name)
    return into


def _run_tests(tree: Path, tests: Sequence[str], timeout: float) -> bool:
    """True if the tests pass in ``tree`` (a timeout or a crash counts as failing: the mutant is killed)."""
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--hypothesis-seed=0", *tests]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        done = subprocess.run(command, cwd=tree, env=env, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def equivalent() -> dict[str, str]:
    """The mutants written down as equivalent: key → reason."""
    found: dict[str, str] = {}
    if not EQUIVALENT.exists():
        return found
    for line in EQUIVALENT.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, reason = line.rpartition(" | ")
            found[key.strip()] = reason.strip()
    return found


def run(
    targets: Mapping[str, Sequence[str]],
    *,
    jobs: int,
    repo: Path = REPO,
    copied: Sequence[str] = COPIED,
    only: Mapping[str, Sequence[Site]] | None = None,
) -> list[Outcome]:
    """Every mutant of every target, each run against its tests in a copy of ``repo`` (``copied``: what to copy)."""
    with tempfile.TemporaryDirectory(prefix="rollboot-mutants-") as scratch:
        trees = [_copy(Path(scratch) / f"tree{j}", repo, copied) for j in range(jobs)]
        free = list(trees)
        work: list[tuple[str, Site, str, str, Sequence[str], float]] = []
        for path, tests in targets.items():
            source = (repo / path).read_text(encoding="utf-8")
            began = time.monotonic()
            if not _run_tests(trees[0], tests, timeout=600):
                raise SystemExit(f"the tests of {path} fail without any mutant: {' '.join(tests)}")
            timeout = max(30.0, 5 * (time.monotonic() - began))
            lines = source.splitlines()
            for site in sites(source) if only is None else only[path]:
                work.append((path, site, source, lines[site.line - 1].strip(), tests, timeout))
        print(f"{len(work)} mutants in {len(targets)} modules, {jobs} at a time", flush=True)

        def one(item: tuple[str, Site, str, str, Sequence[str], float]) -> Outcome:
            path, site, source, line, tests, timeout = item
            tree = free.pop()
            try:
                (tree / path).write_text(mutate(source, site), encoding="utf-8")
                killed = not _run_tests(tree, tests, timeout)
            finally:
                (tree / path).write_text(source, encoding="utf-8")
                free.append(tree)
            outcome = Outcome(path, site, line, killed)
            if not killed:
                print(f"survived: {path}:{site.line} {outcome.key()}", flush=True)
            return outcome

        pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs)
        try:
            return list(pool.map(one, work))
        finally:  # stopped (Ctrl-C, SIGTERM): the mutants not begun are dropped, the scratch trees removed
            pool.shutdown(wait=True, cancel_futures=True)


def recheck(log: Path, *, jobs: int) -> int:
    """Run again only the mutants a recorded run reported as survivors (its log's ``survived:`` lines), against the
    tests as they are now, and update ``mutants_score``: tests added since can only kill more. Refused if a
    mutated module changed since the recorded revision (the mutants would not be the same)."""
    results = json.loads(harness.RESULTS.read_text(encoding="utf-8"))
    figure = results["mutants_score"]
    commit = str(figure["revision"]).split()[0]
    changed = subprocess.run(
        ["git", "diff", "--quiet", commit, "--", *figure["modules"]], cwd=REPO, check=False
    ).returncode
    if changed:
        raise SystemExit(f"a mutated module changed since {commit}: run make mutants again")
    wanted: dict[str, list[tuple[int, str]]] = {}
    for text in log.read_text(encoding="utf-8").splitlines():
        if text.startswith("survived: "):
            where, what = text.removeprefix("survived: ").split(" ", 1)[0], text.rsplit(" | ", 1)[1]
            path, line = where.rsplit(":", 1)
            wanted.setdefault(path, []).append((int(line), what))
    selected = {
        path: [s for s in sites((REPO / path).read_text(encoding="utf-8")) if (s.line, s.what) in set(pairs)]
        for path, pairs in wanted.items()
    }
    outcomes = run({path: TARGETS[path] for path in selected}, jobs=jobs, only=selected)
    known = equivalent()
    still = [o for o in outcomes if not o.killed]
    unexplained = [o for o in still if o.key() not in known]
    killed = figure["mutants"] - len(still)
    counted = figure["mutants"] - (len(still) - len(unexplained))
    figure.update(
        value=round(100 * killed / counted, 1),
        killed=killed,
        equivalent=len(still) - len(unexplained),
        survived=len(unexplained),
        rechecked={"survivors": len(outcomes), "killed_now": len(outcomes) - len(still), "date": _now()},
        note=f"survivors of the run rechecked against tests added since, at {harness.revision()}",
    )
    harness.record({"mutants_score": figure})
    print(f"rechecked {len(outcomes)}: {len(outcomes) - len(still)} killed now; score {figure['value']}%")
    for outcome in unexplained:
        print(f"  not killed, not explained: {outcome.key()}")
    return 1 if unexplained else 0


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="mutants run side by side (default 2)")
    parser.add_argument("--module", action="append", help="only this module (repeatable); default every target")
    parser.add_argument("--record", action="store_true", help="record the score in bench/results.json")
    parser.add_argument("--recheck", type=Path, help="rerun only the survivors a recorded run's log names")
    args = parser.parse_args(argv)
    if args.recheck:
        return recheck(args.recheck, jobs=max(1, args.jobs))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    targets = {path: tests for path, tests in TARGETS.items() if not args.module or path in args.module}
    load = [round(x, 2) for x in os.getloadavg()]  # at the start, as bench/RESULTS.md reports every figure's load
    began = time.monotonic()
    outcomes = run(targets, jobs=max(1, args.jobs))
    known = equivalent()
    survivors = [o for o in outcomes if not o.killed]
    unexplained = [o for o in survivors if o.key() not in known]
    counted = len(outcomes) - (len(survivors) - len(unexplained))
    killed = sum(o.killed for o in outcomes)
    score = round(100 * killed / counted, 1) if counted else 100.0
    minutes = (time.monotonic() - began) / 60
    print(
        f"{len(outcomes)} mutants: {killed} killed, {len(survivors) - len(unexplained)} equivalent, "
        f"{len(unexplained)} survived; score {score}% in {minutes:.1f} min"
    )
    for outcome in unexplained:
        print(f"  not killed, not explained: {outcome.key()}")
    if args.record and not args.module:
        harness.record(
            {
                "mutants_score": {
                    "value": score,
                    "unit": "%",
                    "mutants": len(outcomes),
                    "killed": killed,
                    "equivalent": len(survivors) - len(unexplained),
                    "survived": len(unexplained),
                    "minutes": round(minutes, 1),
                    "jobs": args.jobs,
                    "load": load,
                    "modules": sorted(targets),
                    "command": "make mutants",
                    "date": _now(),
                    "machine": harness.machine(),
                    "revision": harness.revision(),
                }
            }
        )
    return 1 if unexplained else 0


if __name__ == "__main__":
    raise SystemExit(main())
