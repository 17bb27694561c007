"""The base every API model shares, and the small types the two resources have in common.

The pydantic models in this package are the one source of truth for both resources: the CRD YAML in ``crds/`` is
generated from them (``crdgen``). Each rule the API server enforces through the schema or a CEL rule has a twin here,
so a spec that parses in Python is one the API server accepts, and the other way round; ``tests/api`` holds them
to that with one shared table of bad inputs.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

# Go's time.ParseDuration format, without signs and the micro sign: "30s", "1h30m", "1.5h", "0".
DURATION_PATTERN = r"^(0|([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+)$"
DURATION_MAX_LENGTH = 32

# Kubernetes label values (empty allowed) and qualified names (label keys).
LABEL_VALUE_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
LABEL_KEY_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
LABEL_KEY_MAX_LENGTH = 317
LABEL_VALUE_MAX_LENGTH = 63
NAME_MAX_LENGTH = 253


def camel(name: str) -> str:
    """The JSON name of a Python field: ``boot_id_before`` → ``bootIDBefore`` (Kubernetes spells ID in capitals)."""
    head, *rest = name.split("_")
    return head + "".join("ID" if word == "id" else word.capitalize() for word in rest)


class ApiModel(BaseModel):
    """Base of every resource model: immutable, strict about unknown fields, camelCase on the wire."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=camel,
        populate_by_name=True,
    )

    def to_api(self) -> dict[str, Any]:
        """The JSON form the API server stores: aliases, no unset optional fields."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def cel(rule: str, message: str, *, field_path: str | None = None) -> dict[str, str]:
    """One ``x-kubernetes-validations`` entry; ``field_path`` makes the server name the offending field."""
    entry = {"rule": rule, "message": message}
    if field_path is not None:
        entry["fieldPath"] = field_path
    return entry


def validations(*rules: dict[str, str]) -> JsonDict:
    """``json_schema_extra`` carrying CEL rules, for a model's config or a field."""
    return {"x-kubernetes-validations": [dict(rule) for rule in rules]}


DURATION_RULE = cel(
    "!self.matches('[1-9]') || (duration(self) >= duration('1us') && duration(self) <= duration('87600h'))",
    "a duration is zero, or between 1us and 87600h (ten years)",
)
"""The API server's twin of ``core.duration.parse_duration``'s bounds (issue 13: ``99999999999999999999h`` passed
the pattern and stopped every decision). CEL's ``duration()`` is Go's ``time.ParseDuration``; a value it cannot hold
fails the rule too."""


def _bounded_duration(text: str) -> str:
    # Imported here: the package reboot_operator.core imports these models.
    from reboot_operator.api.duration import parse_duration

    parse_duration(text)  # raises ValueError: longer than ten years, or not zero yet shorter than a microsecond
    return text


Duration = Annotated[
    str,
    Field(pattern=DURATION_PATTERN, max_length=DURATION_MAX_LENGTH, json_schema_extra=validations(DURATION_RULE)),
    AfterValidator(_bounded_duration),  # after the Field, so that its pattern stays in the JSON schema
]
"""A Go-style duration string such as ``30s``, ``5m`` or ``1h30m``; ``core.duration.parse_duration`` reads it."""

Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX_LENGTH)]
LabelValue = Annotated[str, Field(pattern=LABEL_VALUE_PATTERN, max_length=LABEL_VALUE_MAX_LENGTH)]
LabelKey = Annotated[str, Field(pattern=LABEL_KEY_PATTERN, max_length=LABEL_KEY_MAX_LENGTH)]
