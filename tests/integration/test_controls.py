"""An admin's controls on the real API server, with the real operator, real agents and real kubectl: the
cluster-wide stop (ConfigMap rollboot-stop), and per-node skip, reboot-now and cancel (node annotations)."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from typing import Any

from kubernetes_asyncio import client

from tests.integration.rollout import Rig, pinned_replicaset, told

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def _spec(pool: str, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "nodeSelector": {"matchLabels": {"pool": pool}},
        "maxConcurrent": 2,
        "reboot": {"timeout": "60s", "soak": "0s"},
        "drain": {"timeout": "120s"},
    }
    spec.update(extra)
    return spec


async def _status(rig: Rig, node: str) -> dict[str, Any]:
    return dict((await rig.requests()).get(node, {}).get("status") or {})


async def _until(rig: Rig, what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    try:
        async with asyncio.timeout(timeout):
            while True:
                found = await check()
                if found:
                    return found
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}: {await rig.requests()}\n{rig.dump()}") from None


def _waiting_reason(status: dict[str, Any]) -> str | None:
    found = [c for c in status.get("conditions") or [] if c["type"] == "Waiting" and c["status"] == "True"]
    return found[0]["reason"] if found else None


async def _cordoned(api: client.ApiClient, node: str) -> bool:
    return bool((await client.CoreV1Api(api).read_node(node)).spec.unschedulable)


async def _annotations(api: client.ApiClient, node: str) -> dict[str, str]:
    return dict((await client.CoreV1Api(api).read_node(node)).metadata.annotations or {})


async def test_the_stop_starts_nothing_holds_a_drained_node_before_its_reboot_and_resumes_in_one_command(
    rig: Rig, namespace: str, unique: str, kubectl: Kubectl
) -> None:
    blocked, draining = f"stop-{unique}-a", f"stop-{unique}-b"
    await rig.add_nodes([blocked, draining], labels={"pool": unique})
    # A pod the policy's pod blocker names holds the first node; a budget stalls the second one's drain.
    await client.CoreV1Api(rig.api).create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "batch", "labels": {"block": unique}},
            "spec": {"nodeName": blocked, "containers": [{"name": "c", "image": "registry.invalid/batch:1"}]},
        },
    )
    await pinned_replicaset(rig.api, namespace, draining, min_available=1)
    await rig.apply_policy(
        unique, _spec(unique, blockers={"pods": [{"labelSelector": {"matchLabels": {"block": unique}}}]})
    )
    rig.start_operator("--namespace", namespace)
    rig.sim.require_reboot(blocked, ["linux-image"])
    rig.sim.require_reboot(draining, ["linux-image"])
    await _until(rig, "the blocked node", lambda: _is_waiting(rig, blocked, "Blocked"))
    await rig.wait_phases([draining], {"Draining"}, timeout=60)

    kubectl("-n", namespace, "create", "configmap", "rollboot-stop", "--from-literal=reason=incident 42")
    await _until(rig, "the stop", lambda: _is_waiting(rig, blocked, "Stopped"))
    assert (
        "rollboot is stopped cluster-wide (ConfigMap rollboot-stop): incident 42"
        in (await _status(rig, blocked))["message"]
    )
    policy = await rig.policy(unique)
    assert [c["reason"] for c in policy["status"]["conditions"] if c["type"] == "Blocked"] == ["Stopped"]

    # The drain ends (its budget goes); the node holds there, cordoned and drained, and is not authorized.
    await client.PolicyV1Api(rig.api).delete_namespaced_pod_disruption_budget("web", namespace)
    held = await _until(rig, "the hold", lambda: _held(rig, draining))
    assert held["phase"] == "Draining" and not held.get("approval"), held
    assert await _cordoned(rig.api, draining)
    await asyncio.sleep(3)
    assert (await _status(rig, draining))["phase"] == "Draining"
    assert not await _cordoned(rig.api, blocked)

    kubectl("-n", namespace, "delete", "configmap", "rollboot-stop")
    await rig.wait_phases([draining], {"Completed"}, timeout=60)
    assert not await _cordoned(rig.api, draining)
    await _until(rig, "the blocker again", lambda: _is_waiting(rig, blocked, "Blocked"))
    events = await told(rig.api, blocked, "Blocked")
    # Issue 14: a pause or the stop is no reason to say the node's blockers cleared; the pod is still there.
    assert "Unblocked" not in events, events
    await told(rig.api, draining, "Held")


async def _is_waiting(rig: Rig, node: str, reason: str) -> bool:
    return _waiting_reason(await _status(rig, node)) == reason


async def _held(rig: Rig, node: str) -> dict[str, Any] | None:
    status = await _status(rig, node)
    return status if "holding before its reboot" in (status.get("message") or "") else None


async def test_skip_reboot_now_and_cancel_with_kubectl_annotate(
    rig: Rig, namespace: str, unique: str, kubectl: Kubectl
) -> None:
    skipped, stalled = f"ctl-{unique}-skip", f"ctl-{unique}-cancel"
    forced = f"ctl-{unique}-now"
    await rig.add_nodes([skipped, stalled], labels={"pool": unique})
    await rig.add_nodes([forced], labels={"pool": f"{unique}-closed"})
    await pinned_replicaset(rig.api, namespace, stalled, min_available=1)
    await rig.apply_policy(unique, _spec(unique))
    # A window open one minute a year (January 1): closed now.
    await rig.apply_policy(
        f"{unique}-closed", _spec(f"{unique}-closed", maintenanceWindows=[{"schedule": "@yearly", "duration": "1m"}])
    )
    kubectl("annotate", "node", skipped, "rollboot.dev/skip=")
    rig.start_operator("--namespace", namespace)
    rig.sim.require_reboot(skipped, ["linux-image"])
    rig.sim.require_reboot(stalled, ["linux-image"])

    # Skip: it waits, saying why, until the annotation goes.
    await _until(rig, "the skip", lambda: _is_waiting(rig, skipped, "Skipped"))
    assert (await _status(rig, skipped))["message"].startswith("skipped by an admin until further notice")

    # Cancel: the drain stalled on its budget is stopped and the node handed back.
    await rig.wait_phases([stalled], {"Draining"}, timeout=60)
    assert await _cordoned(rig.api, stalled)
    kubectl("annotate", "node", stalled, "rollboot.dev/cancel=")
    await rig.wait_phases([stalled], {"Cancelled"}, timeout=30)
    status = await _status(rig, stalled)
    assert status["message"].startswith("cancelled by an admin"), status
    await _until(rig, "the uncordon", lambda: _not(_cordoned(rig.api, stalled)))
    await _until(rig, "the cancel's removal", lambda: _lacks(rig.api, stalled, "rollboot.dev/cancel"))
    await told(rig.api, stalled, "Cancelled")
    await told(rig.api, stalled, "Cancelled", kind="NodeRebootRequest")
    pods = await client.CoreV1Api(rig.api).list_namespaced_pod(namespace, label_selector="app=web")
    assert [p.spec.node_name for p in pods.items] == [stalled], "the cancelled drain went on evicting"
    await asyncio.sleep(2)
    assert (await _status(rig, stalled))["phase"] == "Cancelled", "a cancelled need started again by itself"

    # Reboot now: a node with no need and no request, its window closed, is rebooted once.
    boot = rig.sim.boot_id(forced)
    kubectl("annotate", "node", forced, "rollboot.dev/reboot-now=")
    await _until(rig, "the forced reboot", lambda: _phase_is(rig, forced, "Completed"))
    assert rig.sim.boot_id(forced) != boot
    await _until(rig, "the reboot-now's removal", lambda: _lacks(rig.api, forced, "rollboot.dev/reboot-now"))
    closed = await rig.policy(f"{unique}-closed")
    assert closed["status"]["window"]["state"] == "Closed"

    kubectl("annotate", "node", skipped, "rollboot.dev/skip-")
    await rig.wait_phases([skipped], {"Completed"}, timeout=60)


async def _not(check: Any) -> bool:
    return not await check


async def _lacks(api: client.ApiClient, node: str, key: str) -> bool:
    return key not in await _annotations(api, node)


async def _phase_is(rig: Rig, node: str, phase: str) -> bool:
    return (await _status(rig, node)).get("phase") == phase
