"""What every benchmark shares: the record of a figure (machine, command, date, load), the cluster it runs on, and a
clock of what happens in it.

A figure is one key of ``bench/results.json``: ``{"value", "unit", "target", "command", "date", "machine", "runs"}``
plus whatever explains it (``load``, ``samples``, ``note``). Recording merges figures into the file and keeps every
other key, so each script owns only its own keys. ``bench/report.py`` turns the file into ``bench/RESULTS.md``.

Benchmarks start their own control plane, or borrow the one ``ROLLBOOT_KUBECONFIG`` names; figures that need to own
it (an audit log, a user of their own) are then left out, and said to be.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import math
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.exceptions import ApiException

from hack import processes
from hack.controlplane import ControlPlane
from hack.controlplane.build import bin_dir, ensure_built

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results.json"
CRDS = REPO / "crds"
GROUP, VERSION = "rollboot.dev", "v1alpha1"
OPERATOR_USER = "rollboot-operator"
"""The operator's own user on a control plane we own, so that its requests can be told apart in the audit log."""


def machine() -> str:
    return f"{platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def revision() -> str:
    """The commit measured, and where the code run differed from it (others work in the same tree)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False).stdout

    commit = git("rev-parse", "--short=12", "HEAD").strip() or "unknown"
    changed = git("status", "--porcelain", "--", "reboot_operator", "sentinel_agent", "hack", "bench/*.py")
    folders = sorted({line[3:].split(" -> ")[-1].split("/")[0] + "/" for line in changed.splitlines() if line})
    return commit + (f" with uncommitted changes in {', '.join(folders)}" if folders else "")


@dataclass(frozen=True)
class Context:
    """Where and when a benchmark ran: what each of its figures carries."""

    command: str
    date: str
    machine: str
    load: tuple[float, float, float]
    """os.getloadavg() at the start: the machine is shared, and a loaded one is slower."""
    revision: str
    """The commit measured (see ``revision()``)."""

    @classmethod
    def start(cls, module: str, argv: Sequence[str]) -> Context:
        load = os.getloadavg()
        return cls(
            command=shlex.join(["python", "-m", module, *argv]),
            date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            machine=machine(),
            load=(round(load[0], 2), round(load[1], 2), round(load[2], 2)),
            revision=revision(),
        )

    def print_header(self) -> None:
        print(f"machine: {self.machine}")
        print(f"command: {self.command}")
        print(f"date:    {self.date}")
        print(f"load:    {self.load[0]} {self.load[1]} {self.load[2]} (1, 5, 15 min)")
        print(f"code:    {self.revision}", flush=True)

    def figure(
        self, *, value: float, unit: str, target: float | None, runs: int, note: str, **extra: Any
    ) -> dict[str, Any]:
        """One figure; ``target`` is an upper bound (None: reported for information, no target)."""
        return {
            "value": value,
            "unit": unit,
            "target": target,
            "command": self.command,
            "date": self.date,
            "machine": self.machine,
            "runs": runs,
            "load": list(self.load),
            "revision": self.revision,
            "note": note,
            **extra,
        }


def record(figures: Mapping[str, dict[str, Any]], path: Path = RESULTS) -> None:
    """Merge ``figures`` into the results file, keeping every other key."""
    results = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    results.update(figures)
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"recorded {', '.join(sorted(figures))} in bench/{path.name}")


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (0 < q <= 100): a value that was measured, never an interpolation."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def status_line(kind: str, value: float, unit: str, target: float | None) -> str:
    if target is None:
        return f"{kind}: {value:g} {unit} (no target)"
    verdict = "met" if value <= target else "NOT met"
    return f"{kind}: {value:g} {unit} (target <= {target:g} {unit}: {verdict})"


# -- the process we measure ----------------------------------------------------------------------------------


def proc_status_kb(pid: int, field_name: str) -> int:
    """A ``/proc/<pid>/status`` field in kB (VmHWM: peak resident set; VmRSS: resident now); 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the cluster ---------------------------------------------------------------------------------------------


@dataclass
class Cluster:
    """A control plane to benchmark on, and how each party reaches it."""

    kubeconfig: Path
    kubectl: Path
    plane: ControlPlane | None
    """None when borrowed through ROLLBOOT_KUBECONFIG."""
    operator_kubeconfig: Path
    """The operator's own user when we own the plane; the same kubeconfig as everyone else when borrowed."""

    @property
    def audit_log(self) -> Path | None:
        if self.plane is None or not self.plane.audit_log:
            return None
        return self.plane.audit_log_path

    def kubectl_run(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.kubectl), f"--kubeconfig={self.kubeconfig}", *args], capture_output=True, text=True, timeout=120
        )
        if result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
        return result


@contextlib.contextmanager
def cluster(
    data_dir: Path, *, audit: bool = False, controller_manager: bool = True, keep_audit: Path | None = None
) -> Iterator[Cluster]:
    """A control plane with the CRDs applied: a new one in ``data_dir`` (stopped afterwards), or a borrowed one.
    ``keep_audit``: where to copy the audit log before the control plane (and its data) goes."""
    borrowed = os.environ.get("ROLLBOOT_KUBECONFIG")
    if borrowed:
        ensure_built()
        found = Cluster(Path(borrowed), bin_dir() / "kubectl", None, Path(borrowed))
        _apply_crds(found)
        print(f"borrowing the control plane of {borrowed}", flush=True)
        yield found
        return
    token = os.urandom(16).hex()
    with ControlPlane(
        data_dir=data_dir,
        with_controller_manager=controller_manager,
        extra_tokens={OPERATOR_USER: token},
        audit_log=audit,
    ) as plane:
        owned = Cluster(plane.kubeconfig, plane.kubectl, plane, plane.write_kubeconfig_for(OPERATOR_USER))
        _apply_crds(owned)
        try:
            yield owned
        finally:
            if keep_audit is not None and audit:
                shutil.copy(plane.audit_log_path, keep_audit)


def _apply_crds(target: Cluster) -> None:
    for manifest in sorted(CRDS.glob("*.yaml")):
        target.kubectl_run("apply", "--server-side", "--force-conflicts", "-f", str(manifest))
    target.kubectl_run("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")


def start_operator(target: Cluster, log: Path) -> processes.Child:
    """The real operator as its own user. No metrics endpoint: a fixed port would collide with other operators
    running on the machine, and nothing scrapes it here."""
    return processes.operator(target.operator_kubeconfig, log, "--metrics-port", "0").start()


@contextlib.asynccontextmanager
async def api_client(kubeconfig: Path) -> AsyncIterator[client.ApiClient]:
    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    async with client.ApiClient(configuration) as api:
        yield api


async def bounded(calls: Sequence[Callable[[], Awaitable[Any]]], *, concurrency: int) -> None:
    """Run ``calls`` with at most ``concurrency`` in flight (a burst of thousands would only queue in the server)."""
    queue = list(reversed(calls))

    async def worker() -> None:
        while queue:
            await queue.pop()()

    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(calls)))))


async def retrying(call: Callable[[], Awaitable[Any]], *, attempts: int = 8) -> Any:
    """A call retried on the answers a busy API server gives (429, 5xx, a dropped connection)."""
    for attempt in range(attempts):
        try:
            return await call()
        except (ApiException, OSError) as error:
            if isinstance(error, ApiException) and error.status not in (429, 500, 503, 504):
                raise
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(min(0.2 * 2**attempt, 5.0))
    return None


# -- a clock of what happens ---------------------------------------------------------------------------------


@dataclass
class Timeline:
    """Watches Nodes and NodeRebootRequests in this process and notes when each change is *received* here.

    All times are ``time.monotonic()`` of this one process, so latencies between a request's phase and a node's
    cordon are measured on one clock. ``cordons`` holds (time, node, unschedulable) at each change of
    spec.unschedulable; ``phases`` holds (time, request, phase) at each change of status.phase; ``requests`` the
    latest body of each request. Only nodes whose name starts with ``prefix`` are followed.
    """

    api: client.ApiClient
    prefix: str
    cordons: list[tuple[float, str, bool]] = field(default_factory=list)
    phases: list[tuple[float, str, str | None]] = field(default_factory=list)
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    unschedulable: dict[str, bool] = field(default_factory=dict)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        custom = client.CustomObjectsApi(self.api)
        core = client.CoreV1Api(self.api)
        self._tasks = [
            asyncio.create_task(self._follow(core.list_node, (), self._on_node), name="timeline-nodes"),
            asyncio.create_task(
                self._follow(
                    custom.list_cluster_custom_object, (GROUP, VERSION, "noderebootrequests"), self._on_request
                ),
                name="timeline-requests",
            ),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

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

    def _on_node(self, node: Any, deleted: bool) -> None:
        name = node.metadata.name
        if not name.startswith(self.prefix) or deleted:
            return
        value = bool(node.spec.unschedulable)
        if self.unschedulable.get(name, False) != value:
            self.cordons.append((time.monotonic(), name, value))
            self._changed.set()
        self.unschedulable[name] = value

    def _on_request(self, body: dict[str, Any], deleted: bool) -> None:
        name = body["metadata"]["name"]
        if not name.startswith(self.prefix):
            return
        if deleted:
            self.requests.pop(name, None)
            return
        previous = self.phase(name)
        self.requests[name] = body
        if self.phase(name) != previous:
            self.phases.append((time.monotonic(), name, self.phase(name)))
        self._changed.set()

    async def _follow(self, list_call: Any, args: tuple[Any, ...], on_object: Callable[[Any, bool], None]) -> None:
        """List, then watch from the listing's version; list again after 410 Gone or any failure."""
        delay = 0.2
        while True:
            try:
                listing = await list_call(*args)
                if isinstance(listing, dict):  # custom objects come as dicts, built-in kinds as models
                    items, version = listing["items"], listing["metadata"]["resourceVersion"]
                else:
                    items, version = listing.items, listing.metadata.resource_version
                for item in items:
                    on_object(item, False)
                async with watch.Watch().stream(
                    list_call, *args, resource_version=version, timeout_seconds=240
                ) as events:
                    async for event in events:
                        on_object(event["object"], event["type"] == "DELETED")
                delay = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as error:
                print(f"[timeline] watch restarting after {error!r}", file=sys.stderr)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)


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
