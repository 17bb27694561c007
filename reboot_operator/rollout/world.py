"""What a reboot cycle needs of the operator around it, as a Protocol: the watched state, a way to wait for a node
to change, waking the coordinator, notifications, and the cluster-wide stop. The coordinator is one; the fast
tests' ``MemoryWorld`` is another.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Protocol

from reboot_operator.kube.node_view import NodeView
from reboot_operator.notify import Notice
from reboot_operator.watch.observed import PolicyView

Clock = Callable[[], datetime.datetime]


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class World(Protocol):
    """What a cycle reads of the watched state, and how it waits for a node to change."""

    def node(self, name: str) -> NodeView | None: ...

    def policy(self, name: str) -> PolicyView | None: ...

    async def node_changed(self, name: str, timeout: float) -> None: ...

    def kick(self) -> None: ...

    def notify(self, notice: Notice) -> None: ...

    def stopped(self) -> str | None: ...

    async def resumed(self) -> None: ...
