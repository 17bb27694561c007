"""The rollboot API: pydantic models of RebootPolicy and NodeRebootRequest, their vocabulary, and the CRDs
generated from them (``python -m reboot_operator.api.crdgen crds/``)."""

from reboot_operator.api.meta import API_VERSION, GROUP, VERSION
from reboot_operator.api.policy import RebootPolicySpec
from reboot_operator.api.policy_status import RebootPolicyStatus
from reboot_operator.api.request import NodeRebootRequestSpec, NodeRebootRequestStatus
from reboot_operator.api.resources import NODE_REBOOT_REQUEST, REBOOT_POLICY, RESOURCES
from reboot_operator.api.vocabulary import ACTIVE_PHASES, TERMINAL_PHASES, Phase

__all__ = [
    "ACTIVE_PHASES",
    "API_VERSION",
    "GROUP",
    "NODE_REBOOT_REQUEST",
    "REBOOT_POLICY",
    "RESOURCES",
    "TERMINAL_PHASES",
    "VERSION",
    "NodeRebootRequestSpec",
    "NodeRebootRequestStatus",
    "Phase",
    "RebootPolicySpec",
    "RebootPolicyStatus",
]
