"""End to end: the real operator and agents reboot simulated nodes on the real control plane."""

from __future__ import annotations

import pytest
from kubernetes_asyncio import client

from tests.integration.replay import recording
from tests.integration.rollout import Rig, describe


def _spec(pool: str, max_concurrent: int | str, **extra: object) -> dict[str, object]:
    return {
        "nodeSelector": {"matchLabels": {"pool": pool}},
        "maxConcurrent": max_concurrent,
        "reboot": {"timeout": "60s", "soak": "0s"},
        "drain": {"timeout": "60s"},
        **extra,
    }


@pytest.mark.parametrize("max_concurrent", [1, 2])
async def test_five_nodes_reboot_never_more_than_max_concurrent_at_once(
    rig: Rig, unique: str, max_concurrent: int
) -> None:
    pool = f"p{unique}"
    nodes = [f"{pool}-n{i}" for i in range(5)]
    await rig.add_nodes(nodes, labels={"pool": pool})
    await rig.apply_policy(pool, _spec(pool, max_concurrent))
    rig.start_operator()
    before = {n: rig.sim.boot_id(n) for n in nodes}
    async with recording(rig.api) as record:
        for node in nodes:
            rig.sim.require_reboot(node)
        await rig.wait_phases(nodes, {"Completed"}, timeout=120)
    requests = await rig.requests()
    replay = record.replay(set(nodes))
    # On every change of the whole rollout, not on samples: never more than maxConcurrent, and every slot used.
    replay.assert_one_reboot_each(pool, nodes, limit=max_concurrent, why=describe(requests))
    core = client.CoreV1Api(rig.api)
    for node in nodes:
        assert rig.sim.reboot_count(node) == 1, f"{node} rebooted {rig.sim.reboot_count(node)} times"
        assert rig.sim.boot_id(node) != before[node]
        status = requests[node]["status"]
        assert status["kernelBefore"] != status["kernelAfter"]
        assert status["kernelAfter"] == rig.sim.kernel(node)
        assert not (await core.read_node(node)).spec.unschedulable, f"{node} left cordoned"
