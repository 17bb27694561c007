"""Drain progress during an API outage (issue 13, defect 8): a failed write is not taken for a written one; it is
tried again after a backoff, and the outage is logged once, not once per try."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from kubernetes_asyncio import client

from reboot_operator.kube.drain import _Drain
from reboot_operator.kube.drain_types import DrainOptions, DrainProgress
from reboot_operator.runtime.backoff import OUTAGE_BACKOFF, Backoff
from reboot_operator.runtime.errors import ApiUnavailable


class FlakyStatus:
    """A progress callback that fails ``failures`` times, as a status write does while the API server is away."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error = failures, error
        self.calls: list[DrainProgress] = []
        self.written: list[DrainProgress] = []

    async def __call__(self, progress: DrainProgress) -> None:
        self.calls.append(progress)
        if len(self.calls) <= self.failures:
            raise self.error
        self.written.append(progress)


@pytest.fixture
async def api() -> AsyncIterator[client.ApiClient]:
    async with client.ApiClient() as made:  # never called: reporting makes no request of its own
        yield made


def _drain(api: client.ApiClient, callback: FlakyStatus) -> _Drain:
    drain = _Drain(api=api, node="n1", options=DrainOptions(), on_progress=callback, deadline=None)
    drain.report_backoff = Backoff(initial=0.01, maximum=0.01)
    return drain


async def test_progress_that_could_not_be_written_is_written_on_the_next_try_and_the_outage_logged_once(
    api: client.ApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    status = FlakyStatus(3, ApiUnavailable("write status of n1: 503 the server is shutting down"))
    drain = _drain(api, status)
    caplog.set_level(logging.INFO, logger="reboot_operator.kube.drain")
    for _ in range(3):
        drain.changed.clear()
        await drain.report()
        assert drain.last_progress is None, "a failed write was taken for a written one"
        # The wait loop is woken to try again after the backoff: nothing else would change the progress.
        await asyncio.wait_for(drain.changed.wait(), 5)
    await drain.report()
    assert status.written == [DrainProgress(total=0, remaining=0, blocking=())]
    assert drain.last_progress == status.written[0]
    await drain.report()  # told already: not written again
    assert len(status.calls) == 4
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "could not write drain progress" in warnings[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info], "an outage is no traceback"
    assert "written again" in caplog.records[-1].getMessage()


async def test_an_unexpected_failure_of_the_callback_is_logged_with_its_traceback_once(
    api: client.ApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    status = FlakyStatus(2, KeyError("bug"))
    drain = _drain(api, status)
    for _ in range(3):
        await drain.report()
    assert len(status.written) == 1
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1 and "drain progress callback failed" in tracebacks[0].getMessage()


def test_outages_are_retried_at_least_every_few_seconds() -> None:
    assert OUTAGE_BACKOFF <= 5
    backoff = Backoff(initial=0.5, maximum=OUTAGE_BACKOFF)
    assert max(backoff.next() for _ in range(20)) == OUTAGE_BACKOFF
