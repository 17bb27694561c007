"""What the coordinator knows of the blockers: verdicts kept for a short time, refreshed while they matter.

Alerts change without any Kubernetes event, so this is the one place the operator looks again on a timer: a
policy's alert verdict is refreshed in the background once it is ``ttl / 2`` old while the policy has waiting
nodes, and is trusted for ``ttl``. Only a verdict that is missing or expired (a policy that just got waiting nodes,
or one nobody asked about for a while) is awaited in the decision pass itself, bounded by the query time-out.
A node's pod verdict is taken just before the node would start; a blocked one is kept (the node is passed over
meanwhile) and asked again once it is ``ttl`` old, a clear one is kept only for the pass that asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from reboot_operator.blockers import NodeBlocker, PolicyBlocker, Verdict
from reboot_operator.runtime.aiotasks import cancel_and_wait
from reboot_operator.runtime.settings import DEFAULT_BLOCKER_TTL

log = logging.getLogger(__name__)

DEFAULT_TTL = DEFAULT_BLOCKER_TTL


@dataclass
class _Known:
    key: Any
    """What the verdict was computed for (the blocker's spec): a changed spec asks again."""
    verdict: Verdict
    at: float
    asker: Any = None
    """For a node: the blocker to ask again."""


class BlockerCache:
    """Verdicts per policy (alerts) and per node (pods), with the instant they should next be refreshed."""

    def __init__(
        self, *, ttl: float = DEFAULT_TTL, on_change: Callable[[], None], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.on_change = on_change
        self.clock = clock
        self._policies: dict[str, _Known] = {}
        self._refreshing: dict[str, asyncio.Task[None]] = {}
        self._nodes: dict[str, _Known] = {}

    # -- policies ------------------------------------------------------------------------------------------

    async def policy_verdicts(self, needed: Mapping[str, tuple[Any, PolicyBlocker]]) -> dict[str, Verdict]:
        """The verdict of each policy in ``needed`` (name → (spec key, blocker)); forgets the others."""
        for name in set(self._policies) - set(needed):
            del self._policies[name]
        now = self.clock()
        awaited = []
        for name, (key, blocker) in needed.items():
            known = self._policies.get(name)
            if known is None or known.key != key or now - known.at >= self.ttl:
                awaited.append(self._refresh(name, key, blocker))
            elif now - known.at >= self.ttl / 2:
                self._refresh_later(name, key, blocker)
        if awaited:
            await asyncio.gather(*awaited)
        return {name: self._policies[name].verdict for name in needed if name in self._policies}

    def known_policies(self) -> dict[str, Verdict]:
        """The verdicts known now and not expired, without asking anyone."""
        now = self.clock()
        return {name: known.verdict for name, known in self._policies.items() if now - known.at < self.ttl}

    def _refresh_later(self, name: str, key: Any, blocker: PolicyBlocker) -> None:
        if name in self._refreshing:
            return
        before = self._policies.get(name)

        async def refresh() -> None:
            try:
                await self._refresh(name, key, blocker)
            finally:
                self._refreshing.pop(name, None)
            after = self._policies.get(name)
            if before is None or after is None or after.verdict != before.verdict:
                self.on_change()

        self._refreshing[name] = asyncio.create_task(refresh(), name=f"blocker-{name}")

    async def _refresh(self, name: str, key: Any, blocker: PolicyBlocker) -> None:
        running = self._refreshing.get(name)
        if running is not None and asyncio.current_task() is not running:
            with contextlib.suppress(Exception):
                await asyncio.shield(running)
            known = self._policies.get(name)
            if known is not None and known.key == key and self.clock() - known.at < self.ttl:
                return
        verdict = await blocker.check()
        previous = self._policies.get(name)
        if previous is None or previous.verdict != verdict:
            log.info("policy %s: %s", name, verdict.reason if verdict.blocked else "no blocking alerts")
        self._policies[name] = _Known(key, verdict, self.clock())

    # -- nodes ---------------------------------------------------------------------------------------------

    async def blocked_nodes(self, waiting: Container[str]) -> dict[str, str]:
        """The nodes among ``waiting`` last found blocked, with why (asking again those found ``ttl`` ago or
        more); the others are forgotten. Only the nodes found blocked are looked up in ``waiting``."""
        for name in [n for n in self._nodes if n not in waiting]:
            del self._nodes[name]
        now = self.clock()
        due = [(name, known.key, known.asker) for name, known in self._nodes.items() if now - known.at >= self.ttl]
        if due:
            await self.node_verdicts(due)
        return {name: known.verdict.reason for name, known in self._nodes.items()}

    async def node_verdicts(self, nodes: Iterable[tuple[str, Any, NodeBlocker]]) -> dict[str, Verdict]:
        """Asks each blocker about its node (name, spec key, blocker), all at once; blocked answers are kept."""
        asked = list(nodes)
        verdicts = await asyncio.gather(*(blocker.check(name) for name, _, blocker in asked))
        now = self.clock()
        for (name, key, blocker), verdict in zip(asked, verdicts, strict=True):
            if verdict.blocked:
                self._nodes[name] = _Known(key, verdict, now, blocker)
            else:
                self._nodes.pop(name, None)
        return {name: verdict for (name, _, _), verdict in zip(asked, verdicts, strict=True)}

    # -- timing --------------------------------------------------------------------------------------------

    def next_check(self) -> float | None:
        """Seconds until something blocked should be looked at again; None when nothing is blocked."""
        now = self.clock()
        due = [known.at + self.ttl / 2 for known in self._policies.values() if known.verdict.blocked]
        due += [known.at + self.ttl for known in self._nodes.values()]
        return max(0.0, min(due) - now) if due else None

    async def stop(self) -> None:
        await cancel_and_wait(list(self._refreshing.values()), quiet=True)
