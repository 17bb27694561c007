"""How long one full decision takes for a big cluster: 5,000 nodes, 5,000 requests, 50 policies (target <= 20 ms).

``python bench/bench_decide.py`` prints the machine, the command, the date and the median of repeated decisions, and
records the figure under ``decide_5000_nodes`` in ``bench/results.json`` (other figures there are kept).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shlex
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reboot_operator.api import Phase, RebootPolicySpec
from reboot_operator.core import NodeFacts, PolicyFacts, RequestFacts, decide

RESULTS = Path(__file__).resolve().parent / "results.json"
KEY = "decide_5000_nodes"
TARGET_MS = 20.0
NOW = datetime(2025, 12, 6, 23, 0, tzinfo=UTC)  # a Saturday night: most windows are open
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney")


def cluster(
    nodes: int, policies: int, seed: int = 7
) -> tuple[list[PolicyFacts], list[RequestFacts], dict[str, NodeFacts]]:
    """A cluster of ``nodes`` nodes in ``policies`` pools, one policy per pool, and one request per node."""
    rng = random.Random(seed)
    facts = [_policy(index, rng) for index in range(policies)]
    node_facts = {
        f"node-{i:05d}": NodeFacts(
            name=f"node-{i:05d}",
            labels={
                "kubernetes.io/hostname": f"node-{i:05d}",
                "kubernetes.io/os": "linux",
                "node-role.kubernetes.io/worker": "",
                "topology.kubernetes.io/zone": f"zone-{i % 3}",
                "rollboot.dev/pool": f"pool-{i % policies}",
            },
            ready=rng.random() > 0.01,
            unschedulable=rng.random() < 0.02,
            boot_id=f"boot-{i}",
        )
        for i in range(nodes)
    }
    requests = [_request(name, rng, policies) for name in node_facts]
    return facts, requests, node_facts


def _policy(index: int, rng: random.Random) -> PolicyFacts:
    spec: dict[str, Any] = {
        "nodeSelector": {
            "matchLabels": {"rollboot.dev/pool": f"pool-{index}"},
            "matchExpressions": [{"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}],
        },
        "priority": index,
        "maxConcurrent": rng.choice([1, 2, 5, "10%", "25%"]),
        "minIntervalBetweenReboots": rng.choice(["0s", "0s", "5m"]),
        "paused": index % 17 == 0,
    }
    kind = index % 4
    zone = ZONES[index % len(ZONES)]
    if kind == 1:
        spec["maintenanceWindows"] = [{"days": ["sat", "sun"], "start": "22:00", "end": "04:00", "timeZone": zone}]
    elif kind == 2:
        spec["maintenanceWindows"] = [{"schedule": "0 22 * * 5,6", "duration": "8h", "timeZone": zone}]
    elif kind == 3:
        spec["maintenanceWindows"] = [
            {"start": "01:00", "end": "05:00", "timeZone": zone},
            {"schedule": "30 23 * * *", "duration": "2h", "timeZone": zone},
        ]
        spec["blackouts"] = [{"start": "2025-12-20T00:00:00Z", "end": "2026-01-05T00:00:00Z", "reason": "holidays"}]
    return PolicyFacts(
        name=f"policy-{index:02d}",
        spec=RebootPolicySpec.model_validate(spec),
        last_completion_at=NOW - timedelta(minutes=rng.randint(1, 600)),
    )


def _request(name: str, rng: random.Random, policies: int) -> RequestFacts:
    policy = f"policy-{int(name.rsplit('-', 1)[1]) % policies:02d}"
    roll = rng.random()
    queued = NOW - timedelta(minutes=rng.randint(1, 5000))
    if roll < 0.60:
        return RequestFacts(name, 1, True, Phase.WAITING, 1, policy, queued_at=queued)
    if roll < 0.70:
        return RequestFacts(name, 1, True)
    if roll < 0.75:
        phase = rng.choice([Phase.CORDONING, Phase.DRAINING, Phase.REBOOTING, Phase.VERIFYING])
        return RequestFacts(name, 1, True, phase, 1, policy, queued_at=queued)
    if roll < 0.95:
        return RequestFacts(name, 2, False, Phase.COMPLETED, 1, policy, queued_at=queued, completed_at=queued)
    if roll < 0.98:
        return RequestFacts(name, 1, True, Phase.FAILED, 1, policy, queued_at=queued, completed_at=queued)
    return RequestFacts(name, 2, False, Phase.WAITING, 1, policy, queued_at=queued)


def measure(*, nodes: int, policies: int, repeat: int) -> list[float]:
    """Milliseconds of each of ``repeat`` decisions (after one warm-up)."""
    policy_facts, requests, node_facts = cluster(nodes, policies)
    decide(policies=policy_facts, requests=requests, nodes=node_facts, now=NOW)
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        decide(policies=policy_facts, requests=requests, nodes=node_facts, now=NOW)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def machine() -> str:
    return f"{platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def record(figure: dict[str, Any], path: Path = RESULTS) -> None:
    """Writes ``figure`` under ``KEY`` in the results file, keeping every other key."""
    results = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    results[KEY] = figure
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--policies", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=41)
    parser.add_argument("--no-record", action="store_true", help="print only; leave bench/results.json alone")
    args = parser.parse_args(argv)

    command = shlex.join(["python", "bench/bench_decide.py", *(argv if argv is not None else sys.argv[1:])])
    date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(f"machine: {machine()}")
    print(f"command: {command}")
    print(f"date:    {date}")
    timings = measure(nodes=args.nodes, policies=args.policies, repeat=args.repeat)
    median = statistics.median(timings)
    print(
        f"one decision for {args.nodes} nodes, {args.nodes} requests, {args.policies} policies: median {median:.2f} ms "
        f"(min {min(timings):.2f}, max {max(timings):.2f}, {args.repeat} runs; target <= {TARGET_MS:g} ms)"
    )
    if not args.no_record:
        record(
            {
                "value": round(median, 2),
                "unit": "ms",
                "target": TARGET_MS,
                "command": command,
                "date": date,
                "machine": machine(),
            }
        )
        print(f"recorded {KEY} in {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")
    ok = median <= TARGET_MS
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
