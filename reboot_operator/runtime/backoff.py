"""Exponential backoff: how long the operator waits before trying the API server again.

The one ``Backoff`` of the operator (API retries, informers, pod watches, drain reports, evictions). It has no
jitter, unlike the agent's (``sentinel_agent/kube/backoff.py``): there a whole fleet lost the API server at the same
moment and must not come back at the same moment; here one operator retries a handful of calls, and plain
doubling keeps its waits predictable, and testable without a random source. The agent keeps its own copy because
its image ships the standard library and ``sentinel_agent`` alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

OUTAGE_BACKOFF = 4.0
"""Seconds: the longest wait between two tries while the API server is away. A control plane restart takes a few
seconds; waiting longer than this only delays the resumption (issue 13: evictions resumed 13 s after the API server
was back, with a 30 s cap)."""


@dataclass
class Backoff:
    """Exponential delays: ``initial``, doubled on every call up to ``maximum``. Never zero, so never a busy loop."""

    initial: float = 0.5
    maximum: float = 30.0
    _current: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.maximum < self.initial:
            raise ValueError(f"backoff needs 0 < initial <= maximum, got {self.initial}, {self.maximum}")

    def next(self) -> float:
        self._current = self.initial if self._current is None else min(self._current * 2, self.maximum)
        return self._current

    def reset(self) -> None:
        self._current = None
