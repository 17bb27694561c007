"""docs/runbooks.md, run: every command of every ``console`` block, and every ``yaml`` block applied, section by
section, against the real operator on the real API server, in a cluster set up so that each runbook has its case
(a node stuck draining, one to skip, one to reboot now, a policy halted on its failure budget).

The commands run as written, through bash, with ``NODE`` and ``POLICY`` set and with ``rollboot-system`` replaced by
the test's own namespace (the operator is started with ``--namespace`` pointing there).
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client

from hack.nodesim.simulator import NodeBehaviour
from tests.integration.conftest import Cluster
from tests.integration.rollout import Rig, pinned_replicaset

RUNBOOKS = Path(__file__).resolve().parents[2] / "docs" / "runbooks.md"
BLOCK = re.compile(r"^```(console|yaml)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def sections() -> dict[str, list[tuple[str, str]]]:
    """Each ``## `` section's blocks, in order: ("console", one command) or ("yaml", a document)."""
    found: dict[str, list[tuple[str, str]]] = {}
    for part in re.split(r"^## ", RUNBOOKS.read_text(), flags=re.MULTILINE)[1:]:
        title, _, body = part.partition("\n")
        blocks: list[tuple[str, str]] = []
        for kind, text in BLOCK.findall(body):
            if kind == "yaml":
                blocks.append(("yaml", text))
            else:
                blocks.extend(("console", line[2:]) for line in text.splitlines() if line.startswith("$ "))
        found[title.strip()] = blocks
    return found


async def run_section(cluster: Cluster, namespace: str, blocks: list[tuple[str, str]], **env: str) -> list[str]:
    """Run one runbook's blocks; each must succeed. Returns what each command printed. Asynchronously: the node
    simulator lives in this test's event loop, and a reboot needs it while ``kubectl wait`` waits."""
    path = os.pathsep.join([str(cluster.kubectl_path.parent), str(Path(sys.executable).parent), os.environ["PATH"]])
    environment = {**os.environ, "PATH": path, "KUBECONFIG": str(cluster.kubeconfig), **env}
    printed = []
    for kind, text in blocks:
        text = text.replace("rollboot-system", namespace)
        command = ["kubectl", "apply", "-f", "-"] if kind == "yaml" else ["bash", "-euo", "pipefail", "-c", text]
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=environment,
        )
        async with asyncio.timeout(660):
            out, err = await process.communicate((text if kind == "yaml" else "").encode())
        assert process.returncode == 0, f"{kind} block failed: {text}\n{out.decode()}\n{err.decode()}"
        printed.append(out.decode())
    return printed


def test_every_runbook_has_commands_and_the_six_runbooks_are_there() -> None:
    found = sections()
    for title in (
        "Stop everything now",
        "Resume",
        "A node to skip",
        "A node to reboot now",
        "A node stuck in a phase",
        "A policy halted on its failure budget",
    ):
        assert any(kind == "console" for kind, _ in found[title]), title


async def _until(rig: Rig, what: str, check: Any, timeout: float = 60) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not await check():
                await asyncio.sleep(0.3)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}: {await rig.requests()}\n{rig.dump()}") from None


async def test_the_runbooks_work_as_written(rig: Rig, cluster: Cluster, namespace: str, unique: str) -> None:
    found = sections()
    stall, skip, now = f"rb-{unique}-stall", f"rb-{unique}-skip", f"rb-{unique}-now"
    failing = f"rb-{unique}-fail"
    await rig.add_nodes([stall, skip, now], labels={"pool": unique})
    await rig.add_nodes([failing], labels={"pool": f"{unique}-h"}, behaviour=NodeBehaviour(never_returns=True))
    await pinned_replicaset(rig.api, namespace, stall, min_available=1)
    base = {"reboot": {"timeout": "60s", "soak": "0s"}, "drain": {"timeout": "300s"}, "maxConcurrent": 1}
    await rig.apply_policy(unique, {**base, "nodeSelector": {"matchLabels": {"pool": unique}}})
    halting = f"{unique}-h"
    # Its node never comes back: its cycle fails 5 s after the approval, and the policy halts.
    await rig.apply_policy(
        halting, {**base, "reboot": {"timeout": "5s", "soak": "0s"}, "nodeSelector": {"matchLabels": {"pool": halting}}}
    )
    rig.start_operator("--namespace", namespace)
    rig.sim.require_reboot(stall, ["linux-image"])
    await rig.wait_phases([stall], {"Draining"}, timeout=60)
    rig.sim.require_reboot(skip, ["linux-image"])
    rig.sim.require_reboot(failing, ["linux-image"])
    await rig.wait_phases([skip], {"Waiting"}, timeout=60)
    await rig.wait_phases([failing], {"Failed"}, timeout=60)

    async def reason(node: str) -> str | None:
        status = (await rig.requests())[node].get("status") or {}
        waiting = [c for c in status.get("conditions") or [] if c["type"] == "Waiting" and c["status"] == "True"]
        return waiting[0]["reason"] if waiting else None

    await run_section(cluster, namespace, found["Stop everything now"])

    async def stopped() -> bool:
        return await reason(skip) == "Stopped"

    await _until(rig, "the stop", stopped)

    await run_section(cluster, namespace, found["Resume"])

    async def resumed() -> bool:
        return await reason(skip) == "Queued"

    await _until(rig, "the resume", resumed)

    await run_section(cluster, namespace, found["A node to skip"], NODE=skip)
    annotations = (await client.CoreV1Api(rig.api).read_node(skip)).metadata.annotations or {}
    assert "rollboot.dev/skip" not in annotations

    printed = await run_section(cluster, namespace, found["A node stuck in a phase"], NODE=stall)
    assert "web" in printed[2], "the drain's blocking pod is named"
    assert not (await client.CoreV1Api(rig.api).read_node(stall)).spec.unschedulable

    boot = rig.sim.boot_id(now)
    await run_section(cluster, namespace, found["A node to reboot now"], NODE=now)
    assert rig.sim.boot_id(now) != boot

    halted = await rig.policy(halting)
    assert [c["status"] for c in halted["status"]["conditions"] if c["type"] == "Halted"] == ["True"]
    printed = await run_section(cluster, namespace, found["A policy halted on its failure budget"], POLICY=halting)
    assert failing in printed[1]
