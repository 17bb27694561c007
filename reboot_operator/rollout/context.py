"""What every step of one node's cycle shares: who it is (request, policy), the API, the world it watches, the
clock, how it tells, the request as its last write stored it, and the small moves all steps make (write the next
phase, wait for the node, hold at the cluster-wide stop, end the cycle as Failed and give the node back)."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio import client

from reboot_operator.api.policy import NodeLabels, RebootPolicySpec
from reboot_operator.api.vocabulary import ACTIVE_PHASES, Phase
from reboot_operator.kube.node_view import NodeView
from reboot_operator.kube.statuses import REQUESTS, replace_status, update_status, with_fields
from reboot_operator.rollout.handback import end_cycle, give_node_back
from reboot_operator.rollout.slots import release_slot
from reboot_operator.rollout.telling import Result, Teller
from reboot_operator.rollout.world import Clock, World
from reboot_operator.watch.observed import RequestView, request_view

log = logging.getLogger(__name__)


@dataclass
class CycleContext:
    api: client.ApiClient
    world: World
    name: str
    policy: str
    clock: Clock
    tell: Teller
    last_spec: RebootPolicySpec | None = None
    written: dict[str, Any] | None = None
    """The request as our last status write stored it, if nothing has been read since: the next step's object."""

    def spec(self) -> RebootPolicySpec | None:
        """The policy's spec as watched, or as last seen if the policy is gone meanwhile."""
        current = self.world.policy(self.policy)
        if current is not None and current.spec is not None:
            self.last_spec = current.spec
        return self.last_spec

    def wrote(self, body: dict[str, Any]) -> None:
        self.written = body

    async def transition(self, body: dict[str, Any], view: RequestView, *, phase: Phase, **fields: Any) -> None:
        """Write the next phase (compare-and-swap on ``body``'s resourceVersion)."""
        status = with_fields(view.status, phase=phase, **fields)
        self.written = await replace_status(self.api, REQUESTS, body, status)

    def seen_unschedulable(self) -> bool | None:
        """The node's cordon as the watch last saw it: lets cordon and uncordon patch without reading first."""
        node = self.world.node(self.name)
        return node.facts.unschedulable if node is not None else None

    async def wait_node(self, predicate: Callable[[NodeView], bool], deadline: datetime.datetime) -> NodeView | None:
        """The node once ``predicate`` holds for it, or None at the deadline (event-driven: no polling)."""
        while True:
            node = self.world.node(self.name)
            if node is not None and predicate(node):
                return node
            remaining = (deadline - self.clock()).total_seconds()
            if remaining <= 0:
                return None
            await self.world.node_changed(self.name, remaining)

    async def held(self) -> bool:
        """The cluster-wide stop: no reboot is authorized while it lasts. The cycle holds here, at its safe point
        (cordoned and drained, or back from a reboot, before the next approval), says so, and waits for the
        resume; True when it held, so the caller starts its step again from the stored request."""
        why = self.world.stopped()
        if why is None:
            return False
        message = f"holding before its reboot: rollboot is stopped cluster-wide ({why}); the node stays cordoned"

        def change(fresh: dict[str, Any]) -> dict[str, Any] | None:
            current = request_view(fresh)
            if current is None or current.status.phase not in ACTIVE_PHASES or current.status.message == message:
                return None
            return with_fields(current.status, message=message)

        await update_status(self.api, REQUESTS, self.name, change)
        log.warning("node %s: %s", self.name, message)
        self.tell.event("Held", message)
        await self.world.resumed()
        self.written = None
        return True

    async def give_back(
        self, view: RequestView, labels: NodeLabels | None, why: str, *, observed_generation: int | None = None
    ) -> None:
        """End the cycle as Failed: uncordon if we cordoned, undo our labels, count the failure, free the slot.

        ``observed_generation``, when given, marks the agent's latest report as answered, so the same need does
        not start a new cycle by itself (the reboot-loop guard); a reset of the failure budget retries it."""
        labels = labels or (self.last_spec.node_labels if self.last_spec else None)
        await give_node_back(self.api, self.name, was_unschedulable=view.status.was_unschedulable, labels=labels)
        now = self.clock()
        await end_cycle(
            self.api,
            self.name,
            phase=Phase.FAILED,
            message=why,
            now=now,
            ending=ACTIVE_PHASES,
            observed_generation=observed_generation,
            known=self.written,
        )
        self.written = None
        await release_slot(self.api, self.policy, self.name, completed_at=now, failed=True)
        log.warning("node %s: reboot cycle failed: %s", self.name, why)
        self.tell.ended(view.status, Result.FAILED, now)
        self.tell.event("Failed", why, warning=True, status=view.status, now=now)
