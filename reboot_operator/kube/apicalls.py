"""How this layer talks to the API server: raw JSON reads, the Status of a failure, which failures are transient,
and how long to back off before trying again.

We read objects as plain JSON rather than kubernetes_asyncio's model classes: a JSON patch ``test`` operation must
compare against exactly what the server stored, and a model round-trip reformats timestamps and drops unknown fields.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import orjson
from kubernetes_asyncio.client.exceptions import ApiException

from reboot_operator.runtime.aiotasks import cancel_and_wait
from reboot_operator.runtime.backoff import Backoff
from reboot_operator.runtime.errors import API_FAILURES, ApiUnavailable, WatchError, WatchExpired

T = TypeVar("T")

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"


# 409 is transient only where a caller knows it means "lost a race"; it is not in this set.
TRANSIENT_STATUSES = frozenset({0, 429, 500, 502, 503, 504})


async def read_json(call: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Call a generated API method and return the response body as parsed JSON, raising ``ApiException`` as usual."""
    response = await call(*args, _preload_content=False, **kwargs)
    try:
        data = await response.read()
    finally:
        response.release()
    if response.status == 410:
        raise WatchExpired(f"410 {response.reason}: the resourceVersion to watch from is too old")
    if not 200 <= response.status <= 299:
        error = ApiException(status=response.status, reason=response.reason)
        error.body = data
        error.headers = response.headers
        raise error
    parsed: dict[str, Any] = orjson.loads(data)  # 3-4 times faster than json.loads on Kubernetes objects
    return parsed


def watch_event(event: Mapping[str, Any]) -> tuple[str, Mapping[str, Any], str | None]:
    """One watch event read: its type, its object and the resourceVersion to resume from (None if it has none).

    Raises ``WatchExpired`` for a 410 ERROR event and ``WatchError`` for any other, or for an event without an object.
    """
    kind = str(event.get("type") or "")
    document = event.get("object")
    if not isinstance(document, Mapping):
        raise WatchError({"code": 500, "reason": "MalformedEvent", "message": f"a {kind} event without an object"})
    if kind == "ERROR":
        if document.get("code") == 410:
            raise WatchExpired(str(document.get("message") or "410 Gone"))
        raise WatchError(document)
    return kind, document, (document.get("metadata") or {}).get("resourceVersion") or None


YIELD_EVERY = 100
"""Objects handed over between two yields to the event loop while a page is read: the next page's request goes out,
and the other watches are served, meanwhile."""


async def list_each(
    call: Callable[..., Awaitable[Any]], each: Callable[[dict[str, Any]], None], *, page_size: int, **kwargs: Any
) -> str:
    """List with a generated list method page by page, handing each object to ``each`` as its page arrives; returns
    the listing's resourceVersion, to watch from. The next page is asked for before this page's objects are handed
    over, so the server prepares it meanwhile (no more than two pages of raw JSON are held).

    Raises ``WatchExpired`` when the continue token expires mid-listing (410): the caller lists again."""

    async def page_after(token: str | None) -> dict[str, Any]:
        try:
            return await read_json(call, limit=page_size, **({"_continue": token} if token else {}), **kwargs)
        except ApiException as error:
            if error.status == 410:
                raise WatchExpired(f"the listing's continue token expired: {error.reason}") from error
            raise

    page = await page_after(None)
    coming: asyncio.Task[dict[str, Any]] | None = None
    try:
        while True:
            metadata = page.get("metadata") or {}
            token = metadata.get("continue") or None
            coming = asyncio.ensure_future(page_after(token)) if token is not None else None
            for index, item in enumerate(page.get("items") or (), start=1):
                each(item)
                if index % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
            if coming is None:
                # Every page of a paginated list is served from one snapshot, so the last page's version will do.
                return str(metadata.get("resourceVersion") or "")
            page, coming = await coming, None
    finally:
        await cancel_and_wait([coming], quiet=True)  # a listing given up (a failure, cancelled) asks nothing more


async def raise_for_status(response: aiohttp.ClientResponse) -> None:
    """Raise ``WatchExpired`` for a watch answered 410 Gone and ``ApiException`` for another error status."""
    if response.status == 410:
        raise WatchExpired(f"410 {response.reason}: the resourceVersion to watch from is too old")
    if not 200 <= response.status <= 299:
        error = ApiException(status=response.status, reason=response.reason)
        error.body = await response.read()
        error.headers = response.headers
        raise error


async def watch_events(response: aiohttp.ClientResponse) -> AsyncGenerator[dict[str, Any], None]:
    """The events of a watch (a generated list call with ``watch=True, _preload_content=False``), one parsed JSON
    object per line, raising ``WatchExpired`` for 410 Gone and ``ApiException`` for another error status. The caller
    closes the response.

    Lines are split here: aiohttp's ``readline`` gives up on lines over 128 KiB, and one object can be larger.
    """
    await raise_for_status(response)
    buffer = bytearray()
    async for chunk in response.content.iter_any():
        buffer += chunk
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            line = bytes(buffer[start:end])
            start = end + 1
            if line.strip():
                yield orjson.loads(line)
        del buffer[:start]


@dataclass(frozen=True)
class ApiStatus:
    """The parts of a failed call's ``Status`` body we act on."""

    code: int
    reason: str = ""
    message: str = ""
    causes: tuple[tuple[str, str], ...] = ()
    retry_after: float | None = None

    @classmethod
    def of(cls, error: ApiException) -> ApiStatus:
        body: dict[str, Any] = {}
        raw = error.body
        if raw:
            try:
                loaded = json.loads(raw)
            except (TypeError, ValueError):
                loaded = None
            if isinstance(loaded, dict):
                body = loaded
        details = body.get("details") or {}
        # A StatusCause serialises its type under the key "reason".
        causes = tuple((c.get("reason") or "", c.get("message") or "") for c in details.get("causes") or [])
        retry_after: float | None = None
        headers: Any = error.headers or {}
        header = headers.get("Retry-After")
        if header is not None:
            try:
                retry_after = float(header)
            except ValueError:
                retry_after = None
        message = body.get("message") or (raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw or ""))
        return cls(
            code=int(error.status or 0),
            reason=body.get("reason") or str(error.reason or ""),
            message=message,
            causes=causes,
            retry_after=retry_after,
        )

    def has_cause(self, kind: str) -> bool:
        return any(cause == kind for cause, _ in self.causes)

    def cause_messages(self, kind: str) -> list[str]:
        return [message for cause, message in self.causes if cause == kind]

    def summary(self) -> str:
        return f"{self.code} {self.reason}: {self.message}".strip()


def is_transient(error: BaseException) -> bool:
    """True for failures that say nothing about the request itself: server trouble, throttling, the network."""
    if isinstance(error, ApiException):
        return int(error.status or 0) in TRANSIENT_STATUSES
    return isinstance(error, aiohttp.ClientError | OSError | asyncio.TimeoutError)


def describe(error: BaseException) -> str:
    """A one-line account of a failure, for logs and status messages."""
    if isinstance(error, ApiException):
        return ApiStatus.of(error).summary()
    return f"{type(error).__name__}: {error}".rstrip(": ")


async def retry_transient(operation: Callable[[], Awaitable[T]], *, what: str, attempts: int = 5) -> T:
    """Run ``operation``, retrying transient failures a few times (about 7 s in all) before raising ``ApiUnavailable``.

    Other failures propagate unchanged for the caller to interpret.
    """
    backoff = Backoff(initial=0.25, maximum=4.0)
    for attempt in range(1, attempts + 1):
        try:
            return await operation()
        except API_FAILURES as error:
            if not is_transient(error):
                raise
            if attempt == attempts:
                raise ApiUnavailable(f"{what}: {describe(error)}") from error
            await asyncio.sleep(backoff.next())
    raise AssertionError("unreachable")  # pragma: no cover
