"""The node effects (cordon, uncordon, labels, reading facts), fast, over the in-memory stand-in of the API
(``tests/operator/memory.py``): what each returns, when it reads, how it loses a race and when it gives up. The
real API server proves the same in tests/integration/test_node_effects.py."""

from __future__ import annotations

from typing import Any

import pytest

from reboot_operator.kube import node_view, nodes
from reboot_operator.runtime.errors import ApiRejected, ApiUnavailable, NodeGone
from tests.operator.memory import MemoryApi, node

NAME = "node-a"


@pytest.fixture
def memory() -> MemoryApi:
    found = MemoryApi()
    found.put("nodes", node(NAME))
    return found


def stored(memory: MemoryApi) -> dict[str, object]:
    body = memory.get("nodes", NAME)
    assert body is not None
    return body


async def test_a_cordon_from_a_fresh_view_patches_without_reading(memory: MemoryApi) -> None:
    cordon = await nodes.cordon_for(await memory.client(), NAME, "uid-1", seen_unschedulable=False)

    assert cordon is nodes.Cordon.CORDONED
    assert memory.reads == [] and memory.refused == []
    assert memory.get("nodes", NAME)["metadata"]["annotations"][node_view.CORDON_MARK] == "uid-1"  # type: ignore[index]


async def test_ensure_cordoned_from_a_fresh_view_patches_without_reading(memory: MemoryApi) -> None:
    assert await nodes.ensure_cordoned(await memory.client(), NAME, seen_unschedulable=False) is True
    assert memory.reads == [] and memory.refused == []
    assert await nodes.ensure_cordoned(await memory.client(), NAME) is False, "cordoned already"


async def test_an_uncordon_of_a_marked_node_removes_both_without_reading(memory: MemoryApi) -> None:
    api = await memory.client()
    await nodes.cordon_for(api, NAME, "uid-1")

    assert await nodes.ensure_uncordoned(api, NAME, seen_unschedulable=True, seen_mark="uid-1") is True
    assert memory.refused == [] and memory.reads == [("nodes", NAME)], "only the cordon's own read"
    body = memory.get("nodes", NAME)
    assert body is not None
    assert "unschedulable" not in body["spec"] and node_view.CORDON_MARK not in body["metadata"]["annotations"]


async def test_an_uncordon_told_the_mark_but_not_the_view_reads_first(memory: MemoryApi) -> None:
    api = await memory.client()
    await nodes.cordon_for(api, NAME, "uid-1")

    assert await nodes.ensure_uncordoned(api, NAME, seen_mark="uid-1") is True


async def test_a_schedulable_node_that_kept_our_mark_loses_it_but_was_not_uncordoned(memory: MemoryApi) -> None:
    memory.edit("nodes", NAME, lambda n: n["metadata"]["annotations"].update({node_view.CORDON_MARK: "uid-old"}))

    assert await nodes.ensure_uncordoned(await memory.client(), NAME) is False
    body = memory.get("nodes", NAME)
    assert body is not None and node_view.CORDON_MARK not in body["metadata"]["annotations"]


async def test_a_node_cordoned_meanwhile_costs_a_refused_patch_and_a_read_never_a_claim(memory: MemoryApi) -> None:
    memory.edit("nodes", NAME, lambda n: n["spec"].update(unschedulable=True))  # the admin; the view lags

    cordon = await nodes.cordon_for(await memory.client(), NAME, "uid-1", seen_unschedulable=False)

    assert cordon is nodes.Cordon.THEIRS
    assert memory.refused == [("nodes", NAME, 422)]


async def test_a_node_that_keeps_changing_is_given_up_on_after_so_many_races(memory: MemoryApi) -> None:
    def flip(body: dict[str, Any]) -> None:  # schedulable either way, but never as last read
        if "unschedulable" in body["spec"]:
            del body["spec"]["unschedulable"]
        else:
            body["spec"]["unschedulable"] = False

    def meddle(method: str, path: str) -> None:
        if method == "PATCH":
            memory.edit("nodes", NAME, flip)

    memory.before = meddle

    with pytest.raises(ApiUnavailable, match="kept changing"):
        await nodes.ensure_cordoned(await memory.client(), NAME)
    assert len(memory.refused) == nodes.RACE_ATTEMPTS == 5
    memory.refused.clear()
    memory.edit("nodes", NAME, lambda n: n["spec"].pop("unschedulable", None))  # as the view says: absent
    with pytest.raises(ApiUnavailable, match="kept changing"):
        await nodes.ensure_cordoned(await memory.client(), NAME, seen_unschedulable=False)
    assert len(memory.refused) == 6, "the patch from the view is one more try, not one less"


async def test_a_forbidden_patch_is_rejected_with_its_status(memory: MemoryApi) -> None:
    memory.before = lambda method, path: 403 if method == "PATCH" else None

    with pytest.raises(ApiRejected) as rejected:
        await nodes.ensure_cordoned(await memory.client(), NAME)
    assert rejected.value.status == 403


async def test_a_patch_refused_as_invalid_is_not_a_race(memory: MemoryApi) -> None:
    def invalid(raw: object) -> list[dict[str, object]]:
        return [{"op": "remove", "path": "/spec/nothing-there"}]

    with pytest.raises(ApiRejected):
        await nodes._converge(await memory.client(), NAME, invalid, what="test")
    assert len(memory.refused) == nodes.RACE_ATTEMPTS


async def test_a_missing_node_is_node_gone(memory: MemoryApi) -> None:
    with pytest.raises(NodeGone):
        await nodes.ensure_cordoned(await memory.client(), "no-such-node")
    with pytest.raises(NodeGone):
        await nodes.read_node_facts(await memory.client(), "no-such-node")


async def test_labels_say_whether_they_changed_anything(memory: MemoryApi) -> None:
    api = await memory.client()
    assert await nodes.ensure_labels(api, NAME, {"example.com/x": "1"}) is True
    assert await nodes.ensure_labels(api, NAME, {"example.com/x": "1"}) is False
    assert await nodes.ensure_labels(api, NAME, {"example.com/x": None}) is True
    assert stored(memory)["metadata"]["labels"] == {"pool": "a"}  # type: ignore[index]


async def test_facts_read_from_the_node(memory: MemoryApi) -> None:
    facts = await nodes.read_node_facts(await memory.client(), NAME)

    assert (facts.name, facts.uid, facts.unschedulable, facts.ready, facts.boot_id) == (
        NAME,
        "uid-nodes-node-a",
        False,
        True,
        "boot-1",
    )
    assert facts.kernel == "6.1.0-1" and facts.labels == {"pool": "a"}
    with pytest.raises(AttributeError):
        facts.unschedulable = True  # type: ignore[misc]


@pytest.mark.parametrize(
    ("raw", "same"),
    [
        pytest.param({"key": "k", "effect": "NoSchedule", "value": "v"}, True, id="same"),
        pytest.param({"key": "k", "effect": "NoSchedule", "value": "w"}, False, id="other-value"),
        pytest.param({"key": "k", "effect": "NoExecute", "value": "v"}, False, id="other-effect"),
        pytest.param({"key": "j", "effect": "NoSchedule", "value": "v"}, False, id="other-key"),
    ],
)
def test_a_taint_equals_only_the_same_key_effect_and_value(raw: dict[str, str], same: bool) -> None:
    assert node_view.Taint("k", "v", node_view.TaintEffect.NO_SCHEDULE).equals(raw) is same


async def test_a_node_without_a_spec_is_cordoned_and_marked(memory: MemoryApi) -> None:
    memory.edit("nodes", NAME, lambda n: n.pop("spec"))

    assert await nodes.cordon_for(await memory.client(), NAME, "uid-1") is nodes.Cordon.CORDONED
    assert stored(memory)["spec"] == {"unschedulable": True}


@pytest.mark.parametrize(
    ("mark", "cordoned", "undone"),
    [
        pytest.param("uid-gone", True, True, id="cordoned-under-that-mark"),
        pytest.param("uid-new", True, False, id="cordoned-under-another-mark"),
        pytest.param(None, True, False, id="cordoned-unmarked-the-admins"),
        pytest.param("uid-gone", False, False, id="schedulable-already"),
    ],
)
async def test_a_cordon_left_under_a_mark_is_undone_only_if_it_is_still_that_one(
    memory: MemoryApi, mark: str | None, cordoned: bool, undone: bool
) -> None:
    def state(body: dict[str, Any]) -> None:
        if mark is not None:
            body["metadata"]["annotations"][node_view.CORDON_MARK] = mark
        if cordoned:
            body["spec"]["unschedulable"] = True

    memory.edit("nodes", NAME, state)

    assert await nodes.ensure_unmarked_cordon_gone(await memory.client(), NAME, "uid-gone") is undone
    body = stored(memory)
    assert body["spec"].get("unschedulable") is (None if undone else (True if cordoned else None))  # type: ignore[attr-defined]
    assert (node_view.CORDON_MARK in body["metadata"]["annotations"]) is (mark is not None and not undone)  # type: ignore[index]


async def test_the_pending_taint_is_added_once_beside_the_others(memory: MemoryApi) -> None:
    other = {"key": "example.com/gpu", "effect": "NoSchedule"}
    memory.edit("nodes", NAME, lambda n: n["spec"].update(taints=[other]))
    api = await memory.client()

    assert await nodes.ensure_taint(api, NAME) is True
    assert await nodes.ensure_taint(api, NAME) is False
    assert stored(memory)["spec"]["taints"] == [other, node_view.REBOOT_PENDING_TAINT.to_json()]  # type: ignore[index]
    assert await nodes.ensure_no_taint(api, NAME) is True
    assert await nodes.ensure_no_taint(api, NAME) is False
    assert stored(memory)["spec"]["taints"] == [other]  # type: ignore[index]


def test_a_taint_is_an_immutable_value() -> None:
    taint = node_view.Taint("k", "v")
    with pytest.raises(AttributeError):
        taint.value = "w"  # type: ignore[misc]
    assert {taint, node_view.Taint("k", "v")} == {taint}, "hashable: two equal taints are one"


CONTROL = "rollboot.dev/cancel"


@pytest.mark.parametrize(
    ("present", "asked", "removed"),
    [
        pytest.param("now", None, True, id="any value: removed"),
        pytest.param("now", "now", True, id="the value acted on: removed"),
        pytest.param("again", "now", False, id="set anew meanwhile: kept"),
        pytest.param(None, None, False, id="absent: nothing to do"),
        pytest.param(None, "now", False, id="absent, a value asked: nothing to do"),
    ],
)
async def test_an_admins_control_annotation_goes_only_while_it_is_the_one_acted_on(
    memory: MemoryApi, present: str | None, asked: str | None, removed: bool
) -> None:
    if present is not None:
        memory.edit("nodes", NAME, lambda n: n["metadata"]["annotations"].update({CONTROL: present}))

    changed = await nodes.ensure_annotation_gone(await memory.client(), NAME, CONTROL, asked)

    assert changed is removed
    annotations = stored(memory)["metadata"]["annotations"]  # type: ignore[index]
    assert (CONTROL in annotations) is (present is not None and not removed)
    assert annotations["example.com/owner"] == "team", "another annotation is never touched"
