"""Run rollboot's Argo CD health checks (manifests/argocd/health/*.lua) the way Argo CD does.

Argo CD runs a health script in gopher-lua, a Lua 5.1, with the object as the global ``obj`` (JSON objects and
arrays as tables) and reads ``status`` and ``message`` from the table it returns. Here the script runs in a real
Lua 5.1 (lupa) with the libraries Argo CD leaves out (io, os, require, ...) removed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import lupa.lua51 as lua51  # type: ignore[import-untyped]  # no stubs in the dev dependencies

from tests.manifests.render import MANIFESTS

HEALTH = MANIFESTS / "argocd" / "health"
STATUSES = frozenset({"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"})
_SANDBOX = "io = nil; os = nil; require = nil; dofile = nil; loadfile = nil; debug = nil; package = nil"


class Health(NamedTuple):
    status: str
    message: str


def script(kind: str) -> Path:
    return HEALTH / f"{kind}.lua"


def health(kind: str, obj: dict[str, Any]) -> Health:
    """What Argo CD would show for ``obj`` of ``kind``."""
    runtime = lua51.LuaRuntime(unpack_returned_tuples=False)
    runtime.execute(_SANDBOX)
    runtime.globals().obj = runtime.table_from(obj, recursive=True)
    result = runtime.execute(script(kind).read_text())
    status, message = result["status"], result["message"]
    assert status in STATUSES, f"{kind} health script returned status {status!r}"
    assert isinstance(message, str) and message, f"{kind} health script returned no message"
    return Health(status=str(status), message=message)
