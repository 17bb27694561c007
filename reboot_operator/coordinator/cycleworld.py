"""The world a reboot cycle sees (``rollout/world.py``'s ``World``), as the coordinator shows it: the watched nodes
and policies (a policy with our own newer status write in place of the watched one), waiting for a node to change,
waking the coordinator, notifications, and the cluster-wide stop as the last decision saw it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from reboot_operator.coordinator.supervise import CycleSupervisor
from reboot_operator.coordinator.unseen import OwnWrites
from reboot_operator.kube.node_view import NodeView
from reboot_operator.kube.statuses import POLICIES
from reboot_operator.notify import Notice, Notifier
from reboot_operator.watch.observed import PolicyView


class CycleWorld:
    """A ``World`` over the coordinator's parts. Its one piece of state, ``resumed``: set while nothing is stopped
    (``stop`` sets it from each pass's reading of the stop); cycles holding before a reboot wait on it."""

    def __init__(
        self,
        *,
        node: Callable[[str], NodeView | None],
        policy: Callable[[str], PolicyView | None],
        own: OwnWrites,
        notifier: Notifier,
        kick: Callable[[], None],
    ) -> None:
        self._node, self._policy, self._own, self._notifier, self._kick = node, policy, own, notifier, kick
        self.cycles: CycleSupervisor | None = None
        """Set once the supervisor (which is given this world) exists."""
        self._stop: str | None = None
        self._resumed = asyncio.Event()

    def node(self, name: str) -> NodeView | None:
        return self._node(name)

    def policy(self, name: str) -> PolicyView | None:
        """The watched policy, or our own status write of it if newer (a cycle's release of its slot then starts
        from the version our claim or summary wrote, not from one that can only come back as 409 Conflict)."""
        watched = self._policy(name)
        if watched is None:
            return None
        ours = self._own.newer(POLICIES, name, watched.resource_version)
        return ours if isinstance(ours, PolicyView) else watched

    def kick(self) -> None:
        self._kick()

    def notify(self, notice: Notice) -> None:
        """Queue a notification to the subscribers of ``notice.policy``; returns at once."""
        policy = self._policy(notice.policy)
        if policy is not None and policy.spec is not None:
            self._notifier.submit(policy.spec.notifications, notice)

    def stop(self, why: str | None) -> None:
        """The cluster-wide stop as a pass read it: None when nothing is stopped."""
        self._stop = why
        if why is None:
            self._resumed.set()
        else:
            self._resumed.clear()

    def stopped(self) -> str | None:
        """Why everything is stopped (the ConfigMap rollboot-stop), as the last decision saw it; None when not."""
        return self._stop

    async def resumed(self) -> None:
        """Until nothing is stopped."""
        await self._resumed.wait()

    async def node_changed(self, name: str, timeout: float) -> None:
        assert self.cycles is not None
        await self.cycles.node_changed(name, timeout)
