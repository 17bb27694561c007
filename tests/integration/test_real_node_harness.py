"""The real-node harness leaves nothing behind: stopped by Ctrl-C, or killed outright (a killed test run).

``python -m hack.realnodes up`` runs as a user would run it; what a node leaves on this machine is looked for where
it would be: processes in the node's cgroups, the cgroup folders, the bridges, the KUBE-* iptables chains.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hack.realnodes import cgroups, network
from hack.realnodes.cluster import control_plane_leftovers, reap_leftovers

REPO = Path(__file__).resolve().parents[2]


def _links() -> set[str]:
    listed = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in listed.splitlines()}


def _kube_chains() -> list[str]:
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
    return [line for line in rules.splitlines() if "KUBE-" in line]


def _left_behind() -> dict[str, object]:
    roots = cgroups.node_roots()
    return {
        "control-plane processes": control_plane_leftovers(),
        "node processes": sorted(pid for root in roots for pid in cgroups.pids(root)),
        "node cgroups": roots,
        "interfaces": sorted(_links() & {network.HOLDER, "rbbr1"}),
        "KUBE-* iptables lines": _kube_chains(),
    }


@pytest.fixture
def harness() -> Iterator[subprocess.Popen[str]]:
    reap_leftovers()
    process = subprocess.Popen(
        [sys.executable, "-m", "hack.realnodes", "up", "--nodes", "1"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    output = []
    assert process.stdout is not None
    deadline = time.monotonic() + 600
    for line in process.stdout:
        output.append(line)
        if "Press Ctrl-C" in line:
            break
        assert time.monotonic() < deadline, "".join(output)
    else:
        raise AssertionError("the harness ended before its node was Ready:\n" + "".join(output))
    assert any("rollboot-node-1: " in line and "MB resident" in line for line in output), "".join(output)
    kubeconfig = next(line.split("=", 1)[1].strip() for line in output if line.startswith("export KUBECONFIG="))
    yield process
    if process.poll() is None:
        process.kill()
        process.wait()
    reap_leftovers()
    # A killed harness leaves its folder (it holds the logs); the test removes it.
    shutil.rmtree(Path(kubeconfig).parents[1], ignore_errors=True)


def _wait_until_clean(timeout: float) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        left = _left_behind()
        if not any(left.values()) or time.monotonic() > deadline:
            return left
        time.sleep(0.5)


def test_ctrl_c_stops_the_nodes_and_removes_everything(harness: subprocess.Popen[str]) -> None:
    assert cgroups.pids(cgroups.node_roots()[0]), "a running node has processes in its cgroups"
    harness.send_signal(signal.SIGINT)
    assert harness.wait(120) == 0
    assert not any((left := _left_behind()).values()), left


def test_a_killed_harness_takes_its_nodes_with_it(harness: subprocess.Popen[str]) -> None:
    [root] = cgroups.node_roots()
    assert cgroups.pids(root)
    harness.kill()  # no clean-up of its own: as when a test run is killed
    harness.wait()
    deadline = time.monotonic() + 30
    while cgroups.pids(root):
        assert time.monotonic() < deadline, f"node processes outlived the harness: {sorted(cgroups.pids(root))}"
        time.sleep(0.2)
    # The next run (or `python -m hack.realnodes clean`) removes the rest.
    reap_leftovers()
    assert not any((left := _left_behind()).values()), left
