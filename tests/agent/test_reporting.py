"""What the agent writes into its request: create, new cycle, reasons, withdraw or nothing, as a table."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sentinel_agent.model import Approval, NodeRebootRequest, Reason, Spec
from sentinel_agent.reporting import Write, plan_report

NOW = datetime(2026, 11, 27, 21, 0, tzinfo=UTC)
STAMP = "2026-11-27T21:00:00Z"
EARLIER = "2026-11-20T08:00:00Z"
BOOT_A = "boot-a"
BOOT_B = "boot-b"
KERNEL = Reason("sentinel-file", "/var/run/reboot-required exists", ("linux-image-6.8.0-1002-azure",))
LIBC = Reason("sentinel-file", "/var/run/reboot-required exists", ("linux-image-6.8.0-1002-azure", "libc6"))


def existing(
    reasons: tuple[Reason, ...],
    *,
    boot: str = BOOT_A,
    phase: str | None = "Waiting",
    approved_boot: str | None = None,
) -> NodeRebootRequest:
    return NodeRebootRequest(
        name="n1",
        resource_version="5",
        spec=Spec(node_name="n1", reasons=reasons, detected_at=EARLIER, boot_id=boot),
        phase=phase,
        approval=Approval(boot_id=approved_boot, approved_at=EARLIER, attempt=1) if approved_boot else None,
    )


CASES = [
    # (id, found reasons, request, current boot, expected write)
    ("required-and-no-request", (KERNEL,), None, BOOT_A, Write.CREATE),
    ("required-and-already-reported", (KERNEL,), existing((KERNEL,)), BOOT_A, Write.NOTHING),
    ("required-with-more-packages", (LIBC,), existing((KERNEL,)), BOOT_A, Write.UPDATE_REASONS),
    ("required-again-after-withdrawal", (KERNEL,), existing(()), BOOT_A, Write.NEW_CYCLE),
    (
        "required-again-after-a-completed-reboot",
        (KERNEL,),
        existing((KERNEL,), phase="Completed", approved_boot=BOOT_A),
        BOOT_B,
        Write.NEW_CYCLE,
    ),
    ("required-again-after-a-manual-reboot", (KERNEL,), existing((KERNEL,)), BOOT_B, Write.NEW_CYCLE),
    ("not-required-and-no-request", (), None, BOOT_A, Write.NOTHING),
    ("not-required-and-already-withdrawn", (), existing(()), BOOT_A, Write.NOTHING),
    ("cleared-without-reboot-package-rolled-back", (), existing((KERNEL,)), BOOT_A, Write.WITHDRAW),
    ("cleared-by-a-manual-reboot", (), existing((KERNEL,)), BOOT_B, Write.WITHDRAW),
    (
        "cleared-by-the-approved-reboot",
        (),
        existing((KERNEL,), phase="Verifying", approved_boot=BOOT_A),
        BOOT_B,
        Write.NOTHING,
    ),
    (
        "cleared-after-the-approved-cycle-completed",
        (),
        existing((KERNEL,), phase="Completed", approved_boot=BOOT_A),
        BOOT_B,
        Write.NOTHING,
    ),
    (
        "cleared-while-the-approved-reboot-is-pending",
        (),
        existing((KERNEL,), phase="Rebooting", approved_boot=BOOT_A),
        BOOT_A,
        Write.NOTHING,
    ),
    (
        "cleared-after-an-approval-that-failed-in-this-boot",
        (),
        existing((KERNEL,), phase="Failed", approved_boot=BOOT_A),
        BOOT_A,
        Write.WITHDRAW,
    ),
    (
        "cleared-with-an-approval-from-an-older-cycle",
        (),
        existing((KERNEL,), boot=BOOT_B, phase="Draining", approved_boot=BOOT_A),
        BOOT_B,
        Write.WITHDRAW,
    ),
]


@pytest.mark.parametrize(
    ("reasons", "req", "boot", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_plan_report(reasons: tuple[Reason, ...], req: NodeRebootRequest | None, boot: str, expected: Write) -> None:
    plan = plan_report(node_name="n1", reasons=reasons, request=req, current_boot_id=boot, now=NOW)

    assert plan.write is expected, plan.why
    assert (plan.spec is None) == (expected is Write.NOTHING)


def test_a_new_request_records_reasons_detection_time_and_boot() -> None:
    plan = plan_report(node_name="n1", reasons=(KERNEL,), request=None, current_boot_id=BOOT_A, now=NOW)

    assert plan.spec == Spec(node_name="n1", reasons=(KERNEL,), detected_at=STAMP, boot_id=BOOT_A)


def test_a_new_cycle_restamps_detection_time_and_boot() -> None:
    plan = plan_report(node_name="n1", reasons=(KERNEL,), request=existing(()), current_boot_id=BOOT_B, now=NOW)

    assert plan.spec == Spec(node_name="n1", reasons=(KERNEL,), detected_at=STAMP, boot_id=BOOT_B)


def test_changed_reasons_keep_the_cycle_detection_time_and_boot() -> None:
    plan = plan_report(node_name="n1", reasons=(LIBC,), request=existing((KERNEL,)), current_boot_id=BOOT_A, now=NOW)

    assert plan.spec == Spec(node_name="n1", reasons=(LIBC,), detected_at=EARLIER, boot_id=BOOT_A)


def test_a_withdrawal_empties_the_reasons_and_keeps_the_rest() -> None:
    plan = plan_report(node_name="n1", reasons=(), request=existing((KERNEL,)), current_boot_id=BOOT_A, now=NOW)

    assert plan.spec == Spec(node_name="n1", reasons=(), detected_at=EARLIER, boot_id=BOOT_A)
