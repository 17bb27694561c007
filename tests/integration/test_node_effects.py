"""Node effects and Events against a real API server: each effect changes a node once, then reports no change."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from kubernetes_asyncio import client

from hack.nodesim.simulator import NodeSimulator
from reboot_operator.kube import (
    CORDON_MARK,
    REBOOT_PENDING_TAINT,
    ApiRejected,
    Cordon,
    EventType,
    NodeGone,
    NodeView,
    ObjectRef,
    Taint,
    TaintEffect,
    cordon_for,
    ensure_cordoned,
    ensure_labels,
    ensure_no_taint,
    ensure_taint,
    ensure_uncordoned,
    post_event,
    read_node_facts,
)
from tests.integration.conftest import Cluster

Effect = Callable[[client.ApiClient, str], Awaitable[bool]]

PHASE_LABEL = "rollboot.dev/phase"


async def label_draining(api: client.ApiClient, node: str) -> bool:
    return await ensure_labels(api, node, {PHASE_LABEL: "draining"})


async def unlabel(api: client.ApiClient, node: str) -> bool:
    return await ensure_labels(api, node, {PHASE_LABEL: None})


def has_pending_taint(facts: NodeView) -> bool:
    return REBOOT_PENDING_TAINT in facts.taints


@pytest.fixture
async def node(simulator: NodeSimulator, unique: str) -> str:
    name = f"effects-{unique}"
    await simulator.add_node(name)
    return name


@pytest.mark.parametrize(
    ("prepare", "effect", "holds"),
    [
        pytest.param(None, ensure_cordoned, lambda f: f.unschedulable, id="cordon"),
        pytest.param(ensure_cordoned, ensure_uncordoned, lambda f: not f.unschedulable, id="uncordon"),
        pytest.param(None, label_draining, lambda f: f.labels.get(PHASE_LABEL) == "draining", id="set-label"),
        pytest.param(label_draining, unlabel, lambda f: PHASE_LABEL not in f.labels, id="remove-label"),
        pytest.param(None, ensure_taint, has_pending_taint, id="taint"),
        pytest.param(ensure_taint, ensure_no_taint, lambda f: not has_pending_taint(f), id="untaint"),
    ],
)
async def test_an_effect_changes_the_node_once_and_then_reports_no_change(
    api: client.ApiClient,
    node: str,
    prepare: Effect | None,
    effect: Effect,
    holds: Callable[[NodeView], bool],
) -> None:
    if prepare is not None:
        assert await prepare(api, node) is True
    assert await effect(api, node) is True
    assert holds(await read_node_facts(api, node))
    assert await effect(api, node) is False
    assert holds(await read_node_facts(api, node))


async def test_cordon_reports_no_change_on_a_node_someone_else_cordoned(
    api: client.ApiClient, simulator: NodeSimulator, unique: str
) -> None:
    name = f"precordoned-{unique}"
    await simulator.add_node(name, unschedulable=True)
    assert await ensure_cordoned(api, name) is False
    assert (await read_node_facts(api, name)).unschedulable


@pytest.mark.parametrize(
    ("admin_cordoned", "seen_unschedulable", "reports"),
    [
        pytest.param(True, False, False, id="stale-view-of-an-admins-cordon"),
        pytest.param(False, False, True, id="fresh-view-of-a-schedulable-node"),
        pytest.param(False, True, True, id="stale-view-of-a-cordon-since-undone"),
    ],
)
async def test_cordon_decided_on_a_watched_view_is_as_true_as_one_decided_on_a_read(
    api: client.ApiClient,
    simulator: NodeSimulator,
    unique: str,
    admin_cordoned: bool,
    seen_unschedulable: bool,
    reports: bool,
) -> None:
    # A stale view of the node must never make the operator claim an admin's cordon as its own (and say "Cordoned").
    name = f"seen-{unique}"
    await simulator.add_node(name, unschedulable=admin_cordoned)
    assert await ensure_cordoned(api, name, seen_unschedulable=seen_unschedulable) is reports
    assert (await read_node_facts(api, name)).unschedulable
    assert await ensure_cordoned(api, name, seen_unschedulable=False) is False


@pytest.mark.parametrize("seen_unschedulable", [True, False], ids=["fresh-view", "stale-view"])
async def test_uncordon_decided_on_a_watched_view_changes_the_node_once(
    api: client.ApiClient, node: str, seen_unschedulable: bool
) -> None:
    await ensure_cordoned(api, node)
    assert await ensure_uncordoned(api, node, seen_unschedulable=seen_unschedulable) is True
    assert not (await read_node_facts(api, node)).unschedulable
    assert await ensure_uncordoned(api, node, seen_unschedulable=True) is False


async def test_only_one_of_many_concurrent_cordons_reports_the_change(api: client.ApiClient, node: str) -> None:
    changed = await asyncio.gather(*(ensure_cordoned(api, node) for _ in range(5)))
    assert sorted(changed) == [False, False, False, False, True]


async def test_only_one_of_many_concurrent_cordons_on_a_watched_view_reports_the_change(
    api: client.ApiClient, node: str
) -> None:
    changed = await asyncio.gather(*(ensure_cordoned(api, node, seen_unschedulable=False) for _ in range(5)))
    assert sorted(changed) == [False, False, False, False, True]


async def test_only_one_of_many_concurrent_taints_reports_the_change(api: client.ApiClient, node: str) -> None:
    before = (await read_node_facts(api, node)).taints
    changed = await asyncio.gather(*(ensure_taint(api, node) for _ in range(5)))
    assert sorted(changed) == [False, False, False, False, True]
    assert (await read_node_facts(api, node)).taints == (*before, REBOOT_PENDING_TAINT)


async def test_taint_effects_keep_the_taints_others_set(cluster: Cluster, api: client.ApiClient, node: str) -> None:
    cluster.kubectl("taint", "node", node, "example.com/other=1:NoSchedule")
    others = (await read_node_facts(api, node)).taints
    assert Taint(key="example.com/other", value="1", effect=TaintEffect.NO_SCHEDULE) in others

    assert await ensure_taint(api, node)
    assert (await read_node_facts(api, node)).taints == (*others, REBOOT_PENDING_TAINT)
    assert await ensure_no_taint(api, node)
    assert (await read_node_facts(api, node)).taints == others


async def test_a_taint_with_a_new_value_replaces_the_one_with_the_same_key_and_effect(
    api: client.ApiClient, node: str
) -> None:
    others = (await read_node_facts(api, node)).taints
    first = Taint(key="rollboot.dev/reboot-pending", value="a")
    second = Taint(key="rollboot.dev/reboot-pending", value="b")
    assert await ensure_taint(api, node, first)
    assert await ensure_taint(api, node, second)
    assert (await read_node_facts(api, node)).taints == (*others, second)
    assert await ensure_no_taint(api, node, first)
    assert (await read_node_facts(api, node)).taints == others


async def test_labels_touch_only_the_keys_asked_for(api: client.ApiClient, node: str) -> None:
    before = (await read_node_facts(api, node)).labels
    assert await ensure_labels(api, node, {"a.example.com/x": "1", "b.example.com/y": "2"})
    assert await ensure_labels(api, node, {"a.example.com/x": None, "b.example.com/y": "2", "c.example.com/z": None})
    assert (await read_node_facts(api, node)).labels == {**before, "b.example.com/y": "2"}


@pytest.mark.parametrize(
    "effect",
    [ensure_cordoned, ensure_uncordoned, label_draining, ensure_taint, ensure_no_taint, read_node_facts],
    ids=lambda f: f.__name__,
)
async def test_effects_on_a_node_that_does_not_exist_raise_node_gone(
    api: client.ApiClient, unique: str, effect: Callable[[client.ApiClient, str], Awaitable[object]]
) -> None:
    with pytest.raises(NodeGone):
        await effect(api, f"missing-{unique}")


@pytest.fixture
async def unprivileged(api: client.ApiClient, namespace: str) -> AsyncIterator[client.ApiClient]:
    """A client acting as the namespace's default ServiceAccount, which may do nothing to nodes."""
    async with client.ApiClient(api.configuration) as restricted:
        restricted.set_default_header("Impersonate-User", f"system:serviceaccount:{namespace}:default")
        yield restricted


async def test_an_effect_the_api_server_forbids_raises_api_rejected_with_its_status(
    unprivileged: client.ApiClient, node: str
) -> None:
    with pytest.raises(ApiRejected) as refused:
        await ensure_cordoned(unprivileged, node)
    assert refused.value.status == 403


async def test_node_facts_come_from_the_nodes_status(
    api: client.ApiClient, node: str, simulator: NodeSimulator
) -> None:
    facts = await read_node_facts(api, node)
    assert facts.name == node
    assert facts.uid
    assert facts.ready
    assert facts.ready_since is not None
    assert facts.boot_id == simulator.boot_id(node)
    assert facts.kernel == simulator.kernel(node)
    assert facts.labels["kubernetes.io/hostname"] == node
    assert not facts.unschedulable
    assert REBOOT_PENDING_TAINT not in facts.taints


async def test_an_event_about_a_node_is_what_kubectl_describe_node_shows(
    cluster: Cluster, api: client.ApiClient, node: str
) -> None:
    facts = await read_node_facts(api, node)
    await post_event(
        api,
        involved=ObjectRef.node(node, facts.uid),
        reason="RebootScheduled",
        message=f"node {node} reboots next",
        type=EventType.WARNING,
    )
    events = await client.CoreV1Api(api).list_namespaced_event(
        "default", field_selector=f"involvedObject.name={node},involvedObject.kind=Node"
    )
    assert [(e.reason, e.type, e.message, e.involved_object.uid) for e in events.items] == [
        ("RebootScheduled", "Warning", f"node {node} reboots next", facts.uid)
    ]
    described = cluster.kubectl("describe", "node", node).stdout
    assert "RebootScheduled" in described


async def test_a_failure_to_post_an_event_is_logged_not_raised(
    api: client.ApiClient, unique: str, caplog: pytest.LogCaptureFixture
) -> None:
    involved = ObjectRef(kind="Pod", name="p", namespace=f"missing-{unique}")
    with caplog.at_level(logging.WARNING, logger="reboot_operator.kube.events"):
        await post_event(api, involved=involved, reason="Test", message="goes nowhere")
    assert any("could not post" in r.getMessage() for r in caplog.records)


async def _mark(api: client.ApiClient, node: str) -> str | None:
    raw = await client.CoreV1Api(api).read_node(node)
    return (raw.metadata.annotations or {}).get(CORDON_MARK)


@pytest.mark.parametrize(
    ("annotate", "seen", "annotated"),
    [
        pytest.param(False, None, True, id="read-first"),
        pytest.param(False, False, False, id="watched-without-annotations"),
        pytest.param(True, False, True, id="watched-with-annotations"),
        pytest.param(False, False, True, id="watched-view-wrong-about-annotations"),
    ],
)
async def test_our_cordon_is_marked_known_as_ours_after_a_restart_and_unmarked_with_our_uncordon(
    api: client.ApiClient, node: str, annotate: bool, seen: bool | None, annotated: bool
) -> None:
    if annotate:
        await client.CoreV1Api(api).patch_node(node, {"metadata": {"annotations": {"team": "blue"}}})
    cordon = await cordon_for(api, node, "uid-1", seen_unschedulable=seen, seen_annotated=annotated)
    assert cordon is Cordon.CORDONED
    assert await _mark(api, node) == "uid-1"
    # A cycle resumed after a restart finds the node cordoned: by itself, says the mark.
    assert await cordon_for(api, node, "uid-1", seen_unschedulable=False) is Cordon.OURS
    assert await ensure_uncordoned(api, node, seen_unschedulable=True, seen_mark="uid-1") is True
    facts = await read_node_facts(api, node)
    assert not facts.unschedulable and await _mark(api, node) is None
    if annotate:
        raw = await client.CoreV1Api(api).read_node(node)
        assert raw.metadata.annotations == {"team": "blue"}, "other annotations are kept"


async def test_a_cordon_found_unmarked_is_someone_elses_even_on_a_stale_view(
    api: client.ApiClient, simulator: NodeSimulator, unique: str
) -> None:
    name = f"theirs-{unique}"
    await simulator.add_node(name, unschedulable=True)
    assert await cordon_for(api, name, "uid-1", seen_unschedulable=False) is Cordon.THEIRS
    assert await cordon_for(api, name, "uid-1") is Cordon.THEIRS
    assert await _mark(api, name) is None, "an admin's cordon is never marked as ours"


async def test_a_cordon_marked_by_a_deleted_requests_cycle_is_still_ours(api: client.ApiClient, node: str) -> None:
    # The request was deleted mid-cycle and recreated by the agent: the new one has another uid. The cordon its
    # predecessor left is rollboot's, so the new cycle must uncordon it at the end, not keep it as an admin's.
    assert await cordon_for(api, node, "uid-deleted") is Cordon.CORDONED
    assert await cordon_for(api, node, "uid-new", seen_unschedulable=False) is Cordon.OURS
    assert await cordon_for(api, node, "uid-new") is Cordon.OURS
    assert await ensure_uncordoned(api, node, seen_unschedulable=True, seen_mark="uid-new") is True
    assert not (await read_node_facts(api, node)).unschedulable and await _mark(api, node) is None


async def test_a_mark_left_on_a_node_someone_uncordoned_goes_with_our_uncordon(
    api: client.ApiClient, node: str
) -> None:
    assert await cordon_for(api, node, "uid-1") is Cordon.CORDONED
    await client.CoreV1Api(api).patch_node(node, {"spec": {"unschedulable": None}})
    assert await ensure_uncordoned(api, node, seen_unschedulable=True, seen_mark="uid-1") is False
    assert await _mark(api, node) is None
