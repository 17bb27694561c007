"""Idempotent effects on Node objects: cordon, uncordon, labels, the reboot-pending taint, and reading node facts.

Every ``ensure_*`` function reads the node, decides whether anything must change, and patches only then; it returns
whether it changed anything. Each is safe to repeat, after a crash, or from a second replica. Where a concurrent
writer could make our answer wrong we patch with a JSON patch whose ``test`` operation pins the value we read:

- cordon/uncordon pin ``spec.unschedulable``, so ``True`` really means "we cordoned it" and never "an admin did it a
  millisecond earlier" (the operator leaves pre-cordoned nodes cordoned, so that answer matters);
- taints pin the whole ``spec.taints`` list, because the list is replaced as a whole and we must not drop a taint
  another controller added meanwhile.

A lost race (the ``test`` fails) means: read again and decide again. That is also what lets cordon and uncordon
skip their read when the caller already watches the node (``seen_unschedulable``): the first patch is decided on
what the watch last said, and its ``test`` makes a stale view cost one refused patch, never a wrong answer. Labels
use a merge patch of just our keys.

One annotation, ``rollboot.dev/cordoned-by`` (the uid of the NodeRebootRequest whose cycle cordoned the node), is
set in the same patch as our cordon and removed with our uncordon. It answers the one question the cordon itself
cannot: a node found already cordoned when its cycle comes to cordon it was cordoned by rollboot (marked: carry
on, and uncordon it at the end) or by someone else just before the cycle began, unseen by the watch yet (unmarked:
it stays cordoned afterwards). Any mark is ours, whichever request it names: only rollboot writes it, and a cordon
left by a cycle whose request was deleted and recreated since names the old request's uid (issue 13: such a cordon
was taken for an admin's and kept for good). Nothing else is written to a Node, but for removing an admin's
control annotation (``api/controls.py``) once it has been acted on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from enum import StrEnum
from functools import partial
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from reboot_operator.kube.apicalls import JSON_PATCH, MERGE_PATCH, ApiStatus, read_json, retry_transient
from reboot_operator.kube.node_view import CORDON_MARK, REBOOT_PENDING_TAINT, NodeView, Taint, node_view
from reboot_operator.runtime.errors import ApiRejected, ApiUnavailable, NodeGone

# How many times we re-read and re-decide after losing a race before giving up for now.
RACE_ATTEMPTS = 5

_MARK_PATH = "/metadata/annotations/" + CORDON_MARK.replace("~", "~0").replace("/", "~1")


class Cordon(StrEnum):
    """What ``cordon_for`` found or did."""

    CORDONED = "Cordoned"
    """This call cordoned the node."""
    OURS = "Ours"
    """It was cordoned already, marked with our mark: by an earlier attempt of the same cycle."""
    THEIRS = "Theirs"
    """It was cordoned already, not by us."""


# -- pure decisions: what patch, if any, brings this node to the desired state ------------------------------------


def _mark_ops(node: Mapping[str, Any], mark: str | None) -> list[dict[str, Any]]:
    """Add our cordon mark, unless there is none to add or it is there."""
    annotations = (node.get("metadata") or {}).get("annotations")
    if mark is None or (annotations or {}).get(CORDON_MARK) == mark:
        return []
    if annotations is None:
        return [
            {"op": "test", "path": "/metadata/annotations", "value": None},
            {"op": "add", "path": "/metadata/annotations", "value": {CORDON_MARK: mark}},
        ]
    return [{"op": "add", "path": _MARK_PATH, "value": mark}]


def _unmark_ops(node: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Remove our cordon mark, if the node carries one (whichever cycle set it)."""
    annotations = (node.get("metadata") or {}).get("annotations") or {}
    if CORDON_MARK not in annotations:
        return []
    return [
        {"op": "test", "path": _MARK_PATH, "value": annotations[CORDON_MARK]},
        {"op": "remove", "path": _MARK_PATH},
    ]


def cordon_patch(node: Mapping[str, Any], mark: str | None = None) -> list[dict[str, Any]] | None:
    """Cordon, marking the node with ``mark`` in the same patch; None when it is cordoned already (marked or not:
    a cordon found is never claimed as ours)."""
    spec = node.get("spec")
    if spec is None:
        return [
            {"op": "test", "path": "/spec", "value": None},
            {"op": "add", "path": "/spec", "value": {"unschedulable": True}},
            *_mark_ops(node, mark),
        ]
    if spec.get("unschedulable") is True:
        return None
    # A JSON patch test against null passes when the field is absent, which is how an uncordoned node looks.
    return [
        {"op": "test", "path": "/spec/unschedulable", "value": spec.get("unschedulable")},
        {"op": "add", "path": "/spec/unschedulable", "value": True},
        *_mark_ops(node, mark),
    ]


def uncordon_patch(node: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """Uncordon and remove our mark; a node someone uncordoned already only loses the mark."""
    spec = node.get("spec") or {}
    if spec.get("unschedulable") is not True:
        return _unmark_ops(node) or None
    # Remove rather than set false: the node then looks exactly as kubectl uncordon leaves it.
    return [
        {"op": "test", "path": "/spec/unschedulable", "value": True},
        {"op": "remove", "path": "/spec/unschedulable"},
        *_unmark_ops(node),
    ]


def labels_patch(node: Mapping[str, Any], labels: Mapping[str, str | None]) -> dict[str, Any] | None:
    current = (node.get("metadata") or {}).get("labels") or {}
    changes = {
        key: value
        for key, value in labels.items()
        if (value is None and key in current) or (value is not None and current.get(key) != value)
    }
    return {"metadata": {"labels": changes}} if changes else None


def taint_patch(node: Mapping[str, Any], taint: Taint) -> list[dict[str, Any]] | None:
    spec = node.get("spec") or {}
    current: list[dict[str, Any]] = spec.get("taints") or []
    if any(taint.equals(t) for t in current):
        return None
    wanted = [t for t in current if not taint.same_slot(t)] + [taint.to_json()]
    return [
        {"op": "test", "path": "/spec/taints", "value": spec.get("taints")},
        {"op": "add", "path": "/spec/taints", "value": wanted},
    ]


def no_taint_patch(node: Mapping[str, Any], taint: Taint) -> list[dict[str, Any]] | None:
    spec = node.get("spec") or {}
    current: list[dict[str, Any]] = spec.get("taints") or []
    if not any(taint.same_slot(t) for t in current):
        return None
    wanted = [t for t in current if not taint.same_slot(t)]
    test = {"op": "test", "path": "/spec/taints", "value": current}
    if not wanted:
        return [test, {"op": "remove", "path": "/spec/taints"}]
    return [test, {"op": "replace", "path": "/spec/taints", "value": wanted}]


# -- effects -----------------------------------------------------------------------------------------------------


async def read_node_facts(api: client.ApiClient, node: str) -> NodeView:
    """The node as stored now (one GET), parsed as the informers parse it."""
    return node_view(await _read_node(client.CoreV1Api(api), node))


async def ensure_cordoned(api: client.ApiClient, node: str, *, seen_unschedulable: bool | None = None) -> bool:
    """Mark the node unschedulable. False when it already was (by us earlier, or by someone else).

    ``seen_unschedulable``: the cordon as a watch last saw it, if the caller has one. When it says schedulable the
    read is skipped and the patch tests that the node still is; a node cordoned meanwhile fails the test and is read.
    """
    return await _converge(api, node, cordon_patch, what="cordon", seen=_seen(seen_unschedulable))


async def cordon_for(
    api: client.ApiClient,
    node: str,
    mark: str,
    *,
    seen_unschedulable: bool | None = None,
    seen_annotated: bool = True,
) -> Cordon:
    """Cordon the node for the cycle marked ``mark`` (``CORDON_MARK``), or say whose cordon was there already.

    ``seen_unschedulable``: as for ``ensure_cordoned``; ``seen_annotated``: whether the watch saw the node with
    annotations (real nodes have some), which decides how the mark is added without a read."""
    found: list[Mapping[str, Any]] = []

    def decide(raw: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        found[:] = [raw]
        return cordon_patch(raw, mark)

    seen = _seen(seen_unschedulable)
    if seen is not None and seen_annotated:
        seen = {**seen, "metadata": {"annotations": {}}}
    if await _converge(api, node, decide, what="cordon", seen=seen):
        return Cordon.CORDONED
    annotations = (found[-1].get("metadata") or {}).get("annotations") or {} if found else {}
    # Marked by this cycle, or by an earlier one whose request is gone: ours either way (see the module docstring).
    return Cordon.OURS if CORDON_MARK in annotations else Cordon.THEIRS


async def ensure_uncordoned(
    api: client.ApiClient, node: str, *, seen_unschedulable: bool | None = None, seen_mark: str | None = None
) -> bool:
    """Make the node schedulable again, removing our cordon mark. False when it already was schedulable.

    ``seen_unschedulable``: see ``ensure_cordoned``; ``seen_mark``: the cordon mark the node is expected to carry
    (the caller cordoned it), so that the patch without a read removes it too."""
    seen = _seen(seen_unschedulable)
    if seen is not None and seen_mark is not None:
        seen = {**seen, "metadata": {"annotations": {CORDON_MARK: seen_mark}}}
    changed = False

    def decide(raw: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        nonlocal changed
        changed = (raw.get("spec") or {}).get("unschedulable") is True
        return uncordon_patch(raw)

    return await _converge(api, node, decide, what="uncordon", seen=seen) and changed


async def ensure_unmarked_cordon_gone(api: client.ApiClient, node: str, mark: str) -> bool:
    """Uncordon the node if it is still cordoned under ``mark`` and nothing else (a cordon left by a cycle whose
    request is gone). False when the node is schedulable already or carries another mark, or none (then the cordon
    is someone else's, or a new cycle's)."""

    def decide(raw: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        annotations = (raw.get("metadata") or {}).get("annotations") or {}
        if annotations.get(CORDON_MARK) != mark or (raw.get("spec") or {}).get("unschedulable") is not True:
            return None
        return uncordon_patch(raw)

    return await _converge(api, node, decide, what="uncordon")


async def ensure_annotation_gone(api: client.ApiClient, node: str, key: str, value: str | None = None) -> bool:
    """Remove annotation ``key`` (an admin's control the operator has acted on), only while it still has ``value``
    when one is given: an admin who set it anew meanwhile is not overruled. False when there was nothing to remove."""

    def decide(raw: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        annotations = (raw.get("metadata") or {}).get("annotations") or {}
        if key not in annotations or (value is not None and annotations[key] != value):
            return None
        path = "/metadata/annotations/" + key.replace("~", "~0").replace("/", "~1")
        return [{"op": "test", "path": path, "value": annotations[key]}, {"op": "remove", "path": path}]

    return await _converge(api, node, decide, what=f"remove annotation {key} from")


async def ensure_taint(api: client.ApiClient, node: str, taint: Taint = REBOOT_PENDING_TAINT) -> bool:
    """Add ``taint`` (replacing a taint with the same key and effect but another value). False when present."""
    return await _converge(api, node, lambda raw: taint_patch(raw, taint), what=f"taint {taint.key}")


async def ensure_no_taint(api: client.ApiClient, node: str, taint: Taint = REBOOT_PENDING_TAINT) -> bool:
    """Remove every taint with ``taint``'s key and effect, keeping all others. False when there was none."""
    return await _converge(api, node, lambda raw: no_taint_patch(raw, taint), what=f"untaint {taint.key}")


async def ensure_labels(api: client.ApiClient, node: str, labels: Mapping[str, str | None]) -> bool:
    """Set each label to its value, removing those whose value is None. Other labels are untouched."""
    core = client.CoreV1Api(api)
    patch = labels_patch(await _read_node(core, node), labels)
    if patch is None:
        return False
    await _node_call(node, "label", lambda: read_json(core.patch_node, node, patch, _content_type=MERGE_PATCH))
    return True


def _seen(unschedulable: bool | None) -> Mapping[str, Any] | None:
    """The node as far as a watched cordon tells it, for a first patch decided without a read."""
    if unschedulable is None:
        return None
    return {"spec": {"unschedulable": True} if unschedulable else {}}


async def _converge(
    api: client.ApiClient,
    node: str,
    decide: Callable[[Mapping[str, Any]], list[dict[str, Any]] | None],
    *,
    what: str,
    seen: Mapping[str, Any] | None = None,
) -> bool:
    """Patch the node into the state ``decide`` wants, deciding on a fresh read each time a race is lost.

    ``seen`` (the node as a watch saw it) replaces the first read, but only where it calls for a patch: the patch's
    ``test`` then checks what ``seen`` claims, and a failed test is one more lost race. Where ``seen`` calls for no
    patch, the node is read as usual, so that "nothing to do" is never answered from a stale view."""
    core = client.CoreV1Api(api)
    lost_race: ApiStatus | None = None
    presumed = decide(seen) if seen is not None else None
    for attempt in range(RACE_ATTEMPTS + (presumed is not None)):
        ops = presumed if attempt == 0 and presumed is not None else decide(await _read_node(core, node))
        if ops is None:
            return False
        try:
            await retry_transient(partial(read_json, core.patch_node, node, ops, _content_type=JSON_PATCH), what=what)
            return True
        except ApiException as error:
            # 422: our test operation failed, the node changed since we read it. 409: a conflicting write.
            if error.status not in (409, 422):
                raise _translated(error, node, what) from error
            lost_race = ApiStatus.of(error)
    assert lost_race is not None
    if lost_race.code == 422 and "test" not in lost_race.message:
        raise ApiRejected(f"{what} node {node}: {lost_race.summary()}", status=422)
    raise ApiUnavailable(f"{what} node {node}: the node kept changing under us ({lost_race.summary()})")


async def _read_node(core: client.CoreV1Api, node: str) -> dict[str, Any]:
    return await _node_call(node, "read", lambda: read_json(core.read_node, node))


async def _node_call(node: str, what: str, call: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    try:
        return await retry_transient(call, what=f"{what} node {node}")
    except ApiException as error:
        raise _translated(error, node, what) from error


def _translated(error: ApiException, node: str, what: str) -> Exception:
    if error.status == 404:
        return NodeGone(node)
    return ApiRejected(f"{what} node {node}: {ApiStatus.of(error).summary()}", status=int(error.status or 0))
