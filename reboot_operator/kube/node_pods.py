"""The pods of one node, listed then watched, so a drain sees an evicted pod leave the moment it does.

Only that node's pods: every list and watch carries the field selector ``spec.nodeName=<node>`` (all namespaces),
and a drain watches only while it waits. The operator never watches every pod in the cluster.

The loop is ``kube/listwatch.py``'s, as the informers', with these choices of the drain's:

- pods are keyed by UID, across namespaces: a pod deleted and created again under its name is another pod, and
  the one the drain evicted is gone;
- every watch is followed by a full listing. That re-list is the fallback: even a watch that never delivers
  anything (refused, broken, silently stalled) leaves the cache at most ``relist_interval`` seconds (plus backoff)
  behind, so it can never hold a drain past its time-out. The server ends each watch after ``relist_interval``
  seconds, we give up on it a little later should it hang without a word, and a listing gets as long;
- a pod whose JSON cannot be read fails the listing or the watch (tried again), rather than being taken as gone;
  any other exception is a bug and ends the watch, which the drain then raises.

A refused watch (403: the operator's role lacks ``watch`` on pods) degrades to re-listing every ``relist_interval``
(10 s at most), and says so once.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable
from typing import Any

from kubernetes_asyncio import client

from reboot_operator.kube.apicalls import is_transient, list_each
from reboot_operator.kube.listwatch import ApiSource, ListWatch, Source
from reboot_operator.kube.pod_filters import PodInfo
from reboot_operator.runtime.backoff import Backoff
from reboot_operator.runtime.errors import API_FAILURES, WatchError

log = logging.getLogger(__name__)

LIST_CHUNK = 500
WATCH_GRACE = 5.0
"""Seconds past the server-side watch time-out after which we stop waiting for the server to end the watch."""
_FAILURES: tuple[type[BaseException], ...] = (*API_FAILURES, ValueError)
"""What ends one list or watch and is retried: the API's failures, and a pod whose JSON cannot be read."""


def _selector(node: str) -> str:
    return f"spec.nodeName={node}"


def pods_of(api: client.ApiClient, node: str) -> ApiSource:
    """The pods of ``node`` on the API server, as a source to list and watch."""
    call = functools.partial(client.CoreV1Api(api).list_pod_for_all_namespaces, field_selector=_selector(node))
    return ApiSource(call, page_size=LIST_CHUNK)


async def list_node_pods(api: client.ApiClient, node: str, *, label_selector: str = "") -> dict[str, PodInfo]:
    """The pods on ``node`` now (matching ``label_selector``, if given), by UID."""
    pods: dict[str, PodInfo] = {}

    def keep(item: dict[str, Any]) -> None:
        pod = PodInfo.from_json(item)
        pods[pod.uid] = pod

    kwargs = {"label_selector": label_selector} if label_selector else {}
    await list_each(
        client.CoreV1Api(api).list_pod_for_all_namespaces,
        keep,
        page_size=LIST_CHUNK,
        field_selector=_selector(node),
        **kwargs,
    )
    return pods


class NodePodWatch:
    """Keeps ``pods`` (by UID; None until first listed) current for one node; ``run`` until cancelled.

    ``on_change`` is called after every change of ``pods``, and after each re-list.
    """

    def __init__(
        self,
        source: Source,
        node: str,
        *,
        relist_interval: float,
        on_change: Callable[[], None],
        backoff: Backoff | None = None,
        grace: float = WATCH_GRACE,
    ) -> None:
        self.node = node
        self.engine: ListWatch[PodInfo] = ListWatch(
            what=f"pods on node {node}",
            source=source,
            parse=PodInfo.from_json,
            on_change=lambda *_: on_change(),
            key="uid",
            relist_each_watch=True,
            server_timeout=max(1, math.ceil(relist_interval)),
            grace=grace,
            # A list that hangs would stop the re-lists too: it gets as long as a watch does.
            list_timeout=relist_interval + grace,
            backoff=backoff or Backoff(initial=0.5, maximum=max(0.5, min(relist_interval, 10.0))),
            retried=_FAILURES,
            next_step=self._next_step,
            on_listed=on_change,
            logger=log,
        )

    async def run(self) -> None:
        await self.engine.run()

    @property
    def pods(self) -> dict[str, PodInfo] | None:
        return self.engine.views if self.engine.listings else None

    @property
    def lists(self) -> int:
        return self.engine.listings

    def _next_step(self, error: BaseException) -> str:
        transient = is_transient(error) or (isinstance(error, WatchError) and error.code in (0, 429, 500, 503, 504))
        if transient:
            return "retrying"
        return f"listing them every {self.engine.backoff.maximum:.0f} s instead"
