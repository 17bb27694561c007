"""Blockers, end to end: a real Prometheus whose alert the test switches on and off, pods on a node, and the
reboot-pending taint on waiting nodes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client

from tests.integration.replay import recording
from tests.integration.rollout import Rig, told
from tests.integration.servers import Prometheus, free_port, prometheus

TTL = ("--blocker-ttl", "2")


@pytest.fixture
def prom(tmp_path: Path) -> Iterator[Prometheus]:
    with prometheus(tmp_path / "prometheus") as server:
        yield server


def _spec(pool: str, **extra: object) -> dict[str, object]:
    spec: dict[str, object] = {
        "nodeSelector": {"matchLabels": {"pool": pool}},
        "maxConcurrent": 1,
        "reboot": {"timeout": "60s", "soak": "0s"},
        "drain": {"timeout": "60s"},
    }
    spec.update(extra)
    return spec


def _condition(policy: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in policy.get("status", {}).get("conditions", []) if c["type"] == kind)


async def _wait(rig: Rig, predicate: Any, what: str, timeout: float = 60) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not await predicate():
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}\n{rig.dump()}") from None


async def _tainted(api: client.ApiClient, node: str) -> bool:
    taints = (await client.CoreV1Api(api).read_node(node)).spec.taints or []
    return any(t.key == "rollboot.dev/reboot-pending" and t.effect == "PreferNoSchedule" for t in taints)


async def test_a_firing_alert_holds_the_rollout_back_until_it_resolves(rig: Rig, unique: str, prom: Prometheus) -> None:
    nodes = [f"alert-a-{unique}", f"alert-b-{unique}"]
    prom.exporter.set("rollboot_test_alarm", 1)
    prom.exporter.set("rollboot_test_ignored", 1)  # filtered out by alertFilterRegexp: never blocks
    await asyncio.to_thread(prom.wait_alerts, {"RollbootTestAlarm", "IgnoredTestAlarm"})
    await rig.add_nodes(nodes, labels={"pool": unique})
    blockers = {"prometheus": {"url": prom.url, "alertFilterRegexp": "^Ignored"}}
    await rig.apply_policy(unique, _spec(unique, blockers=blockers, preferNoScheduleTaint=True))
    async with recording(rig.api) as firing:
        rig.start_operator(*TTL)
        for node in nodes:
            rig.sim.require_reboot(node)

        async def blocked() -> bool:
            policy = await rig.policy(unique)
            condition = _condition(policy, "Blocked") if policy.get("status") else {}
            return condition.get("status") == "True" and condition.get("reason") == "Blocked"

        await _wait(rig, blocked, "the policy to be Blocked")
        condition = _condition(await rig.policy(unique), "Blocked")
        assert "RollbootTestAlarm (firing)" in condition["message"], condition
        assert "IgnoredTestAlarm" not in condition["message"], condition
        # The policy can be Blocked before the second agent's request arrived: both are told once they are seen.
        await rig.wait_phases(nodes, {"Waiting"}, timeout=30)

        async def both_told() -> bool:
            requests = await rig.requests()
            return all("RollbootTestAlarm" in (requests[n].get("status") or {}).get("message", "") for n in nodes)

        await _wait(rig, both_told, "both waiting requests to name the alert")

        async def both_tainted() -> bool:
            return all([await _tainted(rig.api, n) for n in nodes])

        await _wait(rig, both_tainted, "the reboot-pending taint on the waiting nodes")
        await asyncio.sleep(3)  # a few re-checks (TTL) while the alert still fires
    # Every change while the alert fired, not a sample at the end: no cycle started.
    assert firing.replay(set(nodes)).starts == {}
    assert set((await rig.phases(nodes)).values()) == {"Waiting"}
    await told(rig.api, unique, "Blocked", kind="RebootPolicy")

    prom.exporter.set("rollboot_test_alarm", 0)
    async with recording(rig.api) as resolved:
        await rig.wait_phases(nodes, {"Completed"}, timeout=90)
    replay = resolved.replay(set(nodes))
    assert replay.most_in_progress == {unique: 1}, replay
    assert replay.starts == dict.fromkeys(nodes, 1), replay
    assert _condition(await rig.policy(unique), "Blocked")["status"] == "False"
    events = await told(rig.api, unique, "Blocked", "Unblocked", kind="RebootPolicy")
    assert events.index("Blocked") < events.index("Unblocked"), events
    for node in nodes:
        assert not await _tainted(rig.api, node), f"{node} kept the reboot-pending taint"


async def test_an_unreachable_prometheus_blocks_and_says_why(rig: Rig, unique: str) -> None:
    node = f"noprom-{unique}"
    await rig.add_nodes([node], labels={"pool": unique})
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    await rig.apply_policy(unique, _spec(unique, blockers={"prometheus": {"url": url}}))
    rig.start_operator(*TTL)
    rig.sim.require_reboot(node)

    async def says_why() -> bool:
        status = (await rig.requests()).get(node, {}).get("status", {})
        return "cannot query Prometheus" in str(status.get("message"))

    await _wait(rig, says_why, "the request to say Prometheus cannot be queried")
    await asyncio.sleep(3)
    assert (await rig.phases([node]))[node] == "Waiting"
    assert rig.sim.reboot_count(node) == 0
    condition = _condition(await rig.policy(unique), "Blocked")
    assert condition["reason"] == "Blocked" and url in condition["message"], condition


async def _blocking_pod(api: client.ApiClient, namespace: str, node: str, name: str) -> None:
    core = client.CoreV1Api(api)
    await core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": name, "labels": {"rollboot-test/blocks": "yes"}},
            "spec": {
                "nodeName": node,
                "terminationGracePeriodSeconds": 0,
                "containers": [{"name": "app", "image": "registry.invalid/batch:1"}],
            },
        },
    )


async def test_a_node_with_a_blocking_pod_is_passed_over_and_the_next_takes_the_slot(
    rig: Rig, namespace: str, unique: str
) -> None:
    first, second = f"pods-a-{unique}", f"pods-b-{unique}"
    await rig.add_nodes([first, second], labels={"pool": unique})
    await _blocking_pod(rig.api, namespace, first, "batch-job")
    await client.CoreV1Api(rig.api).patch_namespace(namespace, {"metadata": {"labels": {"rollboot-test/ns": unique}}})
    pods = [
        {
            "labelSelector": {"matchLabels": {"rollboot-test/blocks": "yes"}},
            "namespaceSelector": {"matchLabels": {"rollboot-test/ns": unique}},
        }
    ]
    await rig.apply_policy(unique, _spec(unique, blockers={"pods": pods}, drain={"timeout": "60s", "force": True}))
    rig.start_operator(*TTL)
    rig.sim.require_reboot(first)
    await asyncio.sleep(0.5)
    rig.sim.require_reboot(second)

    await rig.wait_phases([second], {"Completed"}, timeout=90)
    request = (await rig.requests())[first]
    assert request["status"]["phase"] == "Waiting", request["status"]
    assert f"{namespace}/batch-job" in request["status"]["message"], "the blocked node stays blocked meanwhile"
    blocked = next(c for c in request["status"]["conditions"] if c["type"] == "Blocked")
    assert blocked["status"] == "True" and blocked["reason"] == "BlockingPods"
    policy = await rig.policy(unique)
    assert _condition(policy, "Blocked")["status"] == "True"
    assert f"{first}: blocking pods on the node: {namespace}/batch-job" in _condition(policy, "Blocked")["message"]
    await told(rig.api, first, "Blocked")
    assert rig.sim.reboot_count(first) == 0

    await client.CoreV1Api(rig.api).delete_namespaced_pod("batch-job", namespace, grace_period_seconds=0)
    await rig.wait_phases([first], {"Completed"}, timeout=90)
    events = await told(rig.api, first, "Blocked", "Unblocked", "Cordoned")
    assert events.index("Blocked") < events.index("Unblocked") < events.index("Cordoned"), events


async def test_pods_outside_the_namespace_selector_never_block(rig: Rig, namespace: str, unique: str) -> None:
    node = f"pods-c-{unique}"
    await rig.add_nodes([node], labels={"pool": unique})
    await _blocking_pod(rig.api, namespace, node, "elsewhere")  # its namespace lacks the selected label
    pods = [
        {
            "labelSelector": {"matchLabels": {"rollboot-test/blocks": "yes"}},
            "namespaceSelector": {"matchLabels": {"rollboot-test/ns": f"other-{unique}"}},
        }
    ]
    await rig.apply_policy(unique, _spec(unique, blockers={"pods": pods}, drain={"timeout": "60s", "force": True}))
    rig.start_operator(*TTL)
    rig.sim.require_reboot(node)
    await rig.wait_phases([node], {"Completed"}, timeout=90)


async def test_reboot_now_passes_a_closed_window_but_not_a_prometheus_blocker(rig: Rig, unique: str) -> None:
    # The window is closed, so without a reboot-now nobody would ask Prometheus; a reboot-now must be asked about.
    node = f"nowprom-{unique}"
    await rig.add_nodes([node], labels={"pool": unique})
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there: blocked, and says why
    closed = [{"schedule": "@yearly", "duration": "1m"}]
    await rig.apply_policy(unique, _spec(unique, maintenanceWindows=closed, blockers={"prometheus": {"url": url}}))
    await client.CoreV1Api(rig.api).patch_node(node, {"metadata": {"annotations": {"rollboot.dev/reboot-now": ""}}})
    rig.start_operator(*TTL)
    rig.sim.require_reboot(node)

    async def says_why() -> bool:
        status = (await rig.requests()).get(node, {}).get("status", {})
        return "cannot query Prometheus" in str(status.get("message"))

    await _wait(rig, says_why, "the reboot-now to wait for the blocker")
    await asyncio.sleep(3)
    assert (await rig.phases([node]))[node] == "Waiting"
    assert rig.sim.reboot_count(node) == 0
