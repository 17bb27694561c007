"""A policy's failing notifications are told to an SRE once per distinct failure, naming the Secret and the reason."""

from __future__ import annotations

import asyncio
import json

import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from reboot_operator.api.policy import Notification, NotificationEvent, SecretKeyRef
from reboot_operator.notify import Notice, NotificationFailure, Notifier
from reboot_operator.notify.failures import REFUSED, FailureMemory, cause_of

REF = SecretKeyRef(name="hooks", namespace="shop", key="url")
OTHER = SecretKeyRef(name="hooks", namespace="rollboot-system", key="url")
FORBIDDEN_MESSAGE = (
    'secrets "hooks" is forbidden: User "system:serviceaccount:rollboot-system:rollboot-operator" '
    'cannot get resource "secrets" in API group "" in the namespace "shop"'
)


def api_error(code: int, reason: str, message: str) -> ApiException:
    error = ApiException(status=code, reason=reason)
    error.body = json.dumps({"kind": "Status", "code": code, "reason": reason, "message": message}).encode()
    return error


FORBIDDEN = api_error(403, "Forbidden", FORBIDDEN_MESSAGE)


@pytest.mark.parametrize(
    ("error", "cause", "detail"),
    [
        pytest.param(FORBIDDEN, "403 Forbidden", FORBIDDEN_MESSAGE, id="forbidden"),
        pytest.param(
            api_error(404, "NotFound", 'secrets "hooks" not found'),
            "404 NotFound",
            'secrets "hooks" not found',
            id="no-such-secret",
        ),
        pytest.param(KeyError("url"), "the Secret has no such key", "url", id="no-such-key"),
        pytest.param(
            UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
            "the Secret's value is not UTF-8 text",
            "",
            id="not-text",
        ),
        pytest.param(
            ValueError("not a URL apprise understands"),
            "the Secret's value is not a URL apprise understands",
            "not a URL apprise understands",
            id="not-a-url",
        ),
        pytest.param(None, REFUSED, "", id="the-service-said-no"),
        pytest.param(ConnectionRefusedError("refused"), "ConnectionRefusedError", "ConnectionRefusedError: refused",
                     id="network"),
    ],
)  # fmt: skip
def test_each_failure_has_a_short_stable_cause_and_the_refusers_own_words(
    error: BaseException | None, cause: str, detail: str
) -> None:
    assert cause_of(error) == (cause, detail)


def test_the_message_names_the_policy_the_secret_and_the_reason_and_for_a_403_what_to_do() -> None:
    forbidden = NotificationFailure("workers", REF, *cause_of(FORBIDDEN)).message()
    assert forbidden.startswith(
        "notifications of policy workers via Secret shop/hooks key url are failing: 403 Forbidden ("
    )
    assert FORBIDDEN_MESSAGE in forbidden
    assert "operator.secretNamespaces" in forbidden
    refused = NotificationFailure("workers", REF, REFUSED).message()
    assert refused == f"notifications of policy workers via Secret shop/hooks key url are failing: {REFUSED}"


def test_a_failure_is_told_once_and_again_only_after_a_success_through_that_secret() -> None:
    memory = FailureMemory()
    failure = NotificationFailure("workers", REF, "403 Forbidden")
    assert memory.first_time(failure)
    assert not memory.first_time(failure)
    assert memory.first_time(NotificationFailure("workers", REF, "404 NotFound")), "another cause is news"
    assert memory.first_time(NotificationFailure("workers", OTHER, "403 Forbidden")), "another Secret is news"
    assert memory.first_time(NotificationFailure("others", REF, "403 Forbidden")), "another policy is news"
    memory.recovered("workers", OTHER)
    assert not memory.first_time(failure), "a success elsewhere forgets nothing here"
    memory.recovered("workers", REF)
    assert memory.first_time(failure)


class Recorder:
    def __init__(self, *, fail: bool = False) -> None:
        self.told: list[NotificationFailure] = []
        self.fail = fail

    async def __call__(self, failure: NotificationFailure) -> None:
        self.told.append(failure)
        if self.fail:
            raise RuntimeError("could not post")


class Secrets:
    """Answers each read with the next of ``answers``: an exception to raise, or a URL."""

    def __init__(self, answers: list[BaseException | str]) -> None:
        self.answers = answers

    async def __call__(self, ref: SecretKeyRef) -> str:
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer


class Accepting:
    async def send(self, url: str, *, title: str, body: str, failure: bool) -> bool:
        return True


def notice(node: str) -> Notice:
    return Notice(NotificationEvent.STARTED, "workers", node=node)


async def test_many_notices_dropped_for_the_same_reason_are_told_once() -> None:
    told = Recorder()
    notifier = Notifier(
        read_secret=Secrets([FORBIDDEN]), sender=Accepting(), attempts=2, backoff=(0.001, 0.001), on_failure=told
    )
    for node in ("a", "b", "c"):
        notifier.submit([Notification(url_secret_ref=REF)], notice(node))
    await asyncio.wait_for(notifier.drain(), 5)
    assert notifier.dropped == 3
    assert [(f.policy, f.secret, f.cause) for f in told.told] == [("workers", REF, "403 Forbidden")]
    await notifier.stop()


async def test_a_failure_that_comes_back_after_a_success_is_told_again() -> None:
    told = Recorder()
    missing = KeyError("url")
    secrets = Secrets([missing, "json://ok", missing])
    notifier = Notifier(read_secret=secrets, sender=Accepting(), attempts=1, backoff=(0.001, 0.001), on_failure=told)
    for node in ("a", "b", "c"):
        notifier.submit([Notification(url_secret_ref=REF)], notice(node))
    await asyncio.wait_for(notifier.drain(), 5)
    assert (notifier.delivered, notifier.dropped) == (1, 2)
    assert [f.cause for f in told.told] == ["the Secret has no such key"] * 2
    await notifier.stop()


async def test_a_reporter_that_fails_never_stops_the_notifications() -> None:
    told = Recorder(fail=True)
    secrets = Secrets([FORBIDDEN, "json://ok"])
    notifier = Notifier(read_secret=secrets, sender=Accepting(), attempts=1, backoff=(0.001, 0.001), on_failure=told)
    notifier.submit([Notification(url_secret_ref=REF)], notice("a"))
    notifier.submit([Notification(url_secret_ref=REF)], notice("b"))
    await asyncio.wait_for(notifier.drain(), 5)
    assert (notifier.delivered, notifier.dropped) == (1, 1)
    assert len(told.told) == 1
    await notifier.stop()
