"""docs/architecture.md names every module of the operator once, and no module that is gone."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "reboot_operator"


def test_the_module_table_lists_exactly_the_operators_modules() -> None:
    text = (REPO / "docs" / "architecture.md").read_text()
    listed = re.findall(r"^\| `([\w/]+\.py)` \|", text, flags=re.M)
    modules = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py" and path.relative_to(PACKAGE).as_posix() != "plugin/__main__.py"
    )
    assert len(listed) == len(set(listed)), "a module is listed twice"
    assert sorted(listed) == modules
