"""The watch of one node's pods: how each event changes the cache, and how the loop lists again after a 410, a failure
or a watch gone silent. The API server is replaced by a scripted ``listwatch.Source`` (our own boundary)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from reboot_operator.kube.node_pods import NodePodWatch
from reboot_operator.kube.pod_filters import PodInfo
from reboot_operator.runtime.backoff import Backoff
from reboot_operator.runtime.errors import WatchError, WatchExpired
from tests.kube.scripted import HANG, ScriptedSource


def raw(
    uid: str, *, name: str = "db-0", namespace: str = "ns", version: str = "10", deleting: bool = False
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "uid": uid, "resourceVersion": version}
    if deleting:
        metadata["deletionTimestamp"] = "2025-03-01T12:00:00Z"
    return {"metadata": metadata, "status": {"phase": "Running"}}


def cache(*uids: str) -> dict[str, PodInfo]:
    return {uid: PodInfo.from_json(raw(uid)) for uid in uids}


@pytest.mark.parametrize(
    ("before", "event", "changed", "after", "version"),
    [
        pytest.param((), {"type": "ADDED", "object": raw("a")}, True, {"a"}, "10", id="added"),
        pytest.param(("a",), {"type": "ADDED", "object": raw("a", version="11")}, False, {"a"}, "11", id="re-added"),
        pytest.param(
            ("a",), {"type": "MODIFIED", "object": raw("a", deleting=True)}, True, {"a"}, "10", id="now-terminating"
        ),
        pytest.param(("a", "b"), {"type": "DELETED", "object": raw("a")}, True, {"b"}, "10", id="deleted"),
        pytest.param(("b",), {"type": "DELETED", "object": raw("a")}, False, {"b"}, "10", id="deleted-unknown"),
        pytest.param(
            ("a",),
            {"type": "BOOKMARK", "object": {"kind": "Pod", "metadata": {"resourceVersion": "99"}}},
            False,
            {"a"},
            "99",
            id="bookmark-moves-the-version-only",
        ),
        pytest.param(
            ("a",),
            {"type": "ADDED", "object": raw("b", namespace="other")},
            True,
            {"a", "b"},
            "10",
            id="same-name-other-namespace-is-another-pod",
        ),
        pytest.param(
            ("a",),
            {"type": "ADDED", "object": raw("b")},
            True,
            {"a", "b"},
            "10",
            id="same-name-new-uid-is-another-pod",
        ),
    ],
)
def test_each_watch_event_updates_the_cache_by_uid(
    before: tuple[str, ...], event: dict[str, Any], changed: bool, after: set[str], version: str
) -> None:
    told: list[int] = []
    watch = NodePodWatch(ScriptedSource([], []), "n1", relist_interval=1, on_change=lambda: told.append(1))
    watch.engine.views = cache(*before)
    watch.engine.take(event)
    assert (bool(told), watch.engine.resource_version) == (changed, version)
    assert len(told) <= 1
    assert set(watch.engine.views) == after


def test_a_410_error_event_means_list_again_and_other_errors_carry_their_code() -> None:
    watch = NodePodWatch(ScriptedSource([], []), "n1", relist_interval=1, on_change=lambda: None)
    expired = {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}}
    with pytest.raises(WatchExpired):
        watch.engine.take(expired)
    other = {"type": "ERROR", "object": {"kind": "Status", "code": 500, "reason": "InternalError", "message": "boom"}}
    with pytest.raises(WatchError) as raised:
        watch.engine.take(other)
    assert raised.value.code == 500
    assert "InternalError" in str(raised.value)


async def run_until(watch: NodePodWatch, done: Any, timeout: float = 5) -> None:
    task = asyncio.create_task(watch.run())
    try:
        async with asyncio.timeout(timeout):
            while not done():
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def watcher(
    source: ScriptedSource, on_change: Any = None, backoff: Backoff | None = None, **kwargs: Any
) -> NodePodWatch:
    return NodePodWatch(
        source,
        "n1",
        relist_interval=1,
        on_change=on_change or (lambda: None),
        backoff=backoff or Backoff(initial=0.01, maximum=0.05),
        **kwargs,
    )


async def test_a_deletion_reaches_the_cache_as_it_happens_without_a_relist() -> None:
    source = ScriptedSource([raw("a"), raw("b")], [[{"type": "DELETED", "object": raw("a", version="7")}, HANG]])
    changes: list[frozenset[str]] = []
    watch: NodePodWatch
    watch = watcher(source, lambda: changes.append(frozenset(watch.pods or ())))
    await run_until(watch, lambda: watch.pods is not None and "a" not in watch.pods)
    assert watch.pods is not None and set(watch.pods) == {"b"}
    assert source.listed == 1
    assert source.watched_from == ["1"]
    # The list is told (with both pods), then the deletion, once.
    assert changes[:-1] and set(changes[:-1]) == {frozenset({"a", "b"})}, changes
    assert changes[-1] == {"b"}


@pytest.mark.parametrize(
    "gone",
    [
        pytest.param(
            {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}},
            id="as-an-error-event",
        ),
        pytest.param(ApiException(status=410, reason="Gone"), id="as-the-http-status"),
    ],
)
async def test_an_expired_watch_lists_again_at_once_and_watches_from_the_new_version(gone: Any) -> None:
    source = ScriptedSource([raw("a")], [[gone], [HANG]])
    watch = watcher(source)
    await run_until(watch, lambda: len(source.watched_from) == 2)
    assert source.watched_from == ["1", "2"]


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(ApiException(status=503, reason="Service Unavailable"), id="server-unavailable"),
        pytest.param(OSError("connection reset"), id="network"),
        pytest.param(ApiException(status=403, reason="Forbidden"), id="watch-forbidden"),
    ],
)
async def test_a_failed_watch_backs_off_then_lists_again_and_says_so_once(
    failure: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    source = ScriptedSource([raw("a")], [[failure], [failure], [failure], [HANG]])
    watch = watcher(source)
    with caplog.at_level(logging.WARNING, logger="reboot_operator.kube.node_pods"):
        await run_until(watch, lambda: len(source.watched_from) == 4)
    assert source.listed == 4
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1, caplog.text


async def test_a_watch_gone_silent_is_abandoned_after_its_timeout_and_the_pods_listed_again() -> None:
    source = ScriptedSource([raw("a")], [[HANG], [HANG]])
    watch = watcher(source, grace=0.1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await run_until(watch, lambda: len(source.watched_from) == 2)
    # The hanging watch was abandoned (it would never end by itself), and not before relist_interval (1 s, the
    # server-side time-out) had passed. No upper bound: a slow machine only takes longer.
    assert loop.time() - started >= 1.0
    assert source.listed == 2


async def test_a_watch_the_server_ends_at_once_is_not_retried_in_a_busy_loop() -> None:
    source = ScriptedSource([raw("a")], [[], [], []])
    watch = watcher(source, backoff=Backoff(initial=0.2, maximum=0.2))
    loop = asyncio.get_running_loop()
    started = loop.time()
    await run_until(watch, lambda: len(source.watched_from) == 3)
    assert loop.time() - started >= 0.4
