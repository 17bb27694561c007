"""Watch streams: events however the server chunks them, broken streams, abort from another thread."""

from __future__ import annotations

import json
import threading
import time

import pytest

from sentinel_agent.errors import ApiConnectionError, ApiGone
from sentinel_agent.kube.client import ApiClient
from sentinel_agent.kube.credentials import Credentials
from tests.agent.fakeapi import FakeApiServer, Reply, event, status_body


def obj(name: str, version: str, **extra: object) -> dict[str, object]:
    return {"metadata": {"name": name, "resourceVersion": version}, **extra}


def watch_all(server: FakeApiServer, reply: Reply) -> list[dict[str, object]]:
    server.script(reply)
    client = ApiClient(Credentials(server=server.url, ssl_context=None))
    with client.watch("/apis/x", query={"watch": "true"}, read_timeout=5) as stream:
        return list(stream)


ONE = event("ADDED", obj("n1", "1", note="héllo ✓"))
TWO = event("MODIFIED", obj("n1", "2"))
BOTH = ONE + TWO


@pytest.mark.parametrize(
    "chunks",
    [
        [ONE, TWO],
        [BOTH],
        [BOTH[:7], BOTH[7:60], BOTH[60:]],
        [bytes([b]) for b in BOTH],
        # A multi-byte character cut between two chunks.
        [ONE[: ONE.index("é".encode()) + 1], ONE[ONE.index("é".encode()) + 1 :] + TWO],
        # Events without newlines between them, and blank keep-alive lines.
        [ONE.strip(), b"\n\n", TWO.strip(), b"\n"],
    ],
    ids=[
        "one-event-per-chunk",
        "two-events-in-one-chunk",
        "split-mid-event",
        "byte-by-byte",
        "split-utf8",
        "no-newlines-and-blank-lines",
    ],
)
def test_events_come_out_whole_however_they_are_chunked(api_server: FakeApiServer, chunks: list[bytes]) -> None:
    events = watch_all(api_server, Reply(chunks=chunks))

    assert events == [json.loads(ONE), json.loads(TWO)]
    assert events[0]["object"]["note"] == "héllo ✓"  # type: ignore[index]


def test_a_stream_the_server_ends_normally_just_ends(api_server: FakeApiServer) -> None:
    assert watch_all(api_server, Reply(chunks=[])) == []


def test_a_stream_cut_between_events_is_a_connection_error(api_server: FakeApiServer) -> None:
    api_server.script(Reply(chunks=[ONE], cut=True))
    client = ApiClient(Credentials(server=api_server.url, ssl_context=None))

    seen: list[dict[str, object]] = []
    with pytest.raises(ApiConnectionError), client.watch("/x", query={}, read_timeout=5) as stream:
        seen.extend(stream)
    assert seen == [json.loads(ONE)]


def test_a_stream_cut_inside_an_event_is_a_connection_error(api_server: FakeApiServer) -> None:
    api_server.script(Reply(chunks=[ONE[:20]], cut=True))
    client = ApiClient(Credentials(server=api_server.url, ssl_context=None))

    with pytest.raises(ApiConnectionError), client.watch("/x", query={}, read_timeout=5) as stream:
        list(stream)


def test_a_stream_that_ends_inside_an_event_is_a_connection_error(api_server: FakeApiServer) -> None:
    with pytest.raises(ApiConnectionError, match="middle of an event"):
        watch_all(api_server, Reply(chunks=[ONE[:20]]))


def test_a_frame_that_is_not_an_object_is_a_connection_error(api_server: FakeApiServer) -> None:
    with pytest.raises(ApiConnectionError, match="not a JSON object"):
        watch_all(api_server, Reply(chunks=[b"[1, 2]\n"]))


def test_a_watch_refused_with_410_raises_gone(api_server: FakeApiServer) -> None:
    with pytest.raises(ApiGone):
        watch_all(api_server, Reply(status=410, body=status_body(410, "Expired", "too old resource version")))


def test_a_silent_stream_times_out_with_a_connection_error(api_server: FakeApiServer) -> None:
    api_server.script(Reply(chunks=[ONE], hold=5))
    client = ApiClient(Credentials(server=api_server.url, ssl_context=None))

    with pytest.raises(ApiConnectionError, match="timed out"), client.watch("/x", query={}, read_timeout=0.3) as s:
        list(s)


def test_abort_from_another_thread_ends_a_blocked_stream_quietly(api_server: FakeApiServer) -> None:
    api_server.script(Reply(chunks=[ONE], hold=30))
    client = ApiClient(Credentials(server=api_server.url, ssl_context=None))
    stream = client.watch("/x", query={}, read_timeout=60)
    seen: list[dict[str, object]] = []
    reader = threading.Thread(target=lambda: seen.extend(stream))
    reader.start()
    deadline = time.monotonic() + 30
    while not seen and time.monotonic() < deadline:  # a positive sign: the reader got the event, then blocks
        time.sleep(0.01)

    stream.abort()
    reader.join(timeout=5)
    stream.close()

    assert not reader.is_alive(), "the stream held for 30 s was ended by abort"
    assert seen == [json.loads(ONE)]
