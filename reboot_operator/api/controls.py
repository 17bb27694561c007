"""The controls people have with kubectl alone: the cluster-wide stop, and per-node skip, reboot-now and cancel.

They are plain Kubernetes objects and annotations, not spec fields, so they need no new resource and work the same
by hand, from a GitOps repository and from ``kubectl rollboot``:

- **The stop**: while the ConfigMap ``rollboot-stop`` exists in the operator's namespace (and its ``stopped`` key is
  not ``"false"``), no node starts anywhere and no reboot is authorized; its ``reason`` key is shown in every
  waiting request's message. Delete it to resume.
- **Node annotations**, written by admins (the agent has no right to write Nodes):

  - ``rollboot.dev/skip``: the node does not start a cycle; empty or ``true`` until the annotation is removed, an
    RFC 3339 time until then. Any other value skips it until further notice (a typo never reboots a node).
  - ``rollboot.dev/reboot-now``: the node goes first in its policy's queue and starts even while its windows are
    closed, needed or not; never beyond maxConcurrent, nor while paused, stopped, halted, in a blackout, within
    minIntervalBetweenReboots or blocked. The operator removes it once the cycle has started.
  - ``rollboot.dev/cancel``: a node waiting, cordoning or draining is handed back (uncordoned unless it was
    cordoned before its cycle) and its request ends ``Cancelled`` for its current need; the operator removes the
    annotation then. From the reboot's authorization on, the cycle finishes by itself.

Parsing is pure and lives here, next to the names; the operator reads these at its adapter boundary.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

SKIP = "rollboot.dev/skip"
REBOOT_NOW = "rollboot.dev/reboot-now"
CANCEL = "rollboot.dev/cancel"
NODE_CONTROLS = (SKIP, REBOOT_NOW, CANCEL)

STOP_CONFIGMAP = "rollboot-stop"
"""The ConfigMap whose presence in the operator's namespace stops every rollout."""
STOP_REASON_KEY = "reason"
STOP_SWITCH_KEY = "stopped"
DEFAULT_NAMESPACE = "rollboot-system"


class Skip(NamedTuple):
    """A node's skip annotation, read: skipped until ``until`` (None: until the annotation is removed)."""

    until: datetime | None
    note: str
    """How the message names it: ``until further notice`` or ``until <time>``."""

    def active(self, now: datetime) -> bool:
        return self.until is None or now < self.until


def parse_skip(value: str | None) -> Skip | None:
    """The skip annotation's value: None (absent), until further notice, or until an RFC 3339 time."""
    if value is None:
        return None
    text = value.strip()
    if text.lower() in ("", "true"):
        return Skip(None, "until further notice")
    try:
        until = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        return Skip(None, f"until further notice ({SKIP}={text!r} is no RFC 3339 time)")
    if until.tzinfo is None:
        return Skip(None, f"until further notice ({SKIP}={text!r} has no time zone)")
    return Skip(until, f"until {text}")


def stop_reason(configmap: Mapping[str, Any] | None) -> str | None:
    """Why everything is stopped, from the stop ConfigMap as read (None: not stopped)."""
    if configmap is None:
        return None
    data = configmap.get("data") or {}
    if str(data.get(STOP_SWITCH_KEY, "")).strip().lower() == "false":
        return None
    reason = " ".join(str(data.get(STOP_REASON_KEY) or "").split())[:256]
    return reason or "no reason given"
