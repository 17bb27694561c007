"""The Prometheus blocker: while alerts are active in the configured Prometheus, no node of the policy starts.

Kured's semantics (``--prometheus-url``, ``--alert-filter-regexp``, ``--alert-filter-match-only``,
``--alert-firing-only``): every alert that ``/api/v1/alerts`` lists, firing or pending (only firing with
``firingOnly``), blocks, except those whose name matches the filter; with ``alertFilterMatchOnly`` only those whose
name matches block. The expression is searched for anywhere in the name, as Go's ``MatchString`` does. A query that
fails blocks too (fail closed), and says why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import aiohttp

from reboot_operator.api.policy import PrometheusBlocker
from reboot_operator.api.regexp import compile_re2
from reboot_operator.blockers import CLEAR, Verdict
from reboot_operator.runtime.errors import AlertQueryError

QUERY_TIMEOUT = 10.0
SHOWN = 10
"""How many alert names a message lists."""


class Alert(NamedTuple):
    name: str
    state: str
    """firing or pending."""


def parse_alerts(payload: Mapping[str, Any]) -> list[Alert]:
    """The alerts of a ``/api/v1/alerts`` answer."""
    if payload.get("status") != "success":
        raise AlertQueryError(f"Prometheus answered status {payload.get('status')!r}: {payload.get('error', '')}")
    data = payload.get("data")
    alerts = data.get("alerts") if isinstance(data, Mapping) else None
    if not isinstance(alerts, list):
        raise AlertQueryError("Prometheus answered without data.alerts")
    found = []
    for alert in alerts:
        labels = alert.get("labels") or {} if isinstance(alert, Mapping) else {}
        found.append(Alert(name=str(labels.get("alertname", "")), state=str(alert.get("state", ""))))
    return found


def blocking_alerts(
    alerts: Sequence[Alert], *, filter_regexp: str | None, match_only: bool, firing_only: bool
) -> list[Alert]:
    """The alerts that block, sorted by name and deduplicated (an alert fires once per label set)."""
    pattern = compile_re2(filter_regexp) if filter_regexp is not None else None
    blocking: dict[tuple[str, str], Alert] = {}
    for alert in alerts:
        if alert.state not in ("firing", "pending") or (firing_only and alert.state != "firing"):
            continue
        if pattern is not None and bool(pattern.search(alert.name)) != match_only:
            continue
        blocking[(alert.name, alert.state)] = alert
    return [blocking[key] for key in sorted(blocking)]


def describe(alerts: Sequence[Alert]) -> str:
    shown = ", ".join(f"{a.name} ({a.state})" for a in alerts[:SHOWN])
    more = f" and {len(alerts) - SHOWN} more" if len(alerts) > SHOWN else ""
    return f"{len(alerts)} Prometheus alert{'s' if len(alerts) != 1 else ''} active: {shown}{more}"


class PrometheusAlerts:
    """A :class:`~reboot_operator.blockers.PolicyBlocker` over one Prometheus, per ``spec.blockers.prometheus``."""

    def __init__(
        self, spec: PrometheusBlocker, session: aiohttp.ClientSession, *, timeout: float = QUERY_TIMEOUT
    ) -> None:
        self.spec = spec
        self.session = session
        self.timeout = timeout

    @property
    def endpoint(self) -> str:
        return self.spec.url.rstrip("/") + "/api/v1/alerts"

    async def alerts(self) -> list[Alert]:
        try:
            async with self.session.get(
                self.endpoint, timeout=aiohttp.ClientTimeout(total=self.timeout), headers={"Accept": "application/json"}
            ) as response:
                if response.status != 200:
                    raise AlertQueryError(f"HTTP {response.status} {response.reason}")
                payload = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise AlertQueryError(str(error) or type(error).__name__) from error
        except asyncio.CancelledError:
            raise
        if not isinstance(payload, Mapping):
            raise AlertQueryError("Prometheus answered something other than a JSON object")
        return parse_alerts(payload)

    async def check(self) -> Verdict:
        try:
            alerts = await self.alerts()
        except AlertQueryError as error:
            return Verdict(blocked=True, reason=f"cannot query Prometheus at {self.spec.url}: {error}", failed=True)
        blocking = blocking_alerts(
            alerts,
            filter_regexp=self.spec.alert_filter_regexp,
            match_only=self.spec.alert_filter_match_only,
            firing_only=self.spec.firing_only,
        )
        return Verdict(blocked=True, reason=describe(blocking)) if blocking else CLEAR
