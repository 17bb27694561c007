"""``make demo`` in its smoke mode: the README's first command works end to end and leaves nothing running."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _our_processes() -> set[int]:
    """PIDs of the demo's control-plane binaries, agents and operator: all of them name a file in its work folder
    (``rollboot-demo-*``), which tells them from those of tests or benchmarks running beside it."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "rollboot-demo-" in cmdline:
            found.add(int(entry.name))
    return found


def test_the_demo_smoke_run_reboots_every_node_and_cleans_up() -> None:
    before = _our_processes()
    result = subprocess.run(
        [sys.executable, "-m", "hack.demo", "--smoke"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Rebooted 4 of 4 nodes" in result.stdout, result.stdout
    assert "Every kernel changed: yes" in result.stdout
    assert "Longest wait:" in result.stdout
    leftovers = _our_processes() - before
    assert not leftovers, f"the demo left processes behind: {leftovers}"
