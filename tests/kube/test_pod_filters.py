"""kubectl drain's filters, as a table: which pods are evicted, skipped, or refuse the drain."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

import pytest

from reboot_operator.kube.drain_types import BlockReason, DrainOptions, SkipReason
from reboot_operator.kube.pod_filters import (
    WARN_EMPTY_DIR,
    WARN_ORPHANED_DAEMONSET_POD,
    WARN_UNMANAGED,
    PodDecision,
    PodInfo,
    Verdict,
    decide_pod,
    needs_daemonset_lookup,
    refusal_error,
)

NOW = datetime.datetime(2025, 3, 1, 12, 0, tzinfo=datetime.UTC)
REPLICASET = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "u1", "controller": True}
DAEMONSET = {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "uid": "u2", "controller": True}
NOT_CONTROLLER = {**REPLICASET, "controller": False}


def pod(
    *,
    owner: dict[str, Any] | None = REPLICASET,
    phase: str = "Running",
    empty_dir: bool = False,
    mirror: bool = False,
    deleted_seconds_ago: float | None = None,
) -> PodInfo:
    metadata: dict[str, Any] = {"name": "p", "namespace": "ns", "uid": "uid-p", "labels": {"app": "web"}}
    if owner is not None:
        metadata["ownerReferences"] = [owner]
    if mirror:
        metadata["annotations"] = {"kubernetes.io/config.mirror": "hash"}
    if deleted_seconds_ago is not None:
        stamp = NOW - datetime.timedelta(seconds=deleted_seconds_ago)
        metadata["deletionTimestamp"] = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    volumes = [{"name": "scratch", "emptyDir": {}}] if empty_dir else [{"name": "cfg", "configMap": {"name": "c"}}]
    return PodInfo.from_json({"metadata": metadata, "spec": {"volumes": volumes}, "status": {"phase": phase}})


EVICT = PodDecision(Verdict.EVICT)
FORCE = DrainOptions(force=True)
EMPTY_DIR_OK = DrainOptions(delete_emptydir_data=True)
SKIP_AFTER_60 = DrainOptions(skip_wait_for_delete_timeout=60)


@pytest.mark.parametrize(
    ("the_pod", "options", "daemonset_exists", "expected"),
    [
        pytest.param(pod(), DrainOptions(), None, EVICT, id="a-replicaset-pod-is-evicted"),
        pytest.param(
            pod(owner=None),
            DrainOptions(),
            None,
            PodDecision(Verdict.REFUSE, block_reason=BlockReason.UNMANAGED),
            id="an-unmanaged-pod-refuses-the-drain",
        ),
        pytest.param(
            pod(owner=NOT_CONTROLLER),
            DrainOptions(),
            None,
            PodDecision(Verdict.REFUSE, block_reason=BlockReason.UNMANAGED),
            id="an-owner-that-is-not-a-controller-does-not-count",
        ),
        pytest.param(
            pod(owner=None),
            FORCE,
            None,
            PodDecision(Verdict.EVICT, warning=WARN_UNMANAGED),
            id="force-evicts-an-unmanaged-pod-with-a-warning",
        ),
        pytest.param(pod(owner=None, phase="Succeeded"), DrainOptions(), None, EVICT, id="a-finished-pod-is-evicted"),
        pytest.param(
            pod(empty_dir=True),
            DrainOptions(),
            None,
            PodDecision(Verdict.REFUSE, block_reason=BlockReason.EMPTY_DIR),
            id="emptydir-refuses-the-drain",
        ),
        pytest.param(
            pod(empty_dir=True),
            EMPTY_DIR_OK,
            None,
            PodDecision(Verdict.EVICT, warning=WARN_EMPTY_DIR),
            id="emptydir-evicted-with-the-flag",
        ),
        pytest.param(
            pod(empty_dir=True, owner=None),
            FORCE,
            None,
            PodDecision(Verdict.REFUSE, block_reason=BlockReason.EMPTY_DIR),
            id="force-does-not-cover-emptydir",
        ),
        pytest.param(pod(empty_dir=True, phase="Failed"), DrainOptions(), None, EVICT, id="finished-emptydir-evicted"),
        pytest.param(
            pod(owner=DAEMONSET),
            DrainOptions(),
            True,
            PodDecision(Verdict.SKIP, skip_reason=SkipReason.DAEMONSET),
            id="a-daemonset-pod-is-skipped",
        ),
        pytest.param(
            pod(owner=DAEMONSET, empty_dir=True),
            DrainOptions(),
            True,
            PodDecision(Verdict.SKIP, skip_reason=SkipReason.DAEMONSET),
            id="a-daemonset-pod-with-emptydir-is-skipped",
        ),
        pytest.param(
            pod(owner=DAEMONSET),
            DrainOptions(),
            False,
            PodDecision(Verdict.REFUSE, block_reason=BlockReason.DAEMONSET_MISSING, detail="DaemonSet agent"),
            id="an-orphaned-daemonset-pod-refuses-the-drain",
        ),
        pytest.param(
            pod(owner=DAEMONSET),
            FORCE,
            False,
            PodDecision(Verdict.EVICT, warning=WARN_ORPHANED_DAEMONSET_POD),
            id="force-evicts-an-orphaned-daemonset-pod",
        ),
        pytest.param(
            pod(owner=DAEMONSET, phase="Succeeded"),
            DrainOptions(),
            None,
            EVICT,
            id="a-finished-daemonset-pod-is-evicted",
        ),
        pytest.param(
            pod(owner=None, mirror=True),
            DrainOptions(),
            None,
            PodDecision(Verdict.SKIP, skip_reason=SkipReason.MIRROR),
            id="a-mirror-pod-is-skipped",
        ),
        pytest.param(
            pod(owner=None, deleted_seconds_ago=61),
            SKIP_AFTER_60,
            None,
            PodDecision(Verdict.SKIP, skip_reason=SkipReason.DELETED_LONG_AGO),
            id="a-pod-deleted-long-ago-is-skipped-before-any-other-filter",
        ),
        pytest.param(pod(deleted_seconds_ago=59), SKIP_AFTER_60, None, EVICT, id="a-recent-deletion-is-waited-for"),
        pytest.param(pod(deleted_seconds_ago=3600), DrainOptions(), None, EVICT, id="zero-disables-the-skip"),
    ],
)
def test_each_pod_is_decided_as_kubectl_drain_decides(
    the_pod: PodInfo, options: DrainOptions, daemonset_exists: bool | None, expected: PodDecision
) -> None:
    assert needs_daemonset_lookup(the_pod, options, now=NOW) is (daemonset_exists is not None)
    assert decide_pod(the_pod, options, now=NOW, daemonset_exists=daemonset_exists) == expected


def test_a_daemonset_pod_cannot_be_decided_without_looking_up_its_daemonset() -> None:
    with pytest.raises(ValueError, match="DaemonSet"):
        decide_pod(pod(owner=DAEMONSET), DrainOptions(), now=NOW)


def test_the_refusal_names_the_pods_grouped_by_reason() -> None:
    refused = [
        (named("a"), PodDecision(Verdict.REFUSE, block_reason=BlockReason.UNMANAGED)),
        (named("b"), PodDecision(Verdict.REFUSE, block_reason=BlockReason.EMPTY_DIR)),
        (named("c"), PodDecision(Verdict.REFUSE, block_reason=BlockReason.UNMANAGED)),
    ]
    assert refusal_error(refused) == (
        "cannot delete Pods that declare no controller (set force to override): ns/a, ns/c; "
        "cannot delete Pods with local storage (set deleteEmptyDirData to override): ns/b"
    )


def named(name: str) -> PodInfo:
    return dataclasses.replace(pod(), name=name)
