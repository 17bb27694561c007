"""``make demo``: a rolling reboot of simulated nodes on the local control plane, shown as it happens.

It starts the control plane, creates simulated nodes in two pools with one real ``sentinel_agent`` process per node
(its reboot command wired to the node simulator), applies the CRDs and two RebootPolicies (pool ``blue``: two at a
time, always open; pool ``green``: one at a time, in a window that opens about a minute after the start), runs the
real operator, makes every node need a reboot, and prints a live table until every node is back. Then a summary,
and everything is torn down. ``--smoke`` is the short run ``make test`` includes.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, config

from hack import processes
from hack.controlplane import ControlPlane
from hack.nodesim.simulator import NodeBehaviour, NodeSimulator
from reboot_operator.api.meta import GROUP, VERSION

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Options:
    nodes: int
    max_concurrent: int
    reboot_seconds: float
    window_delay: float
    timeout: float
    smoke: bool
    real_nodes: bool = False


@dataclass
class Row:
    phase: str = "-"
    policy: str = ""
    kernel: str = ""
    since: float = field(default_factory=time.monotonic)
    message: str = ""
    last_wait_message: str = ""
    queued: float | None = None
    started: float | None = None
    completed: float | None = None


def _parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument(
        "--nodes", type=int, default=None, help="simulated nodes, split over two pools (default 8; real nodes: 3)"
    )
    parser.add_argument("--max-concurrent", type=int, default=2, help="maxConcurrent of pool blue (default 2)")
    parser.add_argument("--reboot-seconds", type=float, default=4.0, help="how long a simulated reboot takes")
    parser.add_argument(
        "--window-delay", type=float, default=60.0, help="seconds until pool green's window opens (default 60)"
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds")
    parser.add_argument("--smoke", action="store_true", help="a short run: 4 nodes, both windows open at once")
    parser.add_argument(
        "--real-nodes",
        action="store_true",
        help="real kubelets and containerd on this machine, the chart installed with helm (root; --nodes default 3)",
    )
    args = parser.parse_args(argv)
    if args.real_nodes:
        return Options(
            nodes=args.nodes or 3,
            max_concurrent=1,
            reboot_seconds=0.0,
            window_delay=0.0,
            timeout=args.timeout,
            smoke=False,
            real_nodes=True,
        )
    args.nodes = args.nodes or 8
    if args.smoke:
        args.nodes, args.window_delay, args.reboot_seconds = 4, 0.0, 2.0
    if args.nodes < 2:
        parser.error("--nodes must be at least 2 (one per pool)")
    return Options(
        nodes=args.nodes,
        max_concurrent=args.max_concurrent,
        reboot_seconds=args.reboot_seconds,
        window_delay=args.window_delay,
        timeout=args.timeout,
        smoke=args.smoke,
    )


def _green_window(delay: float) -> tuple[list[dict[str, str]], float]:
    """A daily UTC window opening at the first whole minute at least ``delay`` seconds from now (none if 0), and
    the seconds until it opens."""
    if delay <= 0:
        return [], 0.0
    now = datetime.datetime.now(datetime.UTC)
    opens = (now + datetime.timedelta(seconds=delay + 59)).replace(second=0, microsecond=0)
    window = {"schedule": f"{opens.minute} {opens.hour} * * *", "duration": "2h", "timeZone": "UTC"}
    return [window], (opens - now).total_seconds()


def _policy(name: str, max_concurrent: int, windows: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RebootPolicy",
        "metadata": {"name": name},
        "spec": {
            "nodeSelector": {"matchLabels": {"pool": name}},
            "maxConcurrent": max_concurrent,
            "maintenanceWindows": windows,
            "drain": {"timeout": "2m"},
            "reboot": {"timeout": "5m", "soak": "1s"},
        },
    }


class Table:
    """Draws the live table: redrawn in place on a terminal, one line per change otherwise (like kubectl get -w)."""

    def __init__(self) -> None:
        self.tty = sys.stdout.isatty()
        self.printed_header = False
        self.started = time.monotonic()

    def show(self, rows: dict[str, Row], policies: list[dict[str, Any]], elapsed: float) -> None:
        if self.tty:
            lines = [f"rollboot demo — {elapsed:5.1f}s", "", self._header()]
            lines += [self._line(name, row) for name, row in sorted(rows.items())]
            lines += ["", f"{'POLICY':<8} {'WINDOW':<8} {'SELECTED':>8} {'PENDING':>8} {'IN-PROGRESS':>11} {'DONE':>5}"]
            for policy in policies:
                status = policy.get("status") or {}
                counts = status.get("counts") or {}
                window = (status.get("window") or {}).get("state", "?")
                nxt = (status.get("window") or {}).get("nextOpening")
                lines.append(
                    f"{policy['metadata']['name']:<8} {window:<8} {counts.get('selected', 0):>8} "
                    f"{counts.get('pending', 0):>8} {counts.get('inProgress', 0):>11} {counts.get('completed', 0):>5}"
                    + (f"   opens {nxt}" if nxt else "")
                )
            sys.stdout.write("\x1b[H\x1b[2J" + "\n".join(lines) + "\n")
            sys.stdout.flush()

    def changed(self, name: str, row: Row) -> None:
        if self.tty:
            return
        if not self.printed_header:
            print(self._header("AT"), flush=True)
            self.printed_header = True
        print(self._line(name, row, at=time.monotonic() - self.started), flush=True)

    @staticmethod
    def _header(clock: str = "IN PHASE") -> str:
        return f"{'NODE':<14} {'PHASE':<12} {'POLICY':<7} {'KERNEL':<38} {clock:>8}  MESSAGE"

    @staticmethod
    def _line(name: str, row: Row, at: float | None = None) -> str:
        """One row; ``at`` (seconds since the start) replaces the time in phase when lines are appended."""
        seconds = time.monotonic() - row.since if at is None else at
        message = row.message if len(row.message) < 70 else row.message[:67] + "..."
        return f"{name:<14} {row.phase:<12} {row.policy:<7} {row.kernel:<38} {seconds:>7.1f}s  {message}"


async def observe(
    api: client.ApiClient, names: list[str], timeout: float, table: Table
) -> tuple[dict[str, Row], float]:
    custom = client.CustomObjectsApi(api)
    rows = {name: Row() for name in names}
    started = time.monotonic()
    while True:
        listing = await custom.list_cluster_custom_object(GROUP, VERSION, "noderebootrequests")
        for item in listing["items"]:
            name = item["metadata"]["name"]
            if name not in rows:
                continue
            status = item.get("status") or {}
            row = rows[name]
            phase = status.get("phase") or "Pending"
            row.message = status.get("message") or ""
            row.policy = status.get("policy") or row.policy
            row.kernel = status.get("kernel") or row.kernel
            if phase == "Waiting":
                row.last_wait_message = row.message
                row.queued = row.queued or time.monotonic()
            if phase != row.phase:
                now = time.monotonic()
                row.phase, row.since = phase, now
                if phase == "Cordoning" or (row.started is None and phase in ("Draining", "Rebooting")):
                    row.started = row.started or now
                    row.queued = row.queued or now
                if phase == "Completed":
                    row.completed = now
                table.changed(name, row)
        policies = (await custom.list_cluster_custom_object(GROUP, VERSION, "rebootpolicies"))["items"]
        elapsed = time.monotonic() - started
        table.show(rows, policies, elapsed)
        if all(r.phase == "Completed" for r in rows.values()):
            return rows, elapsed
        if any(r.phase == "Failed" for r in rows.values()):
            raise RuntimeError(
                "a node failed its reboot: "
                + ", ".join(f"{n}: {r.message}" for n, r in rows.items() if r.phase == "Failed")
            )
        if elapsed > timeout:
            raise TimeoutError(f"not done after {timeout:.0f}s")
        await asyncio.sleep(0.25)


def _summary(
    rows: dict[str, Row], elapsed: float, opts: Options, pools: dict[str, list[str]], green_delay: float
) -> str:
    cycles = [r.completed - r.started for r in rows.values() if r.completed and r.started]
    cycle = statistics.median(cycles) if cycles else 0.0
    blue = math.ceil(len(pools["blue"]) / opts.max_concurrent) * cycle
    green = green_delay + len(pools["green"]) * cycle
    ideal = max(blue, green)
    waits = {n: (r.started or 0) - (r.queued or r.started or 0) for n, r in rows.items()}
    longest = max(waits, key=lambda n: waits[n])
    return "\n".join(
        [
            "",
            f"Rebooted {sum(r.phase == 'Completed' for r in rows.values())} of {len(rows)} nodes in {elapsed:.1f}s.",
            f"Median node cycle (cordon → uncordon): {cycle:.1f}s; ideal total: {ideal:.1f}s "
            f"(blue: ceil({len(pools['blue'])}/{opts.max_concurrent}) x cycle; green: window delay "
            f"{green_delay:.0f}s + {len(pools['green'])} x cycle).",
            f"Longest wait: {longest}, {waits[longest]:.1f}s, last told: {rows[longest].last_wait_message or '-'}",
            "Every kernel changed: "
            + ("yes" if all("→" in r.kernel and "?" not in r.kernel for r in rows.values()) else "NO"),
        ]
    )


async def _run(opts: Options, plane: ControlPlane, work: Path) -> int:
    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(plane.kubeconfig), client_configuration=configuration)
    children: list[processes.Child] = []
    async with client.ApiClient(configuration) as api:
        sim = NodeSimulator(api=api, root=work / "nodes", grace_scale=0.1)
        await sim.start()
        try:
            half = opts.nodes // 2
            pools = {
                "blue": [f"blue-{i}" for i in range(opts.nodes - half)],
                "green": [f"green-{i}" for i in range(half)],
            }
            behaviour = NodeBehaviour(reboot_seconds=opts.reboot_seconds)
            for pool, names in pools.items():
                await sim.add_nodes(names, labels={"pool": pool}, behaviour=behaviour)
            names = [n for pool in pools.values() for n in pool]
            for name in names:
                children.append(processes.agent(plane.kubeconfig, sim.root, name, work / f"agent-{name}.log").start())
            custom = client.CustomObjectsApi(api)
            windows, green_delay = _green_window(opts.window_delay)
            await custom.create_cluster_custom_object(
                GROUP, VERSION, "rebootpolicies", _policy("blue", opts.max_concurrent, [])
            )
            await custom.create_cluster_custom_object(GROUP, VERSION, "rebootpolicies", _policy("green", 1, windows))
            children.append(processes.operator(plane.kubeconfig, work / "operator.log").start())
            print(
                f"{len(names)} simulated nodes, each with its agent; policies blue (maxConcurrent "
                f"{opts.max_concurrent}, always open) and green (maxConcurrent 1"
                + (f", window opens in {green_delay:.0f}s)" if windows else ", always open)"),
                flush=True,
            )
            for name in names:
                sim.require_reboot(name)
            print("Kernel updates installed: every node now has /var/run/reboot-required.\n", flush=True)
            rows, elapsed = await observe(api, names, opts.timeout, Table())
            print(_summary(rows, elapsed, opts, pools, green_delay), flush=True)
            return 0
        except (RuntimeError, TimeoutError) as error:
            print(f"\ndemo failed: {error}\nlogs: {work}", file=sys.stderr)
            for child in children:
                if "operator" in child.log_path.name:
                    print(child.log()[-4000:], file=sys.stderr)
            return 1
        finally:
            for child in children:
                child.stop()
            await sim.stop()


def _apply_crds(plane: ControlPlane) -> None:
    kubectl = [str(plane.kubectl), f"--kubeconfig={plane.kubeconfig}"]
    subprocess.run([*kubectl, "apply", "-f", str(REPO / "crds")], check=True, capture_output=True)
    subprocess.run([*kubectl, "wait", "--for=condition=Established", "crd", "--all"], check=True, capture_output=True)


def main(argv: list[str] | None = None) -> int:
    opts = _parse(argv)
    if opts.real_nodes:
        from hack.realnodes.demo import run

        return run(nodes=opts.nodes, timeout=opts.timeout)
    work = Path(tempfile.mkdtemp(prefix="rollboot-demo-"))
    print("Starting the local control plane (the first run compiles it; see README).", flush=True)
    code = 1
    try:
        with ControlPlane(data_dir=work / "cluster") as plane:
            _apply_crds(plane)
            code = asyncio.run(_run(opts, plane, work))
    finally:
        if code == 0:
            shutil.rmtree(work, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
