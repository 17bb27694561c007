"""The effects layer stands on ``runtime``, ``core`` and ``api`` alone (docs/architecture.md): no Kopf, no pydantic
of its own, nothing from the operator's higher layers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

KUBE = Path(__file__).resolve().parents[2] / "reboot_operator" / "kube"
HIGHER = (
    "handlers",
    "watch",
    "rollout",
    "coordinator",
    "blockers",
    "notify",
    "plugin",
    # Loose modules of the higher layers, until they move into their folders:
    "informers",
    "observed",
    "statuses",
    "leadership",
    "cycle",
    "slots",
    "interventions",
    "taints",
    "announce",
    "drain_progress",
)
FORBIDDEN = ("kopf", "pydantic", *(f"reboot_operator.{name}" for name in HIGHER))


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", sorted(KUBE.glob("*.py")), ids=lambda p: p.name)
def test_kube_modules_import_neither_kopf_nor_a_higher_layer(module: Path) -> None:
    offending = {name for name in imported_modules(module) if name.startswith(FORBIDDEN)}
    assert offending == set()
