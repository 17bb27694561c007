"""docs/install.md and the chart's values agree: every value the guide names exists, and every group of values is in
the guide (each single value is in the chart's generated README: tests/manifests/test_chart_docs.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml

from tests.manifests.render import CHART, REPO

GUIDE = (REPO / "docs" / "install.md").read_text()
VALUES: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())


def _paths(values: dict[str, Any], prefix: str = "", depth: int = 2) -> Iterator[str]:
    for key, value in values.items():
        path = f"{prefix}{key}"
        yield path
        if isinstance(value, dict) and depth > 1 and value and not path.endswith(("resources", "nodeSelector")):
            yield from _paths(value, f"{path}.", depth - 1)


def _exists(path: str) -> bool:
    node: Any = VALUES
    for part in path.split("."):
        if part == "*":
            return isinstance(node, dict)
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def test_every_value_the_guide_names_exists() -> None:
    groups = "|".join(key for key, value in VALUES.items() if isinstance(value, dict) and value)
    named = set(re.findall(rf"`((?:{groups})\.[A-Za-z.*]+)`", GUIDE))
    assert named, "the guide names no chart values"
    assert sorted(path for path in named if not _exists(path)) == []


def test_every_top_level_value_is_in_the_guide() -> None:
    missing = [path for path in _paths(VALUES, depth=1) if f"`{path}" not in GUIDE]
    assert missing == []
