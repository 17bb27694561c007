"""The reboot-pending taint (``preferNoScheduleTaint``): waiting nodes are tainted PreferNoSchedule, so new pods
go elsewhere first and fewer of them must be evicted when the node's turn comes (kured's
``--prefer-no-schedule-taint``).

The taint goes on while a node waits under a policy that asks for it, and comes off when the node stops waiting for
any reason other than starting (the cycle removes it at cordon): withdrawn, ended, no longer governed by such a
policy. Each pass compares what it wants with what the node watch shows and patches only the differences, in the
background, at most a few at a time; a patch already asked for is not repeated until the watch has shown it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Mapping

from kubernetes_asyncio import client

from reboot_operator.core.decisions import Action, Decisions, RequestDecision
from reboot_operator.kube import nodes as node_effects
from reboot_operator.kube.node_view import NodeView
from reboot_operator.runtime.errors import KubeEffectError
from reboot_operator.watch.observed import PolicyView

log = logging.getLogger(__name__)

CONCURRENT_PATCHES = 4


class PendingTaints:
    """See the module docstring. Its caches: ``seen``, each node and its request's decision as last looked at, so
    only differences are looked at again; ``asked``, the patches asked for and not yet shown by the watch. A failed
    patch forgets both entries, and tells ``on_failure`` (whose caller has the node looked at again)."""

    def __init__(self, api: client.ApiClient, on_failure: Callable[[str], None] | None = None) -> None:
        self.api = api
        self.on_failure = on_failure
        """Told a node's name when its patch failed: a caller that gives only changed nodes gives it again."""
        self._asked: dict[str, bool] = {}
        self._seen: dict[str, tuple[NodeView, RequestDecision | None]] = {}
        self._limit = asyncio.Semaphore(CONCURRENT_PATCHES)
        self._tasks: set[asyncio.Task[None]] = set()

    def reconcile(
        self,
        decisions: Decisions,
        nodes: Mapping[str, NodeView],
        policies: Mapping[str, PolicyView],
        changed: Collection[str] | None = None,
    ) -> None:
        """Patch the differences, looking only at the nodes among ``changed`` (None: all) whose view or request's
        decision is not the one last looked at."""
        for name, node in self._news(nodes, decisions, changed).items():
            decision = decisions.requests.get(name)
            action = decision.action if decision is not None else None
            if action in (Action.START, Action.CONTINUE):
                continue  # the cycle removes the taint when it cordons
            wanted = False
            if decision is not None and action is Action.WAIT and decision.policy is not None:
                policy = policies.get(decision.policy)
                wanted = policy is not None and policy.spec is not None and policy.spec.prefer_no_schedule_taint
            if node.pending_taint == wanted:
                self._asked.pop(name, None)
            elif self._asked.get(name) != wanted:
                self._asked[name] = wanted
                task = asyncio.create_task(self._patch(name, wanted), name=f"taint-{name}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    def _news(
        self, nodes: Mapping[str, NodeView], decisions: Decisions, changed: Collection[str] | None
    ) -> dict[str, NodeView]:
        seen, decided = self._seen, decisions.requests
        if changed is None:
            for name in seen.keys() - nodes.keys():
                del seen[name]
            changed = nodes.keys()
        news: dict[str, NodeView] = {}
        for name in changed:
            view = nodes.get(name)
            if view is None:
                seen.pop(name, None)
                continue
            decision = decided.get(name)
            last = seen.get(name)
            if last is None or last[0] is not view or last[1] is not decision:
                seen[name] = (view, decision)
                news[name] = view
        return news

    async def _patch(self, node: str, wanted: bool) -> None:
        async with self._limit:
            try:
                if wanted:
                    await node_effects.ensure_taint(self.api, node)
                else:
                    await node_effects.ensure_no_taint(self.api, node)
            except KubeEffectError as error:
                self._asked.pop(node, None)  # try again on a later pass
                self._seen.pop(node, None)
                if self.on_failure is not None:
                    self.on_failure(node)
                verb = "set" if wanted else "remove"
                log.warning("could not %s the reboot-pending taint of %s: %s", verb, node, error)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
