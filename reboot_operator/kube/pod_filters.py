"""Which pods a drain evicts, skips, or refuses to touch: kubectl drain's filters, as pure functions.

The filters run in kubectl's order, and the first that does not say "evict" decides:

1. deletion began longer ago than ``skip_wait_for_delete_timeout``: skip;
2. controlled by a DaemonSet: skip while the DaemonSet exists (finished pods excepted); an orphan is refused unless
   ``force``;
3. a mirror pod (the kubelet's reflection of a static pod): skip, the API cannot remove it;
4. emptyDir volumes on a running pod: refused unless ``delete_emptydir_data``;
5. no controller on a running pod: refused unless ``force`` (nothing would recreate it).

Finished pods (Succeeded/Failed) pass filters 2, 4 and 5: they hold no data worth keeping and are evicted.
Whether a DaemonSet exists is the one fact that needs the API; the caller looks it up first (see
``needs_daemonset_lookup``) and passes the answer in.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from reboot_operator.kube.drain_types import BlockReason, DrainOptions, SkipReason

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
FINISHED_PHASES = frozenset({"Succeeded", "Failed"})


@dataclass(frozen=True)
class OwnerRef:
    api_version: str
    kind: str
    name: str

    @property
    def is_daemonset(self) -> bool:
        return self.kind == "DaemonSet" and self.api_version == "apps/v1"


@dataclass(frozen=True)
class PodInfo:
    """The parts of a pod the drain looks at."""

    namespace: str
    name: str
    uid: str
    phase: str
    labels: Mapping[str, str]
    controller: OwnerRef | None
    mirror: bool
    has_empty_dir: bool
    deletion_timestamp: datetime.datetime | None

    @property
    def finished(self) -> bool:
        return self.phase in FINISHED_PHASES

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> PodInfo:
        metadata = raw.get("metadata") or {}
        controller = next((o for o in metadata.get("ownerReferences") or [] if o.get("controller")), None)
        deleted = metadata.get("deletionTimestamp")
        return cls(
            namespace=metadata.get("namespace", ""),
            name=metadata.get("name", ""),
            uid=metadata.get("uid", ""),
            phase=(raw.get("status") or {}).get("phase") or "",
            labels=dict(metadata.get("labels") or {}),
            controller=OwnerRef(
                controller.get("apiVersion", ""), controller.get("kind", ""), controller.get("name", "")
            )
            if controller
            else None,
            mirror=MIRROR_ANNOTATION in (metadata.get("annotations") or {}),
            has_empty_dir=any("emptyDir" in v for v in (raw.get("spec") or {}).get("volumes") or []),
            deletion_timestamp=datetime.datetime.fromisoformat(deleted) if deleted else None,
        )


class Verdict(StrEnum):
    EVICT = "Evict"
    SKIP = "Skip"
    REFUSE = "Refuse"


@dataclass(frozen=True)
class PodDecision:
    verdict: Verdict
    skip_reason: SkipReason | None = None
    block_reason: BlockReason | None = None
    detail: str = ""
    warning: str | None = None  # set when the pod is evicted only because force / delete_emptydir_data allow it


WARN_ORPHANED_DAEMONSET_POD = "deleting Pods whose DaemonSet is gone"
WARN_EMPTY_DIR = "deleting Pods with local storage"
WARN_UNMANAGED = "deleting Pods that declare no controller"

REFUSAL_MESSAGES = {
    BlockReason.DAEMONSET_MISSING: "Pods whose DaemonSet is gone (set force to override)",
    BlockReason.EMPTY_DIR: "Pods with local storage (set deleteEmptyDirData to override)",
    BlockReason.UNMANAGED: "Pods that declare no controller (set force to override)",
    BlockReason.API_ERROR: "Pods whose controller could not be checked",
}


def deleted_long_ago(pod: PodInfo, *, skip_after: float, now: datetime.datetime) -> bool:
    """kubectl's shouldSkipPod: deletion began more than ``skip_after`` seconds ago (0 disables the check)."""
    if skip_after <= 0 or pod.deletion_timestamp is None:
        return False
    return (now - pod.deletion_timestamp).total_seconds() > skip_after


def needs_daemonset_lookup(pod: PodInfo, options: DrainOptions, *, now: datetime.datetime) -> bool:
    """Whether ``decide_pod`` will need to know if the pod's DaemonSet still exists."""
    if deleted_long_ago(pod, skip_after=options.skip_wait_for_delete_timeout, now=now):
        return False
    return pod.controller is not None and pod.controller.is_daemonset and not pod.finished


def decide_pod(
    pod: PodInfo, options: DrainOptions, *, now: datetime.datetime, daemonset_exists: bool | None = None
) -> PodDecision:
    if deleted_long_ago(pod, skip_after=options.skip_wait_for_delete_timeout, now=now):
        return PodDecision(Verdict.SKIP, skip_reason=SkipReason.DELETED_LONG_AGO)

    warning = None
    if pod.controller is not None and pod.controller.is_daemonset and not pod.finished:
        if daemonset_exists is None:
            raise ValueError(f"pod {pod.ref} is controlled by a DaemonSet: look it up first")
        if daemonset_exists:
            return PodDecision(Verdict.SKIP, skip_reason=SkipReason.DAEMONSET)
        if not options.force:
            return PodDecision(
                Verdict.REFUSE, block_reason=BlockReason.DAEMONSET_MISSING, detail=f"DaemonSet {pod.controller.name}"
            )
        warning = WARN_ORPHANED_DAEMONSET_POD

    if pod.mirror:
        return PodDecision(Verdict.SKIP, skip_reason=SkipReason.MIRROR)

    if pod.has_empty_dir and not pod.finished:
        if not options.delete_emptydir_data:
            return PodDecision(Verdict.REFUSE, block_reason=BlockReason.EMPTY_DIR)
        warning = WARN_EMPTY_DIR

    if pod.finished or pod.controller is not None:
        return PodDecision(Verdict.EVICT, warning=warning)
    if not options.force:
        return PodDecision(Verdict.REFUSE, block_reason=BlockReason.UNMANAGED)
    # As in kubectl, only the last filter's warning survives.
    return PodDecision(Verdict.EVICT, warning=WARN_UNMANAGED)


def grouped(pairs: Iterable[tuple[str, PodInfo]]) -> list[str]:
    """``["<what>: ns/a, ns/b", ...]``, pods grouped by message, in the order messages first appear."""
    by_message: dict[str, list[str]] = defaultdict(list)
    for message, pod in pairs:
        by_message[message].append(pod.ref)
    return [f"{message}: {', '.join(refs)}" for message, refs in by_message.items()]


def refusal_error(refused: Iterable[tuple[PodInfo, PodDecision]]) -> str:
    """kubectl's "cannot delete <what>: <pods>" message, one clause per reason."""
    pairs = [(REFUSAL_MESSAGES[decision.block_reason or BlockReason.API_ERROR], pod) for pod, decision in refused]
    return "; ".join(f"cannot delete {clause}" for clause in grouped(pairs))
