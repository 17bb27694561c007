"""The metrics endpoint of the real operator process, scraped during and after a rollout on the local control
plane, and the Grafana dashboard checked against what it serves."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.integration.rollout import Rig
from tests.integration.servers import free_port

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def _scraped(port: int, timeout: float = 30) -> Samples:
    async with asyncio.timeout(timeout):
        while True:
            try:
                return await asyncio.to_thread(_scrape, port)
            except OSError:
                await asyncio.sleep(0.2)


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def names_in_dashboard() -> set[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    return {name for expr in exprs for name in re.findall(r"\brollboot_[a-z_]+\b", expr)}


async def test_metrics_follow_a_rollout_and_the_dashboard_queries_only_what_exists(rig: Rig, unique: str) -> None:
    nodes = [f"metrics-a-{unique}", f"metrics-b-{unique}"]
    port = free_port()
    await rig.add_nodes(nodes, labels={"pool": unique})
    spec: dict[str, object] = {
        "nodeSelector": {"matchLabels": {"pool": unique}},
        "maxConcurrent": 1,
        "paused": True,
        "reboot": {"timeout": "60s", "soak": "0s"},
        "drain": {"timeout": "60s"},
        "failureBudget": {"maxFailures": 3},
    }
    await rig.apply_policy(unique, spec)
    rig.start_operator("--metrics-port", str(port))
    for node in nodes:
        rig.sim.require_reboot(node)

    async with asyncio.timeout(30):
        while True:
            before = await _scraped(port)
            required = all(value(before, "rollboot_reboot_required", node=n) == 1 for n in nodes)
            waiting = value(before, "rollboot_policy_waiting", policy=unique) == 2
            if required and waiting and (value(before, "rollboot_requests", phase="Waiting") or 0) >= 2:
                break
            await asyncio.sleep(0.3)
    assert value(before, "rollboot_operator_active") == 1
    assert value(before, "rollboot_policy_blocked", policy=unique, reason="Paused") == 1
    assert value(before, "rollboot_policy_window_open", policy=unique) == 1
    assert value(before, "rollboot_policy_selected_nodes", policy=unique) == 2
    assert value(before, "rollboot_failure_budget_remaining", policy=unique) == 3
    assert value(before, "rollboot_policy_halted", policy=unique) == 0
    for node in nodes:
        since = value(before, "rollboot_reboot_required_since_seconds", node=node)
        assert since is not None and since > 1.7e9

    await rig.patch_policy(unique, {"paused": False})
    await rig.wait_phases(nodes, {"Completed"}, timeout=90)
    async with asyncio.timeout(30):
        while True:
            after = await _scraped(port)
            withdrawn = all(value(after, "rollboot_reboot_required", node=n) == 0 for n in nodes)
            # The gauges of the policy come from the last decision, which follows the watch by a pass.
            if withdrawn and value(after, "rollboot_policy_in_progress", policy=unique) == 0:
                break  # the agents withdrew their requests (the sentinel is gone) and nothing is in progress
            await asyncio.sleep(0.3)
    assert value(after, "rollboot_reboots_total", policy=unique, result="Completed") == 2
    assert value(after, "rollboot_cycle_duration_seconds_count", policy=unique) == 2
    assert value(after, "rollboot_drain_duration_seconds_count", policy=unique) == 2
    assert value(after, "rollboot_handoff_seconds_count", policy=unique) == 1, "one hand-off between two nodes"
    handoff = value(after, "rollboot_handoff_seconds_sum", policy=unique)
    assert handoff is not None and 0 <= handoff < 5, handoff
    assert value(after, "rollboot_policy_blocked", policy=unique, reason="Paused") is None
    assert value(after, "rollboot_reboot_required_since_seconds", node=nodes[0]) is None

    served = {name for name, _ in before} | {name for name, _ in after}
    missing = sorted(names_in_dashboard() - served)
    assert not missing, f"the dashboard queries metrics the operator does not serve: {missing}"
