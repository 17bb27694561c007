"""The informers against a real API server: paged listing, watched changes, 410 Gone, an API server outage."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from kubernetes_asyncio import client

from reboot_operator.kube.node_view import NodeView, node_view
from reboot_operator.watch.informers import Informer
from tests.integration.conftest import Cluster


@dataclass
class Heard:
    """Every change an informer told, in order, for the names of one test."""

    prefix: str
    changes: list[tuple[str, NodeView | None]] = field(default_factory=list)
    signal: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, name: str, view: NodeView | None, _version: str) -> None:
        if name.startswith(self.prefix):
            self.changes.append((name, view))
            self.signal.set()

    async def until(self, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self.signal.clear()
                await self.signal.wait()


def node(name: str, **labels: str) -> client.V1Node:
    return client.V1Node(metadata=client.V1ObjectMeta(name=name, labels=labels or None))


@pytest.fixture
async def nodes(api: client.ApiClient, unique: str) -> AsyncIterator[list[str]]:
    core = client.CoreV1Api(api)
    names = [f"{unique}-{i}" for i in range(5)]
    for name in names:
        await core.create_node(node(name, pool="a"))
    yield names
    for name in [*names, f"{unique}-new", f"{unique}-later"]:
        with contextlib.suppress(client.ApiException):
            await core.delete_node(name)


@contextlib.asynccontextmanager
async def running(informer: Informer[NodeView]) -> AsyncIterator[None]:
    task = asyncio.create_task(informer.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def listed(informer: Informer[NodeView]) -> AsyncIterator[None]:
    """Running, once its first listing is in."""
    async with running(informer):
        async with asyncio.timeout(20):
            await informer.listed.wait()
        yield


def node_informer(api: client.ApiClient, heard: Heard, **options: Any) -> Informer[NodeView]:
    return Informer("nodes", client.CoreV1Api(api).list_node, node_view, heard, **options)


def ours(informer: Informer[NodeView], prefix: str) -> dict[str, NodeView]:
    return {name: view for name, view in informer.views.items() if name.startswith(prefix)}


async def test_lists_in_pages_then_tells_every_change_the_watch_brings(
    api: client.ApiClient, unique: str, nodes: list[str]
) -> None:
    core = client.CoreV1Api(api)
    heard = Heard(unique)
    informer = node_informer(api, heard, page_size=2)
    async with listed(informer):
        assert sorted(ours(informer, unique)) == nodes
        assert informer.listings == 1
        assert {view.facts.labels["pool"] for view in ours(informer, unique).values()} == {"a"}
        assert sorted(name for name, _ in heard.changes) == nodes, "the listing is told as changes too"

        heard.changes.clear()
        await core.patch_node(nodes[0], {"spec": {"unschedulable": True}})
        await core.delete_node(nodes[1])
        await core.create_node(node(f"{unique}-new", pool="b"))
        await heard.until(lambda: len(heard.changes) >= 3)

        assert informer.views[nodes[0]].facts.unschedulable
        assert nodes[1] not in informer.views
        assert informer.views[f"{unique}-new"].facts.labels == {"pool": "b"}
        assert [(name, view is None) for name, view in heard.changes] == [
            (nodes[0], False),
            (nodes[1], True),
            (f"{unique}-new", False),
        ]
        assert informer.listings == 1, "changes came by the watch, not by listing again"


async def test_a_resource_version_too_old_is_listed_again_and_the_difference_told(
    api: client.ApiClient, cluster: Cluster, unique: str, nodes: list[str]
) -> None:
    plane = cluster.owned()
    core = client.CoreV1Api(api)
    heard = Heard(unique)
    informer = node_informer(api, heard)
    async with listed(informer):
        pass
    # Stopped: what happens now is missed by any watch. A restarted API server's watch cache begins at the current
    # revision, so the version the informer resumes from is too old for it: 410 Gone.
    await core.delete_node(nodes[2])
    await core.create_node(node(f"{unique}-later", pool="c"))
    plane.stop_apiserver()
    plane.start_apiserver()
    heard.changes.clear()
    async with running(informer):
        await heard.until(lambda: len(heard.changes) >= 2, 60)
        assert informer.listings == 2
        assert nodes[2] not in informer.views
        assert informer.views[f"{unique}-later"].facts.labels == {"pool": "c"}
        assert sorted((name, view is None) for name, view in heard.changes) == [
            (nodes[2], True),
            (f"{unique}-later", False),
        ], "only the difference is told, not every object again"


async def test_an_api_server_outage_is_ridden_out(
    api: client.ApiClient, cluster: Cluster, unique: str, nodes: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 13, defect 8 too: the outage is logged when it begins and when it ends, not at every try."""
    plane = cluster.owned()
    core = client.CoreV1Api(api)
    heard = Heard(unique)
    informer = node_informer(api, heard)
    caplog.set_level(logging.DEBUG, logger="reboot_operator.watch.informers")
    async with listed(informer):
        plane.stop_apiserver()
        try:
            async with asyncio.timeout(30):  # at least three failed tries while it is away
                while sum("watch failed" in r.getMessage() for r in caplog.records) < 3:
                    await asyncio.sleep(0.1)
        finally:
            plane.start_apiserver()
        heard.changes.clear()
        await core.patch_node(nodes[3], {"metadata": {"labels": {"pool": "z"}}})
        await heard.until(
            lambda: any(view is not None and view.facts.labels["pool"] == "z" for _, view in heard.changes), 60
        )
        assert informer.views[nodes[3]].facts.labels["pool"] == "z"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "watch failed" in warnings[0], warnings
    assert any(r.getMessage().endswith("watching again") for r in caplog.records)
