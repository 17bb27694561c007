"""Notifications end to end: the real operator sends through apprise's json:// service to a local HTTP receiver,
with the URL read from a Secret; a Secret the operator's service account may not read is told on the policy."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client, config

from reboot_operator import notify
from reboot_operator.api.policy import Notification, NotificationEvent
from reboot_operator.notify import Notice, Notifier
from reboot_operator.notify.sender import secret_reader
from tests.integration.conftest import Cluster
from tests.integration.install import install
from tests.integration.rollout import Rig
from tests.integration.servers import Receiver, receiver
from tests.manifests.render import NAMESPACE, Object


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


async def _secret(api: client.ApiClient, namespace: str, url: str, *, name: str = "hooks") -> dict[str, str]:
    await client.CoreV1Api(api).create_namespaced_secret(
        namespace,
        {"metadata": {"name": name}, "data": {"url": base64.b64encode(url.encode()).decode()}},
    )
    return {"name": name, "namespace": namespace, "key": "url"}


async def test_subscribed_events_arrive_with_node_policy_kernels_and_duration(
    rig: Rig, namespace: str, unique: str, hook: Receiver
) -> None:
    node, later = f"told-{unique}", f"told-later-{unique}"
    ref = await _secret(rig.api, namespace, hook.url)
    await rig.add_nodes([node, later], labels={"pool": unique})
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
    # A positive sign that the first cycle has said all it will: one queue, one worker, sent in order, so once the
    # next cycle's "started" (submitted after the first cycle ended) has arrived, everything before it has too.
    rig.sim.require_reboot(later)
    marker = f"node {later}: reboot cycle started (policy {unique}, kernel 6.8.0-1001-azure)"
    async with asyncio.timeout(60):
        while marker not in hook.messages():
            await asyncio.sleep(0.1)
    everything = hook.messages()
    messages = everything[: everything.index(marker)]
    assert len(messages) == 3, everything
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
    for node in nodes:
        rig.sim.require_reboot(node)
    await rig.wait_phases(nodes, {"Completed"}, timeout=60)
    # Each of the two notifications is tried 4 times with backoff (2 s, 4 s, 8 s), one after the other: 28 s of
    # retries in all, and the rollout does not wait for any of them.
    assert len(hook.received) < 8, "the rollout finished before the retries did"
    assert operator.log().count("dropped after 4 attempts") < 2, "the rollout finished before the retries did"
    # A positive sign that no more attempts will come: the operator says it dropped both, each after its last one.
    async with asyncio.timeout(60):
        while operator.log().count("dropped after 4 attempts") < 2:
            await asyncio.sleep(0.2)
    assert operator.log().count("dropped after 4 attempts") == 2, rig.dump()
    assert len(hook.received) == 8, hook.messages()


# -- a Secret the operator may not read: told on the policy, once -----------------------------------------------


@pytest.fixture(scope="module")
def installed(cluster: Cluster) -> Iterator[list[Object]]:
    """The rendered RBAC (and the rest of the base) on the control plane: the operator's real service account."""
    yield from install(cluster)


@pytest.fixture
async def as_operator(cluster: Cluster, installed: list[Object], tmp_path: Path) -> AsyncIterator[client.ApiClient]:
    """A client holding a real token of the operator's service account, with exactly its RBAC."""
    token = cluster.kubectl("create", "token", "rollboot-operator", "-n", NAMESPACE, "--duration=1h").stdout.strip()
    kubeconfig = json.loads(cluster.kubeconfig.read_text())
    for user in kubeconfig["users"]:
        user["user"] = {"token": token}
    path = tmp_path / "operator.kubeconfig"
    path.write_text(json.dumps(kubeconfig))
    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(path), client_configuration=configuration)
    async with client.ApiClient(configuration) as operator:
        yield operator


async def policy_events(api: client.ApiClient, policy: str) -> list[Any]:
    events = await client.CoreV1Api(api).list_namespaced_event(
        "default", field_selector=f"involvedObject.kind=RebootPolicy,involvedObject.name={policy}"
    )
    return list(events.items)


async def test_a_secret_the_operator_may_not_read_is_told_once_on_the_policy_as_a_warning_event(
    api: client.ApiClient,
    as_operator: client.ApiClient,
    cluster: Cluster,
    namespace: str,
    unique: str,
    hook: Receiver,
) -> None:
    elsewhere = await _secret(api, namespace, hook.url)  # outside rollboot-system: 403 for the operator
    readable = await _secret(api, NAMESPACE, hook.url, name=f"hooks-{unique}")
    rig_policy = {"nodeSelector": {"matchLabels": {"pool": unique}}, "maxConcurrent": 1}
    custom = client.CustomObjectsApi(api)
    body = {"apiVersion": "rollboot.dev/v1alpha1", "kind": "RebootPolicy", "metadata": {"name": unique}}
    created = await custom.create_cluster_custom_object(
        "rollboot.dev", "v1alpha1", "rebootpolicies", {**body, "spec": rig_policy}
    )
    notifier = Notifier(
        read_secret=secret_reader(as_operator),
        attempts=2,
        backoff=(0.01, 0.01),
        on_failure=notify.policy_events(as_operator),
    )
    subscriptions = [
        Notification.model_validate({"urlSecretRef": elsewhere}),
        Notification.model_validate({"urlSecretRef": readable}),
    ]
    try:
        for node in ("a", "b", "c"):
            notifier.submit(subscriptions, Notice(NotificationEvent.STARTED, unique, node=f"{node}-{unique}"))
        await asyncio.wait_for(notifier.drain(), 60)

        assert (notifier.delivered, notifier.dropped) == (3, 3)
        [event] = await policy_events(api, unique)
        assert (event.type, event.reason) == ("Warning", "NotificationFailed")
        assert event.involved_object.uid == created["metadata"]["uid"]
        assert event.message.startswith(
            f"notifications of policy {unique} via Secret {namespace}/hooks key url are failing: 403 Forbidden"
        ), event.message
        assert f'cannot get resource "secrets" in API group "" in the namespace "{namespace}"' in event.message
        assert "operator.secretNamespaces" in event.message
        described = cluster.kubectl("describe", "rebootpolicy", unique).stdout
        assert "NotificationFailed" in described, described
    finally:
        await notifier.stop()
        await custom.delete_cluster_custom_object("rollboot.dev", "v1alpha1", "rebootpolicies", unique)
        await client.CoreV1Api(api).delete_namespaced_secret(readable["name"], NAMESPACE)
