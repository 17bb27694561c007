"""The operator's Prometheus metrics, served on their own port beside Kopf (``--metrics-port``, default 8000).

Two kinds: instruments updated as things happen (reboots by result, drain, cycle and hand-off durations,
notifications), and gauges of the current state computed at scrape time from what the coordinator already holds
(reboot required per node, requests per phase, each policy's window, progress, blocks and failure budget), so a
decision pass costs nothing extra however many nodes there are. The endpoint runs on the operator's event loop,
so a scrape reads that state without racing it. See docs/observability.md for the list and example alerts.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from reboot_operator.api.vocabulary import Phase
from reboot_operator.core.decisions import Decisions
from reboot_operator.core.facts import RequestFacts

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)

_MINUTES = (1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)
REBOOTS = Counter(
    "rollboot_reboots", "Reboot cycles ended, by policy and result (Completed, Failed).", ["policy", "result"],
    registry=REGISTRY,
)  # fmt: skip
DRAIN_SECONDS = Histogram(
    "rollboot_drain_duration_seconds", "How long draining a node took.", ["policy"], buckets=_MINUTES,
    registry=REGISTRY,
)  # fmt: skip
CYCLE_SECONDS = Histogram(
    "rollboot_cycle_duration_seconds", "A whole reboot cycle, from the start (cordon) to Completed or Failed.",
    ["policy"], buckets=_MINUTES, registry=REGISTRY,
)  # fmt: skip
HANDOFF_SECONDS = Histogram(
    "rollboot_handoff_seconds",
    "From a node of the policy finishing to the next waiting node being cordoned (the hand-off latency).",
    ["policy"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600), registry=REGISTRY,
)  # fmt: skip
CYCLE_ERRORS = Counter(
    "rollboot_cycle_errors",
    "Reboot cycles stopped on an unexpected error (and tried again with backoff), by policy; the request's message "
    "and a CycleError Event say which.", ["policy"], registry=REGISTRY,
)  # fmt: skip
NOTIFICATIONS = Counter(
    "rollboot_notifications", "Notifications by result (sent, dropped).", ["result"], registry=REGISTRY
)
for _result in ("sent", "dropped"):
    NOTIFICATIONS.labels(_result)  # both series exist from the start, at 0


class ObservedRequest(Protocol):
    """What the gauges read of a request (the coordinator's watched view of it): only what each view keeps parsed,
    since a scrape reads every request (15,000 at the largest)."""

    @property
    def generation(self) -> int: ...
    @property
    def detected_at(self) -> datetime.datetime | None: ...
    @property
    def base_facts(self) -> RequestFacts: ...


@dataclass(frozen=True)
class Snapshot:
    """What the coordinator holds at scrape time."""

    active: bool
    nodes: tuple[str, ...]
    requests: Mapping[str, ObservedRequest]
    decisions: Decisions | None


class StateCollector(Collector):
    """Gauges of the current state, computed from a :class:`Snapshot` at each scrape."""

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        now = self.snapshot()
        yield GaugeMetricFamily(
            "rollboot_operator_active",
            "1 while this replica decides and acts (always, when run standalone).",
            value=1 if now.active else 0,
        )
        required = GaugeMetricFamily(
            "rollboot_reboot_required", "1 when the node reports that it needs a reboot (kured_reboot_required).",
            labels=["node"],
        )  # fmt: skip
        since = GaugeMetricFamily(
            "rollboot_reboot_required_since_seconds",
            "When the node's agent detected the need for a reboot, as a Unix time; absent when none is needed.",
            labels=["node"],
        )
        for node in now.nodes:
            request = now.requests.get(node)
            wanted = request is not None and _required(request)
            required.add_metric([node], 1 if wanted else 0)
            if request is not None and wanted:
                detected = request.detected_at or request.base_facts.queued_at
                if detected is not None:
                    since.add_metric([node], detected.timestamp())
        yield required
        yield since
        phases = GaugeMetricFamily("rollboot_requests", "NodeRebootRequests by phase.", labels=["phase"])
        counts = dict.fromkeys((p.value for p in Phase), 0)
        for request in now.requests.values():
            phase = request.base_facts.phase or Phase.PENDING
            counts[phase.value] += 1
        for phase_name, count in counts.items():
            phases.add_metric([phase_name], count)
        yield phases
        yield from self._policies(now.decisions)

    @staticmethod
    def _policies(decisions: Decisions | None) -> Iterator[Metric]:
        in_progress = GaugeMetricFamily(
            "rollboot_policy_in_progress", "Nodes of the policy between start and finish.", labels=["policy"]
        )
        waiting = GaugeMetricFamily("rollboot_policy_waiting", "Requests waiting to start.", labels=["policy"])
        selected = GaugeMetricFamily("rollboot_policy_selected_nodes", "Nodes the policy governs.", labels=["policy"])
        window = GaugeMetricFamily(
            "rollboot_policy_window_open", "1 while the policy's maintenance windows allow starts.", labels=["policy"]
        )
        blocked = GaugeMetricFamily(
            "rollboot_policy_blocked",
            "1 while waiting nodes of the policy are held back, by reason (WindowClosed, Blocked, Halted, …).",
            labels=["policy", "reason"],
        )
        halted = GaugeMetricFamily(
            "rollboot_policy_halted",
            "1 when the failure budget is spent and the policy starts no node.",
            labels=["policy"],
        )
        budget = GaugeMetricFamily(
            "rollboot_failure_budget_remaining",
            "Failures the policy may still have before it halts.",
            labels=["policy"],
        )
        for name, policy in sorted((decisions.policies if decisions else {}).items()):
            in_progress.add_metric([name], policy.counts.in_progress)
            waiting.add_metric([name], policy.counts.pending)
            selected.add_metric([name], policy.counts.selected)
            window.add_metric([name], 1 if policy.window is not None and policy.window.open else 0)
            if policy.blocked is not None:
                blocked.add_metric([name, policy.blocked.value], 1)
            elif policy.blocked_nodes:
                blocked.add_metric([name, "Blocked"], 1)
            halted.add_metric([name], 1 if policy.budget.halted else 0)
            budget.add_metric([name], max(0, policy.budget.max_failures - policy.budget.failures))
        yield from (in_progress, waiting, selected, window, blocked, halted, budget)


def _required(request: ObservedRequest) -> bool:
    """The agent reports a need that no completed cycle has answered yet (the agent withdraws it on its next
    check once the sentinel is gone)."""
    facts = request.base_facts
    answered = facts.phase is Phase.COMPLETED and facts.observed_generation == request.generation
    return facts.wants_reboot and not answered


async def serve(port: int, host: str = "0.0.0.0") -> web.AppRunner:
    """Serve ``/metrics`` on ``host:port`` until the returned runner is cleaned up."""

    async def metrics(_: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(REGISTRY))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("metrics served on http://%s:%d/metrics", host, port)
    return runner
