"""Draining a node: kubectl drain's algorithm, reimplemented for asyncio, with progress a status can show.

1. List the node's pods (field selector ``spec.nodeName``, all namespaces, paginated; never every pod in the cluster).
2. Decide each pod's fate with kubectl's filters (``pod_filters``). If any pod is refused (unmanaged without force,
   emptyDir without delete_emptydir_data, orphaned DaemonSet pod without force), stop before evicting anything and
   name those pods, as kubectl does.
3. Evict the others concurrently (``eviction``), each retried on its own until the API server accepts; the pods
   named in ``evict_last`` (the operator's own) only once every other pod is gone.
4. Watch the node's pods (``node_pods``: list, then watch with the same field selector, re-listed at least every
   ``relist_interval``), so an evicted pod's deletion is seen the moment it happens. A pod whose UID is no longer
   there is gone, even if a new pod took its name (kured #1169); pods whose deletion began longer ago than
   ``skip_wait_for_delete_timeout`` stop being waited for (``drain_wait``, kubectl's waitForDelete).
5. Report progress on every change, and give up at the time-out, naming what still blocks.

The caller cordons the node first (``nodes.ensure_cordoned``); the drain itself never changes the Node object.
Transient API failures never end a drain: they are retried with backoff and reported.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import aiohttp
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from reboot_operator.kube.apicalls import describe, is_transient, read_json
from reboot_operator.kube.drain_types import (
    BlockingPod,
    BlockReason,
    DrainOptions,
    DrainOutcome,
    DrainProgress,
    DrainResult,
    PodRef,
    ProgressCallback,
    SkippedPod,
    SkipReason,
)
from reboot_operator.kube.drain_wait import next_skip_at, settle
from reboot_operator.kube.eviction import EvictionOutcome, evict_until_accepted
from reboot_operator.kube.node_pods import NodePodWatch, list_node_pods, pods_of
from reboot_operator.kube.pod_filters import (
    PodDecision,
    PodInfo,
    Verdict,
    decide_pod,
    grouped,
    needs_daemonset_lookup,
    refusal_error,
)
from reboot_operator.runtime.backoff import OUTAGE_BACKOFF, Backoff
from reboot_operator.runtime.clock import Clock, utcnow
from reboot_operator.runtime.errors import ApiUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
MIN_WAKE = 0.05
"""Seconds: the shortest sleep between two looks at the pods, so a clock at a boundary cannot make a busy loop."""
API_FAILURES = (ApiException, aiohttp.ClientError, OSError, asyncio.TimeoutError)


class _Permanent(Exception):
    """An API failure retrying cannot fix (forbidden, invalid): the drain ends as Failed."""


class _NotFound(Exception):
    """The object read does not exist (a normal answer for some reads)."""


@dataclass
class _Tracked:
    """One pod the drain must remove, and where it stands."""

    pod: PodInfo
    task: asyncio.Task[EvictionOutcome] | None = None
    accepted: bool = False
    block: BlockingPod | None = None
    gone: bool = False
    skipped: SkipReason | None = None  # no longer waited for, though still there

    @property
    def pending(self) -> bool:
        return not self.gone and self.skipped is None

    def waiting_reason(self) -> BlockingPod:
        if self.block is not None:
            return self.block
        reason = BlockReason.TERMINATING if self.accepted else BlockReason.EVICTING
        return BlockingPod(self.pod.namespace, self.pod.name, reason)


@dataclass
class _Drain:
    api: client.ApiClient
    node: str
    options: DrainOptions
    on_progress: ProgressCallback | None
    deadline: float | None
    clock: Clock = utcnow
    tracked: dict[str, _Tracked] = field(default_factory=dict)
    last_progress: DrainProgress | None = None
    report_failing: bool = False
    report_backoff: Backoff = field(default_factory=lambda: Backoff(initial=0.5, maximum=OUTAGE_BACKOFF))
    last_error: str | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    """Set whenever something the wait looks at may have changed: the node's pods, an eviction's fate."""

    # -- 1 and 2: what is on the node, and what to do with each pod ------------------------------------------------

    async def plan(self) -> tuple[list[tuple[PodInfo, PodDecision]], list[str]]:
        listing = await self.retrying(
            f"list pods on node {self.node}",
            lambda: list_node_pods(self.api, self.node, label_selector=self.options.pod_selector),
        )
        pods = list(listing.values())
        now = self.clock()
        lookups: dict[tuple[str, str], bool | str] = {}
        for pod in pods:
            key = _daemonset_key(pod, self.options, now)
            if key is not None and key not in lookups:
                lookups[key] = await self.daemonset_exists(*key)
        decisions: list[tuple[PodInfo, PodDecision]] = []
        errors: list[str] = []
        for pod in pods:
            key = _daemonset_key(pod, self.options, now)
            found = None if key is None else lookups[key]
            if isinstance(found, str):
                errors.append(found)
                decisions.append((pod, PodDecision(Verdict.REFUSE, block_reason=BlockReason.API_ERROR, detail=found)))
            else:
                decisions.append((pod, decide_pod(pod, self.options, now=now, daemonset_exists=found)))
        return decisions, errors

    async def daemonset_exists(self, namespace: str, name: str) -> bool | str:
        """True or False, or a message when the API will not say (e.g. forbidden)."""
        apps = client.AppsV1Api(self.api)
        try:
            await self.retrying(
                f"read DaemonSet {namespace}/{name}",
                lambda: read_json(apps.read_namespaced_daemon_set, name, namespace),
                not_found_ok=True,
            )
        except _NotFound:
            return False
        except _Permanent as error:
            return str(error)
        return True

    async def retrying(self, what: str, call: Callable[[], Awaitable[T]], *, not_found_ok: bool = False) -> T:
        """Retry transient failures with backoff until the deadline (enforced by the caller's time-out scope)."""
        backoff = Backoff(initial=0.5, maximum=OUTAGE_BACKOFF)
        while True:
            try:
                return await call()
            except API_FAILURES as error:
                if not_found_ok and isinstance(error, ApiException) and error.status == 404:
                    raise _NotFound() from error
                self.last_error = f"{what}: {describe(error)}"
                if not is_transient(error):
                    raise _Permanent(self.last_error) from error
                log.warning("%s; retrying", self.last_error)
                await asyncio.sleep(backoff.next())

    # -- 3 and 4: evict, and watch the pods go --------------------------------------------------------------------

    def start_evictions(self, pods: list[PodInfo]) -> None:
        for pod in pods:
            tracked = _Tracked(pod)
            self.tracked[pod.uid] = tracked
            tracked.task = asyncio.create_task(self.evict(tracked), name=f"evict-{pod.ref}")
            tracked.task.add_done_callback(lambda _: self.changed.set())

    async def evict(self, tracked: _Tracked) -> EvictionOutcome:
        def blocked(block: BlockingPod | None) -> None:
            tracked.block = block
            self.changed.set()

        outcome = await evict_until_accepted(self.api, tracked.pod, self.options, on_blocked=blocked)
        tracked.accepted = True
        if outcome is EvictionOutcome.GONE and tracked.pending:
            tracked.gone = True
        return outcome

    def pending(self) -> list[_Tracked]:
        return [t for t in self.tracked.values() if t.pending]

    def finish(self, tracked: _Tracked, *, skipped: SkipReason | None = None) -> None:
        tracked.gone = skipped is None
        tracked.skipped = skipped
        tracked.block = None
        if tracked.task is not None and not tracked.task.done():
            tracked.task.cancel()

    def settle(self, present: dict[str, PodInfo], now: datetime.datetime) -> None:
        """Mark pods whose UID has left the node as gone; stop waiting for those deleted long ago."""
        pending = {t.pod.uid: t for t in self.pending()}
        settled = settle(pending, present, skip_after=self.options.skip_wait_for_delete_timeout, now=now)
        for uid in settled.gone:
            self.finish(pending[uid])
        for uid in settled.deleted_long_ago:
            log.info("pod %s was deleted long ago, no longer waiting for it", pending[uid].pod.ref)
            self.finish(pending[uid], skipped=SkipReason.DELETED_LONG_AGO)

    def raise_unexpected(self) -> None:
        """An evictor that died of anything but cancellation is a bug; let it surface instead of waiting forever."""
        for tracked in self.tracked.values():
            task = tracked.task
            if task is not None and task.done() and not task.cancelled():
                error = task.exception()
                if error is not None:
                    raise error

    async def wait(self) -> bool:
        """Watch the node's pods until every evicted one is gone (True) or the deadline passes (False)."""
        watch = NodePodWatch(
            pods_of(self.api, self.node),
            self.node,
            relist_interval=self.options.relist_interval,
            on_change=self.changed.set,
        )
        watching = asyncio.create_task(watch.run(), name=f"watch-pods-{self.node}")
        watching.add_done_callback(lambda _: self.changed.set())
        try:
            return await self.wait_on(watch, watching)
        finally:
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)

    async def wait_on(self, watch: NodePodWatch, watching: asyncio.Task[None]) -> bool:
        loop = asyncio.get_running_loop()
        while True:
            self.changed.clear()
            self.raise_unexpected()
            if watching.done():
                watching.result()  # it only ends by a bug: let it surface
            now = self.clock()
            if watch.pods is not None:
                self.settle(watch.pods, now)
            await self.report()
            if not self.pending():
                return True
            delay = None
            if watch.pods is not None:
                waiting = [t.pod.uid for t in self.pending()]
                skip_at = next_skip_at(waiting, watch.pods, skip_after=self.options.skip_wait_for_delete_timeout)
                delay = None if skip_at is None else (skip_at - now).total_seconds()
            if self.deadline is not None:
                left = self.deadline - loop.time()
                if left <= 0:
                    return False
                delay = left if delay is None else min(delay, left)
            try:
                async with asyncio.timeout(None if delay is None else max(delay, MIN_WAKE)):
                    await self.changed.wait()
            except TimeoutError:
                pass

    async def stop_evictions(self) -> None:
        tasks = [t.task for t in self.tracked.values() if t.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- 5: progress ----------------------------------------------------------------------------------------------

    def progress(self) -> DrainProgress:
        pending = self.pending()
        blocking = sorted((t.block for t in pending if t.block is not None), key=lambda b: (b.namespace, b.name))
        return DrainProgress(total=len(self.tracked), remaining=len(pending), blocking=tuple(blocking))

    async def report(self) -> None:
        """Tell ``on_progress`` of a change. Progress counts as told only once the callback succeeded: a failed
        write (the API server away) is tried again after a backoff, and an outage is logged once, not per try."""
        progress = self.progress()
        if progress == self.last_progress or self.on_progress is None:
            return
        try:
            await self.on_progress(progress)
        except Exception as error:  # the caller's callback, whatever it raises:
            # The drain matters more than its status line: the drain goes on, the report is tried again.
            delay = self.report_backoff.next()
            if not self.report_failing:
                if isinstance(error, ApiUnavailable) or is_transient(error):
                    log.warning(
                        "node %s: could not write drain progress (%s); trying again every few seconds",
                        self.node,
                        describe(error),
                    )
                else:
                    log.exception("drain progress callback failed for node %s", self.node)
            self.report_failing = True
            asyncio.get_running_loop().call_later(delay, self.changed.set)
            return
        if self.report_failing:
            log.info("node %s: drain progress written again", self.node)
        self.report_failing = False
        self.report_backoff.reset()
        self.last_progress = progress

    def evicted(self) -> tuple[PodRef, ...]:
        gone = (t.pod for t in self.tracked.values() if t.gone)
        return tuple(sorted(PodRef(pod.namespace, pod.name, pod.uid) for pod in gone))

    def skipped_while_waiting(self) -> list[SkippedPod]:
        return [SkippedPod(t.pod.namespace, t.pod.name, t.skipped) for t in self.tracked.values() if t.skipped]


def _daemonset_key(pod: PodInfo, options: DrainOptions, now: datetime.datetime) -> tuple[str, str] | None:
    if pod.controller is None or not needs_daemonset_lookup(pod, options, now=now):
        return None
    return (pod.namespace, pod.controller.name)


async def drain_node(
    api: client.ApiClient,
    node: str,
    options: DrainOptions | None = None,
    *,
    on_progress: ProgressCallback | None = None,
    clock: Clock = utcnow,
) -> DrainResult:
    """Evict every pod the options allow from ``node`` and wait until they are gone. See the module docstring.

    ``clock`` tells the time pods are judged at (a DaemonSet pod's owner lookup depends on its age)."""
    options = options or DrainOptions()
    loop = asyncio.get_running_loop()
    deadline = None if options.timeout is None else loop.time() + options.timeout
    drain = _Drain(api=api, node=node, options=options, on_progress=on_progress, deadline=deadline, clock=clock)

    try:
        async with asyncio.timeout_at(deadline):
            decisions, lookup_errors = await drain.plan()
    except TimeoutError:
        cause = f" (last error: {drain.last_error})" if drain.last_error else ""
        return DrainResult(DrainOutcome.TIMED_OUT, error=f"drain of node {node} timed out listing its pods{cause}")
    except _Permanent as error:
        return DrainResult(DrainOutcome.FAILED, error=str(error))

    skipped = [SkippedPod(p.namespace, p.name, d.skip_reason) for p, d in decisions if d.skip_reason is not None]
    refused = [(p, d) for p, d in decisions if d.verdict is Verdict.REFUSE]
    if refused:
        blocking = tuple(
            BlockingPod(p.namespace, p.name, d.block_reason or BlockReason.API_ERROR, detail=d.detail)
            for p, d in refused
        )
        message = refusal_error(refused) + "".join(f"; {e}" for e in dict.fromkeys(lookup_errors))
        return DrainResult(DrainOutcome.REFUSED, skipped=tuple(skipped), blocking=blocking, error=message)

    to_evict = [(p, d) for p, d in decisions if d.verdict is Verdict.EVICT]
    warnings = tuple(grouped((d.warning, p) for p, d in to_evict if d.warning))
    log.info("draining node %s: %d pods to evict, %d skipped", node, len(to_evict), len(skipped))
    last = [p for p, _ in to_evict if (p.namespace, p.name) in options.evict_last]
    drain.start_evictions([p for p, _ in to_evict if (p.namespace, p.name) not in options.evict_last])
    try:
        finished = await drain.wait()
        if finished and last:
            log.info("node %s: every other pod is gone; evicting %s last", node, ", ".join(p.ref for p in last))
            drain.start_evictions(last)
            finished = await drain.wait()
    finally:
        await drain.stop_evictions()
    skipped.extend(drain.skipped_while_waiting())
    if finished:
        return DrainResult(DrainOutcome.COMPLETED, evicted=drain.evicted(), skipped=tuple(skipped), warnings=warnings)
    blocking = tuple(sorted((t.waiting_reason() for t in drain.pending()), key=lambda b: (b.namespace, b.name)))
    still = ", ".join(f"{b.ref} ({b.describe()})" for b in blocking)
    return DrainResult(
        DrainOutcome.TIMED_OUT,
        evicted=drain.evicted(),
        skipped=tuple(skipped),
        blocking=blocking,
        warnings=warnings,
        error=f"drain of node {node} timed out after {options.timeout} s; still waiting for {still}",
    )
