"""The watch on the node's own request: list once, then one long-lived watch, resumed where it stopped.

The watcher runs in its own thread and hands every new state of the request (None when it does not exist) to
``deliver``. A watch that ends normally is resumed from the last resourceVersion seen, bookmarks included, so
a quiet node costs one request per watch timeout (30 to 60 minutes by default). A 410 Gone, as an HTTP status
or as an ERROR event, means that version is no longer available: list again. Any other failure waits through
a backoff and resumes from the same version; nothing here ever gives up.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from sentinel_agent.errors import ApiError, ApiGone, ModelError, Stopping, status_error
from sentinel_agent.kube.backoff import Backoff
from sentinel_agent.kube.client import WatchStream
from sentinel_agent.model import NodeRebootRequest, parse_request
from sentinel_agent.resource import RequestResource

log = logging.getLogger(__name__)

#: A watch that ends quietly sooner than this is treated as a failure, so a broken server is not hammered.
MIN_QUIET_WATCH = 1.0


class RequestWatcher:
    """Keeps ``deliver`` up to date with the node's request; ``run`` is the thread's body."""

    def __init__(
        self,
        *,
        resource: RequestResource,
        deliver: Callable[[NodeRebootRequest | None], None],
        watch_timeout: float,
        stop: threading.Event,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._resource = resource
        self._deliver = deliver
        self._watch_timeout = watch_timeout
        self._stop = stop
        self._backoff = backoff or Backoff(initial=1.0, maximum=60.0)
        self._rng = rng or random.Random()
        self._monotonic = monotonic
        self._stream: WatchStream | None = None
        self._lock = threading.Lock()
        self.resource_version: str | None = None

    def run(self) -> None:
        """List, watch, resume, until ``stop`` is set."""
        gone_in_a_row = 0
        while not self._stop.is_set():
            try:
                if self.resource_version is None:
                    self._list()
                self._watch_once()
                gone_in_a_row = 0
            except Stopping:
                return
            except ApiGone:
                gone_in_a_row += 1
                log.info("watch resourceVersion expired, listing again")
                self.resource_version = None
                if gone_in_a_row > 1:
                    self._pause()
            except (ApiError, ModelError) as error:
                log.warning("watch failed", extra={"fields": {"error": str(error)}})
                self._pause()
        log.debug("watcher stopped")

    def abort(self) -> None:
        """Make the current watch return at once (``stop`` should be set first); safe from any thread."""
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.abort()

    def _list(self) -> None:
        listing = self._resource.list_own()
        self._backoff.reset()
        self._deliver(listing.request)
        self.resource_version = listing.resource_version
        log.debug("listed the request", extra={"fields": {"resource_version": listing.resource_version}})

    def _watch_once(self) -> None:
        timeout = max(1, round(self._rng.uniform(self._watch_timeout, 2 * self._watch_timeout)))
        started = self._monotonic()
        received = False
        stream = self._resource.watch(resource_version=self.resource_version or "", timeout_seconds=timeout)
        with stream:
            with self._lock:
                self._stream = stream
            try:
                if self._stop.is_set():
                    return
                for event in stream:
                    received = True
                    self._backoff.reset()
                    self._handle(event)
            finally:
                with self._lock:
                    self._stream = None
        if not received and not self._stop.is_set() and self._monotonic() - started < MIN_QUIET_WATCH:
            log.warning("the API server ended a watch at once; waiting before the next one")
            self._pause()

    def _handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        document = event.get("object")
        if not isinstance(document, dict):
            raise ModelError(f"a watch event of type {kind!r} has no object")
        if kind == "ERROR":
            code = document.get("code")
            raise status_error(
                code if isinstance(code, int) else 500,
                str(document.get("reason") or "WatchError"),
                str(document.get("message") or ""),
            )
        metadata = document.get("metadata")
        version = metadata.get("resourceVersion") if isinstance(metadata, dict) else None
        if kind in ("ADDED", "MODIFIED"):
            request = parse_request(document)
            if request.name == self._resource.name:
                self._deliver(request)
        elif kind == "DELETED":
            if isinstance(metadata, dict) and metadata.get("name") == self._resource.name:
                self._deliver(None)
        elif kind != "BOOKMARK":
            log.debug("ignoring a watch event", extra={"fields": {"type": kind}})
        if isinstance(version, str) and version:
            self.resource_version = version

    def _pause(self) -> None:
        delay = self._backoff.next_delay()
        log.info("watching again soon", extra={"fields": {"retry_in": round(delay, 2)}})
        self._stop.wait(delay)
