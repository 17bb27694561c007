"""The watch on the node's own request: list, watch, resume from the last version, re-list after 410."""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import pytest

from reboot_operator.api.meta import API_VERSION
from sentinel_agent.kube.backoff import Backoff
from sentinel_agent.kube.client import ApiClient
from sentinel_agent.kube.credentials import Credentials
from sentinel_agent.model import NodeRebootRequest
from sentinel_agent.resource import COLLECTION, RequestResource
from sentinel_agent.watcher import RequestWatcher
from tests.agent.fakeapi import FakeApiServer, Recorded, Reply, event, status_body

NODE = "n1"


def request_object(version: str, *, phase: str | None = None, name: str = NODE) -> dict[str, Any]:
    document: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "NodeRebootRequest",
        "metadata": {"name": name, "resourceVersion": version},
        "spec": {"nodeName": name, "reasons": [{"source": "sentinel-file", "detail": "x", "packages": []}]},
    }
    if phase:
        document["status"] = {"phase": phase}
    return document


def listing(version: str, *items: dict[str, Any]) -> Reply:
    return Reply(body={"kind": "NodeRebootRequestList", "metadata": {"resourceVersion": version}, "items": list(items)})


def bookmark(version: str) -> bytes:
    return event("BOOKMARK", {"kind": "NodeRebootRequest", "metadata": {"resourceVersion": version}})


class Router:
    """Answers lists and watches from two scripts; when a script runs out, lists are empty and watches hang."""

    def __init__(self, *, lists: list[Reply], watches: list[Reply]) -> None:
        self.lists = deque(lists)
        self.watches = deque(watches)

    def __call__(self, recorded: Recorded) -> Reply:
        if recorded.query.get("watch") == "true":
            return self.watches.popleft() if self.watches else Reply(chunks=[], hold=30)
        return self.lists.popleft() if self.lists else listing("999")


class Run:
    """A watcher running in a thread against the fake server, and what it delivered."""

    def __init__(self, server: FakeApiServer, *, watch_timeout: float = 600) -> None:
        self.server = server
        self.delivered: list[NodeRebootRequest | None] = []
        self.stop = threading.Event()
        api = ApiClient(Credentials(server=server.url, ssl_context=None), sleep=lambda s: None)
        self.watcher = RequestWatcher(
            resource=RequestResource(api, NODE),
            deliver=self.delivered.append,
            watch_timeout=watch_timeout,
            stop=self.stop,
            backoff=Backoff(initial=0.01, maximum=0.02),
            rng=random.Random(7),
        )
        self.thread = threading.Thread(target=self.watcher.run, daemon=True)

    def requests(self) -> list[Recorded]:
        return [r for r in self.server.requests if r.path == COLLECTION]

    def kinds(self) -> list[str]:
        return ["watch" if r.query.get("watch") == "true" else "list" for r in self.requests()]

    def until(self, condition: Callable[[], bool], timeout: float = 5) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"timed out; requests so far: {self.kinds()}"
            time.sleep(0.01)


def _started(api_server: FakeApiServer, router: Router) -> Run:
    api_server.route = router
    run = Run(api_server)
    run.thread.start()
    return run


def _finish(run: Run) -> None:
    run.stop.set()
    run.watcher.abort()
    run.thread.join(timeout=5)
    assert not run.thread.is_alive()


def test_it_lists_then_watches_from_the_listed_version(api_server: FakeApiServer) -> None:
    changes = [event("ADDED", request_object("11")), event("MODIFIED", request_object("12", phase="Waiting"))]
    run = _started(api_server, Router(lists=[listing("10")], watches=[Reply(chunks=changes, hold=30)]))
    try:
        run.until(lambda: len(run.delivered) == 3)
    finally:
        _finish(run)

    first, second, third = run.delivered
    assert first is None
    assert second is not None
    assert second.resource_version == "11"
    assert third is not None
    assert third.phase == "Waiting"
    listed, watched = run.requests()[:2]
    assert listed.query == {"fieldSelector": f"metadata.name={NODE}"}
    assert watched.query["fieldSelector"] == f"metadata.name={NODE}"
    assert watched.query["resourceVersion"] == "10"
    assert watched.query["allowWatchBookmarks"] == "true"
    assert 600 <= int(watched.query["timeoutSeconds"]) <= 1200


def test_a_watch_that_ends_normally_is_resumed_from_the_last_version_without_a_list(
    api_server: FakeApiServer,
) -> None:
    run = _started(
        api_server, Router(lists=[listing("10")], watches=[Reply(chunks=[event("ADDED", request_object("15"))])])
    )
    try:
        run.until(lambda: run.kinds() == ["list", "watch", "watch"])
    finally:
        _finish(run)
    assert run.requests()[2].query["resourceVersion"] == "15"


def test_bookmarks_move_the_resume_version_without_delivering_anything(api_server: FakeApiServer) -> None:
    run = _started(api_server, Router(lists=[listing("10")], watches=[Reply(chunks=[bookmark("42")])]))
    try:
        run.until(lambda: run.kinds() == ["list", "watch", "watch"])
    finally:
        _finish(run)
    assert run.requests()[2].query["resourceVersion"] == "42"
    assert run.delivered == [None]


@pytest.mark.parametrize(
    "gone",
    [
        Reply(status=410, body=status_body(410, "Expired", "too old resource version: 10 (20)")),
        Reply(chunks=[event("ERROR", status_body(410, "Expired", "too old resource version"))]),
    ],
    ids=["http-410", "error-event-410"],
)
def test_410_gone_leads_to_a_fresh_list(api_server: FakeApiServer, gone: Reply) -> None:
    run = _started(api_server, Router(lists=[listing("10"), listing("30", request_object("29"))], watches=[gone]))
    try:
        run.until(lambda: run.kinds()[:4] == ["list", "watch", "list", "watch"])
    finally:
        _finish(run)
    assert run.requests()[3].query["resourceVersion"] == "30"
    assert run.delivered[-1] is not None
    assert run.delivered[-1].resource_version == "29"


@pytest.mark.parametrize(
    "failure",
    [
        Reply(status=500, body=status_body(500, "InternalError")),
        Reply(drop=True),
        Reply(chunks=[event("ADDED", request_object("12"))], cut=True),
        Reply(chunks=[event("ERROR", status_body(500, "InternalError", "boom"))]),
    ],
    ids=["http-500", "dropped", "cut-after-an-event", "error-event-500"],
)
def test_other_failures_pause_then_resume_from_the_same_version(api_server: FakeApiServer, failure: Reply) -> None:
    run = _started(api_server, Router(lists=[listing("10")], watches=[failure]))
    try:
        run.until(lambda: len(run.kinds()) >= 3)
    finally:
        _finish(run)
    assert run.kinds()[:3] == ["list", "watch", "watch"]
    assert run.requests()[2].query["resourceVersion"] in ("10", "12")


def test_a_deleted_request_is_delivered_as_none(api_server: FakeApiServer) -> None:
    run = _started(
        api_server,
        Router(
            lists=[listing("10", request_object("9"))],
            watches=[Reply(chunks=[event("DELETED", request_object("11"))], hold=30)],
        ),
    )
    try:
        run.until(lambda: len(run.delivered) == 2)
    finally:
        _finish(run)
    assert run.delivered[0] is not None
    assert run.delivered[1] is None


def test_events_about_other_requests_are_ignored(api_server: FakeApiServer) -> None:
    run = _started(
        api_server,
        Router(lists=[listing("10")], watches=[Reply(chunks=[event("ADDED", request_object("11", name="other"))])]),
    )
    try:
        run.until(lambda: len(run.kinds()) >= 3)
    finally:
        _finish(run)
    assert run.delivered == [None]


def test_a_failing_list_is_retried_until_it_works(api_server: FakeApiServer) -> None:
    run = _started(
        api_server,
        Router(lists=[Reply(status=403, body=status_body(403, "Forbidden")), listing("10")], watches=[]),
    )
    try:
        run.until(lambda: run.kinds()[:3] == ["list", "list", "watch"])
    finally:
        _finish(run)
    assert run.delivered == [None]


def test_stop_ends_a_hanging_watch_at_once(api_server: FakeApiServer) -> None:
    run = _started(api_server, Router(lists=[listing("10")], watches=[]))
    run.until(lambda: run.kinds() == ["list", "watch"])

    _finish(run)  # ended within its join's 5 s, though the watch would hang until the server ends it
