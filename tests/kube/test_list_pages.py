"""How a listing reads its pages (``apicalls.list_each``): in order, each object handed over once, the next page asked
for before the current one's objects are handed over, and nothing left running when a listing is given up."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from reboot_operator.kube.apicalls import list_each
from reboot_operator.runtime.errors import WatchExpired


class _Response:
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status, self.reason = status, "OK" if status == 200 else "Gone"
        self.headers: dict[str, str] = {}
        self.body = orjson.dumps(body)

    async def read(self) -> bytes:
        return self.body

    def release(self) -> None:
        pass


class Server:
    """Pages of ``per_page`` objects; ``log`` records each request as it is asked and each object handed over."""

    def __init__(self, pages: int, per_page: int, *, expire_at: int | None = None, fail_at: int | None = None) -> None:
        self.pages, self.per_page, self.expire_at, self.fail_at = pages, per_page, expire_at, fail_at
        self.log: list[str] = []
        self.answered = 0

    async def call(self, **kwargs: Any) -> _Response:
        index = int(kwargs.get("_continue") or 0)
        assert kwargs["limit"] == self.per_page and kwargs["_preload_content"] is False
        self.log.append(f"page {index}")
        await asyncio.sleep(0.001)
        self.answered += 1
        if index == self.expire_at:
            return _Response(410, {"kind": "Status", "code": 410})
        if index == self.fail_at:
            return _Response(500, {"kind": "Status", "code": 500})
        items = [{"metadata": {"name": f"o{index}-{i}"}} for i in range(self.per_page)]
        more = {"continue": str(index + 1)} if index + 1 < self.pages else {}
        return _Response(200, {"items": items, "metadata": {"resourceVersion": "42", **more}})

    def each(self, item: dict[str, Any]) -> None:
        self.log.append(item["metadata"]["name"])


async def test_every_object_is_handed_over_once_in_order_and_the_version_returned() -> None:
    server = Server(pages=3, per_page=250)
    version = await list_each(server.call, server.each, page_size=250)
    assert version == "42"
    names = [entry for entry in server.log if not entry.startswith("page")]
    assert names == [f"o{p}-{i}" for p in range(3) for i in range(250)]


async def test_the_next_page_is_asked_for_while_this_one_is_handed_over() -> None:
    server = Server(pages=3, per_page=250)
    await list_each(server.call, server.each, page_size=250)
    # Page 1 is asked for before the last object of page 0 is handed over (and page 2 before page 1's last).
    assert server.log.index("page 1") < server.log.index("o0-249")
    assert server.log.index("page 2") < server.log.index("o1-249")


async def test_one_page_asks_once() -> None:
    server = Server(pages=1, per_page=10)
    assert await list_each(server.call, server.each, page_size=10) == "42"
    assert server.answered == 1


@pytest.mark.parametrize(("expire_at", "fail_at", "raised"), [(2, None, WatchExpired), (None, 2, ApiException)])
async def test_a_page_that_fails_ends_the_listing_with_its_error(
    expire_at: int | None, fail_at: int | None, raised: type[Exception]
) -> None:
    server = Server(pages=5, per_page=10, expire_at=expire_at, fail_at=fail_at)
    with pytest.raises(raised):
        await list_each(server.call, server.each, page_size=10)
    assert server.answered == 3  # pages 0, 1 and the failed 2: nothing asked after it


async def test_a_listing_given_up_leaves_no_request_running() -> None:
    server = Server(pages=5, per_page=10)

    def refuse(_: dict[str, Any]) -> None:
        raise RuntimeError("a parser's bug")

    with pytest.raises(RuntimeError):
        await list_each(server.call, refuse, page_size=10)
    await asyncio.sleep(0.01)
    assert server.answered == 1  # the next page's request was cancelled, not answered
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
