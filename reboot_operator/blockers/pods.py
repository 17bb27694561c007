"""The pod blocker: a node does not start while pods matching a selector run on it (kured's
``--blocking-pod-selector``), optionally counting only pods in namespaces matching a namespace selector.

Pods are listed per candidate node with a field selector (``spec.nodeName``), never watched cluster-wide: the
coordinator asks only about the few nodes it is about to start. Pods that have ended (Succeeded, Failed) never block.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import aiohttp
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from reboot_operator.api.policy import PodBlocker
from reboot_operator.blockers import CLEAR, Verdict
from reboot_operator.kube.apicalls import read_json, retry_transient
from reboot_operator.kube.options import selector_string
from reboot_operator.runtime.errors import KubeEffectError

SHOWN = 5
"""How many pods a message names."""


class BlockingPods:
    """A :class:`~reboot_operator.blockers.NodeBlocker` for a policy's ``spec.blockers.pods``."""

    def __init__(self, api: client.ApiClient, selectors: Sequence[PodBlocker]) -> None:
        self.api = api
        self.selectors = selectors

    async def blocking(self, node: str) -> list[str]:
        """``namespace/name`` of every pod on ``node`` that blocks it, sorted."""
        core = client.CoreV1Api(self.api)
        found: set[str] = set()
        fields = f"spec.nodeName={node},status.phase!=Succeeded,status.phase!=Failed"
        for blocker in self.selectors:
            listing = await retry_transient(
                partial(
                    read_json,
                    core.list_pod_for_all_namespaces,
                    field_selector=fields,
                    label_selector=selector_string(blocker.label_selector),
                ),
                what=f"list the pods on {node}",
            )
            pods = [
                (item["metadata"]["namespace"], item["metadata"]["name"])
                for item in listing.get("items") or []
                if (item.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            ]
            if pods and blocker.namespace_selector is not None:
                namespaces = await retry_transient(
                    partial(read_json, core.list_namespace, label_selector=selector_string(blocker.namespace_selector)),
                    what="list namespaces",
                )
                allowed = {item["metadata"]["name"] for item in namespaces.get("items") or []}
                pods = [(namespace, name) for namespace, name in pods if namespace in allowed]
            found.update(f"{namespace}/{name}" for namespace, name in pods)
        return sorted(found)

    async def check(self, node: str) -> Verdict:
        try:
            pods = await self.blocking(node)
        except (ApiException, KubeEffectError, aiohttp.ClientError) as error:  # fail closed, as for alerts
            return Verdict(blocked=True, reason=f"cannot list the pods on {node}: {error}", failed=True)
        if not pods:
            return CLEAR
        more = f" and {len(pods) - SHOWN} more" if len(pods) > SHOWN else ""
        return Verdict(blocked=True, reason=f"blocking pods on the node: {', '.join(pods[:SHOWN])}{more}")
