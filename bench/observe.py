"""What the benchmarks observe from outside the operator: when changes reach them (watches, on one clock), and what
the operator asked of the API server (its audit log)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client

from bench.harness import GROUP, VERSION
from reboot_operator.runtime.aiotasks import cancel_and_wait
from reboot_operator.watch.informers import Informer

# -- a clock of what happens ---------------------------------------------------------------------------------


@dataclass
class Timeline:
    """Watches Nodes and NodeRebootRequests in this process and notes when each change is *received* here.

    All times are ``time.monotonic()`` of this one process, so latencies between a request's phase and a node's
    cordon are measured on one clock. ``cordons`` holds (time, node, unschedulable) at each change of
    spec.unschedulable; ``boots`` (time, node, boot ID) at each change of its boot ID; ``phases`` holds (time,
    request, phase) at each change of status.phase; ``requests`` the latest body of each request. Only nodes whose
    name starts with ``prefix`` are followed.
    """

    api: client.ApiClient
    prefix: str
    cordons: list[tuple[float, str, bool]] = field(default_factory=list)
    boots: list[tuple[float, str, str]] = field(default_factory=list)
    phases: list[tuple[float, str, str | None]] = field(default_factory=list)
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    unschedulable: dict[str, bool] = field(default_factory=dict)
    boot_ids: dict[str, str] = field(default_factory=dict)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        """Follow nodes and requests with the operator's own informer (list, then watch; list again after 410)."""
        custom = client.CustomObjectsApi(self.api)
        nodes: Informer[tuple[bool, str]] = Informer(
            "nodes", client.CoreV1Api(self.api).list_node, self._node, self._on_node
        )
        requests: Informer[dict[str, Any]] = Informer(
            "noderebootrequests",
            functools.partial(custom.list_cluster_custom_object, GROUP, VERSION, "noderebootrequests"),
            self._request,
            self._on_request,
        )
        self._tasks = [
            asyncio.create_task(nodes.run(), name="timeline-nodes"),
            asyncio.create_task(requests.run(), name="timeline-requests"),
        ]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)

    async def until(self, predicate: Callable[[], bool], *, timeout: float, what: str) -> float:
        """Wait (woken by every change seen) until ``predicate()`` holds; returns the time it was first seen true."""
        deadline = time.monotonic() + timeout
        while not predicate():
            self._changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 1.0))
        return time.monotonic()

    def phase(self, name: str) -> str | None:
        return ((self.requests.get(name) or {}).get("status") or {}).get("phase")

    def _ours(self, body: Mapping[str, Any]) -> bool:
        return str((body.get("metadata") or {}).get("name", "")).startswith(self.prefix)

    def _node(self, body: Mapping[str, Any]) -> tuple[bool, str] | None:
        """A node of ours as whether it is cordoned and its boot ID; others are not followed (None)."""
        if not self._ours(body):
            return None
        boot = ((body.get("status") or {}).get("nodeInfo") or {}).get("bootID", "")
        return bool((body.get("spec") or {}).get("unschedulable")), str(boot)

    def _request(self, body: Mapping[str, Any]) -> dict[str, Any] | None:
        return dict(body) if self._ours(body) else None

    def _on_node(self, name: str, value: tuple[bool, str] | None, _version: str) -> None:
        if value is None:  # deleted
            return
        unschedulable, boot = value
        if self.unschedulable.get(name, False) != unschedulable:
            self.cordons.append((time.monotonic(), name, unschedulable))
            self._changed.set()
        self.unschedulable[name] = unschedulable
        if boot and self.boot_ids.get(name) not in (None, boot):
            self.boots.append((time.monotonic(), name, boot))
        self.boot_ids[name] = boot

    def _on_request(self, name: str, body: dict[str, Any] | None, _version: str) -> None:
        if body is None:
            self.requests.pop(name, None)
            return
        previous = self.phase(name)
        self.requests[name] = body
        if self.phase(name) != previous:
            self.phases.append((time.monotonic(), name, self.phase(name)))
        self._changed.set()


# -- the audit log ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditedRequest:
    at: float
    """When the API server received it, seconds since the epoch."""
    verb: str
    resource: str
    """e.g. ``nodes``, ``noderebootrequests/status``."""
    name: str
    code: int

    @property
    def kind(self) -> str:
        """``verb resource``, and the answer when it was an error (``update rebootpolicies/status → 409``)."""
        return f"{self.verb} {self.resource}" + (f" → {self.code}" if self.code >= 400 else "")


def audited_requests(audit_log: Path, user: str) -> list[AuditedRequest]:
    """Every request ``user`` made, once each (a watch logs two stages under one audit ID)."""
    seen: dict[str, AuditedRequest] = {}
    with audit_log.open(encoding="utf-8") as lines:
        for line in lines:
            event = json.loads(line)
            if event["user"]["username"] != user or event["auditID"] in seen:
                continue
            ref = event.get("objectRef") or {}
            resource = "/".join(p for p in (ref.get("resource"), ref.get("subresource")) if p) or "(discovery)"
            received = datetime.datetime.fromisoformat(event["requestReceivedTimestamp"].replace("Z", "+00:00"))
            code = int((event.get("responseStatus") or {}).get("code") or 0)
            seen[event["auditID"]] = AuditedRequest(
                received.timestamp(), event["verb"], resource, ref.get("name", ""), code
            )
    return sorted(seen.values(), key=lambda r: r.at)


def count(requests: Sequence[AuditedRequest], start: float, end: float) -> tuple[int, dict[str, int]]:
    """How many requests arrived in [start, end) (epoch seconds), and how many of each kind."""
    inside = [r for r in requests if start <= r.at < end]
    kinds: dict[str, int] = {}
    for request in inside:
        kinds[request.kind] = kinds.get(request.kind, 0) + 1
    return len(inside), dict(sorted(kinds.items(), key=lambda kv: -kv[1]))
