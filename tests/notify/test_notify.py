"""Messages in words, and a delivery that never blocks: bounded queue, bounded retries, subscriptions by event."""

from __future__ import annotations

import asyncio
import datetime

import pytest

from reboot_operator.api.policy import Notification, NotificationEvent, SecretKeyRef
from reboot_operator.notify import Notice, Notifier, render

REF = SecretKeyRef(name="hooks", namespace="ops", key="url")
DONE = Notice(
    event=NotificationEvent.COMPLETED,
    policy="workers",
    node="node-1",
    message="reboot cycle completed",
    kernel_before="6.8.0-48",
    kernel_after="6.8.0-49",
    duration=datetime.timedelta(minutes=3, seconds=7),
)


@pytest.mark.parametrize(
    ("notice", "template", "expected"),
    [
        pytest.param(DONE, None, "node node-1: rebooted, kernel 6.8.0-48 → 6.8.0-49, in 3m07s (policy workers)",
                     id="default-completed"),
        pytest.param(DONE, "{node} {kernel_after} {duration}", "node-1 6.8.0-49 3m07s", id="template"),
        pytest.param(DONE, "{nope} and {node}", "{nope} and node-1", id="unknown-placeholder-stays"),
        pytest.param(DONE, "unbalanced { {node}", "unbalanced { node-1", id="stray-brace-never-raises"),
        pytest.param(Notice(NotificationEvent.HALTED, "workers", message="1 of 1 failures"), None,
                     "policy workers halted: 1 of 1 failures", id="default-halted"),
        pytest.param(Notice(NotificationEvent.STARTED, "p", node="n", duration=datetime.timedelta(hours=2)),
                     "{duration} {kernel_before}", "2h00m00s ?", id="hours-and-unknown-kernel"),
    ],
)  # fmt: skip
def test_messages(notice: Notice, template: str | None, expected: str) -> None:
    assert render(notice, template) == expected


def test_titles_name_the_node_or_the_policy() -> None:
    assert DONE.title == "rollboot: node node-1 completed"
    assert Notice(NotificationEvent.BLOCKED, "workers").title == "rollboot: policy workers blocked"


class FakeSender:
    def __init__(self, answers: list[bool]) -> None:
        self.answers = answers
        self.sent: list[tuple[str, str, bool]] = []

    async def send(self, url: str, *, title: str, body: str, failure: bool) -> bool:
        self.sent.append((url, body, failure))
        return self.answers.pop(0) if self.answers else True


async def _secret(ref: SecretKeyRef) -> str:
    return f"json://{ref.namespace}.{ref.name}/{ref.key}"


async def test_only_subscribed_events_are_sent_and_submit_never_waits() -> None:
    sender = FakeSender([])
    notifier = Notifier(read_secret=_secret, sender=sender, backoff=(0.001, 0.01))
    subscriptions = [
        Notification(url_secret_ref=REF, events=[NotificationEvent.FAILED]),
        Notification(url_secret_ref=REF),  # every event
    ]
    notifier.submit(subscriptions, DONE)
    notifier.submit(subscriptions, Notice(NotificationEvent.FAILED, "workers", node="n", message="drain failed"))
    await notifier.drain()
    assert [(body.split(":")[0], failure) for _, body, failure in sender.sent] == [
        ("node node-1", False),
        ("node n", True),
        ("node n", True),
    ]
    assert sender.sent[0][0] == "json://ops.hooks/url"
    assert notifier.delivered == 3
    await notifier.stop()


async def test_a_failing_delivery_is_retried_a_bounded_number_of_times_then_dropped() -> None:
    sender = FakeSender([False] * 10)
    notifier = Notifier(read_secret=_secret, sender=sender, attempts=3, backoff=(0.001, 0.002))
    notifier.submit([Notification(url_secret_ref=REF)], DONE)
    await asyncio.wait_for(notifier.drain(), 5)
    assert len(sender.sent) == 3
    assert (notifier.delivered, notifier.dropped) == (0, 1)


async def test_an_unreadable_secret_is_retried_then_dropped() -> None:
    async def missing(ref: SecretKeyRef) -> str:
        raise KeyError(ref.key)

    notifier = Notifier(read_secret=missing, sender=FakeSender([]), attempts=2, backoff=(0.001, 0.001))
    notifier.submit([Notification(url_secret_ref=REF)], DONE)
    await asyncio.wait_for(notifier.drain(), 5)
    assert notifier.dropped == 1


async def test_a_full_queue_drops_instead_of_waiting() -> None:
    notifier = Notifier(read_secret=_secret, sender=FakeSender([]), queue_size=1)
    notifier.submit([Notification(url_secret_ref=REF)] * 3, DONE)
    assert notifier.dropped == 2
    await notifier.drain()
    await notifier.stop()
