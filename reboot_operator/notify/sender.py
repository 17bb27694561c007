"""Delivering notifications in the background, so that no notification ever blocks or slows a reboot.

``Notifier.submit`` only puts the notice on a bounded queue (a full queue drops it, with a warning) and returns at
once. A worker resolves each subscription's URL from its Secret, renders the message and sends it through a
:class:`Sender` (apprise in production, a fake in unit tests), retrying a failed delivery a bounded number of
times with exponential backoff before dropping it. A dropped notification is also handed to ``on_failure`` (a
Warning Event on the policy in production, see ``failures.py``), once per distinct failure.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from reboot_operator.api.policy import Notification, NotificationEvent, SecretKeyRef
from reboot_operator.notify.failures import FailureMemory, FailureReporter, NotificationFailure, cause_of
from reboot_operator.notify.message import Notice, render
from reboot_operator.runtime import metrics
from reboot_operator.runtime.aiotasks import cancel_and_wait

log = logging.getLogger(__name__)

QUEUE_SIZE = 1000
ATTEMPTS = 4
"""Deliveries tried per notification: the first and three retries."""
BACKOFF = (2.0, 60.0)
"""First retry delay and the longest, in seconds; the delay doubles between them."""


class Sender(Protocol):
    """Delivers one message to one URL; True when it was accepted."""

    async def send(self, url: str, *, title: str, body: str, failure: bool) -> bool: ...


class AppriseSender:
    """Sends through apprise; its plugins block, so each delivery runs in a worker thread. apprise is imported at
    the first delivery, not with the operator: most policies notify nobody, and its import (every plugin's
    templates) took ~0.15-0.25 s of the operator's start-up, before its first request."""

    def __init__(self, timeout: float = 15.0) -> None:
        self.timeout = timeout

    async def send(self, url: str, *, title: str, body: str, failure: bool) -> bool:
        def deliver() -> bool:
            import apprise  # here, not at the top: see the class docstring

            target = apprise.Apprise()
            if not target.add(url):
                raise ValueError("not a URL apprise understands")
            kind = apprise.NotifyType.FAILURE if failure else apprise.NotifyType.INFO
            return bool(target.notify(body=body, title=title, notify_type=kind, timeout=self.timeout))

        return await asyncio.to_thread(deliver)


SecretReader = Callable[[SecretKeyRef], Awaitable[str]]


def secret_reader(api: client.ApiClient) -> SecretReader:
    """Reads one key of one Secret (the operator needs ``get`` on the Secrets its policies name)."""

    async def read(ref: SecretKeyRef) -> str:
        secret = await client.CoreV1Api(api).read_namespaced_secret(ref.name, ref.namespace)
        data = (secret.data or {}).get(ref.key)
        if data is None:
            raise KeyError(f"Secret {ref.namespace}/{ref.name} has no key {ref.key}")
        return base64.b64decode(data).decode().strip()

    return read


_BAD_NEWS = frozenset({NotificationEvent.FAILED, NotificationEvent.HALTED, NotificationEvent.BLOCKED})


@dataclass(frozen=True)
class _Job:
    notice: Notice
    subscription: Notification


def subscribed(subscriptions: Sequence[Notification], notice: Notice) -> list[Notification]:
    """The subscriptions that want ``notice``: those naming its event, or naming none (all events)."""
    return [s for s in subscriptions if not s.events or notice.event in s.events]


class Notifier:
    """The bounded queue and its worker; see the module docstring."""

    def __init__(
        self,
        *,
        read_secret: SecretReader,
        sender: Sender | None = None,
        attempts: int = ATTEMPTS,
        backoff: tuple[float, float] = BACKOFF,
        queue_size: int = QUEUE_SIZE,
        on_failure: FailureReporter | None = None,
    ) -> None:
        self.read_secret = read_secret
        self.sender = sender or AppriseSender()
        self.on_failure = on_failure
        self._told = FailureMemory()
        self.attempts = attempts
        self.backoff = backoff
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(maxsize=queue_size)
        self._worker: asyncio.Task[None] | None = None
        self.delivered = 0
        self.dropped = 0

    def submit(self, subscriptions: Sequence[Notification], notice: Notice) -> None:
        """Queue ``notice`` for each subscription that wants it; never waits, never raises."""
        for subscription in subscribed(subscriptions, notice):
            try:
                self._queue.put_nowait(_Job(notice, subscription))
            except asyncio.QueueFull:
                self._dropped()
                log.warning("notification queue full; dropped %s", notice.title)
        if self._worker is None and not self._queue.empty():
            self._worker = asyncio.create_task(self._work(), name="notifier")

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await self._deliver(job)
            except asyncio.CancelledError:
                raise
            except Exception:  # the worker outlives any one notification: a bug in one is logged, not fatal
                self._dropped()
                log.exception("notification %s could not be sent", job.notice.title)
            finally:
                self._queue.task_done()

    async def _deliver(self, job: _Job) -> None:
        ref = job.subscription.url_secret_ref
        where = f"Secret {ref.namespace}/{ref.name} key {ref.key}"
        body = render(job.notice, job.subscription.template)
        failure = job.notice.event in _BAD_NEWS
        delay = self.backoff[0]
        cause, detail = "", ""
        for attempt in range(1, self.attempts + 1):
            error: BaseException | None = None
            try:
                url = await self.read_secret(ref)
                sent = await self.sender.send(url, title=job.notice.title, body=body, failure=failure)
            except (ApiException, KeyError, ValueError, UnicodeDecodeError, OSError) as raised:
                sent, error = False, raised
            if sent:
                self.delivered += 1
                metrics.NOTIFICATIONS.labels("sent").inc()
                log.info("notification sent via %s: %s", where, job.notice.title)
                self._told.recovered(job.notice.policy, ref)
                return
            cause, detail = cause_of(error)
            problem = f"{cause}: {detail}" if detail else cause
            if attempt == self.attempts:
                break
            log.warning(
                "notification via %s failed (attempt %d of %d, retrying in %.0fs): %s",
                where,
                attempt,
                self.attempts,
                delay,
                problem,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff[1])
        self._dropped()
        log.error(
            "notification via %s dropped after %d attempts: %s (%s)", where, self.attempts, job.notice.title, cause
        )
        await self._tell(NotificationFailure(job.notice.policy, ref, cause, detail))

    async def _tell(self, failure: NotificationFailure) -> None:
        """Hand a failure to ``on_failure`` the first time it happens; a reporter's own failure is only logged."""
        if self.on_failure is None or not self._told.first_time(failure):
            return
        try:
            await self.on_failure(failure)
        except Exception:  # a reporter is any callable; its failure must not count as a second drop
            log.warning("could not report the failure of notifications via %s", failure.secret.name, exc_info=True)

    def _dropped(self) -> None:
        self.dropped += 1
        metrics.NOTIFICATIONS.labels("dropped").inc()

    async def drain(self) -> None:
        """For tests: until everything queued has been delivered or dropped."""
        await self._queue.join()

    async def stop(self) -> None:
        await cancel_and_wait([self._worker])
        self._worker = None
