"""The CRDs on a real API server: bad RebootPolicies are refused at ``kubectl apply`` with a message naming the
field, good ones are accepted with their defaults filled in, ``kubectl explain`` reads the descriptions, and
``kubectl get`` shows the printer columns.

Policies are only ever applied with ``--dry-run=server`` (validated and defaulted, never stored), so no test here
leaves a policy behind that could govern another test's nodes.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from reboot_operator.api import API_VERSION, Phase, RebootPolicySpec
from reboot_operator.api.request import NodeRebootRequestStatus, kernel_transition
from reboot_operator.core import NodeFacts, PolicyFacts, RequestFacts, decide
from reboot_operator.core.status import policy_status
from tests.api.cases import BAD_POLICIES, GOOD_POLICIES, Case
from tests.integration.conftest import Cluster

Kubectl = Callable[..., subprocess.CompletedProcess[str]]

NOW = datetime(2025, 11, 27, 12, 0, tzinfo=UTC)
"""A Thursday noon: the weekend-night window opens on Saturday 2025-11-29 at 22:00 in Berlin (21:00 UTC)."""


def policy_manifest(name: str, spec: dict[str, Any]) -> str:
    return json.dumps({"apiVersion": API_VERSION, "kind": "RebootPolicy", "metadata": {"name": name}, "spec": spec})


def request_manifest(name: str, node_name: str) -> str:
    spec = {
        "nodeName": node_name,
        "reasons": [{"source": "sentinel-file", "detail": "/var/run/reboot-required", "packages": ["linux-image"]}],
        "detectedAt": "2025-11-27T10:00:00Z",
        "bootID": "boot-1",
    }
    return json.dumps(
        {"apiVersion": API_VERSION, "kind": "NodeRebootRequest", "metadata": {"name": name}, "spec": spec}
    )


@pytest.mark.parametrize("case", BAD_POLICIES, ids=lambda c: c.id)
def test_bad_policy_is_refused_with_a_message_naming_the_field(kubectl: Kubectl, unique: str, case: Case) -> None:
    name = f"bad-{case.id.lower()}-{unique}"
    result = kubectl("apply", "--dry-run=server", "-f", "-", input=policy_manifest(name, case.spec), check=False)
    assert result.returncode != 0, f"accepted: {result.stdout}"
    assert case.field in result.stderr, result.stderr


@pytest.mark.parametrize("case", GOOD_POLICIES, ids=lambda c: c.id)
def test_good_policy_is_accepted_with_defaults_filled_in(kubectl: Kubectl, unique: str, case: Case) -> None:
    name = f"good-{case.id.lower()}-{unique}"
    result = kubectl("create", "--dry-run=server", "-o", "json", "-f", "-", input=policy_manifest(name, case.spec))
    stored = json.loads(result.stdout)["spec"]
    # What the server stores parses back into the same spec the models make of it, defaults and all.
    assert RebootPolicySpec.model_validate(stored) == RebootPolicySpec.model_validate(case.spec)
    assert stored["drain"]["onTimeout"] in ("Abort", "Reboot")
    assert "maxAttempts" in stored["reboot"]


def test_a_request_must_be_named_after_its_node(kubectl: Kubectl, unique: str) -> None:
    result = kubectl(
        "apply", "--dry-run=server", "-f", "-", input=request_manifest(f"a-{unique}", f"b-{unique}"), check=False
    )
    assert result.returncode != 0
    assert "spec.nodeName: Invalid value: metadata.name must equal spec.nodeName" in result.stderr


def _retry(kubectl: Kubectl, *args: str, seconds: float = 30) -> subprocess.CompletedProcess[str]:
    """kubectl until it succeeds: discovery and OpenAPI lag a moment behind a freshly established CRD."""
    deadline = time.monotonic() + seconds
    while True:
        result = kubectl(*args, check=False)
        if result.returncode == 0 or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def test_explain_shows_the_descriptions(kubectl: Kubectl) -> None:
    result = _retry(kubectl, "explain", "rebootpolicy.spec.drain")
    assert result.returncode == 0, result.stderr
    assert "PodDisruptionBudgets are honoured" in result.stdout
    assert "onTimeout" in result.stdout
    assert "Abort: give the node back and mark the attempt failed" in result.stdout
    windows = _retry(kubectl, "explain", "rebootpolicy.spec.maintenanceWindows.timeZone").stdout
    assert "IANA time zone" in windows


@pytest.fixture
def objects(cluster: Cluster, unique: str) -> Iterator[dict[str, str]]:
    """A paused policy selecting no node and a request for a node that does not exist, deleted afterwards."""
    names = {"policy": f"columns-{unique}", "request": f"columns-{unique}"}
    yield names
    cluster.kubectl("delete", "rebootpolicy", names["policy"], "--ignore-not-found", "--wait=false")
    cluster.kubectl("delete", "nrr", names["request"], "--ignore-not-found", "--wait=false")


def test_kubectl_get_shows_the_printer_columns(kubectl: Kubectl, objects: dict[str, str], unique: str) -> None:
    policy_name, request_name = objects["policy"], objects["request"]
    spec = {
        "paused": True,
        "nodeSelector": {"matchLabels": {"rollboot.dev/test-columns": unique}},
        "maintenanceWindows": [{"days": ["sat", "sun"], "start": "22:00", "end": "04:00", "timeZone": "Europe/Berlin"}],
    }
    kubectl("apply", "-f", "-", input=policy_manifest(policy_name, spec))
    kubectl("apply", "-f", "-", input=request_manifest(request_name, request_name))

    # The status a decision produces, written as the operator would write it.
    facts = PolicyFacts(name=policy_name, spec=RebootPolicySpec.model_validate(spec))
    node = NodeFacts(name=request_name, labels={"rollboot.dev/test-columns": unique})
    decisions = decide(
        policies=[facts],
        requests=[RequestFacts(name=request_name, generation=1, wants_reboot=True)],
        nodes={request_name: node},
        now=NOW,
    )
    status = policy_status(decisions.policies[policy_name], previous=None, generation=1, now=NOW)
    kubectl(
        "patch", "rebootpolicy", policy_name, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": status.to_api()}),
    )  # fmt: skip
    decision = decisions.requests[request_name]
    request_status = NodeRebootRequestStatus(
        phase=Phase.WAITING,
        policy=decision.policy,
        message=decision.message,
        queued_at=decision.queued_at,
        kernel_before="6.8.0-48-generic",
        kernel_after="6.8.0-49-generic",
        kernel=kernel_transition("6.8.0-48-generic", "6.8.0-49-generic"),
        attempts=0,
    )
    kubectl(
        "patch", "nrr", request_name, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": request_status.to_api()}),
    )  # fmt: skip

    table = _retry(kubectl, "get", "nrr", request_name).stdout.splitlines()
    assert table[0].split() == ["NAME", "NODE", "PHASE", "POLICY", "REASON", "AGE", "MESSAGE"]
    assert table[1].split()[:5] == [request_name, request_name, "Waiting", policy_name, "sentinel-file"]
    assert f"policy {policy_name} is paused" in table[1], "the message shows without -o wide (issue 14)"

    wide = kubectl("get", "noderebootrequests", request_name, "-o", "wide").stdout
    header = wide.splitlines()[0].split()
    assert header[:6] == ["NAME", "NODE", "PHASE", "POLICY", "REASON", "AGE"]
    assert {"KERNEL", "MESSAGE"} <= set(header)
    assert "6.8.0-48-generic → 6.8.0-49-generic" in wide
    assert f"policy {policy_name} is paused; position 1 of 1" in wide

    policies = kubectl("get", "rebootpolicies", policy_name).stdout.splitlines()
    assert policies[0].split() == ["NAME", "SELECTED", "PENDING", "IN-PROGRESS", "WINDOW", "AGE"]
    assert policies[1].split()[:5] == [policy_name, "1", "1", "0", "Closed"]
    wide_policies = kubectl("get", "rbp", policy_name, "-o", "wide").stdout
    assert "NEXT-OPENING" in wide_policies
    assert {"PAUSED", "BLOCKED", "HALTED", "CONFLICT"} <= set(wide_policies.splitlines()[0].split())
    assert "2025-11-29T21:00:00Z" in wide_policies

    selected = kubectl("get", "nrr", "--field-selector", f"spec.nodeName={request_name}", "-o", "name").stdout
    assert selected.split() == [f"noderebootrequest.rollboot.dev/{request_name}"]
