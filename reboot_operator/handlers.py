"""The Kopf wiring, and nothing else: start the watching, then the coordinator, and stop them.

Nodes, NodeRebootRequests and RebootPolicies are observed by our own informers (``informers.py``: list-then-watch,
slim parsed views only, never whole Nodes), not by ``@kopf.index``, whose start-up barrier grows with the square of
the objects listed. No change-handlers are registered, so Kopf keeps no bookkeeping of its own: nothing is ever
written to Nodes or Pods, and our own resources carry only the status the operator writes. The coordinator's first
decision waits until every kind is listed in full, so it sees the whole cluster.

Run standalone (the default), the coordinator starts as soon as the listing is in. With Kopf peering
(``--peering``) it starts on the first RebootPolicy event Kopf delivers, which Kopf does only on the active
replica; safety never depends on it (slots are claimed by compare-and-swap).

Run with ``kopf run -m reboot_operator.handlers --all-namespaces`` or the ``rollboot-operator`` command.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import kopf
from kubernetes_asyncio import client

from reboot_operator.api.meta import GROUP, VERSION
from reboot_operator.connection import connection_info, load_configuration
from reboot_operator.coordinator import Coordinator
from reboot_operator.informers import WatchedState

log = logging.getLogger(__name__)

COORDINATOR = Coordinator()
START_AT_ONCE = True
"""False under Kopf peering: the coordinator then waits for Kopf to deliver an event to this replica."""
_RUNTIME: dict[str, Any] = {}


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.posting.enabled = False  # we post our own Events, on the objects they are about
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    settings.networking.error_backoffs = [1, 2, 5, 10, 20]
    settings.persistence.finalizer = f"operator.{GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.StatusProgressStorage(field="status.kopf")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP, key="last-handled")
    began = time.monotonic()
    api = client.ApiClient(await load_configuration())
    watched = WatchedState(api, COORDINATOR)
    _RUNTIME.update(client=api, watched=watched)
    watched.start()
    await watched.wait_listed()
    log.info(
        "watched state listed in %.2fs: %s",
        time.monotonic() - began,
        ", ".join(f"{n} {kind}" for kind, n in watched.counts().items()),
    )
    if START_AT_ONCE:
        _attach()


@kopf.on.login()
async def login(**_: Any) -> kopf.ConnectionInfo:
    return connection_info(await load_configuration())


@kopf.on.cleanup()
async def shutdown(**_: Any) -> None:
    await COORDINATOR.stop()
    watched = _RUNTIME.pop("watched", None)
    if watched is not None:
        await watched.stop()
    api = _RUNTIME.pop("client", None)
    if api is not None:
        await api.close()


def _attach() -> None:
    COORDINATOR.start(_RUNTIME["client"], _RUNTIME["watched"])


@kopf.on.event(GROUP, VERSION, "rebootpolicies")
async def policy_event(**_: Any) -> None:
    """Kopf delivers events only while this replica is active (peering): then the coordinator may start."""
    if "watched" in _RUNTIME:
        _attach()
