"""Argo CD: the health checks of RebootPolicy and NodeRebootRequest, run in a real Lua 5.1, and the example files.

The samples use the API's own vocabulary (condition types, phases), so renaming one breaks these tests rather than
silently turning a health check into "Progressing for ever".
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from reboot_operator.api.vocabulary import TERMINAL_PHASES, Phase, PolicyConditionType, Reason, WaitReason
from tests.manifests.argocd_health import health, script
from tests.manifests.render import MANIFESTS, parse

C = PolicyConditionType
SINCE = "2026-01-01T00:00:00Z"


def _policy(
    *, generation: int = 3, observed: int | None = 3, paused: bool = False, **conditions: tuple[str, str, str]
) -> dict[str, Any]:
    """A RebootPolicy whose status has ``conditions`` as type=(status, reason, message); the rest are False."""
    defaults: dict[PolicyConditionType, tuple[str, str, str]] = {
        C.READY: ("True", Reason.VALID, ""),
        C.PROGRESSING: ("False", Reason.IDLE, "0 waiting"),
        C.BLOCKED: ("False", Reason.NOT_BLOCKED, ""),
        C.HALTED: ("False", Reason.WITHIN_BUDGET, "0 of 1 allowed failures"),
        C.CONFLICT: ("False", Reason.NO_CONFLICT, ""),
    }
    defaults.update({C(kind): value for kind, value in conditions.items()})
    status: dict[str, Any] = {
        "conditions": [
            {"type": str(kind), "status": s, "reason": str(reason), "message": message, "lastTransitionTime": SINCE}
            for kind, (s, reason, message) in defaults.items()
        ]
    }
    if observed is not None:
        status["observedGeneration"] = observed
    return {
        "apiVersion": "rollboot.dev/v1alpha1",
        "kind": "RebootPolicy",
        "metadata": {"name": "workers", "generation": generation},
        "spec": {"maxConcurrent": 1, "paused": paused},
        "status": status,
    }


POLICY_CASES = [
    pytest.param(_policy(), "Healthy", "0 waiting", id="idle"),
    pytest.param(
        _policy(Blocked=("True", WaitReason.WINDOW_CLOSED, "window closed until 2026-01-03T01:00:00+01:00")),
        "Healthy",
        "window closed until",
        id="waiting-for-its-window-is-healthy",
    ),
    pytest.param(
        _policy(Progressing=("True", Reason.IN_PROGRESS, "1 in progress, 4 waiting")),
        "Progressing",
        "1 in progress, 4 waiting",
        id="rebooting-nodes",
    ),
    pytest.param(
        {"kind": "RebootPolicy", "metadata": {"name": "new", "generation": 1}, "spec": {}},
        "Progressing",
        "Waiting for the rollboot operator",
        id="no-status-yet",
    ),
    pytest.param(
        _policy(generation=4, observed=3), "Progressing", "Waiting for the rollboot operator", id="spec-edit-unseen"
    ),
    pytest.param(
        _policy(Ready=("False", Reason.INVALID_SPEC, "maintenanceWindows[0].timeZone: unknown zone Mars/Base")),
        "Degraded",
        "unknown zone",
        id="invalid-spec",
    ),
    pytest.param(
        _policy(Conflict=("True", Reason.PRIORITY_TIE, "2 nodes also selected by another policy of the same priority")),
        "Degraded",
        "same priority",
        id="conflict",
    ),
    pytest.param(
        _policy(Halted=("True", Reason.BUDGET_EXHAUSTED, "1 of 1 allowed failures; change the resetToken to resume")),
        "Degraded",
        "Halted: 1 of 1 allowed failures",
        id="halted-by-the-failure-budget",
    ),
    pytest.param(
        _policy(paused=True, Blocked=("True", WaitReason.PAUSED, "paused")),
        "Suspended",
        "Paused",
        id="paused",
    ),
    pytest.param(
        _policy(
            paused=True,
            Ready=("False", Reason.INVALID_SPEC, "maxConcurrent: 0 is not allowed"),
        ),
        "Degraded",
        "maxConcurrent",
        id="an-invalid-spec-outranks-paused",
    ),
]


@pytest.mark.parametrize(("obj", "status", "message"), POLICY_CASES)
def test_reboot_policy_health(obj: dict[str, Any], status: str, message: str) -> None:
    found = health("RebootPolicy", obj)
    assert found.status == status
    assert message in found.message


def _request(phase: str | None, *, message: str | None = None, reasons: int = 1, **status: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "rollboot.dev/v1alpha1",
        "kind": "NodeRebootRequest",
        "metadata": {"name": "node-a", "generation": status.pop("generation", 1)},
        "spec": {
            "nodeName": "node-a",
            "reasons": [{"source": "sentinel-file", "detail": "/var/run/reboot-required exists"}] * reasons,
        },
    }
    if phase is not None:
        body["status"] = {"phase": phase, "observedGeneration": 1, **status}
        if message is not None:
            body["status"]["message"] = message
    return body


REQUEST_HEALTH = {
    Phase.PENDING: "Progressing",
    Phase.WAITING: "Suspended",
    Phase.CORDONING: "Progressing",
    Phase.DRAINING: "Progressing",
    Phase.REBOOTING: "Progressing",
    Phase.VERIFYING: "Progressing",
    Phase.UNCORDONING: "Progressing",
    Phase.COMPLETED: "Healthy",
    Phase.FAILED: "Degraded",
    Phase.CANCELLED: "Healthy",
}


def test_every_phase_has_a_chosen_health() -> None:
    assert set(REQUEST_HEALTH) == set(Phase)


@pytest.mark.parametrize("phase", list(Phase), ids=str)
def test_node_reboot_request_health_of_each_phase(phase: Phase) -> None:
    found = health("NodeRebootRequest", _request(phase, message=f"what happens in {phase}"))
    assert found.status == REQUEST_HEALTH[phase]
    assert f"what happens in {phase}" in found.message


@pytest.mark.parametrize(
    ("obj", "status", "message"),
    [
        pytest.param(_request(None), "Progressing", "Waiting for the rollboot operator", id="not-yet-seen"),
        pytest.param(_request(None, reasons=0), "Healthy", "No reboot required", id="withdrawn-before-seen"),
        pytest.param(
            _request(Phase.COMPLETED, kernel="6.8.0-48 → 6.8.0-49"),
            "Healthy",
            "kernel 6.8.0-48 → 6.8.0-49",
            id="kernel",
        ),
        pytest.param(
            _request(Phase.DRAINING, message="waiting for pod shop/db-0 (PodDisruptionBudget db)"),
            "Progressing",
            "Draining: waiting for pod shop/db-0",
            id="draining-names-the-blocking-pod",
        ),
        pytest.param(
            _request(Phase.COMPLETED, generation=2), "Progressing", "A new reboot is required", id="next-cycle-unseen"
        ),
        pytest.param(_request(Phase.FAILED), "Degraded", "The reboot failed", id="failed-without-message"),
    ],
)
def test_node_reboot_request_health_details(obj: dict[str, Any], status: str, message: str) -> None:
    found = health("NodeRebootRequest", obj)
    assert found.status == status
    assert message in found.message


def test_terminal_phases_never_report_progress() -> None:
    for phase in TERMINAL_PHASES:
        assert health("NodeRebootRequest", _request(phase)).status != "Progressing"


def test_the_argocd_cm_patch_carries_exactly_the_health_scripts() -> None:
    [patch] = parse((MANIFESTS / "argocd" / "argocd-cm-patch.yaml").read_text())
    assert patch["kind"] == "ConfigMap"
    assert patch["metadata"] == {"name": "argocd-cm", "namespace": "argocd"}
    assert patch["data"] == {
        f"resource.customizations.health.rollboot.dev_{kind}": script(kind).read_text()
        for kind in ("RebootPolicy", "NodeRebootRequest")
    }


def test_the_example_application_points_at_the_kustomize_base() -> None:
    [application] = parse((MANIFESTS / "examples" / "argocd-application.yaml").read_text())
    assert application["kind"] == "Application"
    source = application["spec"]["source"]
    assert (MANIFESTS.parent / source["path"] / "kustomization.yaml").exists()
    assert application["spec"]["destination"]["namespace"] == "rollboot-system"


def test_the_example_policy_comes_after_the_crds() -> None:
    [policy] = yaml.safe_load_all((MANIFESTS / "examples" / "rebootpolicy.yaml").read_text())
    annotations = policy["metadata"]["annotations"]
    assert int(annotations["argocd.argoproj.io/sync-wave"]) > -1
    assert "SkipDryRunOnMissingResource=true" in annotations["argocd.argoproj.io/sync-options"]
