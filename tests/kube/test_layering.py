"""The effects layer stands alone: no Kopf, no pydantic models, nothing from the operator's higher layers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

KUBE = Path(__file__).resolve().parents[2] / "reboot_operator" / "kube"
FORBIDDEN = ("kopf", "pydantic", "reboot_operator.api", "reboot_operator.core", "reboot_operator.handlers")


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
def test_kube_modules_import_neither_kopf_nor_the_models(module: Path) -> None:
    offending = {name for name in imported_modules(module) if name.startswith(FORBIDDEN)}
    assert offending == set()
