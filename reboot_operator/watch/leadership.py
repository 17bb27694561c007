"""Leader election on a ``coordination.k8s.io`` Lease: one replica at a time drives the reboot cycles.

With two replicas and no election, both decide and both run every cycle (issue 13, defect 7: each drained every
node; safety held only because slots are compare-and-swapped and evictions respect budgets). With ``--leader-elect``
a replica first holds the Lease ``rollboot-operator`` in its namespace, and only then lists the cluster and starts
deciding; a standby replica makes one small Lease read every ``retry`` seconds and keeps nothing else in memory.

The rules are the usual ones of Kubernetes controllers (client-go's leaderelection, kube-controller-manager):

- the holder renews ``spec.renewTime`` every ``retry`` seconds; every write is a compare-and-swap on the Lease's
  resourceVersion, so two replicas never both win a write;
- a replica that has not renewed for ``renew_deadline`` seconds stops leading at once (it stops its cycles and its
  watches), before any other may take over (``renew_deadline`` < ``duration``);
- a standby takes the Lease over once the record has not changed for ``duration`` seconds *by its own clock* (the
  holder's timestamps are never compared with ours, so clock skew between nodes does not matter);
- a replica that stops cleanly gives the Lease up (no holder, a 1-second duration), so its successor starts at once.

Safety never depends on this: slots, cordon marks and approvals stay compare-and-swapped in the API, so two replicas
that both believe they lead (a partition) still never exceed ``maxConcurrent``. Election only saves the duplicate
work and Events.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from reboot_operator.kube.apicalls import describe, read_json
from reboot_operator.runtime.errors import API_FAILURES
from reboot_operator.runtime.settings import LeaseTiming

log = logging.getLogger(__name__)

LEASE_NAME = "rollboot-operator"
UNREACHABLE = (aiohttp.ClientError, OSError, TimeoutError)
"""What a request raises when the API server cannot be reached at all (an ``ApiException`` is an answer)."""
Callback = Callable[[], Awaitable[None]]


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Leadership:
    """Hold the Lease ``name`` in ``namespace`` as ``identity``; run ``lead`` while holding it (see module doc)."""

    api: client.ApiClient
    namespace: str
    identity: str
    name: str = LEASE_NAME
    timing: LeaseTiming = field(default_factory=LeaseTiming)
    clock: Callable[[], float] = time.monotonic
    leading: bool = False
    _observed: tuple[Any, ...] | None = None
    _observed_at: float = 0.0

    async def run(self, start: Callback, stop: Callback) -> None:
        """Forever: wait to hold the Lease, ``start``, renew until the Lease is lost (or this task is cancelled),
        ``stop``. On cancellation the Lease is given up after ``stop``."""
        try:
            while True:
                await self._acquire()
                self.leading = True
                log.info("leading: this replica (%s) holds lease %s/%s", self.identity, self.namespace, self.name)
                try:
                    await start()
                    await self._renew_until_lost()
                finally:
                    self.leading = False
                    await stop()
                log.warning("lost lease %s/%s: stopped leading; standing by", self.namespace, self.name)
        except asyncio.CancelledError:
            await asyncio.shield(self._release())
            raise

    async def _acquire(self) -> None:
        told = False
        while True:
            holder = await self._try(take_over=True)
            if holder == self.identity:
                return
            if not told:
                log.info("standing by: lease %s/%s is held by %s", self.namespace, self.name, holder)
                told = True
            await asyncio.sleep(self.timing.retry)

    async def _renew_until_lost(self) -> None:
        renewed = self.clock()
        while True:
            await asyncio.sleep(self.timing.retry)
            holder = await self._try(take_over=False)
            if holder == self.identity:
                renewed = self.clock()
            elif holder is not None:
                log.warning("lease %s/%s is now held by %s", self.namespace, self.name, holder)
                return
            if self.clock() - renewed > self.timing.renew_deadline:
                log.warning(
                    "could not renew lease %s/%s for %.0fs", self.namespace, self.name, self.timing.renew_deadline
                )
                return

    async def _try(self, *, take_over: bool) -> str | None:
        """One attempt to create, renew or take over the Lease. Returns its holder after the attempt (ours if it
        succeeded), or None when the API could not be asked (the caller's deadline decides what that means)."""
        try:
            return await self._attempt(take_over=take_over)
        except UNREACHABLE as error:
            log.debug("could not reach the API for lease %s/%s: %s", self.namespace, self.name, describe(error))
            return None

    async def _attempt(self, *, take_over: bool) -> str | None:
        coordination = client.CoordinationV1Api(self.api)
        try:
            lease = await read_json(coordination.read_namespaced_lease, self.name, self.namespace)
        except ApiException as error:
            if error.status != 404:
                log.debug("could not read lease %s/%s: %s", self.namespace, self.name, describe(error))
                return None
            return await self._create(coordination)
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        record = (holder, spec.get("renewTime"), spec.get("leaseDurationSeconds"), spec.get("leaseTransitions"))
        if record != self._observed:
            self._observed, self._observed_at = record, self.clock()
        duration = float(spec.get("leaseDurationSeconds") or 0)
        expired = not holder or self.clock() - self._observed_at > duration
        if holder != self.identity and not (take_over and expired):
            return holder
        now = _now()
        changed = {**spec, "holderIdentity": self.identity, "renewTime": now}
        changed["leaseDurationSeconds"] = round(self.timing.duration)
        if holder != self.identity:
            changed.update(acquireTime=now, leaseTransitions=int(spec.get("leaseTransitions") or 0) + 1)
        return await self._replace(coordination, lease, changed, fallback=holder)

    async def _create(self, coordination: client.CoordinationV1Api) -> str | None:
        now = _now()
        body = {
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": round(self.timing.duration),
                "acquireTime": now,
                "renewTime": now,
                "leaseTransitions": 0,
            },
        }
        try:
            await read_json(coordination.create_namespaced_lease, self.namespace, body)
        except ApiException as error:
            log.debug("could not create lease %s/%s: %s", self.namespace, self.name, describe(error))
            return None
        self._observed = None
        return self.identity

    async def _replace(
        self, coordination: client.CoordinationV1Api, lease: dict[str, Any], spec: dict[str, Any], *, fallback: str
    ) -> str | None:
        body = {"metadata": lease["metadata"], "spec": spec}
        try:
            await read_json(coordination.replace_namespaced_lease, self.name, self.namespace, body)
        except ApiException as error:
            if error.status == 409:
                return fallback if fallback != self.identity else None  # someone wrote first: read again next time
            log.debug("could not write lease %s/%s: %s", self.namespace, self.name, describe(error))
            return None
        return self.identity

    async def _release(self) -> None:
        """Give the Lease up if we hold it, so a standby starts at once; best effort (it expires anyway)."""
        coordination = client.CoordinationV1Api(self.api)
        try:
            lease = await read_json(coordination.read_namespaced_lease, self.name, self.namespace)
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") != self.identity:
                return
            released = {**spec, "holderIdentity": None, "leaseDurationSeconds": 1, "renewTime": _now()}
            await read_json(
                coordination.replace_namespaced_lease,
                self.name,
                self.namespace,
                {"metadata": lease["metadata"], "spec": released},
            )
            log.info("gave up lease %s/%s", self.namespace, self.name)
        except API_FAILURES as error:  # stopping goes on whatever the API says
            log.warning("could not give up lease %s/%s: %s", self.namespace, self.name, describe(error))
