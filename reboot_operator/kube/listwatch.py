"""List, then watch: the one loop that keeps a cache of one kind's objects in step with the API server.

Its users: the informers (``watch/informers.py``: nodes, requests, policies, the stop ConfigMap; keyed by name,
resumed from the last version seen) and a drain's watch of one node's pods (``kube/node_pods.py``: keyed by UID
across namespaces, listed again after every watch). For both:

1. List in pages (``apicalls.list_each``), turning each object into its view at once (the raw JSON is dropped), and
   tell the difference from what was held as changes; an unchanged object keeps the very view held. The listing's
   resourceVersion is where the watch starts.
2. Watch from it, with bookmarks. An event whose view equals the one held changes nothing and tells nobody (a
   node's heartbeat costs one parse and one comparison). The server ends the watch after ``server_timeout``
   seconds; we give up on it ``grace`` seconds later should it hang without a word (a half-open connection).
3. When a watch ends, watch again from the last version seen, or, with ``relist_each_watch``, list again first
   (the drain's fallback: even a watch that never delivers anything leaves the cache at most one watch behind).
   A watch that ended within ``QUIET_WATCH`` seconds having brought nothing is followed by a backoff, not at once by
   the next: a server or a proxy that closes every watch at once is not asked again in a tight loop.
4. A 410 Gone (the version is too old to watch from, or a listing's continue token expired) lists again at once;
   a second one in a row waits through the backoff first. Any other failure backs off (``runtime/backoff.py``) and
   tries again, for ever; an outage is logged when it begins and when it ends, not at every try.

Watch rules of the API: https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes.
Nothing is ever written here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from kubernetes_asyncio.client.exceptions import ApiException

from reboot_operator.kube.apicalls import describe, list_each, raise_for_status, watch_event, watch_events
from reboot_operator.runtime.backoff import OUTAGE_BACKOFF, Backoff
from reboot_operator.runtime.errors import WatchError, WatchExpired

log = logging.getLogger(__name__)

V = TypeVar("V")

QUIET_WATCH = 1.0
"""A watch that ends within this many seconds having brought nothing (not even a bookmark) is followed by a backoff."""

Parse = Callable[[Mapping[str, Any]], V | None]
"""An object's view; None for an object not to keep (unreadable, or not of interest): as if it were absent."""
Events = AbstractAsyncContextManager[AsyncIterator[Mapping[str, Any]]]


class Source(Protocol):
    """Where the objects come from: a generated list method in production (``ApiSource``), a script in unit tests."""

    async def list(self, each: Callable[[dict[str, Any]], None]) -> str:
        """Hand every object to ``each``; return the listing's resourceVersion."""
        ...

    def watch(self, resource_version: str, timeout_seconds: int) -> Events:
        """A watch from ``resource_version``, opened on entering (which raises if the server refuses it), giving
        its events until the server ends it."""
        ...


@dataclass(frozen=True)
class ApiSource:
    """A kind on the API server, through a generated list method (``CoreV1Api.list_node``, or a ``partial`` of one
    with its namespace or field selector), read as raw JSON."""

    call: Callable[..., Awaitable[Any]]
    page_size: int
    read_timeout: float | None = None
    """Seconds without a byte (not even a bookmark) after which the watch's connection is taken as dead."""

    async def list(self, each: Callable[[dict[str, Any]], None]) -> str:
        return await list_each(self.call, each, page_size=self.page_size)

    @contextlib.asynccontextmanager
    async def watch(self, resource_version: str, timeout_seconds: int) -> AsyncIterator[AsyncIterator[Any]]:
        response = await self.call(
            watch=True,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=timeout_seconds,
            _preload_content=False,
            **({"_request_timeout": (10, self.read_timeout)} if self.read_timeout is not None else {}),
        )
        try:
            await raise_for_status(response)
            async with contextlib.aclosing(watch_events(response)) as events:
                yield events
        except BaseException:
            # Closing (not releasing) drops a connection still streaming, rather than handing it back half-read.
            response.close()
            raise
        response.release()


def _again(_: BaseException) -> str:
    return "trying again every few seconds until it is back"


def _expired(error: BaseException) -> bool:
    """410 Gone, as a watch ERROR event, a listing's expired continue token, or the HTTP status of the watch."""
    return isinstance(error, WatchExpired) or (isinstance(error, ApiException) and error.status == 410)


@dataclass(kw_only=True)
class ListWatch(Generic[V]):
    """Keeps ``views`` (key → view) in step with one kind; ``on_change`` hears every change, listing or watch."""

    what: str
    """What is watched, as the logs name it (``nodes``, ``pods on node n1``)."""
    source: Source
    parse: Parse[V]
    on_change: Callable[[str, V | None, str], None]
    """Told ``(key, view, resourceVersion)`` on every change; ``view`` is None when the object is gone."""
    key: str = "name"
    """The field of ``metadata`` the views are keyed by (``uid`` for pods: a pod replaced under its name is another)."""
    relist_each_watch: bool = False
    server_timeout: int = 270
    """Seconds the API server keeps one watch open."""
    grace: float = 60.0
    """Seconds past ``server_timeout`` after which a watch the server has not ended is given up."""
    list_timeout: float | None = None
    """Seconds a whole listing may take before it is given up (and retried); None: no limit."""
    backoff: Backoff = field(default_factory=lambda: Backoff(initial=0.5, maximum=OUTAGE_BACKOFF))
    retried: tuple[type[BaseException], ...] = (Exception,)
    """What a failed listing or watch may raise and be tried again after; anything else ends ``run``."""
    next_step: Callable[[BaseException], str] = _again
    """What the warning at the start of an outage says will happen next."""
    on_listed: Callable[[], None] | None = None
    """Told after each full listing (even one that found nothing)."""
    logger: logging.Logger = log
    views: dict[str, V] = field(default_factory=dict)
    resource_version: str = ""
    listings: int = 0
    """How many full listings were made."""
    failing: bool = False
    """Whether the last attempt to list or watch failed."""
    last_error: str = ""
    """Why the last listing or watch failed, if one did."""

    async def run(self) -> None:
        """List, then watch, for ever; cancel the task to stop. Run again, it resumes from where it was watching."""
        need_list = not self.resource_version
        expired_in_a_row = 0
        while True:
            try:
                if need_list:
                    await self.list()
                    need_list = False
                told, quick = await self._watch()
                expired_in_a_row = 0
                need_list = self.relist_each_watch
                if told == 0 and quick:
                    # Ended at once, having said nothing: the next watch (or listing) waits as after a failure.
                    await asyncio.sleep(self.backoff.next())
                else:
                    self.backoff.reset()
                continue
            except self.retried as error:  # the loop outlives the failures it is told to retry
                if not _expired(error):
                    need_list = need_list or self.relist_each_watch
                    await asyncio.sleep(self._failed(error))
                    continue
                need_list = True
                expired_in_a_row += 1
                self.logger.info("%s: the watch's resourceVersion expired (410 Gone); listing again", self.what)
                if expired_in_a_row == 1:
                    continue
            await asyncio.sleep(self.backoff.next())

    # -- listing ---------------------------------------------------------------------------------------------------

    async def list(self) -> None:
        """Read every object, page by page, then tell the difference from what was known as changes."""
        fresh: dict[str, V] = {}
        versions: dict[str, str] = {}
        key, parse = self.key, self.parse

        def keep(item: dict[str, Any]) -> None:
            metadata = item.get("metadata") or {}
            view = parse(item)
            if view is not None:
                fresh[metadata.get(key, "")] = view
                versions[metadata.get(key, "")] = metadata.get("resourceVersion", "")

        async with asyncio.timeout(self.list_timeout):
            self.resource_version = await self.source.list(keep)
        self.listings += 1
        old, self.views = self.views, fresh
        for name in old.keys() - fresh.keys():
            self.on_change(name, None, "")
        for name, view in fresh.items():
            before = old.get(name)
            if before is not None and before == view:
                fresh[name] = before  # the very same object: what was handed out stays current
            else:
                self.on_change(name, view, versions[name])
        if self.on_listed is not None:
            self.on_listed()

    # -- watching --------------------------------------------------------------------------------------------------

    async def _watch(self) -> tuple[int, bool]:
        """Watch until the server ends it, or until it outlives its time-out plus a grace: how many events it brought
        (bookmarks included), and whether it ended within ``QUIET_WATCH`` seconds."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        told = 0
        scope = asyncio.timeout(self.server_timeout + self.grace)
        try:
            async with scope, self.source.watch(self.resource_version, self.server_timeout) as events:
                if self.failing:
                    self.logger.info("%s: watching again", self.what)
                    self.failing = False
                    self.backoff.reset()
                async for event in events:
                    told += 1
                    self.take(event)
        except TimeoutError:
            if not scope.expired():
                raise
            then = "listing again" if self.relist_each_watch else "watching again"
            self.logger.info("%s: the watch went quiet for too long; %s", self.what, then)
        return told, loop.time() - began < QUIET_WATCH

    def take(self, event: Mapping[str, Any]) -> None:
        """One watch event into ``views``, telling its change if it is one. Raises ``WatchExpired`` for a 410 ERROR
        event and ``WatchError`` for any other."""
        kind, body, version = watch_event(event)
        if version:
            self.resource_version = version
        if kind == "BOOKMARK":
            return
        name = (body.get("metadata") or {}).get(self.key, "")
        view = self.parse(body) if kind != "DELETED" else None
        if view is None:  # deleted, or unreadable (the parser has said why): as if absent
            if self.views.pop(name, None) is not None:
                self.on_change(name, None, version or "")
            return
        before = self.views.get(name)
        if before is not None and before == view:
            # Nothing the operator reads has changed (a kubelet's heartbeat: at 15,000 nodes, 50 a second). The view
            # held stays, so whoever compares views by identity sees no change either, and nobody is told.
            return
        self.views[name] = view
        self.on_change(name, view, version or "")

    def _failed(self, error: BaseException) -> float:
        """Say so (once per outage), and how long to wait before the next try."""
        self.last_error = str(error) if isinstance(error, WatchError) else describe(error)
        delay = self.backoff.next()
        if self.failing:
            self.logger.debug("%s: watch failed again (%s); again in %.1fs", self.what, self.last_error, delay)
        else:
            self.logger.warning("%s: watch failed (%s); %s", self.what, self.last_error, self.next_step(error))
        self.failing = True
        return delay
