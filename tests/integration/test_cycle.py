"""One reboot cycle on the real API server, run in-process with a watched view that lags behind: what a watch has not
shown yet must never turn an admin's cordon into ours."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio import client

from reboot_operator.api.meta import GROUP, VERSION
from reboot_operator.kube import CORDON_MARK
from reboot_operator.kube.node_view import NodeView, node_view
from reboot_operator.notify import Notice
from reboot_operator.rollout.cycle import Cycle
from reboot_operator.watch.observed import PolicyView, policy_view
from tests.integration.rollout import Rig

SPEC = {"maxConcurrent": 1, "reboot": {"timeout": "60s", "soak": "0s"}, "drain": {"timeout": "30s"}}


@dataclass
class LaggingWorld:
    """The watched state as it was a moment ago: the node as first seen, whatever happened to it since."""

    seen_node: NodeView
    seen_policy: PolicyView

    def node(self, name: str) -> NodeView | None:
        return self.seen_node if name == self.seen_node.name else None

    def policy(self, name: str) -> PolicyView | None:
        return self.seen_policy if name == self.seen_policy.name else None

    async def node_changed(self, name: str, timeout: float) -> None:
        await asyncio.sleep(min(timeout, 0.2))

    def kick(self) -> None:
        pass

    def notify(self, notice: Notice) -> None:
        pass

    def stopped(self) -> str | None:
        return None

    async def resumed(self) -> None:
        pass


async def _request(rig: Rig, node: str) -> dict[str, Any]:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "NodeRebootRequest",
        "metadata": {"name": node},
        "spec": {"nodeName": node, "reasons": [{"source": "sentinel-file", "detail": "/var/run/reboot-required"}]},
    }
    created: dict[str, Any] = await rig.custom.create_cluster_custom_object(GROUP, VERSION, "noderebootrequests", body)
    return created


async def _phase(rig: Rig, node: str, phases: set[str], timeout: float = 30) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            body = await rig.custom.get_cluster_custom_object(GROUP, VERSION, "noderebootrequests", node)
            status: dict[str, Any] = body.get("status") or {}
            if status.get("phase") in phases:
                return status
            await asyncio.sleep(0.1)


async def _run_until(rig: Rig, cycle: Cycle, node: str, phases: set[str]) -> dict[str, Any]:
    task = asyncio.create_task(cycle.run())
    try:
        return await _phase(rig, node, phases)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _node(rig: Rig, node: str) -> Any:
    return await client.CoreV1Api(rig.api).read_node(node)


async def test_an_admin_cordon_the_watch_had_not_shown_stays_the_admins(rig: Rig, unique: str) -> None:
    node = f"lagging-{unique}"
    await rig.add_nodes([node], agents=False, labels={"pool": unique})
    await rig.apply_policy(unique, {**SPEC, "nodeSelector": {"matchLabels": {"pool": unique}}})
    core = client.CoreV1Api(rig.api)
    world = LaggingWorld(
        seen_node=node_view(rig.api.sanitize_for_serialization(await core.read_node(node))),
        seen_policy=policy_view(await rig.policy(unique)),
    )
    request = await _request(rig, node)
    await core.patch_node(node, {"spec": {"unschedulable": True}})  # the admin, a moment before the cycle
    assert world.seen_node.facts.unschedulable is False, "the view lags: it still shows the node schedulable"

    cycle = Cycle(
        api=rig.api,
        world=world,
        name=node,
        policy=unique,
        starting=True,
        decided_version=request["metadata"]["resourceVersion"],
    )
    status = await _run_until(rig, cycle, node, {"Rebooting"})

    assert status["wasUnschedulable"] is True, "the cordon found was the admin's, so it stays after the reboot"
    seen = await _node(rig, node)
    assert seen.spec.unschedulable is True
    assert CORDON_MARK not in (seen.metadata.annotations or {}), "an admin's cordon is never marked as ours"


async def test_a_cycle_resumed_after_its_own_cordon_knows_the_cordon_is_its_own(rig: Rig, unique: str) -> None:
    node = f"resumed-{unique}"
    await rig.add_nodes([node], agents=False, labels={"pool": unique})
    await rig.apply_policy(unique, {**SPEC, "nodeSelector": {"matchLabels": {"pool": unique}}})
    core = client.CoreV1Api(rig.api)
    schedulable = node_view(rig.api.sanitize_for_serialization(await core.read_node(node)))
    world = LaggingWorld(seen_node=schedulable, seen_policy=policy_view(await rig.policy(unique)))
    request = await _request(rig, node)

    # The first cycle gets as far as cordoning (and marking) the node, then its operator dies.
    first = Cycle(
        api=rig.api, world=world, name=node, policy=unique, starting=True,
        decided_version=request["metadata"]["resourceVersion"],
    )  # fmt: skip
    task = asyncio.create_task(first.run())
    async with asyncio.timeout(30):
        while not (await _node(rig, node)).spec.unschedulable:
            await asyncio.sleep(0.05)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    status = await _phase(rig, node, {"Cordoning", "Draining", "Rebooting"})
    assert status["wasUnschedulable"] is False

    # The next one resumes from the stored phase, its view still showing the node schedulable.
    second = Cycle(api=rig.api, world=world, name=node, policy=unique)
    status = await _run_until(rig, second, node, {"Rebooting"})
    assert status["wasUnschedulable"] is False, "our own cordon, found after a restart, is still ours to undo"
    assert (await _node(rig, node)).metadata.annotations[CORDON_MARK] == request["metadata"]["uid"]
