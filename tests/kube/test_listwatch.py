"""The list-then-watch loop both the informers and the drain's pod watch run on: what ends a watch, what follows,
and what is said. The API server is replaced by a scripted ``Source`` (tests/kube/scripted.py); the loop's waits are
recorded instead of waited where the test is about how long they are."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import pytest

from reboot_operator.kube.listwatch import ListWatch
from reboot_operator.runtime.backoff import Backoff
from tests.kube.scripted import HANG, ScriptedSource

GONE = {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}}


def thing(name: str, version: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "resourceVersion": version}, "spec": {"colour": "red"}}


def parse(body: Mapping[str, Any]) -> str | None:
    return (body.get("spec") or {}).get("colour")


def engine(source: ScriptedSource, **options: Any) -> ListWatch[str]:
    options.setdefault("backoff", Backoff(initial=0.1, maximum=0.4))
    return ListWatch(what="things", source=source, parse=parse, on_change=lambda *_: None, **options)


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The loop's waits, recorded and not waited."""
    delays: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(delay: float) -> None:
        delays.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    return delays


async def test_a_watch_that_hangs_is_given_up_after_its_time_out_and_watched_again_from_where_it_was() -> None:
    source = ScriptedSource([thing("a", "1")], [[{"type": "ADDED", "object": thing("b", "7")}, HANG], [HANG]])
    subject = engine(source, server_timeout=1, grace=0.2)
    loop = asyncio.get_running_loop()
    began = loop.time()
    task = asyncio.create_task(subject.run())
    try:
        async with asyncio.timeout(10):
            while len(source.watched_from) < 2:
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert loop.time() - began >= 1.2, "not given up before the server's time-out and the grace"
    assert source.watched_from == ["1", "7"], "resumed from the last version seen"
    assert source.listed == 1, "an informer does not list again after a watch"
    assert set(subject.views) == {"a", "b"}


async def test_a_410_lists_again_at_once_and_a_second_in_a_row_after_a_backoff(slept: list[float]) -> None:
    source = ScriptedSource([thing("a", "1")], [[GONE], [GONE], [asyncio.CancelledError()]])
    subject = engine(source)
    with pytest.raises(asyncio.CancelledError):
        await subject.run()
    assert source.listed == 3
    assert source.watched_from == ["1", "2", "3"]
    assert slept == [0.1], "the first 410 lists again at once, the second waits first"
    assert not subject.failing, "a 410 is no outage"


async def test_a_410_after_a_watch_that_went_well_lists_again_at_once(slept: list[float]) -> None:
    source = ScriptedSource(
        [thing("a", "1")], [[GONE], [{"type": "ADDED", "object": thing("b", "7")}], [GONE], [asyncio.CancelledError()]]
    )
    with pytest.raises(asyncio.CancelledError):
        await engine(source).run()
    assert source.listed == 3
    assert slept == [], "each 410 was the first in a row"


async def test_an_outage_is_said_once_when_it_begins_and_once_when_it_ends_and_the_watch_resumes(
    slept: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    reset = OSError("connection reset")
    source = ScriptedSource(
        [thing("a", "1")],
        [[reset], [reset], [reset], [{"type": "ADDED", "object": thing("b", "7")}, asyncio.CancelledError()]],
    )
    subject = engine(source)
    with caplog.at_level(logging.DEBUG, logger="reboot_operator.kube.listwatch"), pytest.raises(asyncio.CancelledError):
        await subject.run()
    said = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert said == [
        (
            logging.WARNING,
            "things: watch failed (OSError: connection reset); trying again every few seconds until it is back",
        ),
        (logging.DEBUG, "things: watch failed again (OSError: connection reset); again in 0.2s"),
        (logging.DEBUG, "things: watch failed again (OSError: connection reset); again in 0.4s"),
        (logging.INFO, "things: watching again"),
    ]
    assert slept == [0.1, 0.2, 0.4]
    assert source.listed == 1 and source.watched_from == ["1", "1", "1", "1"], "watched again, not listed again"
    assert not subject.failing and subject.last_error == "OSError: connection reset"
    assert "b" in subject.views


async def test_with_relist_each_watch_every_watch_and_every_failure_is_followed_by_a_listing(
    slept: list[float],
) -> None:
    source = ScriptedSource(
        [thing("a", "1")],
        [[{"type": "ADDED", "object": thing("b", "7")}], [OSError("reset")], [asyncio.CancelledError()]],
    )
    with pytest.raises(asyncio.CancelledError):
        await engine(source, relist_each_watch=True).run()
    assert source.listed == 3
    assert source.watched_from == ["1", "2", "3"]


@pytest.mark.parametrize("relist", [False, True], ids=["resumes", "relists"])
async def test_watches_the_server_ends_at_once_saying_nothing_wait_longer_each_time(
    slept: list[float], relist: bool
) -> None:
    source = ScriptedSource([thing("a", "1")], [[], [], [], [asyncio.CancelledError()]])
    with pytest.raises(asyncio.CancelledError):
        await engine(source, relist_each_watch=relist).run()
    assert slept == [0.1, 0.2, 0.4]
    assert source.listed == (4 if relist else 1)


async def test_a_failure_it_is_not_told_to_retry_ends_the_loop() -> None:
    source = ScriptedSource([thing("a", "1")], [[KeyError("a bug")]])
    with pytest.raises(KeyError):
        await engine(source, retried=(OSError,)).run()


async def test_a_listing_that_hangs_is_given_up_and_tried_again(slept: list[float]) -> None:
    class SlowFirstListing(ScriptedSource):
        async def list(self, each: Any) -> str:
            if self.listed == 0:
                self.listed += 1
                await asyncio.Event().wait()
            return await super().list(each)

    source = SlowFirstListing([thing("a", "1")], [[asyncio.CancelledError()]])
    subject = engine(source, list_timeout=0.2)
    with pytest.raises(asyncio.CancelledError):
        await subject.run()
    assert source.listed == 2
    assert subject.views == {"a": "red"}
    assert slept == [0.1]
