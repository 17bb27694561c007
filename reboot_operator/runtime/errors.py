"""The operator's errors, all in one place, and what a call to the API server may raise.

::

    RollbootError                  base of every error the operator defines
    ├── SettingsError              a flag or environment variable cannot be used; the operator does not start
    ├── KubeEffectError            something we asked the API server to do did not happen
    │   ├── NodeGone               the node does not exist (deleted, e.g. by a cluster autoscaler)
    │   ├── ApiUnavailable         a transient failure outlived our short retries; try again later
    │   └── ApiRejected            the API server refused the request; retrying the same request will not help
    ├── Conflict                   a status write lost its compare-and-swap (409), or the object is gone (404)
    ├── WatchExpired               410 Gone: the resourceVersion to resume from is too old; list again
    └── AlertQueryError            Prometheus could not be asked, or answered nonsense (a blocker fails closed)

    WatchError (an ApiException)   an ERROR event in a watch stream other than 410, with the server's code

``API_FAILURES`` are the exceptions a call through ``kubernetes_asyncio`` raises when the API server cannot be
reached or says no; catch those, not ``Exception``, around API calls.

Kopf never sees any of these. The operator registers no change handlers (``handlers.py`` only starts and stops
the watching and the coordinator), so nothing is mapped to ``kopf.TemporaryError``/``PermanentError``: the
coordinator catches them where the effect was asked for, and a reboot cycle that stops on one is tried again
with backoff by its supervisor. The drain does not raise these either: a drain never fails on a transient error,
and its refusals (unmanaged pods, emptyDir data) and time-outs are outcomes reported in its ``DrainResult``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException


class RollbootError(Exception):
    """Base of every error the operator defines."""


class SettingsError(RollbootError):
    """A flag or its environment variable has a value the operator cannot use (the message names both)."""


class KubeEffectError(RollbootError):
    """Base of every error raised by ``reboot_operator.kube``."""


class NodeGone(KubeEffectError):
    """The node named in the call does not exist."""

    def __init__(self, node: str) -> None:
        super().__init__(f"node {node} not found")
        self.node = node


class ApiUnavailable(KubeEffectError):
    """A transient API failure (5xx, throttling, conflicts, network) that persisted through our retries."""


class ApiRejected(KubeEffectError):
    """A permanent API failure: forbidden, invalid, or otherwise not worth repeating unchanged."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class Conflict(RollbootError):
    """The object changed since it was read (409), or it is gone (404): the write did not happen."""


class WatchExpired(RollbootError):
    """410 Gone: the resourceVersion to resume from (a watch's, or a listing's continue token) is no longer
    available; list again."""


class AlertQueryError(RollbootError):
    """The alerts could not be read: the server was unreachable, answered an error, or answered nonsense."""


class WatchError(ApiException):
    """An ERROR event of a watch other than 410, carrying the server's Status (``code`` is its ``status``)."""

    def __init__(self, status: Mapping[str, Any]) -> None:
        self.code = int(status.get("code") or 0)
        super().__init__(status=self.code, reason=str(status.get("reason") or "WatchError"))
        self.message = str(status.get("message") or "")

    def __str__(self) -> str:
        return f"{self.code} {self.reason}: {self.message}".strip()


API_FAILURES: tuple[type[BaseException], ...] = (
    ApiException,
    aiohttp.ClientError,
    OSError,
    TimeoutError,
    json.JSONDecodeError,
    KubeEffectError,
    WatchExpired,
)
"""What an API call (through ``kubernetes_asyncio`` or our ``kube`` helpers) raises when the server cannot be
reached, times out, or refuses; anything else is a bug and should not be caught as one of these."""
