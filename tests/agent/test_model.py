"""Reading NodeRebootRequests leniently and writing specs as the CRD names them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from reboot_operator.api.meta import API_VERSION
from sentinel_agent.errors import ModelError
from sentinel_agent.model import Approval, Reason, Spec, parse_request, request_document, rfc3339, spec_document

FULL = {
    "apiVersion": API_VERSION,
    "kind": "NodeRebootRequest",
    "metadata": {"name": "n1", "resourceVersion": "42", "uid": "u"},
    "spec": {
        "nodeName": "n1",
        "reasons": [{"source": "sentinel-file", "detail": "/var/run/reboot-required exists", "packages": ["k"]}],
        "detectedAt": "2026-11-27T21:00:00Z",
        "bootID": "boot-1",
    },
    "status": {
        "phase": "Rebooting",
        "approval": {"bootID": "boot-1", "approvedAt": "2026-11-27T21:05:00Z", "attempt": 2},
        "somethingNew": {"the": "operator added it"},
    },
}


def test_a_full_request_is_read() -> None:
    request = parse_request(FULL)

    assert request.name == "n1"
    assert request.resource_version == "42"
    assert request.spec == Spec(
        node_name="n1",
        reasons=(Reason("sentinel-file", "/var/run/reboot-required exists", ("k",)),),
        detected_at="2026-11-27T21:00:00Z",
        boot_id="boot-1",
    )
    assert request.phase == "Rebooting"
    assert request.approval == Approval(boot_id="boot-1", approved_at="2026-11-27T21:05:00Z", attempt=2)


@pytest.mark.parametrize(
    "status",
    [None, {}, {"phase": "Waiting"}, {"approval": {}}, {"approval": "yes"}, {"approval": {"attempt": 1}}],
    ids=[
        "no-status",
        "empty-status",
        "phase-only",
        "empty-approval",
        "approval-not-an-object",
        "approval-without-boot",
    ],
)
def test_a_request_without_a_usable_approval_has_none(status: object) -> None:
    document = {**FULL, "status": status}

    assert parse_request(document).approval is None


@pytest.mark.parametrize(
    "document",
    [None, [], {"metadata": {}}, {"metadata": {"name": ""}}],
    ids=["null", "list", "no-name", "empty-name"],
)
def test_an_object_without_a_name_is_rejected(document: object) -> None:
    with pytest.raises(ModelError):
        parse_request(document)


def test_a_spec_round_trips_through_its_json_form() -> None:
    spec = parse_request(FULL).spec

    assert parse_request({"metadata": {"name": "n1"}, "spec": spec_document(spec)}).spec == spec


def test_a_new_request_is_named_after_its_node() -> None:
    spec = Spec(node_name="n1", reasons=(), detected_at=None, boot_id="b")

    document = request_document(spec)

    assert document["metadata"] == {"name": "n1"}
    assert document["apiVersion"] == API_VERSION
    assert document["kind"] == "NodeRebootRequest"
    assert document["spec"] == {"nodeName": "n1", "reasons": [], "bootID": "b"}


def test_timestamps_are_utc_whole_seconds() -> None:
    moment = datetime(2026, 11, 27, 22, 0, 0, 999999, tzinfo=timezone(timedelta(hours=1)))

    assert rfc3339(moment) == "2026-11-27T21:00:00Z"
    assert rfc3339(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05Z"


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        rfc3339(datetime(2026, 1, 1))
