"""The chart's README, generated from the comments of its values.yaml (helm-docs' convention, our own code).

A comment block whose first line starts with ``# --`` and a space documents the key right below it; its other lines
continue the description. A documented key is one row of the table (its children, if any, are part of its default); an
undocumented mapping is walked into. Every other key (a leaf nobody documented) is an error, so a value cannot be
added without a description. The text around the table is ``manifests/chart/README.md.in``, where ``@VALUES@``,
``@VERSION@`` and ``@APP_VERSION@`` are replaced.

    python -m hack.chartdocs           # rewrite manifests/chart/README.md
    python -m hack.chartdocs --check   # exit 1 if it is stale (tests/manifests/test_chart_docs.py does the same)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "manifests" / "chart"
_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.-]+):(?:\s|$)")
_MARK = re.compile(r"^# --(?:\s|$)")


@dataclass(frozen=True)
class Row:
    """One documented value: its dotted path, type, default (as JSON) and description."""

    path: str
    type: str
    default: str
    description: str


class UndocumentedError(ValueError):
    """values.yaml has keys without a ``# --`` description."""


def _type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "null" if value is None else type(value).__name__


def _lookup(values: Any, path: list[str]) -> Any:
    for part in path:
        values = values[part]
    return values


def rows(text: str) -> tuple[list[Row], list[str]]:
    """The documented values of a values.yaml, in file order, and the paths of the undocumented leaves."""
    values = yaml.safe_load(text) or {}
    documented: list[Row] = []
    undocumented: list[str] = []
    stack: list[tuple[int, str, bool]] = []  # (indent, key, documented) of the keys enclosing the current line
    comment: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comment.append(stripped)
            continue
        match = _KEY.match(line)
        if not match or not stripped:
            comment = []
            continue
        indent, key = len(match["indent"]), match["key"]
        while stack and stack[-1][0] >= indent:
            stack.pop()
        inside_documented = any(flag for _, _, flag in stack)
        path = [k for _, k, _ in stack] + [key]
        description = _description(comment)
        comment = []
        stack.append((indent, key, description is not None))
        if inside_documented:
            continue
        value = _lookup(values, path)
        dotted = ".".join(path)
        if description is not None:
            default = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
            documented.append(Row(path=dotted, type=_type(value), default=default, description=description))
        elif not (isinstance(value, dict) and value):
            undocumented.append(dotted)
    return documented, undocumented


def _description(comment: list[str]) -> str | None:
    """The text of a comment block that starts (at its last ``# --`` line) a description, else None."""
    starts = [i for i, line in enumerate(comment) if _MARK.match(line)]
    if not starts:
        return None
    lines = comment[starts[-1] :]
    words = [_MARK.sub("", lines[0]).strip()] + [line.lstrip("#").strip() for line in lines[1:]]
    return " ".join(word for word in words if word)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;")


def table(documented: list[Row]) -> str:
    lines = ["| Key | Type | Default | Description |", "|-----|------|---------|-------------|"]
    for row in documented:
        lines.append(f"| `{row.path}` | {row.type} | `{_cell(row.default)}` | {_cell(row.description)} |")
    return "\n".join(lines)


def render(chart: Path = CHART) -> str:
    """The README the chart's values.yaml, Chart.yaml and README.md.in make; raise if a value is undocumented."""
    documented, undocumented = rows((chart / "values.yaml").read_text())
    if undocumented:
        raise UndocumentedError(f"{chart / 'values.yaml'}: no '# --' description for {', '.join(undocumented)}")
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    template = (chart / "README.md.in").read_text()
    return (
        template.replace("@VALUES@", table(documented))
        .replace("@VERSION@", str(meta["version"]))
        .replace("@APP_VERSION@", str(meta["appVersion"]))
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hack.chartdocs", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if manifests/chart/README.md is stale")
    args = parser.parse_args(argv)
    readme = CHART / "README.md"
    wanted = render()
    if args.check:
        if not readme.exists() or readme.read_text() != wanted:
            print(f"{readme.relative_to(REPO)} is stale: run python -m hack.chartdocs", file=sys.stderr)
            return 1
        return 0
    readme.write_text(wanted)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
