"""The models refuse what the API server refuses (the same table), accept what it accepts, and read like the API."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from reboot_operator.api import (
    NodeRebootRequestSpec,
    NodeRebootRequestStatus,
    Phase,
    RebootPolicySpec,
    RebootPolicyStatus,
)
from reboot_operator.api.base import camel
from reboot_operator.api.request import Approval, kernel_transition
from reboot_operator.core.validation import parse_policy
from tests.api.cases import BAD_POLICIES, GOOD_POLICIES, Case


def _names_field(problem: str, field: str) -> bool:
    """A problem names ``field`` when its path is the field, or is the field's parent and its message says the
    field's own name (model-level rules report on the parent, as a CEL rule without fieldPath does)."""
    path, _, message = problem.partition(": ")
    if path == field or field.endswith(f".{path}") or path.endswith(field):
        return True
    last = re.sub(r"\[\d+\]$", "", field.rsplit(".", 1)[-1])
    return field.startswith(path) and last in message


@pytest.mark.parametrize("case", BAD_POLICIES, ids=lambda c: c.id)
def test_bad_policy_is_refused_naming_the_field(case: Case) -> None:
    spec, problems = parse_policy(case.spec)
    assert spec is None
    assert any(_names_field(p, case.field) for p in problems), problems


@pytest.mark.parametrize("case", GOOD_POLICIES, ids=lambda c: c.id)
def test_good_policy_is_accepted_and_round_trips(case: Case) -> None:
    spec, problems = parse_policy(case.spec)
    assert problems == []
    assert spec is not None
    assert RebootPolicySpec.model_validate(spec.to_api()) == spec


def test_an_empty_policy_takes_kured_like_defaults() -> None:
    spec = RebootPolicySpec()
    assert spec.max_concurrent == 1
    assert spec.maintenance_windows == []
    assert spec.drain.delete_empty_dir_data is True
    assert spec.failure_budget.max_failures == 1


@pytest.mark.parametrize(
    ("python", "json"),
    [
        ("node_name", "nodeName"),
        ("boot_id", "bootID"),
        ("boot_id_before", "bootIDBefore"),
        ("url_secret_ref", "urlSecretRef"),
        ("max_concurrent", "maxConcurrent"),
        ("paused", "paused"),
    ],
)
def test_json_names_are_camel_case_with_id_in_capitals(python: str, json: str) -> None:
    assert camel(python) == json


def test_models_are_frozen() -> None:
    spec = RebootPolicySpec()
    with pytest.raises(ValidationError):
        spec.paused = True  # type: ignore[misc]


def _every_model(root: type[BaseModel]) -> set[type[BaseModel]]:
    seen: set[type[BaseModel]] = set()
    todo = [root]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for info in model.model_fields.values():
            todo.extend(_models_in(info.annotation))
    return seen


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _models_in(arg)]


@pytest.mark.parametrize(
    "root",
    [RebootPolicySpec, RebootPolicyStatus, NodeRebootRequestSpec, NodeRebootRequestStatus],
    ids=lambda m: m.__name__,
)
def test_every_field_has_a_description_and_every_model_forbids_extras(root: type[BaseModel]) -> None:
    for model in _every_model(root):
        assert model.model_config.get("extra") == "forbid", model
        assert model.model_config.get("frozen") is True, model
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name}"


def test_request_spec_with_empty_reasons_is_a_withdrawal() -> None:
    spec = NodeRebootRequestSpec.model_validate({"nodeName": "node-a"})
    assert spec.reasons == []


def test_request_spec_reads_the_agents_json() -> None:
    spec = NodeRebootRequestSpec.model_validate(
        {
            "nodeName": "node-a",
            "reasons": [{"source": "sentinel-file", "detail": "/var/run/reboot-required", "packages": ["linux"]}],
            "detectedAt": "2025-11-27T10:00:00Z",
            "bootID": "b-1",
        }
    )
    assert spec.boot_id == "b-1"
    assert spec.to_api()["reasons"][0]["source"] == "sentinel-file"


def test_request_status_approval_has_the_contract_shape() -> None:
    status = NodeRebootRequestStatus(
        phase=Phase.REBOOTING,
        approval=Approval(boot_id="b-1", approved_at=datetime(2025, 11, 27, tzinfo=UTC), attempt=1),
    )
    assert status.to_api() == {
        "phase": "Rebooting",
        "conditions": [],
        "approval": {"bootID": "b-1", "approvedAt": "2025-11-27T00:00:00Z", "attempt": 1},
    }


@pytest.mark.parametrize(
    ("before", "after", "shown"),
    [
        (None, None, None),
        ("6.8.0-48", None, "6.8.0-48 → ?"),
        ("6.8.0-48", "6.8.0-49", "6.8.0-48 → 6.8.0-49"),
    ],
)
def test_kernel_column_shows_before_and_after(before: str | None, after: str | None, shown: str | None) -> None:
    assert kernel_transition(before, after) == shown


def test_a_blackout_needs_an_offset() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        RebootPolicySpec.model_validate(
            {"blackouts": [{"start": "2025-12-20T00:00:00", "end": "2025-12-21T00:00:00Z"}]}
        )


@pytest.mark.parametrize("key", ["bad key!", "-leading-dash", "a/b/c", "UPPER.example.com/x", ""])
def test_a_match_labels_key_that_is_no_label_key_makes_the_policy_invalid(key: str) -> None:
    # Issue 13: the CRD cannot constrain map keys, so "bad key!" was accepted and the policy, selecting nothing,
    # reported Ready=True. The model refuses it, naming the key; the operator reports the policy InvalidSpec.
    with pytest.raises(ValidationError, match=re.escape(f"not a label key: {key!r}")):
        RebootPolicySpec.model_validate({"nodeSelector": {"matchLabels": {key: "x"}}})


@pytest.mark.parametrize("key", ["pool", "kubernetes.io/os", "node-role.kubernetes.io/worker", "a.b/c_d-e.f"])
def test_label_keys_of_every_shape_kubernetes_allows_are_accepted(key: str) -> None:
    spec = RebootPolicySpec.model_validate({"nodeSelector": {"matchLabels": {key: "x"}}})
    assert spec.node_selector.match_labels == {key: "x"}
