"""The Kopf wiring, and nothing else: start the watching, then the coordinator, and stop them.

Nodes, NodeRebootRequests and RebootPolicies are observed by our own informers (``informers.py``: list-then-watch,
slim parsed views only, never whole Nodes), not by ``@kopf.index``, whose start-up barrier grows with the square of
the objects listed. No change-handlers are registered, so Kopf keeps no bookkeeping of its own: nothing is ever
written to Nodes or Pods, and our own resources carry only the status the operator writes. The coordinator's first
decision waits until every kind is listed in full, so it sees the whole cluster.

Run standalone (the default), the coordinator starts as soon as the listing is in. With leader election
(``--leader-elect``, ``leadership.py``, what the chart runs) a replica lists nothing until it holds the Lease, and
stops its coordinator and its watches when it loses it. With Kopf peering (``--peering``) it starts on the first
RebootPolicy event Kopf delivers, which Kopf does only on the active replica. Safety never depends on either (slots
are claimed by compare-and-swap).

Run with ``kopf run -m reboot_operator.handlers --all-namespaces`` or the ``rollboot-operator`` command.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import kopf
from kubernetes_asyncio import client

from reboot_operator.aiotasks import cancel_and_wait
from reboot_operator.api.controls import DEFAULT_NAMESPACE
from reboot_operator.api.meta import GROUP, VERSION
from reboot_operator.connection import connection_info, load_configuration
from reboot_operator.coordinator import Coordinator
from reboot_operator.informers import WatchedState
from reboot_operator.leadership import Leadership, LeaseTiming

log = logging.getLogger(__name__)

COORDINATOR = Coordinator()
START_AT_ONCE = True
"""False under Kopf peering: the coordinator then waits for Kopf to deliver an event to this replica."""
LEADER_ELECTION: tuple[str, str, LeaseTiming] | None = None
CONTROL_NAMESPACE = DEFAULT_NAMESPACE
"""Where the stop ConfigMap (``rollboot-stop``) is looked for: the operator's namespace."""
"""Namespace, identity and timing of the Lease to hold before leading (``--leader-elect``), or None."""
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
    api = client.ApiClient(await load_configuration())
    _RUNTIME.update(client=api)
    if LEADER_ELECTION is not None:
        namespace, identity, timing = LEADER_ELECTION
        leadership = Leadership(api, namespace=namespace, identity=identity, timing=timing)
        _RUNTIME["leadership"] = asyncio.create_task(leadership.run(_lead, _stand_down), name="rollboot-leadership")
        return
    await _watch(api)
    if START_AT_ONCE:
        _attach()


async def _watch(api: client.ApiClient) -> None:
    """List and watch nodes, requests and policies; return once each is listed in full.

    Only then is the state put where ``_attach`` (and so a Kopf event) finds it: a coordinator started on a
    half-listed state would see requests in progress whose policy is not listed yet and take the policy for deleted
    (on the real nodes, a new leader cancelled the drain its predecessor had begun)."""
    began = time.monotonic()
    watched = WatchedState(api, COORDINATOR, namespace=CONTROL_NAMESPACE)
    watched.start()
    try:
        await watched.wait_listed()
    except BaseException:
        await watched.stop()
        raise
    _RUNTIME["watched"] = watched
    log.info(
        "watched state listed in %.2fs: %s",
        time.monotonic() - began,
        ", ".join(f"{n} {kind}" for kind, n in watched.counts().items()),
    )


async def _lead() -> None:
    await _watch(_RUNTIME["client"])
    _attach()


async def _stand_down() -> None:
    """Leadership lost (or stopping): no decision, no cycle, no watch from here on; the next leader resumes from the
    API. The watches go first, so that no policy event can start the coordinator again meanwhile."""
    watched = _RUNTIME.pop("watched", None)
    await COORDINATOR.stop()
    if watched is not None:
        await watched.stop()


@kopf.on.login()
async def login(**_: Any) -> kopf.ConnectionInfo:
    return connection_info(await load_configuration())


@kopf.on.cleanup()
async def shutdown(**_: Any) -> None:
    leadership = _RUNTIME.pop("leadership", None)
    if leadership is not None:
        await cancel_and_wait([leadership], quiet=True)  # stops leading, then gives the Lease up
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
