"""A lifecycle event in words: the default message, or the policy's own template."""

from __future__ import annotations

import datetime
import string
from collections.abc import Mapping
from dataclasses import dataclass

from reboot_operator.api.policy import NotificationEvent

_DEFAULTS: Mapping[NotificationEvent, str] = {
    NotificationEvent.STARTED: "node {node}: reboot cycle started (policy {policy}, kernel {kernel_before})",
    NotificationEvent.REBOOTING: "node {node}: drained; rebooting now (policy {policy}, kernel {kernel_before})",
    NotificationEvent.COMPLETED: "node {node}: rebooted, kernel {kernel_before} → {kernel_after}, in {duration} "
    "(policy {policy})",
    NotificationEvent.FAILED: "node {node}: reboot cycle failed after {duration} (policy {policy}): {message}",
    NotificationEvent.HALTED: "policy {policy} halted: {message}",
    NotificationEvent.BLOCKED: "policy {policy}: {message}",
}


@dataclass(frozen=True)
class Notice:
    """One event to tell about."""

    event: NotificationEvent
    policy: str
    node: str = ""
    message: str = ""
    kernel_before: str | None = None
    kernel_after: str | None = None
    duration: datetime.timedelta | None = None

    @property
    def title(self) -> str:
        subject = f"node {self.node}" if self.node else f"policy {self.policy}"
        return f"rollboot: {subject} {self.event.value.lower()}"

    def fields(self) -> dict[str, str]:
        return {
            "event": self.event.value,
            "node": self.node,
            "policy": self.policy,
            "message": self.message,
            "kernel_before": self.kernel_before or "?",
            "kernel_after": self.kernel_after or "?",
            "duration": _human(self.duration) if self.duration is not None else "?",
        }


def render(notice: Notice, template: str | None = None) -> str:
    """The body: ``template`` with the notice's fields filled in (unknown placeholders stay as written), or the
    default message of the event."""
    return _Lenient().format(template or _DEFAULTS[notice.event], **notice.fields())


def _human(duration: datetime.timedelta) -> str:
    seconds = max(0, round(duration.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{seconds:02d}s"
    if minutes:
        return f"{minutes}m{seconds:02d}s"
    return f"{seconds}s"


class _Lenient(string.Formatter):
    """A template is written by people: a misspelt placeholder or a stray brace shows as written, never raises."""

    def get_value(self, key: int | str, args: object, kwargs: Mapping[str, str]) -> str:
        if isinstance(key, str) and key in kwargs:
            return kwargs[key]
        return "{" + str(key) + "}"

    def format(self, format_string: str, /, *args: object, **kwargs: object) -> str:
        try:
            return super().format(format_string, *args, **kwargs)
        except (ValueError, IndexError, KeyError, AttributeError):
            text = format_string
            for key, value in kwargs.items():
                text = text.replace("{" + key + "}", str(value))
            return text
