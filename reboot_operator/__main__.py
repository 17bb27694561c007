"""``rollboot-operator`` (or ``python -m reboot_operator``): run the operator against a kubeconfig or in-cluster."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import kopf

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
    args = parser.parse_args(argv)
    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig
    configure_logging(log_format=args.log_format, verbose=args.verbose)

    import reboot_operator.handlers  # noqa: F401  - registers the handlers with Kopf

    try:
        asyncio.run(
            kopf.operator(
                clusterwide=True,
                standalone=args.peering is None,
                peering_name=args.peering,
                liveness_endpoint=args.liveness,
            )
        )
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
