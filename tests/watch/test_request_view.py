"""A request's view keeps its spec and status as compact JSON and parses them again on each read: for any spec and
status the CRD's schema describes (generated from the schema itself), what is read back equals what the models
make of the stored object, and the facts parsed once with the view agree with it."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from reboot_operator.api.request import NodeRebootRequestSpec, NodeRebootRequestStatus
from reboot_operator.core.facts import RequestFacts
from reboot_operator.watch.observed import request_view
from tests.operator.test_any_policy import values

CRD = Path(__file__).resolve().parents[2] / "crds" / "noderebootrequests.rollboot.dev.yaml"


@cache
def schema(part: str) -> dict[str, Any]:
    crd = yaml.safe_load(CRD.read_text(encoding="utf-8"))
    [version] = crd["spec"]["versions"]
    found: dict[str, Any] = version["schema"]["openAPIV3Schema"]["properties"][part]
    return found


def readable(spec: dict[str, Any], status: dict[str, Any]) -> bool:
    try:
        NodeRebootRequestSpec.model_validate(spec)
        NodeRebootRequestStatus.model_validate(status)
    except ValidationError:
        return False
    return True


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    spec=st.deferred(lambda: values(schema("spec"))),
    status=st.deferred(lambda: values(schema("status"))),
    generation=st.integers(1, 10),
)
def test_what_a_view_reads_back_is_what_was_stored(
    spec: dict[str, Any], status: dict[str, Any], generation: int
) -> None:
    body = {"metadata": {"name": "n1", "uid": "u1", "generation": generation, "resourceVersion": "7"}}
    view = request_view({**body, "spec": spec, "status": status})
    if not readable(spec, status):
        assert view is None
        return
    assert view is not None
    stored_spec = NodeRebootRequestSpec.model_validate(spec)
    stored_status = NodeRebootRequestStatus.model_validate(status)
    assert view.spec == stored_spec and view.status == stored_status
    assert view.spec.model_fields_set == stored_spec.model_fields_set
    assert view.status.model_fields_set == stored_status.model_fields_set
    assert view.as_stored()["status"] == stored_status.to_api() and view.as_stored()["spec"] == stored_spec.to_api()
    facts = RequestFacts.from_api(name="n1", generation=generation, spec=stored_spec, status=stored_status)
    assert view.facts() == facts
    assert view.detected_at == stored_spec.detected_at


def test_two_views_of_one_stored_request_are_equal_and_another_version_is_not() -> None:
    body: dict[str, Any] = {
        "metadata": {"name": "n1", "uid": "u1", "generation": 2, "resourceVersion": "7"},
        "spec": {"nodeName": "n1", "reasons": [{"source": "sentinel-file"}], "bootID": "b1"},
        "status": {"phase": "Waiting", "message": "position 3 of 9", "queuedAt": "2026-12-01T21:00:05Z"},
    }
    assert request_view(body) == request_view(body)
    moved = {**body, "status": {**body["status"], "message": "position 2 of 9"}}
    assert request_view(body) != request_view(moved)
