"""Our own writes before the watch shows them: which of them wake the loop, and which end the wait for a burst."""

from __future__ import annotations

from typing import Any

import pytest

from reboot_operator.coordinator.unseen import OwnWrites
from reboot_operator.kube.statuses import POLICIES, REQUESTS
from reboot_operator.watch.observed import PolicyView, RequestView
from tests.operator.memory import policy, request


def _request(phase: str | None, version: str) -> dict[str, Any]:
    body = request("node-a", status={"phase": phase} if phase else None)
    body["metadata"]["resourceVersion"] = version
    return body


def _policy(slots: list[str], version: str) -> dict[str, Any]:
    body = policy("pool-a", {}, slots=slots)
    body["metadata"]["resourceVersion"] = version
    return body


@pytest.mark.parametrize(
    ("plural", "before", "after", "kicks", "frees"),
    [
        (REQUESTS, _request("Draining", "1"), _request("Rebooting", "2"), True, False),
        (REQUESTS, _request("Cordoning", "1"), _request("Draining", "2"), False, False),
        (REQUESTS, _request("Rebooting", "1"), _request("Verifying", "2"), False, False),
        (REQUESTS, _request("Verifying", "1"), _request("Uncordoning", "2"), False, False),
        (REQUESTS, _request("Verifying", "1"), _request("Cordoning", "2"), True, False),
        (REQUESTS, _request("Uncordoning", "1"), _request("Completed", "2"), True, True),
        (REQUESTS, _request("Draining", "1"), _request("Failed", "2"), True, True),
        (REQUESTS, _request("Waiting", "1"), _request("Waiting", "2"), False, False),
        (REQUESTS, _request("Waiting", "1"), _request("Cordoning", "2"), True, False),
        (POLICIES, _policy(["node-a", "node-b"], "1"), _policy(["node-b"], "2"), True, True),
        (POLICIES, _policy(["node-b"], "1"), _policy(["node-a", "node-b"], "2"), True, False),
        (POLICIES, _policy(["node-a"], "1"), _policy(["node-a"], "2"), False, False),
    ],
)
def test_a_write_that_ends_a_cycle_or_frees_a_slot_skips_the_wait_for_a_burst(
    plural: str, before: dict[str, Any], after: dict[str, Any], kicks: bool, frees: bool
) -> None:
    kicked: list[bool] = []
    own = OwnWrites(kick=lambda: kicked.append(True), known=lambda _plural, _name: None)
    own.wrote(plural, before)
    kicked.clear()
    own.freed = False

    own.wrote(plural, after)

    assert bool(kicked) is kicks
    assert own.freed is frees
    view = own.views[(plural, after["metadata"]["name"])]
    assert isinstance(view, RequestView if plural == REQUESTS else PolicyView)


@pytest.mark.parametrize(
    ("phase", "kept"),
    [
        pytest.param("Waiting", False, id="a-waiting-message-is-forgotten"),
        pytest.param("Rebooting", True, id="a-cycles-write-is-kept-until-the-next-pass"),
    ],
)
def test_a_waiting_requests_write_is_forgotten_once_the_watch_echoes_it(phase: str, kept: bool) -> None:
    """At a first start 15,000 waiting statuses are written between two passes: each is not held twice (the watch's
    view and ours) until the next pass."""
    own = OwnWrites(kick=lambda: None, known=lambda _plural, _name: None)
    own.wrote(REQUESTS, _request(phase, "7"))

    assert not own.echoes(REQUESTS, "node-a", "6"), "an older version is no echo of ours"
    assert (REQUESTS, "node-a") in own.views
    assert own.echoes(REQUESTS, "node-a", "7")
    assert ((REQUESTS, "node-a") in own.views) is kept
