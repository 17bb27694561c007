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
import compileall
import contextlib
import datetime
import json
import math
import os
import platform
import shlex
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from hack import processes
from hack.controlplane import ControlPlane
from hack.controlplane.build import bin_dir, ensure_built
from reboot_operator.api.meta import GROUP as GROUP  # re-exported: the benchmarks take them from here
from reboot_operator.api.meta import VERSION as VERSION

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results.json"
CRDS = REPO / "crds"
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


def agent_request(node: str, boot_id: str, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A NodeRebootRequest exactly as the agent creates it when the sentinel file appears."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "NodeRebootRequest",
        "metadata": {"name": node, **({"labels": dict(labels)} if labels else {})},
        "spec": {
            "nodeName": node,
            "reasons": [
                {
                    "source": "sentinel-file",
                    "detail": "/var/run/reboot-required",
                    "packages": ["linux-image-6.8.0-1002-azure"],
                }
            ],
            "detectedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "bootID": boot_id,
        },
    }


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


# The operator's source, compiled before each start (start_operator).
OPERATOR_PACKAGE = Path(__file__).resolve().parent.parent / "reboot_operator"


def start_operator(target: Cluster, log: Path) -> processes.Child:
    """The real operator as its own user. No metrics endpoint: a fixed port would collide with other operators
    running on the machine, and nothing scrapes it here.

    Its package is compiled to byte-code first, as the operator's image has it (pip compiles it at the image's
    build): the environment here may say PYTHONDONTWRITEBYTECODE, and an operator compiling its own source at
    every start would count ~0.5 s of compiling in its start-up that no deployed operator spends."""
    compileall.compile_dir(OPERATOR_PACKAGE, quiet=1)
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
