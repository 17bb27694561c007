"""Notifications end to end: the real operator sends through apprise's json:// service to a local HTTP receiver,
with the URL read from a Secret."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator

import pytest
from kubernetes_asyncio import client

from tests.integration.rollout import Rig
from tests.integration.servers import Receiver, receiver


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as found:
        yield found


def _spec(pool: str, notifications: list[dict[str, object]]) -> dict[str, object]:
    return {
        "nodeSelector": {"matchLabels": {"pool": pool}},
        "maxConcurrent": 1,
        "reboot": {"timeout": "60s", "soak": "0s"},
        "drain": {"timeout": "60s"},
        "notifications": notifications,
    }


async def _secret(api: client.ApiClient, namespace: str, url: str) -> dict[str, str]:
    await client.CoreV1Api(api).create_namespaced_secret(
        namespace,
        {"metadata": {"name": "hooks"}, "data": {"url": base64.b64encode(url.encode()).decode()}},
    )
    return {"name": "hooks", "namespace": namespace, "key": "url"}


async def test_subscribed_events_arrive_with_node_policy_kernels_and_duration(
    rig: Rig, namespace: str, unique: str, hook: Receiver
) -> None:
    node = f"told-{unique}"
    ref = await _secret(rig.api, namespace, hook.url)
    await rig.add_nodes([node], labels={"pool": unique})
    await rig.apply_policy(
        unique,
        _spec(
            unique,
            [
                {"urlSecretRef": ref, "events": ["Started", "Completed"]},
                {"urlSecretRef": ref, "events": ["Completed"], "template": "{event}: {node} now runs {kernel_after}"},
            ],
        ),
    )
    rig.start_operator()
    rig.sim.require_reboot(node, ["linux-image-6.8.0-1002-azure"])
    await rig.wait_phases([node], {"Completed"}, timeout=60)
    await asyncio.to_thread(hook.wait_count, 3, 30)
    await asyncio.sleep(1)
    messages = hook.messages()
    assert len(messages) == 3, messages
    started, completed = (
        next(m for m in messages if "started" in m),
        next(m for m in messages if m.startswith(f"node {node}: rebooted")),
    )
    assert f"node {node}: reboot cycle started (policy {unique}, kernel 6.8.0-1001-azure)" == started
    assert "kernel 6.8.0-1001-azure → 6.8.0-1002-azure, in " in completed and f"(policy {unique})" in completed
    assert f"Completed: {node} now runs 6.8.0-1002-azure" in messages
    titles = {str(r.body.get("title")) for r in hook.received}
    assert f"rollboot: node {node} completed" in titles
    assert all(r.path == "/hook" for r in hook.received)


async def test_a_failing_receiver_is_retried_then_dropped_and_never_slows_the_rollout(
    rig: Rig, namespace: str, unique: str, hook: Receiver
) -> None:
    nodes = [f"deaf-a-{unique}", f"deaf-b-{unique}"]
    hook.status = 500
    ref = await _secret(rig.api, namespace, hook.url)
    await rig.add_nodes(nodes, labels={"pool": unique})
    await rig.apply_policy(unique, _spec(unique, [{"urlSecretRef": ref, "events": ["Started"]}]))
    operator = rig.start_operator()
    began = time.monotonic()
    for node in nodes:
        rig.sim.require_reboot(node)
    await rig.wait_phases(nodes, {"Completed"}, timeout=60)
    took = time.monotonic() - began
    # Each of the two notifications is tried 4 times with backoff (2 s, 4 s, 8 s): 28 s of retries in all,
    # and the rollout does not wait for any of them.
    assert len(hook.received) < 8, "the rollout finished before the retries did"
    assert took < 25, took
    await asyncio.to_thread(hook.wait_count, 8, 60)
    await asyncio.sleep(4)
    assert len(hook.received) == 8, hook.messages()
    assert operator.log().count("dropped after 4 attempts") == 2, rig.dump()
