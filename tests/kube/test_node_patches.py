"""The pure half of the node effects: which patch, if any, brings a node to the wanted state."""

from __future__ import annotations

from typing import Any

import pytest

from reboot_operator.kube.node_view import CORDON_MARK, REBOOT_PENDING_TAINT, Taint, TaintEffect, node_view
from reboot_operator.kube.nodes import (
    cordon_patch,
    labels_patch,
    no_taint_patch,
    taint_patch,
    uncordon_patch,
)

OTHER = {"key": "example.com/other", "value": "1", "effect": "NoSchedule", "timeAdded": "2025-01-01T00:00:00Z"}
PENDING = {"key": "rollboot.dev/reboot-pending", "effect": "PreferNoSchedule"}


def node(*, spec: dict[str, Any] | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "n1", "labels": labels or {}}, "spec": spec if spec is not None else {}}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param(
            {},
            [
                {"op": "test", "path": "/spec/unschedulable", "value": None},
                {"op": "add", "path": "/spec/unschedulable", "value": True},
            ],
            id="absent-field-is-pinned-as-null",
        ),
        pytest.param(
            {"unschedulable": False},
            [
                {"op": "test", "path": "/spec/unschedulable", "value": False},
                {"op": "add", "path": "/spec/unschedulable", "value": True},
            ],
            id="false-is-pinned-as-false",
        ),
        pytest.param({"unschedulable": True}, None, id="already-cordoned-needs-nothing"),
    ],
)
def test_cordon_pins_the_value_it_read(spec: dict[str, Any], expected: list[dict[str, Any]] | None) -> None:
    assert cordon_patch(node(spec=spec)) == expected


def test_uncordon_removes_the_field_and_needs_nothing_on_a_schedulable_node() -> None:
    assert uncordon_patch(node(spec={"unschedulable": True})) == [
        {"op": "test", "path": "/spec/unschedulable", "value": True},
        {"op": "remove", "path": "/spec/unschedulable"},
    ]
    assert uncordon_patch(node(spec={"unschedulable": False})) is None
    assert uncordon_patch(node()) is None


def test_labels_patch_only_the_keys_that_differ() -> None:
    current = node(labels={"keep": "1", "same": "x", "old": "y"})
    wanted = {"same": "x", "old": None, "new": "z", "never-there": None}
    assert labels_patch(current, wanted) == {"metadata": {"labels": {"old": None, "new": "z"}}}
    assert labels_patch(current, {"same": "x", "never-there": None}) is None


def test_a_taint_is_added_beside_the_others_with_the_whole_list_pinned() -> None:
    assert taint_patch(node(spec={"taints": [OTHER]}), REBOOT_PENDING_TAINT) == [
        {"op": "test", "path": "/spec/taints", "value": [OTHER]},
        {"op": "add", "path": "/spec/taints", "value": [OTHER, PENDING]},
    ]
    assert taint_patch(node(), REBOOT_PENDING_TAINT) == [
        {"op": "test", "path": "/spec/taints", "value": None},
        {"op": "add", "path": "/spec/taints", "value": [PENDING]},
    ]
    assert taint_patch(node(spec={"taints": [OTHER, PENDING]}), REBOOT_PENDING_TAINT) is None


def test_removing_a_taint_keeps_the_others_and_drops_an_empty_list() -> None:
    assert no_taint_patch(node(spec={"taints": [OTHER, PENDING]}), REBOOT_PENDING_TAINT) == [
        {"op": "test", "path": "/spec/taints", "value": [OTHER, PENDING]},
        {"op": "replace", "path": "/spec/taints", "value": [OTHER]},
    ]
    assert no_taint_patch(node(spec={"taints": [PENDING]}), REBOOT_PENDING_TAINT) == [
        {"op": "test", "path": "/spec/taints", "value": [PENDING]},
        {"op": "remove", "path": "/spec/taints"},
    ]
    assert no_taint_patch(node(spec={"taints": [OTHER]}), REBOOT_PENDING_TAINT) is None


def test_a_taint_is_identified_by_key_and_effect_not_value() -> None:
    valued = Taint(key=REBOOT_PENDING_TAINT.key, value="since-monday")
    assert no_taint_patch(node(spec={"taints": [PENDING]}), valued) is not None
    other_effect = Taint(key=REBOOT_PENDING_TAINT.key, effect=TaintEffect.NO_SCHEDULE)
    assert no_taint_patch(node(spec={"taints": [PENDING]}), other_effect) is None


def test_node_facts_read_the_status_the_kubelet_reports() -> None:
    raw = {
        "metadata": {"name": "n1", "uid": "u", "labels": {"a": "b"}},
        "spec": {"unschedulable": True, "taints": [OTHER]},
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z"}],
            "nodeInfo": {"bootID": "b1", "kernelVersion": "6.8", "osImage": "Ubuntu", "kubeletVersion": "v1.37.2"},
        },
    }
    facts = node_view(raw)
    assert facts.unschedulable
    assert facts.ready
    assert facts.ready_since is not None
    assert facts.ready_since.year == 2025
    assert facts.taints == (Taint(key="example.com/other", value="1", effect=TaintEffect.NO_SCHEDULE),)
    assert (facts.name, facts.uid, facts.labels) == ("n1", "u", {"a": "b"})
    assert (facts.boot_id, facts.kernel) == ("b1", "6.8")


MARK_PATH = "/metadata/annotations/rollboot.dev~1cordoned-by"
CORDON_OPS = [
    {"op": "test", "path": "/spec/unschedulable", "value": None},
    {"op": "add", "path": "/spec/unschedulable", "value": True},
]


def annotated(annotations: dict[str, str] | None, *, unschedulable: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "n1"}
    if annotations is not None:
        metadata["annotations"] = annotations
    return {"metadata": metadata, "spec": {"unschedulable": True} if unschedulable else {}}


@pytest.mark.parametrize(
    ("before", "expected"),
    [
        pytest.param(
            annotated(None),
            [
                *CORDON_OPS,
                {"op": "test", "path": "/metadata/annotations", "value": None},
                {"op": "add", "path": "/metadata/annotations", "value": {CORDON_MARK: "uid-1"}},
            ],
            id="no-annotations-yet",
        ),
        pytest.param(
            annotated({"other": "x"}),
            [*CORDON_OPS, {"op": "add", "path": MARK_PATH, "value": "uid-1"}],
            id="beside-other-annotations",
        ),
        pytest.param(annotated({CORDON_MARK: "uid-1"}), CORDON_OPS, id="marked-already"),
        pytest.param(annotated({"other": "x"}, unschedulable=True), None, id="cordoned-already-is-never-claimed"),
    ],
)
def test_our_cordon_carries_our_mark_in_the_same_patch(
    before: dict[str, Any], expected: list[dict[str, Any]] | None
) -> None:
    assert cordon_patch(before, "uid-1") == expected


@pytest.mark.parametrize(
    ("before", "expected"),
    [
        pytest.param(
            annotated({CORDON_MARK: "uid-1", "other": "x"}, unschedulable=True),
            [
                {"op": "test", "path": "/spec/unschedulable", "value": True},
                {"op": "remove", "path": "/spec/unschedulable"},
                {"op": "test", "path": MARK_PATH, "value": "uid-1"},
                {"op": "remove", "path": MARK_PATH},
            ],
            id="uncordon-and-unmark",
        ),
        pytest.param(
            annotated({CORDON_MARK: "uid-1"}),
            [{"op": "test", "path": MARK_PATH, "value": "uid-1"}, {"op": "remove", "path": MARK_PATH}],
            id="uncordoned-by-someone-the-mark-still-goes",
        ),
        pytest.param(annotated({"other": "x"}), None, id="nothing-of-ours"),
    ],
)
def test_uncordon_takes_our_mark_away(before: dict[str, Any], expected: list[dict[str, Any]] | None) -> None:
    assert uncordon_patch(before) == expected


@pytest.mark.parametrize(
    ("raw", "seen"),
    [
        pytest.param({}, {"pending_taint": False, "annotated": False, "cordon_mark": None, "ready": False}, id="bare"),
        pytest.param({"spec": {"taints": [PENDING]}}, {"pending_taint": True}, id="the-pending-taint"),
        pytest.param(
            {"spec": {"taints": [{**PENDING, "effect": "NoSchedule"}, {"key": "x", "effect": "Bogus"}]}},
            {"pending_taint": False, "taints": (Taint(key=PENDING["key"], effect=TaintEffect.NO_SCHEDULE),)},
            id="same-key-other-effect-is-not-ours-and-unknown-effects-are-left-out",
        ),
        pytest.param(
            {"metadata": {"annotations": {"rollboot.dev/cordoned-by": "uid-1", "rollboot.dev/reboot-now": "x"}}},
            {"annotated": True, "cordon_mark": "uid-1", "reboot_now": "x"},
            id="our-mark-and-an-admins-control",
        ),
    ],
)
def test_a_node_is_parsed_once_into_what_decisions_and_cycles_read(raw: dict[str, Any], seen: dict[str, Any]) -> None:
    view = node_view(raw)
    assert {key: getattr(view, key) for key in seen} == seen
    assert view.facts.reboot_now is ("rollboot.dev/reboot-now" in (raw.get("metadata") or {}).get("annotations", {}))
