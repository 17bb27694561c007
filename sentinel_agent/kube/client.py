"""JSON requests and watch streams against the Kubernetes API, over http.client.

``ApiClient.request`` sends one JSON request on a fresh connection (the agent makes a handful per hour, so a
pooled connection would only be one more thing to go stale) and retries transient failures (connection
errors, 429, 5xx) with backoff, honouring Retry-After. ``ApiClient.watch`` opens one long-lived watch and
hands back a ``WatchStream``; it does not retry, because whoever watches must decide how to resume.
"""

from __future__ import annotations

import codecs
import contextlib
import http.client
import json
import logging
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from urllib.parse import urlencode, urlsplit

from sentinel_agent import __version__
from sentinel_agent.errors import ApiConnectionError, ApiError, ApiStatusError, status_error
from sentinel_agent.kube.backoff import Backoff, parse_retry_after
from sentinel_agent.kube.credentials import Credentials

log = logging.getLogger(__name__)

USER_AGENT = f"rollboot-agent/{__version__}"
MAX_EVENT_BYTES = 4 * 1024 * 1024
#: Longest Retry-After we obey as given; a longer one is cut to this so that the agent keeps trying.
MAX_RETRY_AFTER = 300.0

JsonObject = dict[str, Any]


class ApiClient:
    """A minimal client for JSON requests and watches; see the module docstring."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        timeout: float = 30.0,
        max_attempts: int = 5,
        new_backoff: Callable[[], Backoff] = Backoff,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._credentials = credentials
        self._timeout = timeout
        self._max_attempts = max(1, max_attempts)
        self._new_backoff = new_backoff
        self._sleep = sleep
        self._now = now
        parts = urlsplit(credentials.server)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        #: HTTP requests sent so far (retries and watches included), for the shutdown log and the benchmark.
        self.requests_sent = 0

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: JsonObject | None = None,
        content_type: str = "application/json",
    ) -> JsonObject:
        """Send one request and return its JSON body; transient failures are retried with backoff."""
        backoff = self._new_backoff()
        attempt = 1
        while True:
            try:
                return self._request_once(method, path, query=query, body=body, content_type=content_type)
            except ApiError as error:
                if not error.transient or attempt >= self._max_attempts:
                    raise
                delay = _retry_after(error)
                delay = backoff.next_delay() if delay is None else min(delay, MAX_RETRY_AFTER)
                log.warning(
                    "API request failed, retrying",
                    extra={
                        "fields": {"method": method, "path": path, "error": str(error), "retry_in": round(delay, 2)}
                    },
                )
                self._sleep(delay)
                attempt += 1

    def watch(self, path: str, *, query: Mapping[str, str], read_timeout: float) -> WatchStream:
        """Open a watch; no retries here. ``read_timeout`` bounds how long the stream may stay silent."""
        connection = self._connect(read_timeout)
        try:
            connection.request("GET", self._url(path, query), headers=self._headers())
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            raise ApiConnectionError(f"GET {path} (watch): {_describe(error)}") from error
        if response.status != 200:
            try:
                payload = response.read()
            except (OSError, http.client.HTTPException):
                payload = b""
            finally:
                connection.close()
            raise self._status_error(response, payload)
        if connection.sock is not None:
            _enable_keepalive(connection.sock)
        return WatchStream(connection, response)

    def _request_once(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None,
        body: JsonObject | None,
        content_type: str,
    ) -> JsonObject:
        data = json.dumps(body, separators=(",", ":")).encode() if body is not None else None
        connection = self._connect(self._timeout)
        try:
            connection.request(
                method,
                self._url(path, query),
                body=data,
                headers=self._headers(content_type if data is not None else None),
            )
            response = connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as error:
            raise ApiConnectionError(f"{method} {path}: {_describe(error)}") from error
        finally:
            connection.close()
        if not 200 <= response.status < 300:
            raise self._status_error(response, payload)
        if not payload:
            return {}
        try:
            document = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as error:
            raise ApiConnectionError(f"{method} {path}: the answer is not JSON") from error
        if not isinstance(document, dict):
            raise ApiConnectionError(f"{method} {path}: the answer is not a JSON object")
        return document

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        self.requests_sent += 1
        if self._https:
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=timeout, context=self._credentials.ssl_context
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)

    def _url(self, path: str, query: Mapping[str, str] | None) -> str:
        return f"{self._prefix}{path}?{urlencode(query)}" if query else f"{self._prefix}{path}"

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if content_type is not None:
            headers["Content-Type"] = content_type
        try:
            token = self._credentials.bearer_token()
        except (OSError, UnicodeDecodeError) as error:
            raise ApiConnectionError(f"cannot read the token file: {_describe(error)}") from error
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _status_error(self, response: http.client.HTTPResponse, payload: bytes) -> ApiStatusError:
        reason, message = response.reason or "", ""
        try:
            document = json.loads(payload) if payload else None
        except (ValueError, UnicodeDecodeError):
            document = None
        if isinstance(document, dict):
            reason = str(document.get("reason") or reason)
            message = str(document.get("message") or "")
        retry_after = parse_retry_after(response.getheader("Retry-After"), now=self._now())
        return status_error(response.status, reason, message, retry_after=retry_after)


class WatchStream:
    """The JSON events of one watch response, however the server splits them into chunks and lines.

    Iterate it in the thread that opened it, inside ``with``; ``abort()`` may be called from any other thread
    and makes a blocked read return, after which iteration ends quietly.
    """

    def __init__(self, connection: http.client.HTTPConnection, response: http.client.HTTPResponse) -> None:
        self._connection = connection
        self._response = response
        self._aborted = False

    def __enter__(self) -> WatchStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[JsonObject]:
        decoder = json.JSONDecoder()
        text = codecs.getincrementaldecoder("utf-8")()
        pending = ""
        while True:
            chunk = self._read()
            if not chunk:
                break
            pending += text.decode(chunk)
            while True:
                pending = pending.lstrip()
                if not pending:
                    break
                try:
                    event, end = decoder.raw_decode(pending)
                except json.JSONDecodeError:
                    if len(pending) > MAX_EVENT_BYTES:
                        raise ApiConnectionError("watch stream: an event is too large or not JSON") from None
                    break
                if not isinstance(event, dict):
                    raise ApiConnectionError("watch stream: an event is not a JSON object")
                pending = pending[end:]
                yield event
        if pending.strip() and not self._aborted:
            raise ApiConnectionError("watch stream ended in the middle of an event")

    def abort(self) -> None:
        """Make a blocked read return; safe from any thread."""
        self._aborted = True
        sock = self._connection.sock
        if sock is not None:
            # The plain socket's shutdown: it wakes a read blocked in another thread, TLS or not.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def close(self) -> None:
        """Release the connection; call it from the thread that iterates."""
        self._connection.close()

    def _read(self) -> bytes:
        if self._aborted:
            return b""
        try:
            return self._response.read1(65536)
        except (OSError, http.client.HTTPException, ValueError) as error:
            if self._aborted:
                return b""
            raise ApiConnectionError(f"watch stream broken: {_describe(error)}") from error


def _retry_after(error: ApiError) -> float | None:
    return error.retry_after if isinstance(error, ApiStatusError) else None


def _enable_keepalive(sock: socket.socket) -> None:
    """Notice a peer that vanished without closing (node lost its route) within minutes, not at the timeout."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 15), ("TCP_KEEPCNT", 4)):
            option = getattr(socket, name, None)
            if option is not None:
                sock.setsockopt(socket.IPPROTO_TCP, option, value)
    except OSError as error:
        log.debug("cannot enable TCP keepalive", extra={"fields": {"error": str(error)}})


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__
