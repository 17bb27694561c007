"""The agent's error vocabulary, in one place.

    AgentError                  anything the agent raises on purpose
    ├── ConfigError             bad flags, environment or credentials; ``main`` exits 2 with one line
    ├── BootIdError             the boot ID file cannot be read
    ├── DetectionError          a checker cannot tell whether a reboot is required (never means "required")
    ├── RebootError             the reboot method failed to start a reboot
    ├── ModelError              an API object does not have the shape of a NodeRebootRequest
    ├── Stopping                the agent was asked to stop while waiting
    └── ApiError                the API server could not be used
        ├── ApiConnectionError  no HTTP answer: refused, reset, timed out, broken stream
        └── ApiStatusError      an HTTP answer with an error status (``status``, ``reason``, ``retry_after``)
            ├── ApiNotFound     404
            ├── ApiConflict     409 (AlreadyExists, or a stale resourceVersion)
            └── ApiGone         410: the resourceVersion is too old to watch from; list again

``ApiError.transient`` says whether trying again later can help (connection errors, 429, 5xx). Only
``__main__.main`` turns errors into an exit code.
"""

from __future__ import annotations

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class AgentError(Exception):
    """Base class of every error the agent raises on purpose."""


class ConfigError(AgentError):
    """The configuration is unusable; the message is the one line shown to the user."""


class BootIdError(AgentError):
    """The boot ID file is missing, unreadable or empty."""


class DetectionError(AgentError):
    """A checker could not tell whether a reboot is required."""


class RebootError(AgentError):
    """The reboot method could not start a reboot."""


class ModelError(AgentError):
    """An object from the API is not a usable NodeRebootRequest."""


class Stopping(AgentError):
    """Raised from a wait when the agent is shutting down."""


class ApiError(AgentError):
    """The API server could not be used for a request."""

    @property
    def transient(self) -> bool:
        """True when the same request may succeed later."""
        return True


class ApiConnectionError(ApiError):
    """No complete HTTP answer: connection refused or reset, timeout, or a stream cut in the middle."""


class ApiStatusError(ApiError):
    """The API server answered with an error status."""

    def __init__(self, status: int, reason: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status} {reason}: {message}" if message else f"HTTP {status} {reason}")
        self.status = status
        self.reason = reason
        self.message = message
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        return self.status in RETRYABLE_STATUSES


class ApiNotFound(ApiStatusError):
    """HTTP 404."""


class ApiConflict(ApiStatusError):
    """HTTP 409: the object already exists, or the write was based on a stale version."""


class ApiGone(ApiStatusError):
    """HTTP 410, or a watch ERROR event with code 410: list again to get a fresh resourceVersion."""


def status_error(status: int, reason: str, message: str, *, retry_after: float | None = None) -> ApiStatusError:
    """The most specific ``ApiStatusError`` for an HTTP status."""
    cls: type[ApiStatusError] = {404: ApiNotFound, 409: ApiConflict, 410: ApiGone}.get(status, ApiStatusError)
    return cls(status, reason, message, retry_after=retry_after)
