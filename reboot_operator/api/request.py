"""NodeRebootRequest: one per node, named after it. The agent writes the spec (does the node need a reboot, and
why); the operator alone writes the status (where the node is in its cycle, and the approval the agent acts on).

Contract with the agent:

- An empty ``spec.reasons`` means the agent withdrew the request (the sentinel is gone). A new need is a spec change
  (a new generation), which starts a new cycle once the previous one has ended.
- The agent reboots its node when ``status.phase`` is ``Rebooting`` and ``status.approval.bootID`` equals the node's
  current boot ID, so an approval can never cause a second reboot.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, Field

from reboot_operator.api.base import ApiModel, Name, cel, validations
from reboot_operator.api.common import CONDITIONS_LIST, Condition
from reboot_operator.api.vocabulary import Phase

BootID = Annotated[str, Field(max_length=128)]
KernelVersion = Annotated[str, Field(max_length=256)]


class ReasonSource(StrEnum):
    """How the agent found out that its node needs a reboot."""

    SENTINEL_FILE = "sentinel-file"
    SENTINEL_COMMAND = "sentinel-command"


class RebootReason(ApiModel):
    """One reason the node needs a reboot."""

    source: ReasonSource = Field(description="sentinel-file or sentinel-command.")
    detail: Annotated[str, Field(max_length=1024)] = Field(
        default="", description="What was found, e.g. the sentinel path or the command's output."
    )
    packages: list[Annotated[str, Field(max_length=256)]] = Field(
        default_factory=list,
        max_length=256,
        description="Packages that asked for the reboot (e.g. from /var/run/reboot-required.pkgs).",
    )


class NodeRebootRequestSpec(ApiModel):
    """The agent's report: this node needs a reboot, and why. Empty reasons withdraw the request."""

    node_name: Name = Field(
        json_schema_extra=validations(cel("self == oldSelf", "nodeName is immutable")),
        description="The node this request is for; must equal metadata.name.",
    )
    reasons: list[RebootReason] = Field(
        default_factory=list,
        max_length=16,
        description="Why the node needs a reboot; empty means the agent withdrew the request.",
    )
    detected_at: AwareDatetime | None = Field(default=None, description="When the agent detected the need (RFC 3339).")
    boot_id: BootID | None = Field(default=None, description="The node's boot ID when the need was detected.")


class Approval(ApiModel):
    """The operator's permission to reboot, bound to one boot of the node."""

    boot_id: BootID = Field(description="The boot ID to reboot from; the agent acts only if it is the current one.")
    approved_at: AwareDatetime = Field(description="When the reboot was approved.")
    attempt: int = Field(ge=1, description="Which attempt of this request the approval is for, from 1.")


class BlockingPod(ApiModel):
    """A pod the drain is waiting for."""

    namespace: Name = Field(description="Namespace of the pod.")
    name: Name = Field(description="Name of the pod.")
    reason: Annotated[str, Field(max_length=1024)] = Field(
        default="", description="Why it is still there, e.g. the eviction's last error."
    )
    pdb: Name | None = Field(default=None, description="The PodDisruptionBudget refusing its eviction, if any.")


class DrainProgress(ApiModel):
    """How far the drain has got."""

    pods_total: int = Field(default=0, ge=0, description="Pods to evict when the drain started.")
    pods_remaining: int = Field(default=0, ge=0, description="Pods still to go.")
    blocking_pods: list[BlockingPod] = Field(
        default_factory=list, max_length=20, description="Pods the drain is waiting for (the first 20)."
    )


class NodeRebootRequestStatus(ApiModel):
    """Where the node is in its reboot cycle, written by the operator only."""

    phase: Phase | None = Field(
        default=None,
        description="Pending, Waiting, Cordoning, Draining, Rebooting, Verifying, Uncordoning, Completed, Failed "
        "or Cancelled.",
    )
    policy: Name | None = Field(default=None, description="The RebootPolicy governing this node.")
    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=16,
        json_schema_extra=CONDITIONS_LIST,
        description="Standard conditions.",
    )
    message: Annotated[str, Field(max_length=4096)] | None = Field(
        default=None,
        description="What is happening or why it waits: window closed until T, blocked by X, position k of n, "
        "policy halted or paused.",
    )
    was_unschedulable: bool | None = Field(
        default=None, description="The node was cordoned before its cycle started, so it stays cordoned afterwards."
    )
    drain: DrainProgress | None = Field(default=None, description="Drain progress.")
    approval: Approval | None = Field(
        default=None, description="The reboot approval the agent acts on, in phase Rebooting."
    )
    boot_id_before: BootID | None = Field(default=None, description="The node's boot ID when the cycle started.")
    boot_id_after: BootID | None = Field(default=None, description="The node's boot ID after the reboot.")
    kernel_before: KernelVersion | None = Field(default=None, description="Kernel version before the reboot.")
    kernel_after: KernelVersion | None = Field(default=None, description="Kernel version after the reboot.")
    kernel: Annotated[str, Field(max_length=520)] | None = Field(
        default=None, description='Kernel before → after ("?" until the node is back), for kubectl get -o wide.'
    )
    queued_at: AwareDatetime | None = Field(
        default=None, description="When this cycle joined its policy's queue; the oldest starts first."
    )
    started_at: AwareDatetime | None = Field(default=None, description="When the node started (cordon).")
    reboot_approved_at: AwareDatetime | None = Field(default=None, description="When the reboot was approved.")
    completed_at: AwareDatetime | None = Field(
        default=None, description="When the cycle ended (Completed, Failed or Cancelled)."
    )
    attempts: int | None = Field(default=None, ge=0, description="Reboots approved in this cycle.")
    observed_generation: int | None = Field(
        default=None, ge=0, description="The spec generation the current or last cycle serves."
    )


def kernel_transition(before: str | None, after: str | None) -> str | None:
    """The KERNEL column: ``6.8.0-48 → 6.8.0-49``, ``6.8.0-48 → ?`` while rebooting, unset before the start."""
    if before is None:
        return None
    return f"{before} → {after or '?'}"
