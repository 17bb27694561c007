"""When the agent reboots: approval, boot IDs and the guard interval, as a table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sentinel_agent.approval import Action, decide_reboot
from sentinel_agent.guard import RebootAttempt
from sentinel_agent.model import Approval, NodeRebootRequest, Reason, Spec

NOW = datetime(2026, 11, 27, 21, 0, tzinfo=UTC)
GUARD = timedelta(minutes=5)
BOOT_A = "aaaaaaaa-0000-0000-0000-000000000000"
BOOT_B = "bbbbbbbb-0000-0000-0000-000000000000"


def request(phase: str | None, approved_boot: str | None) -> NodeRebootRequest:
    return NodeRebootRequest(
        name="n1",
        resource_version="7",
        spec=Spec(node_name="n1", reasons=(Reason("sentinel-file", "x"),), detected_at=None, boot_id=BOOT_A),
        phase=phase,
        approval=Approval(boot_id=approved_boot, approved_at="2026-11-27T20:59:00Z", attempt=1)
        if approved_boot
        else None,
    )


def attempt(boot: str, minutes_ago: float) -> RebootAttempt:
    return RebootAttempt(boot_id=boot, at=NOW - timedelta(minutes=minutes_ago))


CASES = [
    # (id, request, current boot, last attempt, expected action)
    ("no-request", None, BOOT_A, None, Action.NOTHING),
    ("pending", request("Pending", None), BOOT_A, None, Action.NOTHING),
    ("draining-with-an-early-approval", request("Draining", BOOT_A), BOOT_A, None, Action.NOTHING),
    ("rebooting-without-approval", request("Rebooting", None), BOOT_A, None, Action.NOTHING),
    ("approved-for-this-boot", request("Rebooting", BOOT_A), BOOT_A, None, Action.REBOOT),
    ("approved-for-an-earlier-boot-so-already-rebooted", request("Rebooting", BOOT_A), BOOT_B, None, Action.NOTHING),
    (
        "already-rebooted-even-with-an-old-attempt",
        request("Rebooting", BOOT_A),
        BOOT_B,
        attempt(BOOT_A, 1),
        Action.NOTHING,
    ),
    ("asked-a-minute-ago-same-boot", request("Rebooting", BOOT_A), BOOT_A, attempt(BOOT_A, 1), Action.WAIT),
    ("asked-just-now-same-boot", request("Rebooting", BOOT_A), BOOT_A, attempt(BOOT_A, 0), Action.WAIT),
    ("asked-exactly-a-guard-ago", request("Rebooting", BOOT_A), BOOT_A, attempt(BOOT_A, 5), Action.REBOOT),
    ("asked-long-ago-same-boot", request("Rebooting", BOOT_A), BOOT_A, attempt(BOOT_A, 30), Action.REBOOT),
    ("attempt-from-another-boot", request("Rebooting", BOOT_A), BOOT_A, attempt(BOOT_B, 1), Action.REBOOT),
    ("verifying", request("Verifying", BOOT_A), BOOT_A, None, Action.NOTHING),
    ("completed", request("Completed", BOOT_A), BOOT_A, None, Action.NOTHING),
    ("cancelled-after-approval", request("Cancelled", BOOT_A), BOOT_A, None, Action.NOTHING),
    ("phase-unset", request(None, BOOT_A), BOOT_A, None, Action.NOTHING),
]


@pytest.mark.parametrize(
    ("req", "current", "last", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_decide_reboot(
    req: NodeRebootRequest | None, current: str, last: RebootAttempt | None, expected: Action
) -> None:
    decision = decide_reboot(request=req, current_boot_id=current, last_attempt=last, now=NOW, guard_interval=GUARD)

    assert decision.action is expected, decision.why
    assert decision.why


def test_a_wait_says_when_to_look_again() -> None:
    decision = decide_reboot(
        request=request("Rebooting", BOOT_A),
        current_boot_id=BOOT_A,
        last_attempt=attempt(BOOT_A, 2),
        now=NOW,
        guard_interval=GUARD,
    )

    assert decision.retry_at == NOW + timedelta(minutes=3)


def test_the_same_inputs_always_give_the_same_decision() -> None:
    inputs = {
        "request": request("Rebooting", BOOT_A),
        "current_boot_id": BOOT_A,
        "last_attempt": attempt(BOOT_A, 1),
        "now": NOW,
        "guard_interval": GUARD,
    }

    assert decide_reboot(**inputs) == decide_reboot(**inputs)  # type: ignore[arg-type]
