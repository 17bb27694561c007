"""The life of one request, step by step: what users see (phases, Events, logs) and the less common turns."""

from __future__ import annotations

import asyncio
import json

from kubernetes_asyncio import client

from hack.nodesim.simulator import NodeBehaviour
from tests.integration.replay import recording
from tests.integration.rollout import Rig, node_events, pinned_replicaset, told


def _spec(pool: str, **extra: object) -> dict[str, object]:
    spec: dict[str, object] = {
        "nodeSelector": {"matchLabels": {"pool": pool}},
        "maxConcurrent": 1,
        "reboot": {"timeout": "60s", "soak": "0s"},
        "drain": {"timeout": "60s"},
    }
    spec.update(extra)
    return spec


async def _unschedulable(api: client.ApiClient, node: str) -> bool:
    return bool((await client.CoreV1Api(api).read_node(node)).spec.unschedulable)


async def test_a_cycle_walks_every_phase_and_says_so_in_events_and_json_logs(
    rig: Rig, namespace: str, unique: str
) -> None:
    node = f"life-{unique}"
    await rig.add_nodes([node], labels={"pool": unique})
    await pinned_replicaset(rig.api, namespace, node, replicas=2)
    await rig.apply_policy(
        unique,
        _spec(
            unique,
            nodeLabels={
                "preReboot": {"rollboot.dev/rebooting": "true"},
                "postReboot": {"rollboot.dev/rebooted": "true"},
            },
        ),
    )
    operator = rig.start_operator("--log-format", "json")
    rig.sim.require_reboot(node, ["linux-image-6.8.0-1002-azure"])
    seen: list[str] = []
    async with asyncio.timeout(60):
        while not seen or seen[-1] != "Completed":
            phase = (await rig.phases([node]))[node]
            if phase is not None and (not seen or seen[-1] != phase):
                seen.append(phase)
            await asyncio.sleep(0.02)
    # Fast phases may be missed by a 20 ms sampler, but order never changes and the ends are always seen.
    order = ["Waiting", "Cordoning", "Draining", "Rebooting", "Verifying", "Uncordoning", "Completed"]
    assert [order.index(p) for p in seen] == sorted(order.index(p) for p in seen), seen
    assert "Rebooting" in seen

    request = (await rig.requests())[node]
    status = request["status"]
    assert status["kernelBefore"] == "6.8.0-1001-azure"
    assert status["kernelAfter"] == "6.8.0-1002-azure"
    assert status["kernel"] == "6.8.0-1001-azure → 6.8.0-1002-azure"
    assert status["bootIDBefore"] != status["bootIDAfter"]
    assert status["approval"]["bootID"] == status["bootIDBefore"]
    assert status["drain"]["podsTotal"] == 2
    assert status["drain"]["podsRemaining"] == 0
    for stamp in ("queuedAt", "startedAt", "rebootApprovedAt", "completedAt"):
        assert stamp in status, stamp
    assert request["spec"]["reasons"][0]["packages"] == ["linux-image-6.8.0-1002-azure"]

    # Events are posted in the background, just after the writes they tell of: give the last ones a moment.
    # Each once, on the object it is about: what was done to the Node on it, the cycle's steps on its request.
    steps = ["Started", "Draining", "RebootAuthorized", "NodeReturned", "Completed"]
    for kind, expected in (("Node", ["Cordoned", "Uncordoned"]), ("NodeRebootRequest", steps)):
        for _ in range(150):
            told = [e for e in await node_events(rig.api, node, kind=kind) if e in [*steps, "Cordoned", "Uncordoned"]]
            if told == expected:
                break
            await asyncio.sleep(0.1)
        assert told == expected, (kind, told)
    labels = (await client.CoreV1Api(rig.api).read_node(node)).metadata.labels
    assert labels.get("rollboot.dev/rebooted") == "true"
    assert "rollboot.dev/rebooting" not in labels

    lines = [json.loads(line) for line in operator.log().splitlines() if line.startswith("{")]
    assert lines, "the operator logs JSON lines with --log-format json"
    assert any(node in line["message"] and "completed" in line["message"] for line in lines)
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)


async def test_a_sentinel_that_survives_every_reboot_fails_after_max_attempts(rig: Rig, unique: str) -> None:
    node = f"stubborn-{unique}"
    await rig.add_nodes(
        [node], labels={"pool": unique}, behaviour=NodeBehaviour(sentinel_survives=True, reboot_seconds=1)
    )
    await rig.apply_policy(
        unique,
        _spec(unique, reboot={"timeout": "60s", "soak": "4s", "maxAttempts": 2}, failureBudget={"maxFailures": 5}),
    )
    other = f"other-{unique}"
    await rig.add_nodes([other], labels={"pool": unique})
    async with recording(rig.api) as record:
        rig.start_operator()
        rig.sim.require_reboot(node)
        await rig.wait_phases([node], {"Failed"}, timeout=90)
        status = (await rig.requests())[node]["status"]
        assert "survived 2 reboots" in status["message"], status["message"]
        assert status["attempts"] == 2
        assert rig.sim.reboot_count(node) == 2
        # A positive sign that decisions went on after the failure, not a pause: another node's whole cycle.
        rig.sim.require_reboot(other)
        await rig.wait_phases([other], {"Completed"}, timeout=60)
    replay = record.replay({node, other})
    assert replay.starts == {node: 1, other: 1}, "no reboot loop: the same need does not start a new cycle by itself"
    assert replay.approvals == {node: 2, other: 1}
    assert rig.sim.reboot_count(node) == 2
    assert not await _unschedulable(rig.api, node)


async def test_a_node_uncordoned_during_its_drain_is_cordoned_again_before_the_reboot(
    rig: Rig, namespace: str, unique: str
) -> None:
    node = f"meddled-{unique}"
    await rig.add_nodes([node], labels={"pool": unique})
    await pinned_replicaset(rig.api, namespace, node, min_available=1)
    await rig.apply_policy(unique, _spec(unique))
    rig.start_operator()
    rig.sim.require_reboot(node)
    await rig.wait_phases([node], {"Draining"}, timeout=60)
    core = client.CoreV1Api(rig.api)
    await core.patch_node(node, {"spec": {"unschedulable": False}})  # another controller hands it back
    rebooted_while_schedulable = False

    async def watch_reboot() -> None:
        nonlocal rebooted_while_schedulable
        while rig.sim.reboot_count(node) == 0:
            await asyncio.sleep(0.01)
        rebooted_while_schedulable = not await _unschedulable(rig.api, node)

    watcher = asyncio.create_task(watch_reboot())
    await client.PolicyV1Api(rig.api).patch_namespaced_pod_disruption_budget(
        "web", namespace, {"spec": {"minAvailable": 0}}, _content_type="application/merge-patch+json"
    )
    await rig.wait_phases([node], {"Completed"}, timeout=90)
    await watcher
    assert not rebooted_while_schedulable, "the node was rebooted while schedulable"
    await told(rig.api, node, "Recordoned")
    assert rig.sim.reboot_count(node) == 1
    assert not await _unschedulable(rig.api, node)


async def test_deleting_the_policy_mid_cycle_never_leaves_the_node_cordoned(
    rig: Rig, namespace: str, unique: str
) -> None:
    node = f"orphan-{unique}"
    await rig.add_nodes([node], labels={"pool": unique})
    await pinned_replicaset(rig.api, namespace, node, min_available=1)
    await rig.apply_policy(unique, _spec(unique))
    operator = rig.start_operator()
    rig.sim.require_reboot(node)
    await rig.wait_phases([node], {"Draining"}, timeout=60)
    await rig.custom.delete_cluster_custom_object("rollboot.dev", "v1alpha1", "rebootpolicies", unique)
    operator.kill()  # and the operator restarts without ever having seen the policy's spec
    rig.start_operator()
    await rig.wait_phases([node], {"Cancelled", "Completed", "Failed"}, timeout=60)
    assert not await _unschedulable(rig.api, node)
    status = (await rig.requests())[node]["status"]
    assert "deleted" in status["message"], status["message"]
