"""The drain against a real API server: real evictions, real PodDisruptionBudgets, pods that really go away.

Each test has a ``source`` node to drain and a ``target`` node where replacements land. Pods of a ReplicaSet are
created by the replicaset controller and bound by the node simulator; hand-made pods are bound with ``nodeName``.
"Managed" hand-made pods belong to a StatefulSet object that no controller acts on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import itertools
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio import client

from hack.nodesim.simulator import NodeSimulator
from reboot_operator.kube import (
    BlockingPod,
    BlockReason,
    DrainOptions,
    DrainOutcome,
    DrainProgress,
    SkippedPod,
    SkipReason,
    drain_node,
    ensure_cordoned,
    ensure_uncordoned,
)
from reboot_operator.kube.eviction import EvictionOutcome, evict_until_accepted
from reboot_operator.kube.node_pods import NodePodWatch, pods_of
from reboot_operator.kube.pod_filters import PodInfo
from tests.integration.polling import eventually

IMAGE = "registry.k8s.io/pause:3.10"
Nodes = tuple[str, str]


async def pods_on(api: client.ApiClient, node: str, namespace: str) -> list[Any]:
    listing = await client.CoreV1Api(api).list_namespaced_pod(namespace, field_selector=f"spec.nodeName={node}")
    return list(listing.items)


async def running_on(api: client.ApiClient, node: str, namespace: str, count: int) -> bool:
    pods = [p for p in await pods_on(api, node, namespace) if p.metadata.deletion_timestamp is None]
    return len(pods) == count and all(p.status.phase == "Running" for p in pods)


@pytest.fixture
async def nodes(api: client.ApiClient, simulator: NodeSimulator, unique: str) -> Nodes:
    """(source, target): the source is schedulable so that new pods land there; the target is cordoned for now."""
    source, target = f"drain-{unique}", f"spare-{unique}"
    await simulator.add_node(source)
    await simulator.add_node(target, unschedulable=True)
    return source, target


async def hand_over(api: client.ApiClient, nodes: Nodes) -> None:
    """Cordon the source and open the target, as the operator does before a drain."""
    source, target = nodes
    await ensure_cordoned(api, source)
    await ensure_uncordoned(api, target)


@pytest.fixture
async def owner(api: client.ApiClient, namespace: str) -> dict[str, Any]:
    """A controller reference to a StatefulSet object nothing reconciles: its pods count as managed."""
    body = {
        "metadata": {"name": "db", "namespace": namespace},
        "spec": {
            "replicas": 0,
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "c", "image": IMAGE}]},
            },
        },
    }
    created = await client.AppsV1Api(api).create_namespaced_stateful_set(namespace, body)
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "name": "db",
        "uid": created.metadata.uid,
        "controller": True,
    }


async def create_pod(
    api: client.ApiClient,
    namespace: str,
    name: str,
    *,
    node: str,
    labels: dict[str, str] | None = None,
    owner: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    empty_dir: bool = False,
    grace: int = 30,
    finalizers: list[str] | None = None,
) -> Any:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels or {"app": "db"}}
    if owner is not None:
        metadata["ownerReferences"] = [owner]
    if annotations:
        metadata["annotations"] = annotations
    if finalizers:
        metadata["finalizers"] = finalizers
    spec: dict[str, Any] = {
        "nodeName": node,
        "terminationGracePeriodSeconds": grace,
        "containers": [{"name": "c", "image": IMAGE}],
    }
    if empty_dir:
        spec["volumes"] = [{"name": "scratch", "emptyDir": {}}]
    core = client.CoreV1Api(api)
    pod = await core.create_namespaced_pod(namespace, {"metadata": metadata, "spec": spec})
    await eventually(lambda: _phase_is(core, namespace, name, "Running"), what=f"{name} running")
    return pod


async def _phase_is(core: client.CoreV1Api, namespace: str, name: str, phase: str) -> bool:
    return bool((await core.read_namespaced_pod(name, namespace)).status.phase == phase)


async def create_replicaset(api: client.ApiClient, namespace: str, name: str, *, replicas: int) -> None:
    labels = {"app": name}
    body = {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"terminationGracePeriodSeconds": 10, "containers": [{"name": "c", "image": IMAGE}]},
            },
        },
    }
    await client.AppsV1Api(api).create_namespaced_replica_set(namespace, body)


async def create_budget(api: client.ApiClient, namespace: str, name: str, *, app: str, min_available: int) -> None:
    body = {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"minAvailable": min_available, "selector": {"matchLabels": {"app": app}}},
    }
    policy = client.PolicyV1Api(api)
    await policy.create_namespaced_pod_disruption_budget(namespace, body)

    async def observed() -> bool:
        pdb = await policy.read_namespaced_pod_disruption_budget(name, namespace)
        return bool(pdb.status and pdb.status.observed_generation == pdb.metadata.generation)

    await eventually(observed, what=f"PDB {name} observed")


class ProgressLog:
    def __init__(self) -> None:
        self.reports: list[DrainProgress] = []

    async def __call__(self, progress: DrainProgress) -> None:
        self.reports.append(progress)

    async def blocked_by_a_budget(self) -> bool:
        return bool(self.budget_blocks())

    def budget_blocks(self) -> set[tuple[str, str]]:
        return {
            (block.name, block.detail)
            for report in self.reports
            for block in report.blocking
            if block.reason is BlockReason.POD_DISRUPTION_BUDGET
        }


async def test_replicaset_pods_are_evicted_and_the_drain_completes_once_they_are_gone(
    api: client.ApiClient, namespace: str, nodes: Nodes
) -> None:
    source, target = nodes
    await create_replicaset(api, namespace, "web", replicas=3)
    await eventually(lambda: running_on(api, source, namespace, 3), what="3 pods on the source")
    before = {p.metadata.name for p in await pods_on(api, source, namespace)}
    await hand_over(api, nodes)
    progress = ProgressLog()

    result = await drain_node(api, source, DrainOptions(timeout=60), on_progress=progress)

    assert result.outcome is DrainOutcome.COMPLETED, result.error
    assert {pod.name for pod in result.evicted} == before
    assert await pods_on(api, source, namespace) == []
    await eventually(lambda: running_on(api, target, namespace, 3), what="3 replacements on the target")
    assert all(report.total == 3 for report in progress.reports)
    assert progress.reports[-1] == DrainProgress(total=3, remaining=0, blocking=())


async def test_daemonset_and_mirror_pods_are_left_on_the_node(
    api: client.ApiClient, namespace: str, nodes: Nodes
) -> None:
    source, _ = nodes
    body = {
        "metadata": {"name": "agent", "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {"containers": [{"name": "c", "image": IMAGE}]},
            },
        },
    }
    daemonset = await client.AppsV1Api(api).create_namespaced_daemon_set(namespace, body)
    daemonset_owner = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "name": "agent",
        "uid": daemonset.metadata.uid,
        "controller": True,
    }
    await create_pod(api, namespace, "agent-x", node=source, labels={"app": "agent"}, owner=daemonset_owner)
    await create_pod(api, namespace, "static-x", node=source, annotations={"kubernetes.io/config.mirror": "abc"})
    await ensure_cordoned(api, source)

    result = await drain_node(api, source, DrainOptions(timeout=30))

    assert result.outcome is DrainOutcome.COMPLETED, result.error
    assert result.evicted == ()
    assert set(result.skipped) == {
        SkippedPod(namespace, "agent-x", SkipReason.DAEMONSET),
        SkippedPod(namespace, "static-x", SkipReason.MIRROR),
    }
    assert {p.metadata.name for p in await pods_on(api, source, namespace)} == {"agent-x", "static-x"}


@pytest.mark.parametrize(
    ("managed", "empty_dir", "finished", "options", "refused_for"),
    [
        pytest.param(False, False, False, DrainOptions(), BlockReason.UNMANAGED, id="unmanaged-is-refused"),
        pytest.param(False, False, False, DrainOptions(force=True), None, id="unmanaged-with-force-is-deleted"),
        pytest.param(False, False, True, DrainOptions(), None, id="finished-unmanaged-is-deleted-without-force"),
        pytest.param(True, True, False, DrainOptions(), BlockReason.EMPTY_DIR, id="emptydir-is-refused"),
        pytest.param(
            True, True, False, DrainOptions(delete_emptydir_data=True), None, id="emptydir-with-the-flag-is-deleted"
        ),
        pytest.param(False, True, False, DrainOptions(force=True), BlockReason.EMPTY_DIR, id="force-keeps-emptydir"),
    ],
)
async def test_pods_the_options_do_not_allow_to_remove_refuse_the_drain_by_name(
    api: client.ApiClient,
    namespace: str,
    nodes: Nodes,
    owner: dict[str, Any],
    managed: bool,
    empty_dir: bool,
    finished: bool,
    options: DrainOptions,
    refused_for: BlockReason | None,
) -> None:
    source, _ = nodes
    await create_pod(api, namespace, "db-0", node=source, owner=owner if managed else None, empty_dir=empty_dir)
    await create_pod(api, namespace, "db-1", node=source, owner=owner)
    if finished:
        core = client.CoreV1Api(api)
        await core.patch_namespaced_pod_status("db-0", namespace, {"status": {"phase": "Succeeded"}})
    await ensure_cordoned(api, source)

    result = await drain_node(api, source, dataclasses.replace(options, timeout=30))

    if refused_for is None:
        assert result.outcome is DrainOutcome.COMPLETED, result.error
        assert {pod.name for pod in result.evicted} == {"db-0", "db-1"}
        assert await pods_on(api, source, namespace) == []
    else:
        assert result.outcome is DrainOutcome.REFUSED
        assert result.blocking == (BlockingPod(namespace, "db-0", refused_for),)
        assert result.error is not None
        assert f"{namespace}/db-0" in result.error
        untouched = await pods_on(api, source, namespace)
        assert sorted(p.metadata.name for p in untouched) == ["db-0", "db-1"]
        assert all(p.metadata.deletion_timestamp is None for p in untouched)


async def test_a_budget_that_allows_no_disruption_blocks_until_the_timeout_and_is_named(
    api: client.ApiClient, namespace: str, nodes: Nodes, caplog: pytest.LogCaptureFixture
) -> None:
    source, _ = nodes
    await create_replicaset(api, namespace, "web", replicas=2)
    await eventually(lambda: running_on(api, source, namespace, 2), what="2 pods on the source")
    await create_budget(api, namespace, "web-budget", app="web", min_available=2)
    names = {p.metadata.name for p in await pods_on(api, source, namespace)}
    await hand_over(api, nodes)
    progress = ProgressLog()

    with caplog.at_level(logging.INFO, logger="reboot_operator.kube.eviction"):
        result = await drain_node(api, source, DrainOptions(timeout=12), on_progress=progress)

    assert result.outcome is DrainOutcome.TIMED_OUT
    assert {(b.name, b.reason, b.detail) for b in result.blocking} == {
        (name, BlockReason.POD_DISRUPTION_BUDGET, "web-budget") for name in names
    }
    assert all(name in (result.error or "") for name in names)
    assert progress.budget_blocks() == {(name, "web-budget") for name in names}
    assert progress.reports[-1].remaining == 2
    for name in names:
        attempts = [
            r.created
            for r in caplog.records
            if getattr(r, "pod", None) == f"{namespace}/{name}" and getattr(r, "block_reason", None)
        ]
        assert len(attempts) >= 2, f"{name} was tried {len(attempts)} times"
        gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
        assert min(gaps) >= 4.95, gaps
    assert {p.metadata.name for p in await pods_on(api, source, namespace)} == names


async def test_relaxing_the_budget_mid_drain_lets_the_drain_complete(
    api: client.ApiClient, namespace: str, nodes: Nodes
) -> None:
    source, target = nodes
    await create_replicaset(api, namespace, "web", replicas=2)
    await eventually(lambda: running_on(api, source, namespace, 2), what="2 pods on the source")
    await create_budget(api, namespace, "web-budget", app="web", min_available=2)
    await hand_over(api, nodes)
    progress = ProgressLog()
    drain = asyncio.create_task(drain_node(api, source, DrainOptions(timeout=90), on_progress=progress))
    await eventually(progress.blocked_by_a_budget, what="the budget reported as blocking")
    policy = client.PolicyV1Api(api)
    await policy.patch_namespaced_pod_disruption_budget("web-budget", namespace, {"spec": {"minAvailable": 1}})
    result = await drain

    assert result.outcome is DrainOutcome.COMPLETED, result.error
    assert len(result.evicted) == 2
    assert progress.reports[-1] == DrainProgress(total=2, remaining=0, blocking=())
    await eventually(lambda: running_on(api, target, namespace, 2), what="2 replacements on the target")


async def test_a_pod_replaced_under_the_same_name_counts_as_gone_and_the_newcomer_is_left_alone(
    api: client.ApiClient, namespace: str, nodes: Nodes, owner: dict[str, Any]
) -> None:
    source, target = nodes
    original = await create_pod(api, namespace, "db-0", node=source, owner=owner)
    await create_budget(api, namespace, "db-budget", app="db", min_available=1)
    await hand_over(api, nodes)
    progress = ProgressLog()
    drain = asyncio.create_task(drain_node(api, source, DrainOptions(timeout=60), on_progress=progress))
    await eventually(progress.blocked_by_a_budget, what="the budget reported as blocking")
    core = client.CoreV1Api(api)
    await core.delete_namespaced_pod("db-0", namespace, grace_period_seconds=0)
    newcomer = await create_pod(api, namespace, "db-0", node=target, owner=owner)
    result = await drain

    assert result.outcome is DrainOutcome.COMPLETED, result.error
    assert [(pod.name, pod.uid) for pod in result.evicted] == [("db-0", original.metadata.uid)]
    current = await core.read_namespaced_pod("db-0", namespace)
    assert current.metadata.uid == newcomer.metadata.uid
    assert current.metadata.deletion_timestamp is None


@pytest.mark.parametrize(
    ("own_grace", "override", "expected"),
    [
        pytest.param(30, None, 30, id="the-pods-own-grace-period-by-default"),
        pytest.param(600, 20, 20, id="an-override-replaces-it"),
    ],
)
async def test_the_grace_period_reaches_the_pods_deletion(
    api: client.ApiClient,
    namespace: str,
    nodes: Nodes,
    owner: dict[str, Any],
    own_grace: int,
    override: int | None,
    expected: int,
) -> None:
    source, _ = nodes
    await create_pod(api, namespace, "db-0", node=source, owner=owner, grace=own_grace)
    await ensure_cordoned(api, source)
    seen: list[int] = []
    core = client.CoreV1Api(api)

    async def terminating() -> bool:
        pod = await core.read_namespaced_pod("db-0", namespace)
        if pod.metadata.deletion_timestamp is None:
            return False
        seen.append(pod.metadata.deletion_grace_period_seconds)
        return True

    drain = asyncio.create_task(drain_node(api, source, DrainOptions(timeout=60, grace_period_seconds=override)))
    await eventually(terminating, what="db-0 terminating")
    result = await drain

    assert result.outcome is DrainOutcome.COMPLETED, result.error
    assert seen == [expected]


async def test_pods_deleted_longer_ago_than_the_skip_timeout_are_not_waited_for(
    api: client.ApiClient, namespace: str, nodes: Nodes, owner: dict[str, Any]
) -> None:
    source, _ = nodes
    hold = "rollboot.dev/test-hold"
    await create_pod(api, namespace, "stuck", node=source, owner=owner, finalizers=[hold])
    core = client.CoreV1Api(api)
    await core.delete_namespaced_pod("stuck", namespace, grace_period_seconds=0)
    await ensure_cordoned(api, source)
    try:
        # Until the deletion, by the API server's own timestamp, is older than the drain's 1 s skip timeout.
        deleted: datetime.datetime = (await core.read_namespaced_pod("stuck", namespace)).metadata.deletion_timestamp
        assert deleted is not None

        async def long_ago() -> bool:
            return (datetime.datetime.now(datetime.UTC) - deleted).total_seconds() > 1

        await eventually(long_ago, what="the deletion to be older than the skip timeout")
        result = await drain_node(api, source, DrainOptions(timeout=30, skip_wait_for_delete_timeout=1))
        assert result.outcome is DrainOutcome.COMPLETED, result.error
        assert result.skipped == (SkippedPod(namespace, "stuck", SkipReason.DELETED_LONG_AGO),)
    finally:
        await core.patch_namespaced_pod("stuck", namespace, {"metadata": {"finalizers": None}})


async def test_a_pod_selector_limits_the_drain_to_matching_pods(
    api: client.ApiClient, namespace: str, nodes: Nodes, owner: dict[str, Any]
) -> None:
    source, _ = nodes
    await create_pod(api, namespace, "db-0", node=source, owner=owner, labels={"app": "db", "tier": "cache"})
    await create_pod(api, namespace, "db-1", node=source, owner=owner, labels={"app": "db", "tier": "store"})
    await ensure_cordoned(api, source)

    result = await drain_node(api, source, DrainOptions(timeout=30, pod_selector="tier=cache"))

    assert result.outcome is DrainOutcome.COMPLETED, result.error
    assert [pod.name for pod in result.evicted] == ["db-0"]
    assert [p.metadata.name for p in await pods_on(api, source, namespace)] == ["db-1"]


async def test_an_eviction_meant_for_a_pod_since_replaced_leaves_the_newcomer_alone(
    api: client.ApiClient, namespace: str, nodes: Nodes, owner: dict[str, Any]
) -> None:
    source, _ = nodes
    pod = await create_pod(api, namespace, "db-0", node=source, owner=owner)
    raw = api.sanitize_for_serialization(pod)
    stale = dataclasses.replace(PodInfo.from_json(raw), uid="00000000-0000-0000-0000-000000000000")

    outcome = await evict_until_accepted(api, stale, DrainOptions(), on_blocked=lambda block: None)

    assert outcome is EvictionOutcome.GONE
    current = await client.CoreV1Api(api).read_namespaced_pod("db-0", namespace)
    assert current.metadata.deletion_timestamp is None


@pytest.fixture
async def unprivileged(api: client.ApiClient, namespace: str) -> AsyncIterator[client.ApiClient]:
    """A client acting as the namespace's default ServiceAccount, which may do nothing cluster-wide."""
    async with client.ApiClient(api.configuration) as restricted:
        restricted.set_default_header("Impersonate-User", f"system:serviceaccount:{namespace}:default")
        yield restricted


async def test_a_drain_not_allowed_to_list_pods_fails_with_the_servers_reason(
    unprivileged: client.ApiClient, nodes: Nodes
) -> None:
    source, _ = nodes
    result = await drain_node(unprivileged, source, DrainOptions(timeout=30))

    assert result.outcome is DrainOutcome.FAILED
    assert result.error is not None
    assert "403" in result.error
    assert "forbidden" in result.error.lower()


# -- waiting for the evicted pods: a watch of the node's pods, with re-lists as the fallback -----------------------


async def test_an_evicted_pods_deletion_ends_the_drain_at_once_not_at_the_next_relist(
    api: client.ApiClient, namespace: str, nodes: Nodes, owner: dict[str, Any]
) -> None:
    source, _ = nodes
    await create_pod(api, namespace, "db-0", node=source, owner=owner, grace=20)
    await ensure_cordoned(api, source)
    # No deadline and no re-list for 10 min: the drain can end only when the watch tells it the pod is gone (its
    # grace period is 20 s). Without that it waits past this test's time-out, which then fails it.
    try:
        async with asyncio.timeout(120):
            result = await drain_node(api, source, DrainOptions(timeout=None, relist_interval=600))
    except TimeoutError:
        raise AssertionError("the pod was gone, yet the drain kept waiting: its watch did not wake it") from None

    assert result.outcome is DrainOutcome.COMPLETED, result.error
    assert [pod.name for pod in result.evicted] == ["db-0"]


async def test_the_drains_watch_sees_its_own_nodes_pods_only(
    api: client.ApiClient, namespace: str, nodes: Nodes, owner: dict[str, Any]
) -> None:
    source, target = nodes
    await ensure_uncordoned(api, target)
    await create_pod(api, namespace, "here-0", node=source, owner=owner)
    await create_pod(api, namespace, "there-0", node=target, owner=owner)
    seen: set[str] = set()
    watch: NodePodWatch

    def changed() -> None:
        seen.update(pod.name for pod in (watch.pods or {}).values())

    watch = NodePodWatch(pods_of(api, source), source, relist_interval=30, on_change=changed)
    task = asyncio.create_task(watch.run())
    try:
        await eventually(lambda: _true(watch.pods is not None), what="the first listing")
        await create_pod(api, namespace, "there-1", node=target, owner=owner)
        await create_pod(api, namespace, "here-1", node=source, owner=owner)
        await eventually(lambda: _true("here-1" in seen), what="here-1 seen through the watch")
        assert watch.lists == 1, "seen through a re-list, not the watch"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert seen == {"here-0", "here-1"}


async def _true(value: bool) -> bool:
    return value


@pytest.fixture
async def cannot_watch_pods(api: client.ApiClient, namespace: str, unique: str) -> AsyncIterator[client.ApiClient]:
    """A client whose role has every right a drain needs but ``watch`` on pods (an install with older RBAC)."""
    rbac = client.RbacAuthorizationV1Api(api)
    name = f"drain-no-watch-{unique}"
    rules = [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
        {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
        {"apiGroups": ["apps"], "resources": ["daemonsets"], "verbs": ["get"]},
        {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": ["list"]},
    ]
    account = f"system:serviceaccount:{namespace}:default"
    await rbac.create_cluster_role({"metadata": {"name": name}, "rules": rules})
    await rbac.create_cluster_role_binding(
        {
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": namespace}],
        }
    )
    try:
        async with client.ApiClient(api.configuration) as restricted:
            restricted.set_default_header("Impersonate-User", account)
            yield restricted
    finally:
        await rbac.delete_cluster_role_binding(name)
        await rbac.delete_cluster_role(name)


async def test_a_drain_whose_watch_is_refused_still_completes_by_listing_the_pods_again(
    api: client.ApiClient,
    cannot_watch_pods: client.ApiClient,
    namespace: str,
    nodes: Nodes,
    owner: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    source, _ = nodes
    await create_pod(api, namespace, "db-0", node=source, owner=owner, grace=20)
    await create_pod(api, namespace, "db-1", node=source, owner=owner, grace=20)
    await ensure_cordoned(api, source)

    with caplog.at_level(logging.WARNING, logger="reboot_operator.kube.node_pods"):
        result = await drain_node(cannot_watch_pods, source, DrainOptions(timeout=40, relist_interval=2))

    assert result.outcome is DrainOutcome.COMPLETED, result.error
    assert {pod.name for pod in result.evicted} == {"db-0", "db-1"}
    assert await pods_on(api, source, namespace) == []
    refused = [r.getMessage() for r in caplog.records if "403" in r.getMessage()]
    assert len(refused) == 1, caplog.text
    assert "listing them every 2 s instead" in refused[0]


@pytest.mark.parametrize("last", [True, False], ids=["own-pod-last", "all-at-once"])
async def test_the_operators_own_pod_is_evicted_only_once_every_other_pod_is_gone(
    api: client.ApiClient, namespace: str, nodes: Nodes, owner: dict[str, Any], last: bool
) -> None:
    # The operator's eviction of its own pod ends its process; an eviction still in flight then can charge a
    # PodDisruptionBudget for a pod never deleted (seen on real nodes). So its own pod goes last.
    source, _ = nodes
    await create_pod(api, namespace, "db-0", node=source, owner=owner, grace=30)
    await create_pod(api, namespace, "operator-0", node=source, owner=owner, grace=1)
    await ensure_cordoned(api, source)
    core = client.CoreV1Api(api)
    others_left_when_own_went: list[list[str]] = []

    async def own_terminating() -> bool:
        own = await core.read_namespaced_pod("operator-0", namespace)
        if own.metadata.deletion_timestamp is None:
            return False
        others_left_when_own_went.append([p.metadata.name for p in await pods_on(api, source, namespace)])
        return True

    options = DrainOptions(timeout=60, evict_last=frozenset({(namespace, "operator-0")} if last else set()))
    drain = asyncio.create_task(drain_node(api, source, options))
    await eventually(own_terminating, what="operator-0 terminating")
    result = await drain

    assert result.outcome is DrainOutcome.COMPLETED, result.error
    assert {pod.name for pod in result.evicted} == {"db-0", "operator-0"}
    if last:
        assert others_left_when_own_went == [["operator-0"]]
    else:
        assert "db-0" in others_left_when_own_went[0], "without evict_last both go at once (the test can tell)"
