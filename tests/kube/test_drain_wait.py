"""kubectl's waitForDelete as a table: when a drain stops waiting for a pod it evicted, and when it must look again."""

from __future__ import annotations

import datetime

import pytest

from reboot_operator.kube.drain_wait import Settled, next_skip_at, settle
from reboot_operator.kube.pod_filters import PodInfo

NOW = datetime.datetime(2025, 3, 1, 12, 0, tzinfo=datetime.UTC)


def pod(uid: str, *, name: str = "db-0", deleted_seconds_ago: float | None = None) -> PodInfo:
    metadata: dict[str, object] = {"name": name, "namespace": "ns", "uid": uid}
    if deleted_seconds_ago is not None:
        stamp = NOW - datetime.timedelta(seconds=deleted_seconds_ago)
        metadata["deletionTimestamp"] = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    return PodInfo.from_json({"metadata": metadata, "status": {"phase": "Running"}})


def by_uid(*pods: PodInfo) -> dict[str, PodInfo]:
    return {p.uid: p for p in pods}


@pytest.mark.parametrize(
    ("present", "skip_after", "expected"),
    [
        pytest.param(by_uid(pod("a")), 0, Settled(), id="still-there-is-waited-for"),
        pytest.param(by_uid(), 0, Settled(gone=frozenset({"a"})), id="no-longer-there-is-gone"),
        pytest.param(
            by_uid(pod("b", name="db-0")), 0, Settled(gone=frozenset({"a"})), id="replaced-under-its-name-is-gone"
        ),
        pytest.param(by_uid(pod("a", deleted_seconds_ago=600)), 0, Settled(), id="terminating-is-waited-for"),
        pytest.param(
            by_uid(pod("a", deleted_seconds_ago=61)),
            60,
            Settled(deleted_long_ago=frozenset({"a"})),
            id="deleted-longer-ago-than-the-skip-timeout-is-no-longer-waited-for",
        ),
        pytest.param(by_uid(pod("a", deleted_seconds_ago=59)), 60, Settled(), id="deleted-recently-is-waited-for"),
    ],
)
def test_a_pod_is_done_with_once_its_uid_left_the_node_or_its_deletion_is_old(
    present: dict[str, PodInfo], skip_after: float, expected: Settled
) -> None:
    assert settle(["a"], present, skip_after=skip_after, now=NOW) == expected


def test_pods_not_waited_for_are_never_settled() -> None:
    assert settle([], by_uid(), skip_after=0, now=NOW) == Settled()
    assert settle(["a"], by_uid(pod("a"), pod("b")), skip_after=0, now=NOW) == Settled()


@pytest.mark.parametrize(
    ("present", "skip_after", "expected"),
    [
        pytest.param(by_uid(pod("a", deleted_seconds_ago=10)), 0, None, id="no-skip-timeout-never-wakes"),
        pytest.param(by_uid(pod("a")), 60, None, id="not-terminating-never-wakes"),
        pytest.param(by_uid(), 60, None, id="gone-never-wakes"),
        pytest.param(
            by_uid(pod("a", deleted_seconds_ago=10), pod("b", name="db-1", deleted_seconds_ago=40)),
            60,
            NOW + datetime.timedelta(seconds=20),
            id="the-earliest-deletion-decides",
        ),
        pytest.param(
            by_uid(pod("a", deleted_seconds_ago=10), pod("x", name="other", deleted_seconds_ago=59)),
            60,
            NOW + datetime.timedelta(seconds=50),
            id="pods-not-waited-for-do-not-count",
        ),
    ],
)
def test_the_drain_looks_again_when_a_terminating_pod_turns_deleted_long_ago(
    present: dict[str, PodInfo], skip_after: float, expected: datetime.datetime | None
) -> None:
    assert next_skip_at(["a", "b"], present, skip_after=skip_after) == expected
