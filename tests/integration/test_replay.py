"""The replay's rules on made-up histories: each rule the rollout tests rely on catches its own break.

No control plane: a history is a list of changes in revision order, as the watches would record them.
"""

from __future__ import annotations

from typing import Any, cast

import pytest
from kubernetes_asyncio import client

from tests.integration.replay import CORDON_MARK, Change, Recorder, Replay

N, M = "n1", "n2"


def node(name: str, *, cordoned: str | None = None, boot: str = "b1") -> tuple[str, str, dict[str, Any]]:
    """A node change; ``cordoned`` is ``"ours"`` (with our mark) or ``"admin"``."""
    annotations = {CORDON_MARK: "uid"} if cordoned == "ours" else {}
    body = {
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"unschedulable": True} if cordoned else {},
        "status": {"nodeInfo": {"bootID": boot}},
    }
    return ("node", "MODIFIED", body)


def request(name: str, phase: str, *, approved: str | None = None) -> tuple[str, str, dict[str, Any]]:
    status: dict[str, Any] = {"phase": phase, "policy": "p"}
    if approved is not None:
        status["approval"] = {"bootID": approved, "attempt": 1}
    return ("request", "MODIFIED", {"metadata": {"name": name}, "status": status})


def pod(name: str, *, on: str | None = None, ready: bool = True, deleting: bool = False) -> tuple[str, str, Any]:
    metadata: dict[str, Any] = {"name": name, **({"deletionTimestamp": "2026-01-01T00:00:00Z"} if deleting else {})}
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    body = {"metadata": metadata, "spec": {"nodeName": on}, "status": {"conditions": conditions}}
    return ("pod", "DELETED" if on is None else "MODIFIED", body)


def cycle(name: str, *, admin: bool = False) -> list[tuple[str, str, dict[str, Any]]]:
    """One node's whole cycle, as the operator and the node write it."""
    mine = "admin" if admin else "ours"
    return [
        node(name, cordoned="admin") if admin else node(name),
        request(name, "Cordoning"),
        node(name, cordoned=mine),
        request(name, "Draining"),
        request(name, "Rebooting", approved="b1"),
        node(name, cordoned=mine, boot="b2"),
        request(name, "Verifying", approved="b1"),
        request(name, "Uncordoning", approved="b1"),
        node(name, cordoned="admin", boot="b2") if admin else node(name, boot="b2"),
        request(name, "Completed", approved="b1"),
    ]


def replayed(history: list[tuple[str, str, Any]], *, pods_listed_at: int | None = None) -> Replay:
    recorder = Recorder(cast(client.ApiClient, None))
    for revision, (kind, type_, body) in enumerate(history, start=1):
        recorder.changes.append(Change(revision, kind, type_, body["metadata"]["name"], body))
    if pods_listed_at is not None:
        recorder.listed_at["pod"] = pods_listed_at
    return recorder.replay({N, M})


def test_a_rollout_that_keeps_every_rule_passes() -> None:
    replayed(cycle(N) + cycle(M)).assert_one_reboot_each("p", [N, M], limit=1)
    admin = replayed(cycle(N, admin=True) + cycle(M))
    admin.assert_one_reboot_each("p", [N, M], limit=1, cordoned=2, admin_cordoned=[N])


def _interleaved() -> list[tuple[str, str, dict[str, Any]]]:
    first, second = cycle(N), cycle(M)
    return first[:4] + second + first[4:]


def _approved_before_cordoned() -> list[tuple[str, str, dict[str, Any]]]:
    history = cycle(N)
    history[2], history[4] = history[4], history[2]
    return history


@pytest.mark.parametrize(
    ("history", "broken", "found"),
    [
        pytest.param(_interleaved(), "most_in_progress", {"p": 2}, id="two-at-once"),
        pytest.param(cycle(N)[:1], "most_in_progress", {}, id="nothing-observed"),
        pytest.param(_approved_before_cordoned(), "approved_schedulable", [N], id="approved-while-schedulable"),
        pytest.param([*cycle(N), node(N, boot="b3")], "reboots", {N: 2}, id="two-reboots-one-approval"),
        pytest.param([*cycle(N)[:-1], request(N, "Completed", approved="b2")], "approvals", {N: 2}, id="two-approvals"),
        pytest.param([*cycle(N)[:-2], cycle(N)[-1]], "cordoned_at_end", {N}, id="left-cordoned"),
        pytest.param([*cycle(N)[:4], request(N, "Waiting"), *cycle(N)[4:]], "starts", {N: 2}, id="started-twice"),
        pytest.param([*cycle(N, admin=True)[:-2], node(N, boot="b2")], "admin_cordons_lifted", [N], id="admin-lifted"),
        pytest.param([pod("web-0", on=N), *cycle(N)], "approved_with_pods", {N: ["web-0"]}, id="not-drained"),
    ],
)
def test_each_broken_rule_is_caught(history: list[tuple[str, str, Any]], broken: str, found: object) -> None:
    replay = replayed(history)
    assert getattr(replay, broken) == found, replay
    with pytest.raises(AssertionError):
        replay.assert_one_reboot_each("p", [N], limit=1)


def test_the_fewest_healthy_pods_count_from_the_whole_listing_on() -> None:
    listing = [pod("web-0", on=N), pod("web-1", on=M), pod("web-2", on=M, ready=False)]
    drained = [pod("web-0", on=N, deleting=True), pod("web-0"), pod("web-3", on=M)]
    replay = replayed(listing + drained, pods_listed_at=len(listing))
    assert (replay.fewest_healthy_pods, replay.pod_changes) == (1, 3)
    assert replayed(listing, pods_listed_at=len(listing)).fewest_healthy_pods == 2
    assert replayed(listing).fewest_healthy_pods is None, "no pods recorded, no count"
