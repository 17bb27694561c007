"""Which changes of a Node the operator notices. A node event whose view equals the one held (a kubelet's heartbeat,
at 15,000 nodes fifty a second) keeps the held view, the very same object, and tells nobody; any change of what a
decision, a cycle, the taints or a status reads makes a new view and is told."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from reboot_operator.api.controls import CANCEL, REBOOT_NOW, SKIP
from reboot_operator.kube.node_view import CORDON_MARK, NodeView, node_view
from reboot_operator.watch.informers import Informer

Change = Callable[[dict[str, Any]], None]


async def never(**_: Any) -> Any:
    raise AssertionError("no API call in these tests")


def kubelet_node() -> dict[str, Any]:
    """A Node as the API server sends it, with what a kubelet reports."""
    condition = {"lastHeartbeatTime": "2026-12-01T22:00:00Z", "lastTransitionTime": "2026-12-01T21:00:00Z"}
    return {
        "metadata": {
            "name": "n1",
            "uid": "u1",
            "resourceVersion": "100",
            "labels": {"kubernetes.io/hostname": "n1", "pool": "a"},
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
            "managedFields": [{"manager": "kubelet", "time": "2026-12-01T22:00:00Z"}],
        },
        "spec": {"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]},
        "status": {
            "conditions": [
                {**condition, "type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
                {**condition, "type": "Ready", "status": "True", "reason": "KubeletReady"},
            ],
            "nodeInfo": {"bootID": "boot-1", "kernelVersion": "6.8.0-48", "kubeletVersion": "v1.31.0"},
            "allocatable": {"cpu": "4", "memory": "16Gi"},
            "images": [{"names": ["registry.k8s.io/pause:3.10"], "sizeBytes": 320368}],
        },
    }


def condition(body: dict[str, Any], kind: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in body["status"]["conditions"] if c["type"] == kind)
    return found


def heartbeat(body: dict[str, Any]) -> None:
    for c in body["status"]["conditions"]:
        c["lastHeartbeatTime"] = "2026-12-01T22:05:00Z"
    body["metadata"]["managedFields"][0]["time"] = "2026-12-01T22:05:00Z"


def flip_ready(body: dict[str, Any]) -> None:
    condition(body, "Ready").update(status="False", lastTransitionTime="2026-12-01T22:05:00Z", reason="NotReady")


def ready_again_at_another_time(body: dict[str, Any]) -> None:
    condition(body, "Ready")["lastTransitionTime"] = "2026-12-01T22:05:00Z"


def annotate(key: str, value: str = "x") -> Change:
    return lambda body: body["metadata"]["annotations"].__setitem__(key, value)


QUIET: list[tuple[str, Change]] = [
    ("heartbeat", heartbeat),
    ("new resourceVersion", lambda b: b["metadata"].__setitem__("resourceVersion", "101")),
    ("another condition flips", lambda b: condition(b, "MemoryPressure").update(status="True", reason="Low")),
    ("Ready's reason or message", lambda b: condition(b, "Ready").update(reason="Other", message="still ready")),
    ("allocatable", lambda b: b["status"]["allocatable"].__setitem__("cpu", "3")),
    ("images", lambda b: b["status"]["images"].clear()),
    ("kubelet version", lambda b: b["status"]["nodeInfo"].__setitem__("kubeletVersion", "v1.31.1")),
    ("another annotation", annotate("example.com/owner", "team-a")),
    ("a taint of another effect than the three", lambda b: b["spec"]["taints"].append({"key": "k", "effect": "X"})),
]

NOTICED: list[tuple[str, Change]] = [
    ("Ready flips", flip_ready),
    ("Ready's last transition", ready_again_at_another_time),
    ("boot ID (a reboot)", lambda b: b["status"]["nodeInfo"].__setitem__("bootID", "boot-2")),
    ("kernel", lambda b: b["status"]["nodeInfo"].__setitem__("kernelVersion", "6.8.0-49")),
    ("cordoned", lambda b: b["spec"].__setitem__("unschedulable", True)),
    ("a taint added", lambda b: b["spec"]["taints"].append({"key": "k", "effect": "NoExecute"})),
    ("a taint's value", lambda b: b["spec"]["taints"][0].__setitem__("value", "web")),
    ("a taint removed", lambda b: b["spec"].__setitem__("taints", [])),
    ("a label added", lambda b: b["metadata"]["labels"].__setitem__("zone", "z1")),
    ("a label's value", lambda b: b["metadata"]["labels"].__setitem__("pool", "b")),
    ("a label removed", lambda b: b["metadata"]["labels"].pop("pool")),
    ("skip", annotate(SKIP, "2026-12-31T00:00:00Z")),
    ("reboot-now", annotate(REBOOT_NOW, "")),
    ("cancel", annotate(CANCEL, "")),
    ("our cordon mark", annotate(CORDON_MARK, "uid-of-a-request")),
    ("the last annotation removed", lambda b: b["metadata"]["annotations"].clear()),
    ("a new uid (deleted and created again)", lambda b: b["metadata"].__setitem__("uid", "u2")),
]


def watched() -> tuple[Informer[NodeView], list[tuple[str, NodeView | None, str]], NodeView]:
    told: list[tuple[str, NodeView | None, str]] = []
    informer: Informer[NodeView] = Informer("nodes", never, node_view, lambda *change: told.append(change))
    informer.engine.take({"type": "ADDED", "object": kubelet_node()})
    told.clear()
    return informer, told, informer.views["n1"]


@pytest.mark.parametrize("change", [c for _, c in QUIET], ids=[n for n, _ in QUIET])
def test_a_change_nothing_reads_keeps_the_view_held_and_tells_nobody(change: Change) -> None:
    informer, told, held = watched()
    body = copy.deepcopy(kubelet_node())
    change(body)
    informer.engine.take({"type": "MODIFIED", "object": body})
    assert informer.views["n1"] is held
    assert told == []
    assert informer.resource_version == body["metadata"]["resourceVersion"]


@pytest.mark.parametrize("change", [c for _, c in NOTICED], ids=[n for n, _ in NOTICED])
def test_a_change_something_reads_is_a_new_view_and_told(change: Change) -> None:
    informer, told, held = watched()
    body = copy.deepcopy(kubelet_node())
    change(body)
    informer.engine.take({"type": "MODIFIED", "object": body})
    fresh = informer.views["n1"]
    assert fresh != held
    assert fresh == node_view(body)
    assert told == [("n1", fresh, "100")]


async def test_a_listing_again_keeps_the_views_of_unchanged_objects() -> None:
    """After a 410 Gone, the listing's unchanged nodes keep their views (identity) and only changes are told."""
    same, changed = kubelet_node(), kubelet_node()
    changed["metadata"]["name"] = "n2"
    pages = [{"items": [same, changed], "metadata": {"resourceVersion": "5"}}]

    async def call(**_: Any) -> Any:
        return _Response(pages.pop(0))

    told: list[Any] = []
    informer: Informer[NodeView] = Informer("nodes", call, node_view, lambda *change: told.append(change))
    informer.engine.views = {"n1": node_view(same), "n2": node_view(kubelet_node())}
    held = dict(informer.views)
    heartbeat(same)
    flip_ready(changed)
    await informer.engine.list()
    assert informer.views["n1"] is held["n1"]
    assert informer.views["n2"] == node_view(changed)
    assert told == [("n2", informer.views["n2"], "100")]


class _Response:
    def __init__(self, page: dict[str, Any]) -> None:
        self.status, self.reason = 200, "OK"
        self.headers: dict[str, str] = {}
        self.body = orjson.dumps(page)

    async def read(self) -> bytes:
        return self.body

    def release(self) -> None:
        pass
