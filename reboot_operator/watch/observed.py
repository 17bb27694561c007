"""What the operator keeps of the objects it watches: slim, parsed snapshots built once per watch event.

The informers (``informers.py``) hold these, and the coordinator hands their facts to the decision core. A node's
view (``NodeView``, ``node_view``) is in ``kube/node_view.py``, below this layer, because the node effects also
read nodes one at a time: a node is parsed in one place only. Parsing happens here, at the adapter
boundary; raw dicts go no further.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from reboot_operator.api.policy import RebootPolicySpec
from reboot_operator.api.policy_status import RebootPolicyStatus
from reboot_operator.api.request import NodeRebootRequestSpec, NodeRebootRequestStatus
from reboot_operator.api.vocabulary import ACTIVE_PHASES, Phase
from reboot_operator.core.facts import PolicyFacts, RequestFacts
from reboot_operator.core.validation import holding_spec, parse_policy

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RequestView:
    """A NodeRebootRequest, parsed. Its spec and status are kept as their compact JSON and parsed again on each read
    of ``spec``/``status``: the models of 15,000 waiting requests took 3.6 KB each (55 MB), their JSON takes 0.6 KB,
    and a pass reads the models only of the requests whose decision changed. What every pass reads of every request
    is parsed once, with the view: ``base_facts`` (the decision's view), ``detected_at`` (the metrics')."""

    name: str
    uid: str
    generation: int
    resource_version: str
    spec_json: bytes
    """``spec`` as the API server stored it (compact JSON)."""
    status_json: bytes
    """``status`` as the API server stored it (compact JSON)."""
    base_facts: RequestFacts = field(compare=False, repr=False)
    """The decision's view, built once with the view (every pass reads thousands of them)."""
    marks: int = field(default=0, compare=False, repr=False)
    """``marks_of`` its metadata: its labels and annotations, which the view does not keep, told apart from others
    (a start compares them with the request it reads: ``rollout/cycle.py``)."""
    detected_at: datetime.datetime | None = field(default=None, compare=False)
    """``spec.detectedAt``."""

    @property
    def spec(self) -> NodeRebootRequestSpec:
        return NodeRebootRequestSpec.model_validate_json(self.spec_json)

    @property
    def status(self) -> NodeRebootRequestStatus:
        return NodeRebootRequestStatus.model_validate_json(self.status_json)

    def as_stored(self) -> dict[str, Any]:
        """The request as stored when seen, rebuilt from this view: what a read would have returned of it."""
        return {
            "metadata": {
                "name": self.name,
                "uid": self.uid,
                "generation": self.generation,
                "resourceVersion": self.resource_version,
            },
            "spec": self.spec.to_api(),
            "status": self.status.to_api(),
        }

    def facts(self, *, claimed_by: str | None = None) -> RequestFacts:
        """The decision's view; a slot claimed in a policy's status before the cycle began counts as started."""
        facts = self.base_facts
        if claimed_by is not None and facts.phase not in ACTIVE_PHASES:
            return RequestFacts(
                name=facts.name,
                generation=facts.generation,
                wants_reboot=facts.wants_reboot,
                phase=Phase.CORDONING,
                observed_generation=facts.observed_generation,
                policy=claimed_by,
                queued_at=facts.queued_at,
                completed_at=facts.completed_at,
            )
        return facts


def request_view(body: Mapping[str, Any]) -> RequestView | None:
    metadata = body.get("metadata") or {}
    try:
        spec = NodeRebootRequestSpec.model_validate(body.get("spec") or {})
        status = NodeRebootRequestStatus.model_validate(body.get("status") or {})
    except ValidationError as error:
        # The CRD schema makes this unreachable for objects the API server accepted; say so loudly if not.
        log.error("NodeRebootRequest %s cannot be parsed and is ignored: %s", metadata.get("name"), error)
        return None
    name = metadata.get("name", "")
    generation = int(metadata.get("generation") or 0)
    # Kept as the models' own compact JSON (not the body's): parsed again, it gives these very models.
    return RequestView(
        name=name,
        uid=metadata.get("uid", ""),
        generation=generation,
        resource_version=metadata.get("resourceVersion", ""),
        spec_json=spec.__pydantic_serializer__.to_json(spec, exclude_unset=True),
        status_json=status.__pydantic_serializer__.to_json(status, exclude_unset=True),
        base_facts=RequestFacts.from_api(name=name, generation=generation, spec=spec, status=status),
        marks=marks_of(metadata),
        detected_at=spec.detected_at,
    )


def marks_of(metadata: Mapping[str, Any]) -> int:
    """An object's labels and annotations as one number: equal for equal labels and annotations."""
    labels, annotations = metadata.get("labels") or {}, metadata.get("annotations") or {}
    return hash((frozenset(labels.items()), frozenset(annotations.items())))


@dataclass(frozen=True, slots=True)
class PolicyView:
    """A RebootPolicy, parsed; ``spec`` is None when it cannot be parsed (``problems`` say why)."""

    name: str
    uid: str
    generation: int
    resource_version: str
    spec: RebootPolicySpec | None
    problems: tuple[str, ...]
    status: RebootPolicyStatus
    holding: RebootPolicySpec | None = None
    """When ``spec`` is None: the selector and priority alone (``core.validation.holding_spec``), if readable."""

    def as_stored(self) -> dict[str, Any]:
        """The parts of the stored policy a status change reads and its write needs, rebuilt from this view."""
        metadata = {"name": self.name, "generation": self.generation, "resourceVersion": self.resource_version}
        return {"metadata": metadata, "status": self.status.to_api()}

    def facts(self) -> PolicyFacts | None:
        """What the decision sees; a spec that cannot be parsed still claims its nodes, to hold them."""
        if self.spec is not None:
            return PolicyFacts.from_api(name=self.name, spec=self.spec, status=self.status)
        if self.holding is not None:
            return PolicyFacts.from_api(name=self.name, spec=self.holding, status=self.status, problems=self.problems)
        return None


def policy_view(body: Mapping[str, Any]) -> PolicyView:
    metadata = body.get("metadata") or {}
    raw = body.get("spec") or {}
    spec, problems = parse_policy(raw)
    try:
        status = RebootPolicyStatus.model_validate(body.get("status") or {})
    except ValidationError as error:
        log.error("RebootPolicy %s has an unreadable status, starting afresh: %s", metadata.get("name"), error)
        status = RebootPolicyStatus()
    return PolicyView(
        name=metadata.get("name", ""),
        uid=metadata.get("uid", ""),
        generation=int(metadata.get("generation") or 0),
        resource_version=metadata.get("resourceVersion", ""),
        spec=spec,
        problems=tuple(problems),
        status=status,
        holding=holding_spec(raw) if spec is None else None,
    )
