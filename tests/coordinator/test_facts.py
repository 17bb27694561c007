"""The facts and sets the coordinator keeps from pass to pass (``coordinator/facts.py``): brought up to date for the
names the watch touched only, they must always equal what a rebuild from every view would give, or a pass would
miss a node left cordoned, an admin's control, or a request in progress that holds a slot of maxConcurrent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reboot_operator.coordinator.facts import KeptFacts
from reboot_operator.kube.node_view import CORDON_MARK, REBOOT_PENDING_TAINT, NodeView, node_view
from reboot_operator.watch.observed import PolicyView, RequestView, request_view
from tests.operator.memory import node, request

NAMES = ("a", "b", "c")

Views = tuple[dict[str, NodeView], dict[str, RequestView]]


def _annotate(name: str, **annotations: str) -> dict[str, Any]:
    body = node(name)
    body["metadata"]["annotations"].update(annotations)
    return body


def _phase(name: str, phase: str, policy: str = "p") -> RequestView:
    view = request_view(request(name, status={"phase": phase, "policy": policy}))
    assert view is not None
    return view


def _tainted(name: str, **annotations: str) -> dict[str, Any]:
    body = _annotate(name, **annotations)
    body["spec"]["taints"] = [REBOOT_PENDING_TAINT.to_json()]
    return body


Step = Callable[[dict[str, NodeView], dict[str, RequestView]], object]

STEPS: list[tuple[str, Step]] = [
    ("a is cordoned under our mark", lambda n, r: n.update(a=node_view(_annotate("a", **{CORDON_MARK: "uid-1"})))),
    ("a's request starts under p", lambda n, r: r.update(a=_phase("a", "Draining"))),
    ("b gets an admin's cancel", lambda n, r: n.update(b=node_view(_annotate("b", **{"rollboot.dev/cancel": ""})))),
    ("c gets a reboot-now", lambda n, r: n.update(c=node_view(_annotate("c", **{"rollboot.dev/reboot-now": "x"})))),
    ("b's request runs under q", lambda n, r: r.update(b=_phase("b", "Cordoning", "q"))),
    ("a's request completes", lambda n, r: r.update(a=_phase("a", "Completed"))),
    ("b's request moves to p", lambda n, r: r.update(b=_phase("b", "Rebooting"))),
    ("a's mark is removed", lambda n, r: n.update(a=node_view(node("a")))),
    ("b's request is deleted", lambda n, r: r.pop("b")),
    ("c's node is deleted", lambda n, r: n.pop("c")),
    ("c's request runs under p", lambda n, r: r.update(c=_phase("c", "Verifying"))),
    ("b's node gets the taint only", lambda n, r: n.update(b=node_view(_tainted("b", **{"rollboot.dev/cancel": ""})))),
]


def _indexes(facts: KeptFacts) -> tuple[set[str], set[str], dict[str, set[str]]]:
    return set(facts.marked), set(facts.controlled), {p: set(s) for p, s in facts.active.items() if s}


def test_the_sets_kept_for_touched_names_equal_a_rebuild_after_every_change() -> None:
    nodes = {name: node_view(node(name)) for name in NAMES}
    requests: dict[str, RequestView] = {}
    for name in NAMES:
        view = request_view(request(name))
        assert view is not None
        requests[name] = view
    policies: dict[str, PolicyView] = {}
    kept = KeptFacts()
    for seen in nodes.values():
        kept.node_seen(seen)
    assert kept.update(nodes, requests, policies) is None, "the first update builds everything"
    for what, step in STEPS:
        before_nodes, before_requests = dict(nodes), dict(requests)
        step(nodes, requests)
        # What the informers tell: every node event, every request event (as Coordinator does).
        for name in NAMES:
            if name in nodes and nodes[name] is not before_nodes.get(name):
                assert kept.node_seen(nodes[name]), f"{what}: a change a pass reads must touch the node"
            elif name not in nodes and name in before_nodes:
                kept.node_gone(name)
            if requests.get(name) is not before_requests.get(name):
                kept.touch(name)
        kept.update(nodes, requests, policies)
        rebuilt = KeptFacts()
        rebuilt.update(nodes, requests, policies)
        assert _indexes(kept) == _indexes(rebuilt), what
        assert kept.running("p") == rebuilt.running("p"), what


def test_a_request_may_start_when_it_asks_for_a_reboot_and_is_not_in_progress() -> None:
    nodes = {name: node_view(node(name)) for name in NAMES}
    nodes["c"] = node_view(_annotate("c", **{"rollboot.dev/reboot-now": "x"}))
    withdrawn = request("b")
    withdrawn["spec"]["reasons"] = []
    asked = request("c")
    asked["spec"]["reasons"] = []
    views = [request_view(request("a")), request_view(withdrawn), request_view(asked), _phase("d", "Draining")]
    requests = {v.name: v for v in views if v is not None}
    kept = KeptFacts()
    kept.update(nodes, requests, {})
    waiting = kept.waiting()
    assert [name for name in ("a", "b", "c", "d", "e") if name in waiting] == ["a", "c"]
