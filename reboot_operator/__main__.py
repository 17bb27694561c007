"""``rollboot-operator`` (or ``python -m reboot_operator``): run the operator against a kubeconfig or in-cluster.

Reads the settings once (``runtime/settings.py``: flags, each with an environment variable), then hands them to
Kopf's handlers through the operator's ``memo``; nothing is configured by rewriting module globals.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Sequence

import kopf

from reboot_operator.runtime.errors import SettingsError
from reboot_operator.runtime.logs import configure_logging
from reboot_operator.runtime.settings import Settings, load_settings, parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = load_settings(sys.argv[1:] if argv is None else argv, os.environ, hostname=socket.gethostname())
    except SettingsError as error:
        parser().print_usage(sys.stderr)
        print(f"rollboot-operator: error: {error}", file=sys.stderr)
        return 2
    configure_logging(log_format=settings.log_format, verbose=settings.verbose)
    try:
        asyncio.run(_run(settings))
    except KeyboardInterrupt:
        return 130
    return 0


async def _run(settings: Settings) -> None:
    from reboot_operator.handlers import OperatorRun  # importing registers the handlers with Kopf
    from reboot_operator.runtime import metrics

    run = OperatorRun.from_settings(settings)
    metrics.REGISTRY.register(metrics.StateCollector(run.coordinator.snapshot))
    runner = await metrics.serve(settings.metrics_port) if settings.metrics_port else None
    try:
        await kopf.operator(
            clusterwide=True,
            standalone=settings.standalone,
            peering_name=settings.peering,
            liveness_endpoint=settings.liveness,
            memo=kopf.Memo(run=run),
        )
    finally:
        if runner is not None:
            await runner.cleanup()


if __name__ == "__main__":
    sys.exit(main())
