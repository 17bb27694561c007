"""Shapes both resources share: label selectors and Kubernetes-standard conditions."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, field_validator, model_validator
from pydantic.config import JsonDict

from reboot_operator.api.base import (
    LABEL_KEY_MAX_LENGTH,
    LABEL_KEY_PATTERN,
    ApiModel,
    LabelKey,
    LabelValue,
    cel,
    validations,
)

MAX_SELECTOR_TERMS = 32
MAX_SELECTOR_VALUES = 128


class SelectorOperator(StrEnum):
    """How a label selector requirement relates a key to its values."""

    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


class LabelSelectorRequirement(ApiModel):
    """One requirement of a label selector: a key, an operator and (for In and NotIn) values."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0)"
                " : (!has(self.values) || size(self.values) == 0)",
                "values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist",
                field_path=".values",
            )
        )
    )

    key: LabelKey = Field(description="The label key the requirement applies to.")
    operator: SelectorOperator = Field(description="In, NotIn, Exists or DoesNotExist.")
    values: list[LabelValue] = Field(
        default_factory=list,
        max_length=MAX_SELECTOR_VALUES,
        description="Label values; non-empty for In and NotIn, empty for Exists and DoesNotExist.",
    )

    @model_validator(mode="after")
    def _values_match_operator(self) -> LabelSelectorRequirement:
        wants_values = self.operator in (SelectorOperator.IN, SelectorOperator.NOT_IN)
        if wants_values != bool(self.values):
            raise ValueError("values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist")
        return self


class LabelSelector(ApiModel):
    """A Kubernetes label selector: every matchLabels pair and every matchExpressions requirement must hold; an
    empty selector selects everything."""

    # A structural schema cannot constrain map keys, so the CRD leaves them free-form; the model checks them, so a
    # key that is no label key ("bad key!", which selects nothing) makes the policy Ready=False, not silently idle.
    match_labels: dict[str, LabelValue] = Field(
        default_factory=dict,
        max_length=MAX_SELECTOR_TERMS,
        description="Labels that must be present with exactly these values.",
    )
    match_expressions: list[LabelSelectorRequirement] = Field(
        default_factory=list,
        max_length=MAX_SELECTOR_TERMS,
        description="Requirements that must all hold.",
    )

    @field_validator("match_labels")
    @classmethod
    def _keys_are_label_keys(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [key for key in value if len(key) > LABEL_KEY_MAX_LENGTH or not re.fullmatch(LABEL_KEY_PATTERN, key)]
        if bad:
            raise ValueError(f"not a label key: {', '.join(repr(key) for key in bad)}")
        return value


class ConditionStatus(StrEnum):
    """The status of a condition, as Kubernetes spells it."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


CONDITION_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"


class Condition(ApiModel):
    """One observation of the resource's state, in the standard Kubernetes shape (metav1.Condition)."""

    type: Annotated[str, Field(max_length=316)] = Field(description="The kind of observation, e.g. Ready.")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: Annotated[str, Field(max_length=1024, pattern=CONDITION_REASON_PATTERN)] = Field(
        description="A CamelCase word saying why the condition has this status."
    )
    message: Annotated[str, Field(max_length=32768)] = Field(
        default="", description="A human-readable explanation, possibly empty."
    )
    last_transition_time: datetime = Field(description="When the status last changed.")
    observed_generation: int | None = Field(
        default=None, ge=0, description="The metadata.generation this condition was computed from."
    )


CONDITIONS_LIST: JsonDict = {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]}
"""Schema extras for a list of conditions: one entry per type, merged by type."""
