"""The pure decision core: which node may start its reboot now, and why the others wait.

No I/O, no Kubernetes client, no clock: everything arrives as arguments (``now`` included) and leaves as return
values, so the operator decides with one call and then acts (``tests/core/test_layering.py`` keeps it that way).
"""

from reboot_operator.core.decide import decide
from reboot_operator.core.decisions import Action, Counts, Decisions, PolicyDecision, RequestDecision
from reboot_operator.core.facts import NodeFacts, PolicyFacts, RequestFacts
from reboot_operator.core.validation import parse_policy, validate_policy

__all__ = [
    "Action",
    "Counts",
    "Decisions",
    "NodeFacts",
    "PolicyDecision",
    "PolicyFacts",
    "RequestDecision",
    "RequestFacts",
    "decide",
    "parse_policy",
    "validate_policy",
]
