"""The vocabulary of a drain: its options, the progress it reports while running, and the result it returns.

Plain frozen dataclasses, independent of Kopf and of the API models, so the handler layer can build ``DrainOptions``
from a policy and write ``DrainProgress`` / ``DrainResult`` into a request's status.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

# A PodDisruptionBudget that says "not now" must not be asked again at once: kured and kubectl wait 5 s.
MIN_EVICTION_RETRY_DELAY = 5.0


@dataclass(frozen=True, kw_only=True)
class DrainOptions:
    """How to drain a node; the meaning of each follows ``kubectl drain`` (and kured's flags of the same names).

    ``grace_period_seconds``: None lets each pod use its own terminationGracePeriodSeconds.
    ``timeout``: seconds for the whole drain; None waits forever.
    ``pod_selector``: a label selector; only matching pods are drained.
    ``skip_wait_for_delete_timeout``: pods whose deletion began more than this many seconds ago are not waited for;
    0 waits for every pod.
    ``eviction_retry_delay``: seconds between eviction attempts a PodDisruptionBudget refused; at least 5.
    ``relist_interval``: while waiting for evicted pods to be gone, the node's pods are watched (a deletion is seen
    at once) and listed again at least this often, the fallback should the watch break or fall silent.
    ``evict_last``: (namespace, name) of pods evicted only once every other pod is gone: the operator's own pod.
    Its eviction ends the operator's process, and an eviction still in flight when the process exits can be cut
    off after the API server charged the PodDisruptionBudget but before it deleted the pod: that budget then allows
    nothing for two minutes (found on real nodes). The replica that takes over finds the node drained.
    DaemonSet-managed pods are always left alone (kubectl's ``--ignore-daemonsets``); rebooting the node restarts them.
    """

    force: bool = False
    delete_emptydir_data: bool = False
    grace_period_seconds: int | None = None
    timeout: float | None = None
    pod_selector: str = ""
    skip_wait_for_delete_timeout: float = 0.0
    eviction_retry_delay: float = MIN_EVICTION_RETRY_DELAY
    relist_interval: float = 10.0
    evict_last: frozenset[tuple[str, str]] = frozenset()

    def __post_init__(self) -> None:
        if self.eviction_retry_delay < MIN_EVICTION_RETRY_DELAY:
            raise ValueError(
                f"eviction_retry_delay must be at least {MIN_EVICTION_RETRY_DELAY} s, got {self.eviction_retry_delay}"
            )
        if self.grace_period_seconds is not None and self.grace_period_seconds < 0:
            raise ValueError(f"grace_period_seconds must be >= 0 or None, got {self.grace_period_seconds}")
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError(f"timeout must be > 0 or None (forever), got {self.timeout}")
        if self.skip_wait_for_delete_timeout < 0:
            raise ValueError(f"skip_wait_for_delete_timeout must be >= 0, got {self.skip_wait_for_delete_timeout}")
        if not 1 <= self.relist_interval <= 600:
            raise ValueError(f"relist_interval must be between 1 and 600 s, got {self.relist_interval}")


@dataclass(frozen=True, order=True)
class PodRef:
    namespace: str
    name: str
    uid: str = ""

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


class BlockReason(StrEnum):
    """Why a pod stands between the node and its reboot."""

    POD_DISRUPTION_BUDGET = "PodDisruptionBudget"  # eviction refused (429); detail names the PDB(s)
    UNMANAGED = "Unmanaged"  # no controller, and force is off
    EMPTY_DIR = "EmptyDir"  # emptyDir data, and delete_emptydir_data is off
    DAEMONSET_MISSING = "DaemonSetMissing"  # its DaemonSet no longer exists, and force is off
    NAMESPACE_TERMINATING = "NamespaceTerminating"  # eviction forbidden until the namespace deletion reaches it
    API_ERROR = "APIError"  # the eviction call failed otherwise; retried with backoff
    TERMINATING = "Terminating"  # eviction accepted, still shutting down
    EVICTING = "Evicting"  # not evicted yet


class SkipReason(StrEnum):
    """Why a pod on the node is left where it is."""

    DAEMONSET = "DaemonSet"
    MIRROR = "MirrorPod"
    DELETED_LONG_AGO = "DeletedLongAgo"  # deletion older than skip_wait_for_delete_timeout


@dataclass(frozen=True)
class BlockingPod:
    namespace: str
    name: str
    reason: BlockReason
    detail: str = ""  # e.g. the PodDisruptionBudget's name
    message: str = ""  # the API server's own words, when it gave some

    def describe(self) -> str:
        """E.g. ``PodDisruptionBudget web``, the short form for a status line."""
        return f"{self.reason} {self.detail}".strip()

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class SkippedPod:
    namespace: str
    name: str
    reason: SkipReason


@dataclass(frozen=True)
class DrainProgress:
    """Reported whenever it changes: how many pods the drain must remove, how many remain, and what blocks them.

    ``blocking`` lists pods held up by something other than their normal shutdown (a PDB, an API error).
    """

    total: int
    remaining: int
    blocking: tuple[BlockingPod, ...]


ProgressCallback = Callable[[DrainProgress], Awaitable[None]]


class DrainOutcome(StrEnum):
    COMPLETED = "Completed"  # every pod to drain is gone (or replaced: same name, new UID)
    TIMED_OUT = "TimedOut"  # the time-out passed first
    REFUSED = "Refused"  # pods the options do not allow to remove; nothing was evicted
    FAILED = "Failed"  # the API refused to tell us what runs on the node (e.g. forbidden); nothing was evicted


class AfterDrain(StrEnum):
    """What a drain's outcome allows next."""

    REBOOT = "Reboot"
    GIVE_BACK = "GiveBack"


def after_drain(outcome: DrainOutcome, *, reboot_on_timeout: bool) -> AfterDrain:
    """Fail-closed: the node may reboot only when its drain completed, or timed out while the policy says
    ``onTimeout: Reboot``. Anything else (refused, failed, a time-out under ``Abort``, or an outcome added later)
    gives the node back undisturbed."""
    if outcome is DrainOutcome.COMPLETED:
        return AfterDrain.REBOOT
    if outcome is DrainOutcome.TIMED_OUT and reboot_on_timeout:
        return AfterDrain.REBOOT
    return AfterDrain.GIVE_BACK


@dataclass(frozen=True)
class DrainResult:
    """The outcome of one drain.

    ``evicted``: pods the drain removed (or saw vanish). ``skipped``: pods it left on the node, and why.
    ``blocking``: when timed out, every pod still waited for and why; when refused, the pods the options forbid.
    ``warnings``: pods removed only thanks to force / delete_emptydir_data, as kubectl warns about them.
    ``error``: a sentence for the request's status when the drain did not complete.
    """

    outcome: DrainOutcome
    evicted: tuple[PodRef, ...] = ()
    skipped: tuple[SkippedPod, ...] = ()
    blocking: tuple[BlockingPod, ...] = ()
    warnings: tuple[str, ...] = ()
    error: str | None = None

    @property
    def completed(self) -> bool:
        return self.outcome is DrainOutcome.COMPLETED

    @property
    def timed_out(self) -> bool:
        return self.outcome is DrainOutcome.TIMED_OUT
