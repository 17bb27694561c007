"""The NodeRebootRequest as the agent sees it: a typed, read-only view and the spec it writes.

The agent owns ``spec`` and only reads ``status``. Parsing is lenient about what the agent does not use, so an
operator that adds status fields never breaks agents already running; raw dicts stop here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NamedTuple

from sentinel_agent.errors import ModelError

GROUP = "rollboot.dev"
VERSION = "v1alpha1"
PLURAL = "noderebootrequests"
KIND = "NodeRebootRequest"
API_VERSION = f"{GROUP}/{VERSION}"


class Source(StrEnum):
    """What found the reboot requirement."""

    SENTINEL_FILE = "sentinel-file"
    SENTINEL_COMMAND = "sentinel-command"


class Phase(StrEnum):
    """The operator's phases; the agent acts on ``REBOOTING`` only."""

    PENDING = "Pending"
    WAITING = "Waiting"
    CORDONING = "Cordoning"
    DRAINING = "Draining"
    REBOOTING = "Rebooting"
    VERIFYING = "Verifying"
    UNCORDONING = "Uncordoning"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


#: The CRD's limits on a reason; longer values would make every write fail validation.
MAX_DETAIL = 1024
MAX_PACKAGES = 256
MAX_PACKAGE_NAME = 256


class Reason(NamedTuple):
    """One reason the node needs a reboot."""

    source: str
    detail: str
    packages: tuple[str, ...] = ()

    @classmethod
    def bounded(cls, source: str, detail: str, packages: tuple[str, ...] = ()) -> Reason:
        """A reason cut to the CRD's limits (the first 256 packages, names and detail shortened)."""
        return cls(
            source=source,
            detail=detail[:MAX_DETAIL],
            packages=tuple(package[:MAX_PACKAGE_NAME] for package in packages[:MAX_PACKAGES]),
        )


class Spec(NamedTuple):
    """What the agent reports. No reasons means the requirement was withdrawn."""

    node_name: str
    reasons: tuple[Reason, ...]
    detected_at: str | None
    boot_id: str | None


class Approval(NamedTuple):
    """The operator's permission to reboot the node while it runs boot ``boot_id``."""

    boot_id: str
    approved_at: str | None = None
    attempt: int | None = None


class NodeRebootRequest(NamedTuple):
    """A NodeRebootRequest read from the API."""

    name: str
    resource_version: str | None
    spec: Spec
    phase: str | None = None
    approval: Approval | None = None


def rfc3339(moment: datetime) -> str:
    """``2026-11-27T21:00:00Z``: UTC, whole seconds, as the API stores timestamps."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_request(document: object) -> NodeRebootRequest:
    """Read a NodeRebootRequest object; raises ModelError when it has no usable metadata."""
    if not isinstance(document, Mapping):
        raise ModelError("a NodeRebootRequest must be a JSON object")
    metadata = _mapping(document.get("metadata"))
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise ModelError("a NodeRebootRequest has no metadata.name")
    spec = _mapping(document.get("spec"))
    status = _mapping(document.get("status"))
    return NodeRebootRequest(
        name=name,
        resource_version=_optional_text(metadata.get("resourceVersion")),
        spec=Spec(
            node_name=_optional_text(spec.get("nodeName")) or name,
            reasons=tuple(_reason(item) for item in _list(spec.get("reasons")) if isinstance(item, Mapping)),
            detected_at=_optional_text(spec.get("detectedAt")),
            boot_id=_optional_text(spec.get("bootID")),
        ),
        phase=_optional_text(status.get("phase")),
        approval=_approval(status.get("approval")),
    )


def spec_document(spec: Spec) -> dict[str, Any]:
    """The JSON form of a spec, as the CRD names its fields."""
    document: dict[str, Any] = {
        "nodeName": spec.node_name,
        "reasons": [
            {"source": str(reason.source), "detail": reason.detail, "packages": list(reason.packages)}
            for reason in spec.reasons
        ],
    }
    if spec.detected_at is not None:
        document["detectedAt"] = spec.detected_at
    if spec.boot_id is not None:
        document["bootID"] = spec.boot_id
    return document


def request_document(spec: Spec) -> dict[str, Any]:
    """A whole new NodeRebootRequest, named after its node."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": spec.node_name},
        "spec": spec_document(spec),
    }


def _reason(item: Mapping[str, Any]) -> Reason:
    packages = tuple(str(package) for package in _list(item.get("packages")) if isinstance(package, str))
    return Reason(source=str(item.get("source", "")), detail=str(item.get("detail", "")), packages=packages)


def _approval(value: object) -> Approval | None:
    approval = _mapping(value)
    boot_id = _optional_text(approval.get("bootID"))
    if boot_id is None:
        return None
    attempt = approval.get("attempt")
    return Approval(
        boot_id=boot_id,
        approved_at=_optional_text(approval.get("approvedAt")),
        attempt=attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else None,
    )


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _optional_text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
