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

Run with ``kopf run -m reboot_operator.handlers --all-namespaces`` or the ``rollboot-operator`` command. Everything
one run holds (its settings, coordinator, client, watches) is one ``OperatorRun``, handed to every handler in Kopf's
``memo``; under ``kopf run`` the settings come from the environment variables alone (``runtime/settings.py``).
"""

from __future__ import annotations

import asyncio
import datetime
import gc
import logging
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

import kopf
from kubernetes_asyncio import client

from reboot_operator.api.meta import GROUP, VERSION
from reboot_operator.coordinator import Coordinator
from reboot_operator.kube.connection import api_client, load_configuration
from reboot_operator.runtime.aiotasks import cancel_and_wait
from reboot_operator.runtime.settings import Settings, load_settings
from reboot_operator.watch.informers import WatchedState
from reboot_operator.watch.leadership import Leadership

log = logging.getLogger(__name__)


@dataclass
class OperatorRun:
    """One run of the operator: its settings, its coordinator, and what start-up opens and clean-up closes."""

    settings: Settings
    coordinator: Coordinator
    client: client.ApiClient | None = None
    watched: WatchedState | None = None
    leadership: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> OperatorRun:
        coordinator = Coordinator(
            blocker_ttl=settings.blocker_ttl,
            orphan_grace=datetime.timedelta(seconds=settings.orphaned_cordon_grace),
        )
        return cls(settings=settings, coordinator=coordinator)


def _run(memo: kopf.Memo) -> OperatorRun:
    run: OperatorRun = memo["run"]
    return run


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.posting.enabled = False  # we post our own Events, on the objects they are about
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    settings.networking.error_backoffs = [1, 2, 5, 10, 20]
    settings.persistence.finalizer = f"operator.{GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.StatusProgressStorage(field="status.kopf")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP, key="last-handled")
    if "run" not in memo:  # under ``kopf run``: no flags of ours, the environment alone
        memo["run"] = OperatorRun.from_settings(load_settings((), os.environ, hostname=socket.gethostname()))
    run = _run(memo)
    run.client = api = await api_client(await load_configuration(run.settings.kubeconfig))
    election = run.settings.leader_election
    if election is not None:
        leadership = Leadership(api, namespace=election.namespace, identity=election.identity, timing=election.timing)
        run.leadership = asyncio.create_task(
            leadership.run(lambda: _lead(run), lambda: _stand_down(run)), name="rollboot-leadership"
        )
        return
    await _watch(run, api)
    if run.settings.standalone:
        _attach(run)


async def _watch(run: OperatorRun, api: client.ApiClient) -> None:
    """List and watch nodes, requests and policies; return once each is listed in full.

    Only then is the state put where ``_attach`` (and so a Kopf event) finds it: a coordinator started on a
    half-listed state would see requests in progress whose policy is not listed yet and take the policy for deleted
    (on the real nodes, a new leader cancelled the drain its predecessor had begun)."""
    began = time.monotonic()
    watched = WatchedState(api, run.coordinator, namespace=run.settings.namespace)
    watched.start()
    # The listing builds views that live until replaced, and transients freed by reference counting: the cyclic
    # collector has nothing to find in either, yet walked the growing set of views again and again (in process,
    # 15,000 nodes and 15,000 requests parsed and viewed in 2.5 s with it paused, 4.9 s without). Enabled again, it
    # would start by walking all of it (every object made while it was paused is in its youngest generation): what
    # was made is moved out of its reach first, as the coordinator does once it starts (``gc.freeze``).
    collecting = gc.isenabled()
    gc.disable()
    try:
        await watched.wait_listed()
    except BaseException:  # cancelled or failed: the watches it started must not outlive it; re-raised
        await watched.stop()
        raise
    finally:
        if collecting:
            gc.freeze()
            gc.enable()
    run.watched = watched
    log.info(
        "watched state listed in %.2fs: %s",
        time.monotonic() - began,
        ", ".join(f"{n} {kind}" for kind, n in watched.counts().items()),
    )


async def _lead(run: OperatorRun) -> None:
    assert run.client is not None
    await _watch(run, run.client)
    _attach(run)


async def _stand_down(run: OperatorRun) -> None:
    """Leadership lost (or stopping): no decision, no cycle, no watch from here on; the next leader resumes from the
    API. The watches go first, so that no policy event can start the coordinator again meanwhile."""
    watched, run.watched = run.watched, None
    await run.coordinator.stop()
    if watched is not None:
        await watched.stop()


@kopf.on.login()
async def login(memo: kopf.Memo, **_: Any) -> kopf.ConnectionInfo:
    kubeconfig = _run(memo).settings.kubeconfig if "run" in memo else None
    return connection_info(await load_configuration(kubeconfig))


@kopf.on.cleanup()
async def shutdown(memo: kopf.Memo, **_: Any) -> None:
    if "run" not in memo:
        return
    run = _run(memo)
    leadership, run.leadership = run.leadership, None
    if leadership is not None:
        await cancel_and_wait([leadership], quiet=True)  # stops leading, then gives the Lease up
    await run.coordinator.stop()
    watched, run.watched = run.watched, None
    if watched is not None:
        await watched.stop()
    api, run.client = run.client, None
    if api is not None:
        await api.close()


def _attach(run: OperatorRun) -> None:
    assert run.client is not None and run.watched is not None
    run.coordinator.start(run.client, run.watched)


@kopf.on.event(GROUP, VERSION, "rebootpolicies")
async def policy_event(memo: kopf.Memo, **_: Any) -> None:
    """Kopf delivers events only while this replica is active (peering): then the coordinator may start."""
    if "run" in memo and _run(memo).watched is not None:
        _attach(_run(memo))


def connection_info(configuration: client.Configuration) -> kopf.ConnectionInfo:
    """The operator's client configuration as Kopf's watches take it: the same server, as the same identity."""
    token = configuration.api_key.get("BearerToken") or configuration.api_key.get("authorization")
    if token is not None and token.lower().startswith("bearer "):
        token = token.split(" ", 1)[1]
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert or None,
        insecure=not configuration.verify_ssl,
        scheme="Bearer" if token else None,
        token=token,
        certificate_path=configuration.cert_file or None,
        private_key_path=configuration.key_file or None,
    )
