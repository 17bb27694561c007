"""The core decides and never acts: it imports no Kubernetes client, no network, no file or process access, and
never reads the clock. A small AST walk keeps it so."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import reboot_operator.api
import reboot_operator.core

CORE = Path(reboot_operator.core.__file__).parent
API = Path(reboot_operator.api.__file__).parent

FORBIDDEN_MODULES = {
    "kopf",
    "kubernetes_asyncio",
    "aiohttp",
    "asyncio",
    "httpx",
    "requests",
    "urllib",
    "http",
    "socket",
    "ssl",
    "subprocess",
    "os",
    "pathlib",
    "shutil",
    "io",
    "time",
    "random",
    "threading",
    "logging",
    "yaml",
}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "time", "monotonic", "open", "print", "input"}
# The API models are imported by the core, so they are held to the same rule, except the CRD generator (a tool).
CHECKED = sorted(CORE.glob("*.py")) + sorted(p for p in API.glob("*.py") if p.name != "crdgen.py")


def _imports(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_module_imports_nothing_that_does_io(path: Path) -> None:
    imported = _imports(ast.parse(path.read_text(encoding="utf-8")))
    bad = {name for name in imported if name.split(".")[0] in FORBIDDEN_MODULES}
    assert not bad, f"{path.name} imports {sorted(bad)}"
    ours = {name for name in imported if name.startswith("reboot_operator")}
    allowed = ("reboot_operator.api", "reboot_operator.core")
    assert all(name.startswith(allowed) and name != "reboot_operator.api.crdgen" for name in ours), ours


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_module_never_reads_the_clock_or_touches_files(path: Path) -> None:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            function = node.func
            name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
            assert name not in FORBIDDEN_CALLS, f"{path.name}:{node.lineno} calls {name}()"


def test_the_walk_would_catch_a_forbidden_import() -> None:
    assert _imports(ast.parse("import kopf\nfrom kubernetes_asyncio import client\n")) == {
        "kopf",
        "kubernetes_asyncio",
    }
