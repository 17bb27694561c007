"""Helpers for end-to-end tests: a rig of the real operator, real agents and simulated nodes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client

from hack import processes
from hack.nodesim.simulator import NodeSimulator
from reboot_operator.api.meta import GROUP, VERSION


@dataclass
class Rig:
    api: client.ApiClient
    kubeconfig: Path
    sim: NodeSimulator
    logs: Path
    operators: list[processes.Child] = field(default_factory=list)
    agents: dict[str, processes.Child] = field(default_factory=dict)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    def start_operator(self, *extra: str) -> processes.Child:
        child = processes.operator(self.kubeconfig, self.logs / f"operator-{len(self.operators)}.log", *extra).start()
        self.operators.append(child)
        return child

    def start_agent(self, node: str, **kwargs: Any) -> processes.Child:
        child = processes.agent(self.kubeconfig, self.sim.root, node, self.logs / f"agent-{node}.log", **kwargs)
        self.agents[node] = child.start()
        return child

    async def add_nodes(self, names: Iterable[str], *, agents: bool = True, **kwargs: Any) -> None:
        await self.sim.add_nodes(names, **kwargs)
        if agents:
            for name in names:
                self.start_agent(name)

    async def apply_policy(self, name: str, spec: dict[str, Any]) -> None:
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "RebootPolicy", "metadata": {"name": name}, "spec": spec}
        await self.custom.create_cluster_custom_object(GROUP, VERSION, "rebootpolicies", body)

    async def patch_policy(self, name: str, spec: dict[str, Any]) -> None:
        await self.custom.patch_cluster_custom_object(
            GROUP, VERSION, "rebootpolicies", name, {"spec": spec}, _content_type="application/merge-patch+json"
        )

    async def policy(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.custom.get_cluster_custom_object(GROUP, VERSION, "rebootpolicies", name)
        return result

    async def requests(self) -> dict[str, dict[str, Any]]:
        listing = await self.custom.list_cluster_custom_object(GROUP, VERSION, "noderebootrequests")
        return {item["metadata"]["name"]: item for item in listing["items"]}

    async def phases(self, names: Iterable[str]) -> dict[str, str | None]:
        requests = await self.requests()
        return {n: (requests.get(n) or {}).get("status", {}).get("phase") for n in names}

    async def wait_phases(self, names: Iterable[str], phases: set[str], *, timeout: float) -> dict[str, str | None]:
        names = list(names)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    current = await self.phases(names)
                    if all(p in phases for p in current.values()):
                        return current
                    await asyncio.sleep(0.2)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {phases}: {await self.phases(names)}\n{self.dump()}") from None

    async def first_in(self, names: Iterable[str], phase: str, *, timeout: float) -> str:
        """The first of ``names`` found in ``phase``, waiting until one is."""
        names = list(names)
        async with asyncio.timeout(timeout):
            while True:
                found = [name for name, current in (await self.phases(names)).items() if current == phase]
                if found:
                    return found[0]
                await asyncio.sleep(0.1)

    def dump(self) -> str:
        parts = []
        for child in self.operators:
            parts.append(f"--- {child.log_path.name}\n{child.log()[-6000:]}")
        return "\n".join(parts)

    async def stop(self) -> None:
        for child in [*self.operators, *self.agents.values()]:
            child.stop()


def describe(requests: dict[str, dict[str, Any]]) -> str:
    return json.dumps({n: r.get("status") for n, r in requests.items()}, indent=1, default=str)


async def pinned_replicaset(
    api: client.ApiClient,
    namespace: str,
    node: str,
    *,
    name: str = "web",
    replicas: int = 1,
    min_available: int | None = None,
    grace: int = 1,
) -> None:
    """A ReplicaSet whose pods run on ``node`` (its template names the node), and optionally a PDB over them."""
    labels = {"app": name}
    apps = client.AppsV1Api(api)
    await apps.create_namespaced_replica_set(
        namespace,
        {
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "nodeName": node,
                        "terminationGracePeriodSeconds": grace,
                        "containers": [{"name": "app", "image": "registry.invalid/web:1"}],
                    },
                },
            },
        },
    )
    if min_available is not None:
        await client.PolicyV1Api(api).create_namespaced_pod_disruption_budget(
            namespace,
            {"metadata": {"name": name}, "spec": {"minAvailable": min_available, "selector": {"matchLabels": labels}}},
        )
    core = client.CoreV1Api(api)
    async with asyncio.timeout(30):
        while True:
            pods = await core.list_namespaced_pod(namespace, label_selector=f"app={name}")
            if len([p for p in pods.items if p.status.phase == "Running"]) >= replicas:
                break
            await asyncio.sleep(0.2)
    if min_available is not None:
        policy = client.PolicyV1Api(api)
        async with asyncio.timeout(30):
            while True:
                pdb = await policy.read_namespaced_pod_disruption_budget(name, namespace)
                if pdb.status and pdb.status.current_healthy == replicas:
                    break
                await asyncio.sleep(0.2)


async def told(api: client.ApiClient, node: str, *reasons: str, kind: str = "Node", timeout: float = 15.0) -> list[str]:
    """``node_events``, once each of ``reasons`` is among them: the operator posts an Event a second after it tells
    it (``kube/events.SETTLE``). Fails if one is not told within ``timeout``."""
    async with asyncio.timeout(timeout):
        while True:
            found = await node_events(api, node, kind=kind)
            if all(reason in found for reason in reasons):
                return found
            await asyncio.sleep(0.2)


async def node_events(api: client.ApiClient, node: str, *, kind: str = "Node") -> list[str]:
    """The reasons of the Events posted about a node (or, with ``kind``, its NodeRebootRequest), oldest first."""
    events = await client.CoreV1Api(api).list_namespaced_event(
        "default", field_selector=f"involvedObject.kind={kind},involvedObject.name={node}"
    )
    # Timestamps have one-second resolution; etcd's revisions order the Events exactly.
    return [e.reason for e in sorted(events.items, key=lambda e: int(e.metadata.resource_version))]
