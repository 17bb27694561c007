"""Every safety rule of the operator, proved end to end with the real operator, agents and control plane."""

from __future__ import annotations

import asyncio
import datetime
import zoneinfo
from typing import Any

import pytest
from kubernetes_asyncio import client

from hack.nodesim.simulator import NodeBehaviour
from tests.integration.polling import eventually
from tests.integration.replay import recording
from tests.integration.rollout import Rig, describe, pinned_replicaset, told


def _spec(pool: str, max_concurrent: int | str = 1, **extra: object) -> dict[str, object]:
    spec: dict[str, object] = {
        "nodeSelector": {"matchLabels": {"pool": pool}},
        "maxConcurrent": max_concurrent,
        "reboot": {"timeout": "60s", "soak": "0s"},
        "drain": {"timeout": "60s"},
    }
    spec.update(extra)
    return spec


async def _unschedulable(api: client.ApiClient, node: str) -> bool:
    return bool((await client.CoreV1Api(api).read_node(node)).spec.unschedulable)


async def _messages(rig: Rig, names: list[str]) -> list[str]:
    requests = await rig.requests()
    return [str(((requests.get(n) or {}).get("status") or {}).get("message")) for n in names]


async def _wait_phase(rig: Rig, node: str, phase: str, timeout: float = 60) -> dict[str, object]:
    await rig.wait_phases([node], {phase}, timeout=timeout)
    status: dict[str, object] = (await rig.requests())[node]["status"]
    return status


@pytest.mark.parametrize(
    ("on_timeout", "expected_phase", "reboots"),
    [
        pytest.param("Abort", "Failed", 0, id="abort-gives-the-node-back"),
        pytest.param("Reboot", "Completed", 1, id="reboot-anyway"),
    ],
)
async def test_a_pdb_that_blocks_the_drain_leads_to_on_timeout(
    rig: Rig, namespace: str, unique: str, on_timeout: str, expected_phase: str, reboots: int
) -> None:
    node = f"pdb-{unique}"
    await rig.add_nodes([node], labels={"pool": unique})
    await pinned_replicaset(rig.api, namespace, node, min_available=1)
    await rig.apply_policy(unique, _spec(unique, drain={"timeout": "12s", "onTimeout": on_timeout}))
    rig.start_operator()
    rig.sim.require_reboot(node)

    draining = await _wait_phase(rig, node, "Draining")
    async with asyncio.timeout(30):
        while True:
            status = (await rig.requests())[node]["status"]
            blocking = (status.get("drain") or {}).get("blockingPods") or []
            if blocking:
                break
            await asyncio.sleep(0.2)
    assert blocking[0]["pdb"] == "web", blocking
    assert "PodDisruptionBudget" in blocking[0]["reason"]
    assert draining["wasUnschedulable"] is False

    status = await _wait_phase(rig, node, expected_phase, timeout=60)
    assert rig.sim.reboot_count(node) == reboots
    assert not await _unschedulable(rig.api, node), "the node must be handed back uncordoned"
    if on_timeout == "Abort":
        assert "timed out" in str(status["message"]) and "web" in str(status["message"]), status["message"]
        policy = await rig.policy(unique)
        assert policy["status"]["failureBudget"]["failures"] == 1
    await told(rig.api, node, "DrainBlocked")


@pytest.mark.parametrize("on_timeout", ["Abort", "Reboot"])
async def test_a_refused_drain_never_reboots_the_node_whatever_on_timeout_says(
    rig: Rig, namespace: str, unique: str, on_timeout: str
) -> None:
    # A pod no controller manages is refused unless drain.force: nothing is evicted and the node must not reboot,
    # even under onTimeout: Reboot (which is about time-outs, not refusals).
    node = f"bare-{unique}"
    await rig.add_nodes([node], labels={"pool": unique})
    await client.CoreV1Api(rig.api).create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "bare"},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "registry.invalid/bare:1"}]},
        },
    )
    await rig.apply_policy(unique, _spec(unique, drain={"timeout": "30s", "onTimeout": on_timeout}))
    rig.start_operator()
    rig.sim.require_reboot(node)

    status = await _wait_phase(rig, node, "Failed", timeout=60)
    assert rig.sim.reboot_count(node) == 0
    assert "cannot delete" in str(status["message"]) and f"{namespace}/bare" in str(status["message"]), status
    assert not await _unschedulable(rig.api, node), "the node must be handed back uncordoned"

    # The request says Failed first; the same cycle then frees its slot and counts the failure in one policy write.
    async def counted() -> dict[str, Any] | None:
        status: dict[str, Any] = (await rig.policy(unique))["status"]
        return status if not status.get("slots") and status["failureBudget"]["failures"] else None

    budget = await eventually(counted, what="the failure counted and the slot freed", timeout=30)
    assert budget["failureBudget"]["failures"] == 1, budget


async def test_a_policy_that_cannot_be_parsed_holds_its_nodes_while_a_looser_one_reboots_its_own(
    rig: Rig, unique: str
) -> None:
    # Issue 13: the API server accepts an alertFilterRegexp Python cannot compile. The broken policy (priority 10)
    # must keep its node from the looser catch-all (priority 0), which still reboots the node only it selects.
    held, free = f"held-{unique}", f"free-{unique}"
    await rig.add_nodes([held], labels={"pool": f"x{unique}"})
    await rig.add_nodes([free], labels={"pool": f"y{unique}"})
    broken = _spec(f"x{unique}", priority=10)
    broken["blockers"] = {"prometheus": {"url": "http://127.0.0.1:9", "alertFilterRegexp": "Watchdog|[Info"}}
    await rig.apply_policy(f"broken-{unique}", broken)
    loose = _spec(f"y{unique}", priority=0)
    loose["nodeSelector"] = {
        "matchExpressions": [{"key": "pool", "operator": "In", "values": [f"x{unique}", f"y{unique}"]}]
    }
    await rig.apply_policy(f"loose-{unique}", loose)
    rig.start_operator()
    rig.sim.require_reboot(held)
    rig.sim.require_reboot(free)

    await _wait_phase(rig, free, "Completed", timeout=90)
    status = await _wait_phase(rig, held, "Waiting")
    assert status["policy"] == f"broken-{unique}", status
    assert "alertFilterRegexp" in str(status["message"]), status["message"]
    assert rig.sim.reboot_count(held) == 0 and rig.sim.reboot_count(free) == 1
    assert not await _unschedulable(rig.api, held)
    conditions = (await rig.policy(f"broken-{unique}"))["status"]["conditions"]
    ready = next(c for c in conditions if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec"), ready


async def test_a_node_an_admin_cordoned_stays_cordoned_after_its_reboot(rig: Rig, unique: str) -> None:
    node = f"precordoned-{unique}"
    await rig.add_nodes([node], labels={"pool": unique}, unschedulable=True)
    await rig.apply_policy(unique, _spec(unique))
    async with recording(rig.api) as record:
        rig.start_operator()
        rig.sim.require_reboot(node)
        status = await _wait_phase(rig, node, "Completed")
    # Not lifted for a moment either, on any change of the cycle.
    record.replay({node}).assert_one_reboot_each(unique, [node], limit=1, cordoned=1, admin_cordoned=[node])
    assert status["wasUnschedulable"] is True
    assert rig.sim.reboot_count(node) == 1
    assert await _unschedulable(rig.api, node), "an admin's cordon must never be undone"


async def test_operator_killed_mid_drain_resumes_without_forgetting_the_admins_cordon(
    rig: Rig, namespace: str, unique: str
) -> None:
    node = f"killdrain-{unique}"
    await rig.add_nodes([node], labels={"pool": unique}, unschedulable=True)
    await pinned_replicaset(rig.api, namespace, node, min_available=1)
    await rig.apply_policy(unique, _spec(unique))
    first = rig.start_operator()
    rig.sim.require_reboot(node)
    await _wait_phase(rig, node, "Draining")
    first.kill()

    # Let the drain proceed only once the first operator is dead.
    await client.PolicyV1Api(rig.api).patch_namespaced_pod_disruption_budget(
        "web", namespace, {"spec": {"minAvailable": 0}}, _content_type="application/merge-patch+json"
    )
    rig.start_operator()
    status = await _wait_phase(rig, node, "Completed", timeout=90)
    assert status["wasUnschedulable"] is True
    assert await _unschedulable(rig.api, node)
    assert rig.sim.reboot_count(node) == 1


async def test_operator_killed_mid_reboot_resumes_and_the_node_reboots_once(rig: Rig, unique: str) -> None:
    nodes = [f"killreboot-{unique}-{i}" for i in range(2)]
    await rig.add_nodes(nodes, labels={"pool": unique}, behaviour=NodeBehaviour(reboot_seconds=6))
    await rig.apply_policy(unique, _spec(unique))
    async with recording(rig.api) as record:
        first = rig.start_operator()
        for node in nodes:
            rig.sim.require_reboot(node)
        rebooting = await rig.first_in(nodes, "Rebooting", timeout=60)
        booted = rig.sim.boot_id(rebooting)
        first.kill()
        async with asyncio.timeout(60):  # the node comes back while no operator runs
            while rig.sim.boot_id(rebooting) == booted:
                await asyncio.sleep(0.1)
        rig.start_operator()
        await rig.wait_phases(nodes, {"Completed"}, timeout=90)
    # The cycle in progress was resumed, not started again: one start, one approval, one reboot per node.
    record.replay(set(nodes)).assert_one_reboot_each(unique, nodes, limit=1)
    for node in nodes:
        assert rig.sim.reboot_count(node) == 1
        assert not await _unschedulable(rig.api, node)
    events = await told(rig.api, nodes[0], "Cordoned") + await told(rig.api, nodes[1], "Cordoned")
    assert events.count("Cordoned") == 2, events


async def test_two_operator_replicas_never_exceed_max_concurrent(rig: Rig, unique: str) -> None:
    nodes = [f"twins-{unique}-{i}" for i in range(6)]
    await rig.add_nodes(nodes, labels={"pool": unique})
    await rig.apply_policy(unique, _spec(unique, 2))
    async with recording(rig.api) as record:
        rig.start_operator()
        rig.start_operator()
        for node in nodes:
            rig.sim.require_reboot(node)
        await rig.wait_phases(nodes, {"Completed"}, timeout=150)
    # Every change of the rollout, in the storage's order: not even a hand-off overlapping for a millisecond.
    record.replay(set(nodes)).assert_one_reboot_each(unique, nodes, limit=2, why=describe(await rig.requests()))
    for node in nodes:
        assert rig.sim.reboot_count(node) == 1


async def test_a_node_that_never_returns_spends_the_failure_budget_and_halts_the_policy(rig: Rig, unique: str) -> None:
    nodes = [f"lost-{unique}-{i}" for i in range(3)]
    await rig.add_nodes(nodes, labels={"pool": unique}, behaviour=NodeBehaviour(never_returns=True))
    await rig.apply_policy(
        unique, _spec(unique, reboot={"timeout": "5s", "soak": "0s"}, failureBudget={"maxFailures": 1})
    )
    async with recording(rig.api) as record:
        rig.start_operator()
        for node in nodes:
            rig.sim.require_reboot(node)
        await rig.first_in(nodes, "Failed", timeout=60)
        # A positive sign, not a pause: the two others say they wait because the policy halted.
        async with asyncio.timeout(30):
            while sum("halted" in m for m in await _messages(rig, nodes)) < 2:
                await asyncio.sleep(0.2)
    phases = await rig.phases(nodes)
    assert sorted(phases.values(), key=str) == ["Failed", "Waiting", "Waiting"], phases
    failed = next(n for n in nodes if phases[n] == "Failed")
    assert record.replay(set(nodes)).starts == {failed: 1}, "after the one failure the budget allows, none started"
    policy = await rig.policy(unique)
    halted = next(c for c in policy["status"]["conditions"] if c["type"] == "Halted")
    assert halted["status"] == "True"
    requests = await rig.requests()
    assert "did not come back" in requests[failed]["status"]["message"]
    assert not await _unschedulable(rig.api, failed), "a failed node must not stay cordoned by us"


async def test_a_node_deleted_mid_rollout_is_cleaned_up_and_frees_its_slot(rig: Rig, unique: str) -> None:
    nodes = [f"gone-{unique}-{i}" for i in range(2)]
    await rig.add_nodes(nodes, labels={"pool": unique})
    rig.sim.set_behaviour(nodes[0], NodeBehaviour(never_returns=True))
    await rig.apply_policy(unique, _spec(unique, reboot={"timeout": "10m", "soak": "0s"}))
    rig.start_operator()
    rig.sim.require_reboot(nodes[0])
    await _wait_phase(rig, nodes[0], "Rebooting")
    rig.sim.require_reboot(nodes[1])
    rig.agents[nodes[0]].stop()  # its agent goes down with the node
    await rig.sim.delete_node(nodes[0])  # the autoscaler removes the node that is not coming back
    await rig.wait_phases([nodes[1]], {"Completed"}, timeout=60)
    assert nodes[0] not in await rig.requests()
    assert nodes[0] not in (await rig.policy(unique))["status"].get("slots", [])


async def test_a_request_withdrawn_before_it_started_is_cancelled(rig: Rig, unique: str) -> None:
    node = f"withdrawn-{unique}"
    await rig.add_nodes([node], labels={"pool": unique})
    await rig.apply_policy(unique, _spec(unique, paused=True))
    rig.start_operator()
    rig.sim.require_reboot(node)
    await _wait_phase(rig, node, "Waiting")
    from hack.nodesim import files

    files.clear_sentinel(rig.sim.root, node)
    status = await _wait_phase(rig, node, "Cancelled")
    assert "withdrawn" in str(status["message"])
    assert rig.sim.reboot_count(node) == 0


async def test_pausing_and_lowering_max_concurrent_spare_nodes_in_progress(rig: Rig, unique: str) -> None:
    nodes = [f"edit-{unique}-{i}" for i in range(4)]
    await rig.add_nodes(nodes, labels={"pool": unique}, behaviour=NodeBehaviour(reboot_seconds=5))
    await rig.apply_policy(unique, _spec(unique, 2))
    rig.start_operator()
    async with recording(rig.api) as paused:
        for node in nodes:
            rig.sim.require_reboot(node)
        async with asyncio.timeout(60):
            while list((await rig.phases(nodes)).values()).count("Rebooting") < 2:
                await asyncio.sleep(0.1)
        await rig.patch_policy(unique, {"paused": True, "maxConcurrent": 1})
        started = [n for n, p in (await rig.phases(nodes)).items() if p == "Rebooting"]
        waiting = [n for n in nodes if n not in started]
        await rig.wait_phases(started, {"Completed"}, timeout=60)
        # A positive sign: the others say they wait because the policy is paused (a decision made after both ended).
        async with asyncio.timeout(30):
            while not all("paused" in m for m in await _messages(rig, waiting)):
                await asyncio.sleep(0.1)
    assert set((await rig.phases(waiting)).values()) == {"Waiting"}
    before = paused.replay(set(nodes))
    assert set(before.starts) == set(started), "nothing started while paused"
    assert before.most_in_progress == {unique: 2}, "the two in progress finished although the limit was lowered"
    async with recording(rig.api) as resumed:
        await rig.patch_policy(unique, {"paused": False})
        await rig.wait_phases(waiting, {"Completed"}, timeout=60)
    after = resumed.replay(set(nodes))
    assert after.most_in_progress == {unique: 1}, after
    assert after.starts == dict.fromkeys(waiting, 1), after


def far_from_midnight(now: datetime.datetime) -> zoneinfo.ZoneInfo:
    """A fixed-offset zone whose local time is now around noon, so a window of a few minutes around now never
    crosses midnight there, whatever the hour in UTC (Etc/GMT-N is UTC+N)."""
    offset = 12 - now.astimezone(datetime.UTC).hour
    return zoneinfo.ZoneInfo(f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT")


@pytest.mark.parametrize("hour", range(24))
def test_the_windows_zone_keeps_the_window_away_from_midnight(hour: int) -> None:
    now = datetime.datetime(2026, 1, 1, hour, 59, tzinfo=datetime.UTC)
    local = now.astimezone(far_from_midnight(now))
    assert 11 <= local.hour <= 12


async def test_a_window_that_closes_mid_rollout_lets_the_started_node_finish(rig: Rig, unique: str) -> None:
    now = datetime.datetime.now(datetime.UTC)
    zone = far_from_midnight(now)
    closes = (now + datetime.timedelta(seconds=75)).replace(second=0, microsecond=0)
    opens = (now - datetime.timedelta(minutes=2)).replace(second=0, microsecond=0)
    until_close = (closes - now).total_seconds()
    nodes = [f"window-{unique}-{i}" for i in range(3)]
    await rig.add_nodes(nodes, labels={"pool": unique}, behaviour=NodeBehaviour(reboot_seconds=until_close + 5))
    start, end = opens.astimezone(zone), closes.astimezone(zone)
    window = {"start": start.strftime("%H:%M"), "end": end.strftime("%H:%M"), "timeZone": str(zone)}
    assert start.date() == end.date(), "the window's zone keeps it on one local day"
    await rig.apply_policy(unique, _spec(unique, maintenanceWindows=[window], reboot={"timeout": "5m", "soak": "0s"}))
    async with recording(rig.api) as record:
        rig.start_operator()
        for node in nodes:
            rig.sim.require_reboot(node)
        first = await rig.first_in(nodes, "Rebooting", timeout=30)
        await rig.wait_phases([first], {"Completed"}, timeout=until_close + 60)
        assert datetime.datetime.now(datetime.UTC) > closes, "the window closed while the first node was rebooting"
        others = [n for n in nodes if n != first]
        # A positive sign, not a pause: the operator says the others wait for the window (decided after it closed).
        async with asyncio.timeout(30):
            while not all("window closed" in m for m in await _messages(rig, others)):
                await asyncio.sleep(0.1)
    assert record.replay(set(nodes)).starts == {first: 1}, "only the node started in the window ran"
    requests = await rig.requests()
    assert {requests[n]["status"]["phase"] for n in others} == {"Waiting"}
    assert all("window closed" in requests[n]["status"]["message"] for n in others)
    for name in others:
        waiting = [c for c in requests[name]["status"]["conditions"] if c["type"] == "Waiting"]
        assert [(c["status"], c["reason"]) for c in waiting] == [("True", "WindowClosed")], waiting
        assert waiting[0]["message"] == requests[name]["status"]["message"]
    done = [(c["status"], c["reason"]) for c in requests[first]["status"]["conditions"] if c["type"] == "Waiting"]
    assert done == [("False", "Started")], "a started request no longer waits, and says so to the end of its cycle"
    policy = await rig.policy(unique)
    assert policy["status"]["window"]["open"] is False
