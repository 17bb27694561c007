"""When a drain stops waiting for the pods it evicted: kubectl's waitForDelete, as pure functions of the node's pods.

A pod is gone once no pod with its UID is on the node: deleted, or replaced by a new pod under the same name
(kubectl: NotFound, or the UID changed; kured #1169). A pod still there whose deletion began more than
``skip_after`` seconds ago is no longer waited for (kubectl's ``--skip-wait-for-delete-timeout``); since that
happens with the passing of time alone, ``next_skip_at`` says when the drain must look again though nothing changed.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from reboot_operator.kube.pod_filters import PodInfo, deleted_long_ago


@dataclass(frozen=True)
class Settled:
    """UIDs of waited-for pods that need no more waiting, and why."""

    gone: frozenset[str] = frozenset()
    deleted_long_ago: frozenset[str] = frozenset()


def settle(
    waiting: Iterable[str], present: Mapping[str, PodInfo], *, skip_after: float, now: datetime.datetime
) -> Settled:
    """Which of the ``waiting`` UIDs are done with, given the pods on the node now (``present``, by UID)."""
    gone: set[str] = set()
    long_ago: set[str] = set()
    for uid in waiting:
        pod = present.get(uid)
        if pod is None:
            gone.add(uid)
        elif deleted_long_ago(pod, skip_after=skip_after, now=now):
            long_ago.add(uid)
    return Settled(frozenset(gone), frozenset(long_ago))


def next_skip_at(
    waiting: Iterable[str], present: Mapping[str, PodInfo], *, skip_after: float
) -> datetime.datetime | None:
    """The first instant one of the ``waiting`` pods still present turns "deleted long ago"; None if none will."""
    if skip_after <= 0:
        return None
    instants = [
        pod.deletion_timestamp + datetime.timedelta(seconds=skip_after)
        for uid in waiting
        if (pod := present.get(uid)) is not None and pod.deletion_timestamp is not None
    ]
    return min(instants, default=None)
