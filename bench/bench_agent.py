"""How light is the agent? Peak memory and API requests of the real agent process against a real API server.

    python bench/bench_agent.py [--seconds 60] [--short-watch-timeout 2] [--no-record]

It starts a local control plane (no controller-manager), applies the NodeRebootRequest CRD and runs
``python -m sentinel_agent`` for one node whose sentinel is present, checking every second, through a small
counting proxy that records every API request the agent makes:

1. steady state at the default watch timeout: once the request exists, how many API requests does the agent
   make while nothing changes (target: none), and what is its peak RSS (VmHWM; target <= 25 MB);
2. watch renewals at a short watch timeout: how many requests one renewal costs (target: one). Scaled to the
   default timeout (a random 30 to 60 minutes per watch) that gives the steady-state requests per node-hour
   (target <= 15).

Both figures are recorded in ``bench/results.json`` (``agent_peak_rss``, ``agent_api_requests_per_node_hour``),
with the machine, the command and the date; other figures there are kept.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hack.controlplane import ControlPlane

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results.json"
CRD = REPO / "crds" / "noderebootrequests.rollboot.dev.yaml"
DEFAULT_WATCH_MEAN_MINUTES = 45.0  # --watch-timeout 30m: each watch lasts a random 30 to 60 minutes
TARGET_RSS_MB = 25.0
TARGET_REQUESTS_PER_HOUR = 15.0


class CountingProxy:
    """Plain HTTP on loopback in front of the API server's HTTPS; records (time, kind) of every request."""

    def __init__(self, upstream: str, ca_file: Path) -> None:
        self.seen: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        parts = urlsplit(upstream)
        context = ssl.create_default_context(cafile=str(ca_file))
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                kind = "watch" if query.get("watch") == ["true"] else self.command.lower()
                with proxy._lock:
                    proxy.seen.append((time.monotonic(), kind))
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                upstream_connection = http.client.HTTPSConnection(
                    parts.hostname or "", parts.port, context=context, timeout=7200
                )
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                upstream_connection.request(self.command, self.path, body=body or None, headers=headers)
                answer = upstream_connection.getresponse()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(key, value)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    while chunk := answer.read1(65536):
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                except (OSError, http.client.HTTPException):
                    pass  # the agent went away in the middle of a watch
                finally:
                    upstream_connection.close()
                self.close_connection = True

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def since(self, moment: float) -> Counter[str]:
        with self._lock:
            return Counter(kind for at, kind in self.seen if at >= moment)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_agent(
    proxy: CountingProxy, token_file: Path, work: Path, node: str, *, seconds: float, watch_timeout: str
) -> tuple[Counter[str], float]:
    """Run one agent for ``seconds`` after its request exists; its requests in that time and its peak RSS."""
    node_dir = work / node
    node_dir.mkdir()
    (node_dir / "boot_id").write_text("5b2d6f0e-0000-4000-8000-000000000001\n")
    (node_dir / "reboot-required").write_text("")
    (node_dir / "reboot-required.pkgs").write_text("linux-image-6.8.0-1002-azure\n")
    log_path = work / f"{node}.log"
    argv = [
        sys.executable, "-m", "sentinel_agent",
        "--node-name", node,
        "--server", proxy.url, "--token-file", str(token_file),
        "--reboot-sentinel", str(node_dir / "reboot-required"),
        "--boot-id-file", str(node_dir / "boot_id"),
        "--reboot-method", "command", "--reboot-command", "true", "--reboot-command-no-nsenter",
        "--check-interval", "1s",
        "--watch-timeout", watch_timeout,
        "--log-format", "json",
    ]  # fmt: skip
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ROLLBOOT_", "KUBECONFIG"))}
    with log_path.open("wb") as log:
        agent = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while b'"request written"' not in log_path.read_bytes():
            if time.monotonic() > deadline or agent.poll() is not None:
                agent.kill()
                raise SystemExit(f"the agent did not create its request:\n{log_path.read_text()}")
            time.sleep(0.05)
        steady_from = time.monotonic()
        time.sleep(seconds)
        peak = peak_rss_mb(agent.pid)
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=10)
    return proxy.since(steady_from), peak


def apply_crd(plane: ControlPlane) -> None:
    kubectl = [str(plane.kubectl), f"--kubeconfig={plane.kubeconfig}"]
    subprocess.run([*kubectl, "apply", "--server-side", "-f", str(CRD)], check=True, capture_output=True)
    subprocess.run(
        [*kubectl, "wait", "--for=condition=Established", "--timeout=60s", "crd/noderebootrequests.rollboot.dev"],
        check=True,
        capture_output=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description="Peak memory and API requests of the rollboot agent.")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to measure each phase")
    parser.add_argument("--short-watch-timeout", type=float, default=2.0, help="watch timeout of phase 2, seconds")
    parser.add_argument("--no-record", action="store_true", help="print only; leave bench/results.json alone")
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory(prefix="bench-agent-") as scratch,
        ControlPlane(with_controller_manager=False) as plane,
    ):
        apply_crd(plane)
        work = Path(scratch)
        token_file = work / "token"
        kubeconfig = json.loads(plane.kubeconfig.read_text())
        token_file.write_text(kubeconfig["users"][0]["user"]["token"])
        proxy = CountingProxy(plane.server, plane.ca_file)
        try:
            steady, steady_peak = run_agent(
                proxy, token_file, work, "bench-steady", seconds=args.seconds, watch_timeout="30m"
            )
            renewing, renewing_peak = run_agent(
                proxy,
                token_file,
                work,
                "bench-renewals",
                seconds=args.seconds,
                watch_timeout=f"{args.short_watch_timeout}s",
            )
        finally:
            proxy.close()

    # Every watch request is one renewal; anything else the agent sent meanwhile is the renewals' overhead.
    per_renewal = sum(renewing.values()) / max(1, renewing["watch"])
    per_hour = per_renewal * 60 / DEFAULT_WATCH_MEAN_MINUTES + sum(steady.values()) * 3600 / args.seconds
    peak = max(steady_peak, renewing_peak)

    print(f"steady state (checks every 1s, default watch timeout): {dict(steady) or 'no'} API requests "
          f"in {args.seconds:g}s")  # fmt: skip
    print(f"short watches (~{1.5 * args.short_watch_timeout:g}s each): {dict(renewing)} in {args.seconds:g}s, "
          f"{per_renewal:.2f} requests per renewal")  # fmt: skip
    print(f"steady-state API requests per node-hour at the defaults: {per_hour:.2f} "
          f"(target <= {TARGET_REQUESTS_PER_HOUR:g})")  # fmt: skip
    print(f"peak RSS: {peak:.1f} MB (target <= {TARGET_RSS_MB:g} MB)")
    ok = per_hour <= TARGET_REQUESTS_PER_HOUR and peak <= TARGET_RSS_MB
    print("PASS" if ok else "FAIL")
    if not args.no_record:
        record(
            {
                "agent_peak_rss": {"value": round(peak, 1), "unit": "MB", "target": TARGET_RSS_MB},
                "agent_api_requests_per_node_hour": {
                    "value": round(per_hour, 2),
                    "unit": "requests",
                    "target": TARGET_REQUESTS_PER_HOUR,
                },
            }
        )
    return 0 if ok else 1


def record(figures: dict[str, dict[str, Any]]) -> None:
    """Write ``figures`` into bench/results.json with the machine, command and date, keeping the other keys."""
    stamp = {
        "command": "python bench/bench_agent.py",
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": f"{platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
    }
    results = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.exists() else {}
    results.update({key: {**figure, **stamp} for key, figure in figures.items()})
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"recorded {', '.join(figures)} in bench/results.json")


if __name__ == "__main__":
    sys.exit(main())
