"""What ``kubectl rollboot`` shows, from API objects as the operator writes them: pure, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from reboot_operator.plugin import views


def _policy(windows: list[dict[str, str]], **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p"}, "spec": {"maintenanceWindows": windows}, "status": status}


def _request(name: str, phase: str | None, waiting: str | None = None, **status: Any) -> dict[str, Any]:
    conditions = [{"type": "Waiting", "status": "True", "reason": waiting}] if waiting else []
    return {
        "metadata": {"name": name},
        "spec": {"nodeName": name, "reasons": [{"source": "sentinel-file"}]},
        "status": {"phase": phase, "conditions": conditions, **status},
    }


@pytest.mark.parametrize(
    ("windows", "zone", "shown"),
    [
        pytest.param([], "UTC", "2026-12-05T01:00:00Z", id="no-windows"),
        pytest.param(
            [{"timeZone": "Europe/Berlin"}], "Europe/Berlin", "2026-12-05T02:00:00+01:00 (Europe/Berlin)", id="berlin"
        ),
        pytest.param(
            [{"timeZone": "Europe/Berlin"}, {"timeZone": "Asia/Tokyo"}], "UTC", "2026-12-05T01:00:00Z", id="mixed"
        ),
    ],
)
def test_the_next_opening_is_told_in_the_zone_of_the_policys_windows(
    windows: list[dict[str, str]], zone: str, shown: str
) -> None:
    view = views.policy_view(_policy(windows, window={"state": "Closed", "nextOpening": "2026-12-05T01:00:00Z"}))
    assert (view["timeZone"], view["nextOpening"]) == (zone, shown)


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        pytest.param({}, {"skip": None, "rebootNow": False, "cancel": False}, id="none"),
        pytest.param(
            {"rollboot.dev/skip": ""}, {"skip": "until further notice", "rebootNow": False, "cancel": False}, id="skip"
        ),
        pytest.param(
            {"rollboot.dev/reboot-now": "x", "rollboot.dev/cancel": ""},
            {"skip": None, "rebootNow": True, "cancel": True},
            id="now-and-cancel",
        ),
    ],
)
def test_a_nodes_controls_are_read_from_its_annotations(annotations: dict[str, str], expected: dict[str, Any]) -> None:
    assert views.controls({"metadata": {"annotations": annotations}}) == expected


def test_status_lists_what_reboots_and_what_waits_but_not_what_is_done() -> None:
    requests = [
        _request("a", "Draining", message="draining"),
        _request("b", "Waiting", "WindowClosed", message="maintenance window closed"),
        _request("c", "Completed"),
        _request("d", "Waiting", None),
    ]
    view = views.status_view(
        policies=[], requests=requests, nodes={}, stop={"data": {"reason": "incident"}}, namespace="ns"
    )
    assert [r["node"] for r in view["inProgress"]] == ["a"]
    assert [(r["node"], r["waitingFor"]) for r in view["waiting"]] == [("b", "WindowClosed")]
    assert view["stopped"] == {"reason": "incident", "configMap": "ns/rollboot-stop"}
    assert "STOPPED: incident" in views.render_status(view)


@pytest.mark.parametrize(
    ("node", "nrr", "says"),
    [
        pytest.param(None, None, "no such node", id="no-node"),
        pytest.param({"metadata": {"name": "n"}}, None, "its agent has not reported a need", id="no-request"),
        pytest.param(
            {
                "metadata": {"name": "n", "annotations": {"rollboot.dev/cordoned-by": "u"}},
                "spec": {"unschedulable": True},
            },
            _request("n", "Draining", drain={"blockingPods": [{"namespace": "shop", "name": "web-0"}]}),
            "Drain waits for: shop/web-0",
            id="draining",
        ),
        pytest.param(
            {"metadata": {"name": "n"}, "spec": {"unschedulable": True}},
            _request("n", "Waiting", "Queued"),
            "cordoned by someone else",
            id="an-admins-cordon",
        ),
    ],
)
def test_why_tells_one_node(node: dict[str, Any] | None, nrr: dict[str, Any] | None, says: str) -> None:
    view = views.why_view(name="n", node=node, request=nrr, stop=None, namespace="ns")
    assert says in views.render_why(view)
