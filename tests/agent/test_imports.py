"""The agent is lightweight by construction: it imports the standard library and itself, nothing else."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "sentinel_agent"


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_the_agent_imports_only_the_standard_library_and_itself() -> None:
    allowed = set(sys.stdlib_module_names) | {"sentinel_agent"}
    offenders = {
        str(path.relative_to(PACKAGE.parent)): sorted(imported_roots(path) - allowed)
        for path in sorted(PACKAGE.rglob("*.py"))
    }

    assert {path: roots for path, roots in offenders.items() if roots} == {}


def test_the_walk_sees_every_module() -> None:
    assert len(list(PACKAGE.rglob("*.py"))) >= 20
    assert "http" in imported_roots(PACKAGE / "kube" / "client.py")
