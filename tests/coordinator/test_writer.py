"""The coordinator's status writer: a pass that began before a write was made does not ask for it again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from reboot_operator.coordinator.writer import StatusWriter, body_of, fingerprint
from reboot_operator.kube.statuses import POLICIES, REQUESTS
from tests.operator.memory import MemoryApi, policy, request

WAITING = {"phase": "Waiting", "message": "position 1 of 2"}


async def drained(writer: StatusWriter) -> None:
    """Wait (up to 2 s) until the writer has nothing queued or on the wire."""
    for _ in range(200):
        if not writer.pending and not writer.inflight:
            return
        await asyncio.sleep(0.01)


def body(name: str, version: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "resourceVersion": version}}


@pytest.fixture
async def writer() -> StatusWriter:
    return StatusWriter(api=None, workers=0)  # no workers: nothing is ever sent


@pytest.mark.parametrize(
    ("state", "version", "status", "queued"),
    [
        pytest.param("inflight", "7", WAITING, False, id="the-same-write-under-way"),
        pytest.param("written", "7", WAITING, False, id="the-same-write-made"),
        pytest.param("inflight", "7", {**WAITING, "message": "position 2 of 2"}, True, id="another-status"),
        pytest.param("written", "8", WAITING, True, id="from-another-version"),
        pytest.param(None, "7", WAITING, True, id="nothing-known"),
    ],
)
async def test_a_write_already_under_way_or_made_is_not_queued_again(
    writer: StatusWriter, state: str | None, version: str, status: dict[str, Any], queued: bool
) -> None:
    key = (REQUESTS, "node-a")
    if state == "inflight":
        writer.inflight[key] = ("7", fingerprint(WAITING))
    elif state == "written":
        writer._remember(key, ("7", fingerprint(WAITING)))
    writer.put(REQUESTS, body("node-a", version), status)
    assert (key in writer.pending) is queued


async def test_policy_statuses_queue_ahead_of_requests(writer: StatusWriter) -> None:
    writer.put(REQUESTS, body("node-a", "1"), WAITING)
    writer.put(POLICIES, body("pool", "1"), {"slots": []})
    assert list(writer.urgent) == [(POLICIES, "pool")]
    assert list(writer.pending) == [(REQUESTS, "node-a")]


async def test_only_the_latest_writes_are_remembered(writer: StatusWriter, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("reboot_operator.coordinator.writer.WRITES_REMEMBERED", 3)
    for i in range(5):
        writer._remember((REQUESTS, f"node-{i}"), ("1", fingerprint(WAITING)))
    assert [name for _, name in writer.written] == ["node-2", "node-3", "node-4"]


async def test_a_write_not_sent_yet_can_be_dropped_and_a_write_made_cannot(writer: StatusWriter) -> None:
    writer.put(REQUESTS, body("node-a", "1"), WAITING)
    writer.put(POLICIES, body("pool", "1"), {"slots": []})
    assert writer.drop(REQUESTS, "node-a") and writer.drop(POLICIES, "pool")
    assert not writer.pending and not writer.urgent
    writer._remember((REQUESTS, "node-b"), ("1", fingerprint(WAITING)))
    assert not writer.drop(REQUESTS, "node-b"), "made already: nothing to drop"


async def test_a_queued_status_is_written_as_it_was_asked_for_on_the_version_it_was_decided_on() -> None:
    """Sent as the same status, its ``after`` run once written; a write decided on a stale version is refused."""
    memory = MemoryApi()
    memory.put("noderebootrequests", request("node-a"))
    memory.put("noderebootrequests", request("node-b"))
    stored = {name: memory.get("noderebootrequests", name) or {} for name in ("node-a", "node-b")}
    told: list[str] = []

    async def after() -> None:
        told.append("node-a")

    status = {**WAITING, "queuedAt": "2026-03-01T12:00:00Z", "conditions": [{"type": "Waiting", "status": "True"}]}
    writer = StatusWriter(await memory.client(), workers=1)
    try:
        writer.put(REQUESTS, body_of("node-a", stored["node-a"]["metadata"]["resourceVersion"]), status, after)
        writer.put(REQUESTS, body_of("node-b", "1"), status)  # decided on a version long gone
        await drained(writer)
    finally:
        await writer.stop()

    assert (memory.get("noderebootrequests", "node-a") or {})["status"] == status
    assert told == ["node-a"]
    assert (memory.get("noderebootrequests", "node-b") or {}).get("status") == stored["node-b"].get("status")
    assert memory.refused == [("noderebootrequests", "node-b", 409)]


async def test_a_status_queued_as_the_way_to_compose_it_is_composed_when_taken_and_written_in_its_place() -> None:
    """At a first start thousands of waiting statuses are queued in one pass: composed as each is written, not all
    held at once; the writes keep the order they were asked for in."""
    memory = MemoryApi()
    names = ("node-a", "node-b", "node-c")
    for name in names:
        memory.put("noderebootrequests", request(name))
    versions = {name: (memory.get("noderebootrequests", name) or {})["metadata"]["resourceVersion"] for name in names}
    composed: list[str] = []

    def compose(name: str) -> Any:
        def composing() -> Any:
            composed.append(name)
            return body_of(name, versions[name]), {**WAITING, "message": f"{name} waits"}, None

        return composing

    writer = StatusWriter(await memory.client(), workers=1)
    try:
        writer.put(REQUESTS, body_of("node-a", versions["node-a"]), {**WAITING, "message": "node-a waits"})
        writer.put_composed(REQUESTS, "node-b", versions["node-b"], compose("node-b"))
        writer.put_composed(REQUESTS, "node-c", versions["node-c"], compose("node-c"))
        assert composed == [], "nothing composed before a worker takes it"
        await drained(writer)
    finally:
        await writer.stop()

    assert composed == ["node-b", "node-c"]
    assert [(s.name, s.body["status"]["message"]) for s in memory.history if s.body.get("status")] == [
        ("node-a", "node-a waits"),
        ("node-b", "node-b waits"),
        ("node-c", "node-c waits"),
    ]


@pytest.mark.parametrize(
    ("composed", "sent"),
    [
        pytest.param(None, False, id="nothing-to-write-after-all"),
        pytest.param(WAITING, False, id="the-same-write-made-already"),
        pytest.param({**WAITING, "message": "position 2 of 2"}, True, id="another-status"),
    ],
)
async def test_a_composed_write_follows_puts_rule_once_composed_for_a_write_made_meanwhile(
    composed: dict[str, Any] | None, sent: bool
) -> None:
    memory = MemoryApi()
    memory.put("noderebootrequests", request("node-a"))
    version = (memory.get("noderebootrequests", "node-a") or {})["metadata"]["resourceVersion"]
    writer = StatusWriter(await memory.client(), workers=1)
    writes = len(memory.history)
    try:
        writer.put_composed(
            REQUESTS,
            "node-a",
            version,
            lambda: None if composed is None else (body_of("node-a", version), composed, None),
        )
        writer._remember((REQUESTS, "node-a"), (version, fingerprint(WAITING)))  # made meanwhile, before its turn
        await drained(writer)
        await asyncio.sleep(0.01)
    finally:
        await writer.stop()
    assert (len(memory.history) > writes) is sent


@pytest.mark.parametrize(
    ("state", "version", "queued"),
    [
        pytest.param("inflight", "7", False, id="the-same-write-under-way"),
        pytest.param("written", "7", False, id="the-same-write-made"),
        pytest.param("written", "8", True, id="from-another-version"),
        pytest.param(None, "7", True, id="nothing-known"),
    ],
)
async def test_a_composed_write_already_under_way_or_made_is_dropped_at_once_not_queued(
    writer: StatusWriter, state: str | None, version: str, queued: bool
) -> None:
    """A pass that began before the write was made asks for it again: dropped at once, as ``put`` drops it, rather
    than queued holding that pass's objects until its turn."""
    key = (REQUESTS, "node-a")
    if state == "inflight":
        writer.inflight[key] = ("7", fingerprint(WAITING))
    elif state == "written":
        writer._remember(key, ("7", fingerprint(WAITING)))

    writer.put_composed(REQUESTS, "node-a", version, lambda: (body("node-a", version), WAITING, None))

    assert (key in writer.pending) is queued


async def test_a_waiting_status_settles_before_it_is_written_once_while_a_policys_goes_at_once() -> None:
    """A burst of hand-offs moves the same waiting requests up several times: each is written once, the latest,
    ``settle`` after it was first asked for; a policy's status (claims, counts) does not wait behind it."""
    memory = MemoryApi()
    memory.put("noderebootrequests", request("node-a"))
    memory.put("rebootpolicies", policy("pool", {"maxConcurrent": 1}))
    version = (memory.get("noderebootrequests", "node-a") or {})["metadata"]["resourceVersion"]
    pool = (memory.get("rebootpolicies", "pool") or {})["metadata"]["resourceVersion"]
    writer = StatusWriter(await memory.client(), workers=2, settle=0.3)
    try:
        writer.put(REQUESTS, body_of("node-a", version), {**WAITING, "message": "position 3 of 3"})
        await asyncio.sleep(0.1)
        writer.put(REQUESTS, body_of("node-a", version), {**WAITING, "message": "position 2 of 3"})
        writer.put(POLICIES, body_of("pool", pool), {"slots": ["node-z"]})
        await asyncio.sleep(0.1)
        assert (memory.get("rebootpolicies", "pool") or {})["status"] == {"slots": ["node-z"]}, "written at once"
        assert "message" not in ((memory.get("noderebootrequests", "node-a") or {}).get("status") or {})
        await asyncio.sleep(0.2)
        await drained(writer)
    finally:
        await writer.stop()
    written = [s for s in memory.history if s.kind == "noderebootrequests" and s.name == "node-a"]
    assert [s.body["status"]["message"] for s in written if "message" in s.body.get("status", {})] == [
        "position 2 of 3"
    ]
