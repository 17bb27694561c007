"""What the coordinator knows before the watch shows it: its own status writes (read-your-writes) and the queue
times it gave requests whose Waiting status is not written yet.

Both exist to keep a pass from deciding on a version of an object that our own write already replaced: a write
asked for from that stale version could only come back as 409 Conflict, and a different decision from it (a new
queue time, a slot count without our own claim) would be one more.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from reboot_operator.api.vocabulary import ACTIVE_PHASES, CANCELLABLE_PHASES, Phase
from reboot_operator.core.decisions import Action, RequestDecision
from reboot_operator.kube.statuses import REQUESTS
from reboot_operator.watch.observed import PolicyView, RequestView, policy_view, request_view

View = TypeVar("View", RequestView, PolicyView)


class OwnWrites:
    """Our own status writes the watch has not brought back yet, by (plural, name).

    Rules: an entry is added by every status write of ours, whoever made it (the status writer, a claim, a cycle:
    ``statuses.listen`` tells each one). ``freshest`` puts it in place of the watched object while it is newer (by
    resourceVersion), and drops it once the watch has caught up or the object is gone: the watch is then the truth
    again. A watch event that only echoes one of our writes (same resourceVersion) does not wake the loop, and a
    write wakes it only if it can change a decision (``matters``): at scale, thousands of waiting messages would
    each cost a pass."""

    def __init__(
        self,
        *,
        kick: Callable[[], None],
        known: Callable[[str, str], RequestView | PolicyView | None],
        on_freed: Callable[[], None] | None = None,
    ) -> None:
        self._kick = kick
        self._known = known
        """The watched object, to compare a write with what was there before it."""
        self._on_freed = on_freed
        self.views: dict[tuple[str, str], RequestView | PolicyView] = {}
        self.freed = False
        """One of our writes just ended a cycle or freed a slot: the next pass need not wait for a burst (the loop
        reads and clears it; ``on_freed`` tells it, to end a wait already begun)."""

    def wrote(self, plural: str, body: dict[str, Any]) -> None:
        """A status we wrote: decide on it now rather than one watch round-trip later, if it matters."""
        view = request_view(body) if plural == REQUESTS else policy_view(body)
        if view is None:
            return
        key = (plural, view.name)
        before = self.views.get(key) or self._known(plural, view.name)
        self.views[key] = view
        if matters(before, view):
            if frees(before, view):
                self.freed = True
                if self._on_freed is not None:
                    self._on_freed()
            self._kick()

    def echoes(self, plural: str, name: str, resource_version: str) -> bool:
        """Whether a watch event only brings back a write of ours. A waiting request's write is forgotten then: the
        watch shows it now. (At a first start 15,000 waiting statuses are written between two passes, and each
        was held twice, as the watch's view and as ours, until the next pass: ~19 MB at 15,000; the writes of a
        cycle are forgotten by ``freshest``, as before, so a pass reads them as it did.)"""
        key = (plural, name)
        ours = self.views.get(key)
        if ours is None or ours.resource_version != resource_version:
            return False
        if isinstance(ours, RequestView) and ours.base_facts.phase is Phase.WAITING:
            del self.views[key]
        return True

    def newer(self, plural: str, name: str, than: str) -> RequestView | PolicyView | None:
        """Our write of the object, if newer than version ``than``."""
        ours = self.views.get((plural, name))
        return ours if ours is not None and newer(ours.resource_version, than) else None

    def freshest(self, plural: str, indexed: Mapping[str, View]) -> Mapping[str, View]:
        """The watched objects, with our own newer writes in place of what the watch has not caught up with."""
        if not self.views:
            return indexed
        merged = dict(indexed)
        for key, view in list(self.views.items()):
            if key[0] != plural:
                continue
            current = merged.get(key[1])
            if current is None or not newer(view.resource_version, current.resource_version):
                del self.views[key]  # caught up (or gone): the watch is the truth again
            else:
                merged[key[1]] = view  # type: ignore[assignment]
        return merged

    def clear(self) -> None:
        self.views.clear()


class QueueTimes:
    """When a decision put each request into its queue (with the request's generation), until its status says so.

    Rules: noted for a waiting request whose status does not hold the decision's queue time yet; handed to the next
    decisions (``steady``), so a pass meanwhile keeps the same time rather than its own ``now``, and asks for the
    same write again (which the status writer drops) rather than a different one from the same stale version (a
    409 each, thousands at start-up). Dropped once the request is gone, has a new generation (a new need), or its
    status holds a queue time for that generation."""

    def __init__(self) -> None:
        self.times: dict[str, tuple[int, datetime.datetime]] = {}

    def note(self, request: RequestView, decision: RequestDecision) -> None:
        if (
            decision.action is Action.WAIT
            and decision.queued_at is not None
            and decision.queued_at != request.status.queued_at
        ):
            self.times.setdefault(request.name, (request.generation, decision.queued_at))

    def steady(self, requests: Mapping[str, RequestView]) -> dict[str, datetime.datetime]:
        """The queue times to hand to the decision, forgetting those no longer needed."""
        steady: dict[str, datetime.datetime] = {}
        for name, (generation, queued_at) in list(self.times.items()):
            request = requests.get(name)
            status = request.status if request is not None else None
            if (
                request is None
                or request.generation != generation
                or status is None
                or (status.queued_at is not None and status.observed_generation == generation)
            ):
                del self.times[name]
            else:
                steady[name] = queued_at
        return steady

    def clear(self) -> None:
        self.times.clear()


def frees(before: RequestView | PolicyView | None, after: RequestView | PolicyView) -> bool:
    """Whether a status change of ours ends a cycle (its request leaves the phases in progress) or frees a slot."""
    if isinstance(after, RequestView):
        return (
            isinstance(before, RequestView)
            and before.status.phase in ACTIVE_PHASES
            and after.status.phase not in ACTIVE_PHASES
        )
    return isinstance(before, PolicyView) and not set(before.status.slots) <= set(after.status.slots)


def matters(before: RequestView | PolicyView | None, after: RequestView | PolicyView) -> bool:
    """Whether a status change can change a decision: anything but a waiting request's new message, or a cycle's
    step to the next phase in progress that does not change whether an admin's cancel may stop it (a request in
    progress is decided "continue" whatever its phase, ``core/classify.py``; a cancel only while cordoning or
    draining). At 15,000 nodes each pass for nothing costs tens of milliseconds, and a cycle ending meanwhile
    waits for it."""
    if isinstance(after, RequestView):
        if not isinstance(before, RequestView):
            return after.status.phase is not Phase.WAITING
        was, is_ = before.status.phase, after.status.phase
        if was in ACTIVE_PHASES and is_ in ACTIVE_PHASES:
            return (was in CANCELLABLE_PHASES) != (is_ in CANCELLABLE_PHASES)
        return was != is_ and is_ is not Phase.WAITING
    if not isinstance(before, PolicyView):
        return True
    return (
        before.status.slots != after.status.slots
        or before.status.failure_budget != after.status.failure_budget
        or before.status.last_completion_at != after.status.last_completion_at
    )


def newer(version: str, than: str) -> bool:
    """Whether resourceVersion ``version`` is newer than ``than``. They are opaque by contract, but etcd's are
    revisions; anything else is never taken as newer, so the watch stays the truth."""
    return version.isdigit() and than.isdigit() and int(version) > int(than)
