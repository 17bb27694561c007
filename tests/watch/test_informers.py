"""How an informer reads one watch event: plain data in, views and changes out (the API itself is in
tests/integration/test_informers.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from reboot_operator.runtime.errors import WatchExpired
from reboot_operator.watch.informers import Informer


async def never(**_: Any) -> Any:
    raise AssertionError("no API call in these tests")


def parse(body: Mapping[str, Any]) -> str | None:
    """A view: the object's colour; an object without one is unreadable."""
    colour = (body.get("spec") or {}).get("colour")
    return str(colour) if colour else None


def informer() -> tuple[Informer[str], list[tuple[str, str | None, str]]]:
    told: list[tuple[str, str | None, str]] = []
    return Informer("things", never, parse, lambda *change: told.append(change)), told


def obj(name: str, version: str, colour: str | None = "red") -> dict[str, Any]:
    return {"metadata": {"name": name, "resourceVersion": version}, "spec": {"colour": colour} if colour else {}}


@pytest.mark.parametrize(
    ("events", "views", "told", "version"),
    [
        pytest.param([("ADDED", obj("a", "5"))], {"a": "red"}, [("a", "red", "5")], "5", id="added"),
        pytest.param(
            [("ADDED", obj("a", "5")), ("MODIFIED", obj("a", "6", "blue"))],
            {"a": "blue"},
            [("a", "red", "5"), ("a", "blue", "6")],
            "6",
            id="modified",
        ),
        pytest.param(
            [("ADDED", obj("a", "5")), ("DELETED", obj("a", "7"))],
            {},
            [("a", "red", "5"), ("a", None, "7")],
            "7",
            id="deleted",
        ),
        pytest.param([("DELETED", obj("a", "7"))], {}, [], "7", id="deleted-unknown-is-silent"),
        pytest.param(
            [("ADDED", obj("a", "5")), ("BOOKMARK", {"metadata": {"resourceVersion": "9"}})],
            {"a": "red"},
            [("a", "red", "5")],
            "9",
            id="bookmark-moves-the-version-only",
        ),
        pytest.param(
            [("ADDED", obj("a", "5")), ("MODIFIED", obj("a", "6", None))],
            {},
            [("a", "red", "5"), ("a", None, "6")],
            "6",
            id="unreadable-is-as-if-gone",
        ),
    ],
)
def test_watch_events(
    events: list[tuple[str, dict[str, Any]]], views: dict[str, str], told: list[Any], version: str
) -> None:
    subject, heard = informer()
    for kind, body in events:
        subject.engine.take({"type": kind, "object": body})
    assert subject.views == views
    assert heard == told
    assert subject.resource_version == version


def test_an_error_event_of_410_means_list_again() -> None:
    subject, _ = informer()
    with pytest.raises(WatchExpired):
        subject.engine.take({"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}})


def test_another_error_event_is_an_api_error_with_its_code() -> None:
    subject, _ = informer()
    with pytest.raises(ApiException) as raised:
        subject.engine.take({"type": "ERROR", "object": {"kind": "Status", "code": 500, "reason": "InternalError"}})
    assert raised.value.status == 500


class _Content:
    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines

    async def iter_any(self) -> AsyncIterator[bytes]:
        for line in self.lines:
            yield line


class _Response:
    """What a generated call with ``_preload_content=False`` returns, as far as the informer reads it."""

    def __init__(self, body: bytes = b"", lines: list[bytes] | None = None) -> None:
        self.status, self.reason = 200, "OK"
        self.headers: dict[str, str] = {}
        self.body, self.content = body, _Content(lines or [])

    async def read(self) -> bytes:
        return self.body

    def release(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.mark.parametrize(("says", "sleeps"), [(False, True), (True, False)], ids=["silent", "telling"])
async def test_a_watch_the_server_ends_at_once_is_not_asked_again_in_a_tight_loop(
    monkeypatch: pytest.MonkeyPatch, says: bool, sleeps: bool
) -> None:
    watches = 0
    slept: list[float] = []
    event = json.dumps({"type": "ADDED", "object": obj("a", "7")}).encode() + b"\n"

    async def call(**kwargs: Any) -> _Response:
        nonlocal watches
        if not kwargs.get("watch"):
            return _Response(json.dumps({"items": [], "metadata": {"resourceVersion": "5"}}).encode())
        watches += 1
        if watches == 3:
            raise asyncio.CancelledError
        return _Response(lines=[event] if says else [])

    real_sleep = asyncio.sleep

    async def sleep(delay: float) -> None:
        slept.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", sleep)  # the informer's waits, told instead of waited
    watcher: Informer[str] = Informer("things", call, parse, lambda *_: None)

    with pytest.raises(asyncio.CancelledError):
        await watcher.run()

    assert watches == 3
    assert (len(slept) == 2) is sleeps, slept
    if sleeps:
        assert slept[1] > slept[0] > 0, "each quiet end waits longer, as after a failure"


class _Hanging:
    async def iter_any(self) -> AsyncIterator[bytes]:
        yield json.dumps({"type": "ADDED", "object": obj("a", "7")}).encode() + b"\n"
        await asyncio.Event().wait()


async def test_a_watch_that_hangs_past_its_time_out_is_given_up_and_resumed_from_where_it_was() -> None:
    """A half-open connection: the server's end of the watch never comes. Given up once the read time-out has passed
    since the watch began (here 1.3 s), and watched again from the last version seen, without listing again."""
    asked: list[dict[str, Any]] = []

    async def call(**kwargs: Any) -> _Response:
        asked.append(kwargs)
        if not kwargs.get("watch"):
            return _Response(json.dumps({"items": [], "metadata": {"resourceVersion": "5"}}).encode())
        if len(asked) == 3:
            raise asyncio.CancelledError
        response = _Response()
        response.content = _Hanging()  # type: ignore[assignment]
        return response

    watcher: Informer[str] = Informer("things", call, parse, lambda *_: None, server_timeout=1, read_timeout=1.3)
    loop = asyncio.get_running_loop()
    began = loop.time()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(10):
            await watcher.run()
    assert loop.time() - began >= 1.3
    assert [(a.get("watch"), a.get("resource_version")) for a in asked] == [(None, None), (True, "5"), (True, "7")]
    assert watcher.listings == 1
    assert watcher.views == {"a": "red"}
