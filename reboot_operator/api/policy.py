"""RebootPolicy: which nodes, how many at once, when, and how they are drained and rebooted.

The spec is written by people (GitOps); the status by the operator alone. Fields marked "enforced later" are part of
the API already so manifests can be written against it, but the operator does not act on them yet.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import Field, field_validator

from reboot_operator.api.base import ApiModel, Duration, LabelValue, Name, cel, validations
from reboot_operator.api.common import LabelSelector
from reboot_operator.api.regexp import compile_re2
from reboot_operator.api.windows import Blackout, MaintenanceWindow

PERCENT_PATTERN = r"^(100|[1-9][0-9]?)%$"
_MAX_CONCURRENT_RULE = cel(
    f"type(self) == int ? self >= 1 : self.matches('{PERCENT_PATTERN}')",
    'maxConcurrent must be an integer of at least 1 or a percentage from 1% to 100% such as "25%"',
)


class OnDrainTimeout(StrEnum):
    """What to do when a drain does not finish within drain.timeout."""

    ABORT = "Abort"
    """Give the node back (uncordon it unless it was cordoned before) and mark the attempt failed."""
    REBOOT = "Reboot"
    """Reboot anyway, with the remaining pods still on the node."""


class DrainSpec(ApiModel):
    """How a node is drained before its reboot. Evictions go through the eviction API, so PodDisruptionBudgets
    are honoured; DaemonSet pods are left in place."""

    timeout: Duration = Field(
        default="30m", description="How long the drain may take before onTimeout applies; 0 waits for ever."
    )
    grace_period_seconds: int | None = Field(
        default=None,
        ge=0,
        description="Grace period given to each evicted pod, in seconds; unset uses each pod's own.",
    )
    delete_empty_dir_data: bool = Field(
        default=True, description="Evict pods using emptyDir volumes too (their data is lost), as kured does."
    )
    force: bool = Field(
        default=False, description="Also delete pods that no controller manages (they are not recreated)."
    )
    pod_selector: LabelSelector | None = Field(
        default=None, description="Only evict pods matching this selector; all pods when unset."
    )
    skip_wait_for_delete_timeout: Duration = Field(
        default="0s",
        description="Stop waiting for a pod whose deletion began longer ago than this (e.g. on a dead kubelet); "
        "0 always waits.",
    )
    on_timeout: OnDrainTimeout = Field(
        default=OnDrainTimeout.ABORT,
        description="Abort: give the node back and mark the attempt failed. Reboot: reboot anyway.",
    )


class RebootSpec(ApiModel):
    """How the reboot itself is approved and checked."""

    timeout: Duration = Field(
        default="15m",
        description="Time from approval for the node to come back Ready with a new boot ID; else the attempt fails.",
    )
    soak: Duration = Field(
        default="30s", description="How long the node must stay Ready after the reboot before it is uncordoned."
    )
    delay: Duration = Field(default="0s", description="A pause between the end of the drain and the reboot.")
    max_attempts: int = Field(
        default=3,
        ge=1,
        le=10,
        description="Reboots tried for one request when the need survives a reboot; then it fails (loop guard).",
    )


class FailureBudget(ApiModel):
    """How many failed nodes halt the policy, and how an admin resumes it."""

    max_failures: int = Field(
        default=1, ge=1, le=10000, description="Failed nodes after which no new node starts (the policy halts)."
    )
    reset_token: Annotated[str, Field(max_length=63)] | None = Field(
        default=None,
        description="Change this to any new value to clear the failure count and retry failed nodes; the "
        "operator records the value it acted on in status.failureBudget.observedResetToken.",
    )


class PodBlocker(ApiModel):
    """Pods whose presence on a node keeps it from starting, as kured's --blocking-pod-selector. Pods that have
    ended (Succeeded, Failed) never block."""

    label_selector: LabelSelector = Field(description="Pods matching this selector block their node.")
    namespace_selector: LabelSelector | None = Field(
        default=None, description="Only pods in namespaces matching this selector count; all namespaces when unset."
    )


class PrometheusBlocker(ApiModel):
    """Active Prometheus alerts that keep every node of the policy from starting, as kured's --prometheus-url.
    A failing query counts as blocked."""

    url: Annotated[str, Field(pattern=r"^https?://", max_length=2048)] = Field(
        description="Base URL of the Prometheus API; /api/v1/alerts is queried below it."
    )
    alert_filter_regexp: Annotated[str, Field(max_length=1024)] | None = Field(
        default=None,
        description="Alert names matching this regular expression (RE2 syntax, as kured's) are ignored.",
    )
    alert_filter_match_only: bool = Field(
        default=False, description="Invert the filter: only alerts matching alertFilterRegexp block."
    )
    firing_only: bool = Field(default=False, description="Only firing alerts block (pending ones are ignored).")

    @field_validator("alert_filter_regexp")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                compile_re2(value)
            except ValueError as error:
                raise ValueError(f"alertFilterRegexp is {error}") from None
        return value


class Blockers(ApiModel):
    """Conditions that keep nodes from starting their reboot while they hold. A blocked node holds no slot: the
    next node in the queue may start instead."""

    pods: list[PodBlocker] = Field(
        default_factory=list, max_length=16, description="Pod selectors that block a node while matching pods run."
    )
    prometheus: PrometheusBlocker | None = Field(
        default=None, description="Block while matching Prometheus alerts fire."
    )


class NodeLabels(ApiModel):
    """Labels the operator puts on a node around its reboot (enforced later)."""

    pre_reboot: dict[str, LabelValue] = Field(
        default_factory=dict, max_length=32, description="Labels set when the node starts its cycle."
    )
    post_reboot: dict[str, LabelValue] = Field(
        default_factory=dict, max_length=32, description="Labels set when the node has finished its cycle."
    )


class NotificationEvent(StrEnum):
    """What a notification can be sent for."""

    STARTED = "Started"
    REBOOTING = "Rebooting"
    COMPLETED = "Completed"
    FAILED = "Failed"
    HALTED = "Halted"
    BLOCKED = "Blocked"


class SecretKeyRef(ApiModel):
    """One key of one Secret."""

    name: Name = Field(description="Name of the Secret.")
    namespace: Name = Field(description="Namespace of the Secret.")
    key: Annotated[str, Field(pattern=r"^[-._a-zA-Z0-9]+$", max_length=253)] = Field(
        description="Key within the Secret whose value is used."
    )


class Notification(ApiModel):
    """Where to tell people about reboots, through apprise (https://github.com/caronc/apprise/wiki)."""

    url_secret_ref: SecretKeyRef = Field(
        description="Secret key holding an apprise URL (e.g. slack://…); kept in a Secret since it holds tokens."
    )
    events: list[NotificationEvent] = Field(
        default_factory=list,
        max_length=8,
        json_schema_extra={"x-kubernetes-list-type": "set"},
        description="Events to notify about: Started, Rebooting, Completed, Failed, Halted, Blocked; all when empty.",
    )
    template: Annotated[str, Field(max_length=4096)] | None = Field(
        default=None,
        description="The message, with {event}, {node}, {policy}, {message}, {kernel_before}, {kernel_after} and "
        "{duration} replaced; a clear default when unset.",
    )


class RebootPolicySpec(ApiModel):
    """Which nodes this policy governs and how they are rebooted: a few at a time, in maintenance windows."""

    node_selector: LabelSelector = Field(
        default_factory=LabelSelector,
        description="Nodes this policy applies to; all nodes when empty. A node selected by several policies is "
        "governed by the one with the highest priority.",
    )
    priority: int = Field(
        default=0,
        ge=-1000000,
        le=1000000,
        description="Decides between policies selecting the same node: the highest wins. A tie is a conflict: the "
        "node is reported and never rebooted until it is resolved.",
    )
    max_concurrent: int | str = Field(
        default=1,
        json_schema_extra=validations(_MAX_CONCURRENT_RULE),
        description="Integer or string (kubectl explain shows <Object> for any custom resource's int-or-string "
        "field). Nodes that may be between start and finish at once: a number (at least 1) such as 2, or a "
        'percentage of the selected nodes such as "25%", rounded down, at least 1.',
    )
    paused: bool = Field(default=False, description="No new node starts while true; started nodes finish.")
    maintenance_windows: list[MaintenanceWindow] = Field(
        default_factory=list,
        max_length=32,
        description="When nodes may start; always when empty. A node starts only inside a window, and finishes "
        "even if the window closes meanwhile.",
    )
    blackouts: list[Blackout] = Field(
        default_factory=list, max_length=64, description="Periods during which nothing starts, whatever the windows."
    )
    min_interval_between_reboots: Duration = Field(
        default="0s",
        description="Time between one node of this policy finishing and the next one starting, e.g. 10m.",
    )
    drain: DrainSpec = Field(
        default_factory=DrainSpec,
        description="How nodes are drained before their reboot. Evictions go through the eviction API, so "
        "PodDisruptionBudgets are honoured; DaemonSet pods stay in place.",
    )
    reboot: RebootSpec = Field(
        default_factory=RebootSpec,
        description="How a reboot is approved and checked: the node must come back Ready with a new boot ID "
        "within timeout, then stay Ready for soak before it is uncordoned.",
    )
    failure_budget: FailureBudget = Field(
        default_factory=FailureBudget,
        description="How many failed nodes halt the rollout, and how an admin resumes it (resetToken).",
    )
    blockers: Blockers = Field(
        default_factory=Blockers,
        description="What keeps nodes from starting their reboot while it holds: pods on the node, Prometheus alerts.",
    )
    node_labels: NodeLabels = Field(
        default_factory=NodeLabels,
        description="Labels put on nodes around their reboot, as kured's --pre-reboot-node-labels and "
        "--post-reboot-node-labels (enforced later).",
    )
    prefer_no_schedule_taint: bool = Field(
        default=False,
        description="Taint nodes waiting for their turn with rollboot.dev/reboot-pending:PreferNoSchedule, so new "
        "pods go elsewhere first; removed when the node starts its cycle or no longer needs a reboot.",
    )
    notifications: list[Notification] = Field(
        default_factory=list, max_length=16, description="Where to send lifecycle notifications (apprise URLs)."
    )

    @field_validator("max_concurrent")
    @classmethod
    def _count_or_percentage(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
        if isinstance(value, str) and re.fullmatch(PERCENT_PATTERN.strip("^$"), value):
            return value
        raise ValueError(_MAX_CONCURRENT_RULE["message"])
