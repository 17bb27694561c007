"""The rollout the real-node test and ``make demo --real-nodes`` run: the chart, a workload with a PDB, a policy.

``chart_values`` is what a user sets plus the two things this machine requires: the agent's command method with
the harness's reboot command (``guard`` refuses anything else), and ``--boot-id-file`` pointing at the node's boot
ID under its /run, because a pod's /proc shows the machine's boot ID, which a simulated reboot cannot change.
"""

from __future__ import annotations

from typing import Any

from hack.realnodes.cluster import RealCluster
from reboot_operator.api.meta import API_VERSION

SYSTEM_NAMESPACE = "rollboot-system"
RELEASE = "rollboot"
WORKLOAD_NAMESPACE = "shop"
WORKLOAD = "web"
POOL_LABEL = ("rollboot.dev/e2e-pool", "workers")
POLICY = "real-nodes"


def chart_values(cluster: RealCluster, *, check_interval: str = "3s") -> dict[str, Any]:
    return {
        "logFormat": "text",
        "agent": {
            "rebootMethod": "command",
            "rebootCommand": cluster.reboot_command(),
            "extraArgs": [f"--boot-id-file={cluster.agent_boot_id_file()}", f"--check-interval={check_interval}"],
        },
    }


def workload(*, image: str, replicas: int, max_unavailable: int) -> list[dict[str, Any]]:
    """A Deployment spread over the nodes, with a preStop hook and a grace period, and its PodDisruptionBudget."""
    labels = {"app": WORKLOAD}
    # Exits at once on SIGTERM, after the preStop hook has run; Ready while it runs.
    serve = "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *_: sys.exit(0)); time.sleep(1e9)"
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": WORKLOAD_NAMESPACE}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": WORKLOAD, "namespace": WORKLOAD_NAMESPACE},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "terminationGracePeriodSeconds": 15,
                        "topologySpreadConstraints": [
                            {
                                "maxSkew": 1,
                                "topologyKey": "kubernetes.io/hostname",
                                "whenUnsatisfiable": "DoNotSchedule",
                                # A cordoned node is no place for a pod: spread over the others while one drains.
                                "nodeTaintsPolicy": "Honor",
                                "labelSelector": {"matchLabels": labels},
                            }
                        ],
                        "containers": [
                            {
                                "name": "app",
                                "image": image,
                                "imagePullPolicy": "Never",
                                "command": ["python", "-c", serve],
                                "lifecycle": {"preStop": {"exec": {"command": ["sleep", "2"]}}},
                                "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 2},
                            }
                        ],
                    },
                },
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": WORKLOAD, "namespace": WORKLOAD_NAMESPACE},
            "spec": {"maxUnavailable": max_unavailable, "selector": {"matchLabels": labels}},
        },
    ]


def policy(*, max_concurrent: int = 1, soak: str = "5s") -> dict[str, Any]:
    key, value = POOL_LABEL
    return {
        "apiVersion": API_VERSION,
        "kind": "RebootPolicy",
        "metadata": {"name": POLICY},
        "spec": {
            "nodeSelector": {"matchLabels": {key: value}},
            "maxConcurrent": max_concurrent,
            "drain": {"timeout": "3m", "onTimeout": "Abort"},
            "reboot": {"timeout": "3m", "soak": soak},
        },
    }


def require_reboot(cluster: RealCluster, node: str) -> None:
    """Install a "kernel update": what unattended-upgrades writes under the node's /var/run."""
    sentinel = cluster.sentinel_path(node)
    sentinel.write_text("*** System restart required ***\n")
    sentinel.with_name("reboot-required.pkgs").write_text("linux-image-generic\n")
