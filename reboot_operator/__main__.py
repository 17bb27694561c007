"""``rollboot-operator`` (or ``python -m reboot_operator``): run the operator against a kubeconfig or in-cluster."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import socket
import sys
import uuid

import kopf

from reboot_operator.api.controls import DEFAULT_NAMESPACE
from reboot_operator.leadership import LeaseTiming
from reboot_operator.logs import configure_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rollboot-operator", description=__doc__)
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, else in-cluster)")
    parser.add_argument("--log-format", choices=("text", "json"), default=os.environ.get("ROLLBOOT_LOG_FORMAT", "text"))
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "--peering",
        metavar="NAME",
        help="take part in Kopf peering (needs the ClusterKopfPeering CRD); safety never depends on it",
    )
    parser.add_argument(
        "--liveness", metavar="URL", help="serve Kopf's liveness probe, e.g. http://0.0.0.0:8080/healthz"
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        default=int(os.environ.get("ROLLBOOT_METRICS_PORT", "8000")),
        help="serve Prometheus metrics on http://0.0.0.0:PORT/metrics; 0 disables (default: 8000)",
    )
    parser.add_argument(
        "--blocker-ttl",
        type=float,
        metavar="SECONDS",
        default=float(os.environ.get("ROLLBOOT_BLOCKER_TTL", "20")),
        help="how long a Prometheus blocker's answer is trusted; while blocked it is asked again after half of it "
        "(default: 20)",
    )
    parser.add_argument(
        "--orphaned-cordon-grace",
        type=float,
        metavar="SECONDS",
        default=float(os.environ.get("ROLLBOOT_ORPHANED_CORDON_GRACE", "300")),
        help="a node left cordoned by a cycle whose request was deleted is uncordoned after it has been Ready, "
        "without a reboot, this long (default: 300)",
    )
    parser.add_argument(
        "--namespace",
        metavar="NAMESPACE",
        default=os.environ.get("POD_NAMESPACE") or DEFAULT_NAMESPACE,
        help="the operator's namespace, where the ConfigMap rollboot-stop stops every rollout while it exists "
        f"(default: $POD_NAMESPACE, else {DEFAULT_NAMESPACE})",
    )
    election = parser.add_argument_group("leader election (one replica drives the cycles; the others stand by)")
    election.add_argument(
        "--leader-elect",
        action="store_true",
        default=os.environ.get("ROLLBOOT_LEADER_ELECT", "").lower() in ("1", "true", "yes"),
        help="hold a coordination.k8s.io Lease before leading (what the chart runs; $ROLLBOOT_LEADER_ELECT)",
    )
    election.add_argument(
        "--leader-elect-namespace",
        metavar="NAMESPACE",
        default=os.environ.get("POD_NAMESPACE"),
        help="namespace of the Lease (default: $POD_NAMESPACE)",
    )
    timing = LeaseTiming()
    for flag, default, what in (
        ("--leader-elect-lease-duration", timing.duration, "a standby takes over after the Lease is this old"),
        ("--leader-elect-renew-deadline", timing.renew_deadline, "the leader stops leading if it cannot renew in time"),
        ("--leader-elect-retry-period", timing.retry, "how often the Lease is renewed, or tried by a standby"),
    ):
        election.add_argument(
            flag, type=float, metavar="SECONDS", default=default, help=f"{what} (default: {default:g})"
        )
    args = parser.parse_args(argv)
    if args.leader_elect and not args.leader_elect_namespace:
        parser.error("--leader-elect needs --leader-elect-namespace or $POD_NAMESPACE")
    try:
        args.lease_timing = LeaseTiming(
            args.leader_elect_lease_duration, args.leader_elect_renew_deadline, args.leader_elect_retry_period
        )
    except ValueError as error:
        parser.error(str(error))
    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig
    configure_logging(log_format=args.log_format, verbose=args.verbose)

    try:
        asyncio.run(_run(args))
    except KeyboardInterrupt:
        return 130
    return 0


async def _run(args: argparse.Namespace) -> None:
    import reboot_operator.handlers as handlers  # registers the handlers with Kopf
    from reboot_operator import metrics

    handlers.COORDINATOR.blocker_ttl = args.blocker_ttl
    handlers.COORDINATOR.orphan_grace = datetime.timedelta(seconds=args.orphaned_cordon_grace)
    handlers.START_AT_ONCE = args.peering is None
    handlers.CONTROL_NAMESPACE = args.namespace
    if args.leader_elect:
        identity = f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"
        handlers.LEADER_ELECTION = (args.leader_elect_namespace, identity, args.lease_timing)
    metrics.REGISTRY.register(metrics.StateCollector(handlers.COORDINATOR.snapshot))
    runner = await metrics.serve(args.metrics_port) if args.metrics_port else None
    try:
        await kopf.operator(
            clusterwide=True,
            standalone=args.peering is None,
            peering_name=args.peering,
            liveness_endpoint=args.liveness,
        )
    finally:
        if runner is not None:
            await runner.cleanup()


if __name__ == "__main__":
    sys.exit(main())
