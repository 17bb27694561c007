"""``kubectl rollboot``, the real plugin run by the real kubectl (found on PATH, as krew installs it), against the
real operator on the real API server: status and why, pause and resume, skip, now and cancel, in text and JSON."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.integration.conftest import Cluster
from tests.integration.rollout import Rig

BERLIN_YEARLY = [{"schedule": "@yearly", "duration": "1m", "timeZone": "Europe/Berlin"}]
"""A window open one minute a year: closed now, and told in Europe/Berlin."""


def plugin(cluster: Cluster, namespace: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``kubectl rollboot ARGS`` as a user runs it: kubectl on PATH finds kubectl-rollboot next to it on PATH."""
    path = os.pathsep.join([str(cluster.kubectl_path.parent), str(Path(sys.executable).parent), os.environ["PATH"]])
    env = {**os.environ, "PATH": path, "KUBECONFIG": str(cluster.kubeconfig), "ROLLBOOT_NAMESPACE": namespace}
    result = subprocess.run(
        [str(cluster.kubectl_path), "rollboot", *args], capture_output=True, text=True, env=env, timeout=60
    )
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl rollboot {' '.join(args)} failed:\n{result.stderr}")
    return result


def as_json(cluster: Cluster, namespace: str, *args: str) -> Any:
    return json.loads(plugin(cluster, namespace, *args, "-o", "json").stdout)


async def _until(what: str, check: Any, timeout: float = 60) -> Any:
    try:
        async with asyncio.timeout(timeout):
            while True:
                found = check()
                if found:
                    return found
                await asyncio.sleep(0.3)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def test_kubectl_finds_the_plugin(cluster: Cluster) -> None:
    listed = plugin(cluster, "rollboot-system", "--help")
    assert "kubectl rollboot status" in listed.stdout


async def test_status_why_pause_resume_skip_now_and_cancel(
    rig: Rig, cluster: Cluster, namespace: str, unique: str
) -> None:
    forced, waiting = f"plug-{unique}-a", f"plug-{unique}-b"
    await rig.add_nodes([forced, waiting], labels={"pool": unique})
    spec = {
        "nodeSelector": {"matchLabels": {"pool": unique}},
        "maintenanceWindows": BERLIN_YEARLY,
        "reboot": {"timeout": "60s", "soak": "0s"},
    }
    await rig.apply_policy(unique, spec)
    rig.start_operator("--namespace", namespace)
    rig.sim.require_reboot(waiting, ["linux-image"])

    def waits_for(reason: str) -> bool:
        request = as_json(cluster, namespace, "why", waiting)["request"]
        return request is not None and request["waitingFor"] == reason

    await _until("the closed window", lambda: waits_for("WindowClosed"))
    status = as_json(cluster, namespace, "status")
    [policy] = [p for p in status["policies"] if p["name"] == unique]
    assert policy["window"] == "Closed" and policy["timeZone"] == "Europe/Berlin"
    assert policy["nextOpening"].endswith("T00:00:00+01:00 (Europe/Berlin)"), policy
    assert [r["node"] for r in status["waiting"] if r["policy"] == unique] == [waiting]
    text = plugin(cluster, namespace, "status").stdout
    assert unique in text and waiting in text and "WindowClosed" in text

    plugin(cluster, namespace, "skip", waiting, "--for", "1h")
    await _until("the skip", lambda: waits_for("Skipped"))
    why = as_json(cluster, namespace, "why", waiting)
    assert why["controls"]["skip"].startswith("until 20"), why
    assert "skipped by an admin until" in plugin(cluster, namespace, "why", waiting).stdout
    plugin(cluster, namespace, "unskip", waiting)
    await _until("the unskip", lambda: waits_for("WindowClosed"))

    plugin(cluster, namespace, "cancel", waiting)
    await _until(
        "the cancel", lambda: (as_json(cluster, namespace, "why", waiting)["request"] or {}).get("phase") == "Cancelled"
    )

    boot = rig.sim.boot_id(forced)
    done = plugin(cluster, namespace, "now", forced).stdout
    assert f"node {forced}: asked to reboot next" in done
    await _until(
        "the reboot-now",
        lambda: (as_json(cluster, namespace, "why", forced)["request"] or {}).get("phase") == "Completed",
    )
    assert rig.sim.boot_id(forced) != boot

    paused = as_json(cluster, namespace, "pause", "--reason", "incident 42")
    assert paused == {"stopped": True, "reason": "incident 42", "configMap": f"{namespace}/rollboot-stop"}
    assert as_json(cluster, namespace, "status")["stopped"]["reason"] == "incident 42"
    assert "STOPPED: incident 42" in plugin(cluster, namespace, "status").stdout
    # The operator stops too: a new need waits, Stopped.
    rig.sim.require_reboot(forced, ["linux-image"])
    await _until(
        "the stop",
        lambda: (as_json(cluster, namespace, "why", forced)["request"] or {}).get("waitingFor") == "Stopped",
    )
    plugin(cluster, namespace, "resume")
    assert as_json(cluster, namespace, "status")["stopped"] is None
    await _until(
        "the resume",
        lambda: (as_json(cluster, namespace, "why", forced)["request"] or {}).get("waitingFor") == "WindowClosed",
    )


def test_a_refused_write_says_why_and_fails(cluster: Cluster) -> None:
    refused = plugin(cluster, "rollboot-system", "--context", "no-such-context", "now", "anything", check=False)
    assert refused.returncode == 1 and "kubectl rollboot now:" in refused.stderr
