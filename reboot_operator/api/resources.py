"""The two custom resources as the API server sees them: names, printer columns, selectable fields, root rules."""

from __future__ import annotations

from reboot_operator.api.base import cel
from reboot_operator.api.meta import PrinterColumn, Resource
from reboot_operator.api.policy import RebootPolicySpec
from reboot_operator.api.policy_status import RebootPolicyStatus
from reboot_operator.api.request import NodeRebootRequestSpec, NodeRebootRequestStatus

_AGE = PrinterColumn("Age", ".metadata.creationTimestamp", "Time since creation.", type="date")

REBOOT_POLICY = Resource(
    kind="RebootPolicy",
    plural="rebootpolicies",
    singular="rebootpolicy",
    short_names=("rbp",),
    description="Which nodes are rebooted how: a few at a time, inside maintenance windows, drained first.",
    spec=RebootPolicySpec,
    status=RebootPolicyStatus,
    columns=(
        PrinterColumn("Selected", ".status.counts.selected", "Nodes this policy governs.", type="integer"),
        PrinterColumn("Pending", ".status.counts.pending", "Requests waiting to start.", type="integer"),
        PrinterColumn("In-Progress", ".status.counts.inProgress", "Nodes between start and finish.", type="integer"),
        PrinterColumn("Window", ".status.window.state", "Always, Open, Closed or Blackout."),
        PrinterColumn("Paused", ".spec.paused", "Whether spec.paused holds new starts.", type="boolean", priority=1),
        PrinterColumn(
            "Blocked",
            '.status.conditions[?(@.type=="Blocked")].reason',
            "Why nothing starts (Stopped, Paused, Halted, WindowClosed, Blocked, …) or NotBlocked.",
            priority=1,
        ),
        PrinterColumn(
            "Halted",
            '.status.conditions[?(@.type=="Halted")].status',
            "Whether the failure budget is spent.",
            priority=1,
        ),
        PrinterColumn(
            "Conflict",
            '.status.conditions[?(@.type=="Conflict")].status',
            "Whether another policy of the same priority selects some of its nodes.",
            priority=1,
        ),
        PrinterColumn(
            "Ready", '.status.conditions[?(@.type=="Ready")].status', "Whether the spec is valid.", priority=1
        ),
        PrinterColumn("Completed", ".status.counts.completed", "Completed requests.", type="integer", priority=1),
        PrinterColumn("Failed", ".status.failureBudget.failures", "Failures since reset.", type="integer", priority=1),
        PrinterColumn("Next-Opening", ".status.window.nextOpening", "When the windows open next.", priority=1),
        PrinterColumn("Priority", ".spec.priority", "Priority among policies.", type="integer", priority=1),
        _AGE,
    ),
)

NODE_REBOOT_REQUEST = Resource(
    kind="NodeRebootRequest",
    plural="noderebootrequests",
    singular="noderebootrequest",
    short_names=("nrr",),
    description="One node's need for a reboot (spec, from its agent) and its progress (status, from the operator).",
    spec=NodeRebootRequestSpec,
    status=NodeRebootRequestStatus,
    columns=(
        PrinterColumn("Node", ".spec.nodeName", "The node."),
        PrinterColumn("Phase", ".status.phase", "Where the node is in its cycle."),
        PrinterColumn("Policy", ".status.policy", "The governing RebootPolicy."),
        PrinterColumn("Reason", ".spec.reasons[0].source", "Why it needs a reboot (the first reason)."),
        _AGE,
        PrinterColumn("Kernel", ".status.kernel", "Kernel before → after.", priority=1),
        PrinterColumn("Attempts", ".status.attempts", "Reboots approved this cycle.", type="integer", priority=1),
        PrinterColumn("Message", ".status.message", "What is happening or why it waits."),
    ),
    selectable_fields=(".spec.nodeName",),
    root_validations=(
        cel(
            "self.metadata.name == self.spec.nodeName",
            "metadata.name must equal spec.nodeName",
            field_path=".spec.nodeName",
        ),
    ),
)

RESOURCES = (REBOOT_POLICY, NODE_REBOOT_REQUEST)
