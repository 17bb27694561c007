"""The blockers around one decision pass: which policies and nodes are blocked, asked only where it matters.

The coordinator hands over a ``decide`` function of (blocked policies, blocked nodes). The gate decides once with
what it already knows, asks Prometheus about each policy that has waiting nodes and no cheaper reason to wait
(a closed window needs no query), decides again if that changed anything, then asks the pod blockers about each
node the decision wants to start; a blocked node is added and the decision made again, so the next node in the
queue takes the slot. The loop is bounded: a policy still starting unchecked nodes after it waits for the next pass.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping

import aiohttp
from kubernetes_asyncio import client

from reboot_operator.blockers import NodeBlocker, PolicyBlocker
from reboot_operator.blockers.cache import DEFAULT_TTL, BlockerCache
from reboot_operator.blockers.pods import BlockingPods
from reboot_operator.blockers.prometheus import PrometheusAlerts
from reboot_operator.core.decisions import Decisions
from reboot_operator.watch.observed import PolicyView

MAX_ROUNDS = 32
"""Decisions made again per pass as started nodes turn out to be blocked (each round checks all its starts, and
each adds at least one blocked node, so the loop ends anyway once the queues run out)."""

Decide = Callable[[Mapping[str, str], Mapping[str, str]], Decisions]


class BlockerGate:
    """See the module docstring. ``on_change`` wakes the coordinator when a background re-check changes a verdict."""

    def __init__(self, api: client.ApiClient, *, on_change: Callable[[], None], ttl: float = DEFAULT_TTL) -> None:
        self.api = api
        self.cache = BlockerCache(ttl=ttl, on_change=on_change)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def decide(self, decide: Decide, policies: Mapping[str, PolicyView], waiting: Container[str]) -> Decisions:
        """``waiting``: the requests that may start (not running, not ended), whose node verdicts are kept (only
        the nodes found blocked are looked up in it)."""
        blocked_nodes = await self.cache.blocked_nodes(waiting)
        known = {name: v.reason for name, v in self.cache.known_policies().items() if v.blocked}
        decisions = decide(known, blocked_nodes)

        needed: dict[str, tuple[object, PolicyBlocker]] = {}
        for name, decision in decisions.policies.items():
            spec = policies[name].spec
            # A closed window needs no query, unless a node may start all the same (an admin's reboot-now).
            if spec is None or spec.blockers.prometheus is None or not decision.consults_blockers:
                continue
            needed[name] = (spec.blockers.prometheus, PrometheusAlerts(spec.blockers.prometheus, self._http()))
        verdicts = await self.cache.policy_verdicts(needed)
        blocked_policies = {name: v.reason for name, v in verdicts.items() if v.blocked}
        if blocked_policies != known:
            decisions = decide(blocked_policies, blocked_nodes)

        blocked_nodes = dict(blocked_nodes)
        for _ in range(MAX_ROUNDS):
            asked: list[tuple[str, object, NodeBlocker]] = []
            for name, decision in decisions.policies.items():
                spec = policies[name].spec
                if spec is not None and spec.blockers.pods and decision.started:
                    key = tuple(b.model_dump_json() for b in spec.blockers.pods)
                    checker = BlockingPods(self.api, spec.blockers.pods)
                    asked.extend((node, key, checker) for node in decision.started)
            if not asked:
                return decisions
            found = {n: v.reason for n, v in (await self.cache.node_verdicts(asked)).items() if v.blocked}
            if not found:
                return decisions
            blocked_nodes.update(found)
            decisions = decide(blocked_policies, blocked_nodes)
        # Still starting unchecked nodes: hold those policies back for this pass, and look again right away.
        unchecked = {
            name: "checking waiting nodes for blocking pods"
            for name, decision in decisions.policies.items()
            if (spec := policies[name].spec) is not None and spec.blockers.pods and decision.started
        }
        self.cache.on_change()
        return decide({**blocked_policies, **unchecked}, blocked_nodes)

    def next_check(self) -> float | None:
        """Seconds until a blocked policy or node should be looked at again; None when nothing is blocked."""
        return self.cache.next_check()

    async def stop(self) -> None:
        await self.cache.stop()
        if self._session is not None:
            await self._session.close()
            self._session = None
