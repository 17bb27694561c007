"""Running the ``kubectl`` the plugin was started by: the caller's kubeconfig, context and rights, nothing more."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from typing import Any


class KubectlError(Exception):
    """kubectl failed; its message says why (forbidden, not found, no cluster)."""


@dataclass(frozen=True)
class Kubectl:
    """``kubectl`` with the connection flags the plugin was given (``--kubeconfig``, ``--context``)."""

    flags: tuple[str, ...] = ()
    binary: str = field(default_factory=lambda: os.environ.get("KUBECTL", "kubectl"))

    def run(self, *args: str) -> str:
        result = subprocess.run([self.binary, *self.flags, *args], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise KubectlError(result.stderr.strip() or f"kubectl {' '.join(args)} failed ({result.returncode})")
        return result.stdout

    def json(self, *args: str) -> Any:
        """The JSON kubectl prints for ``args`` (``-o json`` added); None when it printed nothing."""
        out = self.run(*args, "-o", "json")
        return json.loads(out) if out.strip() else None

    def items(self, *args: str) -> list[dict[str, Any]]:
        listed = self.json("get", *args)
        return list((listed or {}).get("items") or [])
