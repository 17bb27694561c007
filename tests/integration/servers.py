"""Real servers on loopback for the observability tests: a Prometheus whose alerts the test switches on and off,
and an HTTP receiver for notifications (apprise's ``json://`` service posts to it).

Prometheus is Debian's ``/usr/bin/prometheus`` (installed by ``.ci/run``). It scrapes a tiny exporter the test
controls every second and evaluates two rules every second: ``RollbootTestAlarm`` fires while the exporter says
``rollboot_test_alarm 1``, ``IgnoredTestAlarm`` while ``rollboot_test_ignored 1``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PROMETHEUS = Path("/usr/bin/prometheus")

RULES = """\
groups:
  - name: rollboot-test
    interval: 1s
    rules:
      - alert: RollbootTestAlarm
        expr: rollboot_test_alarm > 0
      - alert: IgnoredTestAlarm
        expr: rollboot_test_ignored > 0
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, threading.Thread]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@dataclass
class Exporter:
    """What the test wants Prometheus to see."""

    values: dict[str, float] = field(default_factory=lambda: {"rollboot_test_alarm": 0, "rollboot_test_ignored": 0})
    port: int = 0

    def set(self, name: str, value: float) -> None:
        self.values[name] = value


@dataclass
class Prometheus:
    url: str
    exporter: Exporter

    def alerts(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.url}/api/v1/alerts", timeout=5) as response:
            alerts: list[dict[str, Any]] = json.load(response)["data"]["alerts"]
            return alerts

    def wait_alerts(self, names: set[str], timeout: float = 30) -> None:
        """Until exactly the alerts ``names`` are firing."""
        deadline = time.monotonic() + timeout
        while True:
            firing = {a["labels"]["alertname"] for a in self.alerts() if a["state"] == "firing"}
            if firing == names:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"Prometheus fires {firing}, not {names}")
            time.sleep(0.2)


@contextlib.contextmanager
def prometheus(workdir: Path) -> Iterator[Prometheus]:
    if not PROMETHEUS.exists():
        raise AssertionError(f"{PROMETHEUS} is missing: apt-get install prometheus (.ci/run does)")
    exporter = Exporter()

    class Metrics(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = "".join(f"{name} {value}\n" for name, value in exporter.values.items()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server, _ = _serve(Metrics)
    exporter.port = server.server_address[1]
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "rules.yml").write_text(RULES)
    (workdir / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files: [{workdir / 'rules.yml'}]\n"
        "scrape_configs:\n  - job_name: test\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{exporter.port}']}}]\n"
    )
    port = free_port()
    log = (workdir / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            str(PROMETHEUS),
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"Prometheus did not start:\n{(workdir / 'prometheus.log').read_text()[-3000:]}")
            time.sleep(0.2)
        yield Prometheus(url=url, exporter=exporter)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        server.shutdown()
        server.server_close()


@dataclass
class Received:
    path: str
    body: dict[str, Any]
    at: float


@dataclass
class Receiver:
    """Records every POST; answers ``status`` (200, or e.g. 500 to make deliveries fail)."""

    port: int = 0
    status: int = 200
    received: list[Received] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    def messages(self) -> list[str]:
        return [str(r.body.get("message", "")) for r in self.received]

    def wait_count(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"received {len(self.received)} posts, not {count}: {self.messages()}")
            time.sleep(0.1)


@contextlib.contextmanager
def receiver() -> Iterator[Receiver]:
    found = Receiver()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw)
            except ValueError:
                body = {"raw": raw.decode(errors="replace")}
            found.received.append(Received(self.path, body, time.monotonic()))
            self.send_response(found.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server, _ = _serve(Hook)
    found.port = server.server_address[1]
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()
