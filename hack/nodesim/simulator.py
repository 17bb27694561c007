"""The simulator itself: node objects, heartbeats, pod lifecycle and reboots, driven through the real API."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import itertools
import json
import logging
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from hack.nodesim import files

log = logging.getLogger("nodesim")

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
LEASE_NAMESPACE = "kube-node-lease"
DEFAULT_KERNEL = "6.8.0-1001-azure"
DEFAULT_OS_IMAGE = "Ubuntu 24.04.3 LTS"


@dataclass
class NodeBehaviour:
    """How one simulated node reacts to a reboot. The defaults are a healthy node that reboots in 2 s."""

    reboot_seconds: float = 2.0
    never_returns: bool = False
    sentinel_survives: bool = False
    next_kernel: str | None = None


@dataclass
class _Node:
    name: str
    boot_id: str
    kernel: str
    os_image: str
    behaviour: NodeBehaviour
    up: bool = True
    reboots: int = 0
    reboot_task: asyncio.Task[None] | None = None


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def next_kernel(kernel: str) -> str:
    """The kernel an update installs: the last number in the version, plus one (6.8.0-1001-azure → 6.8.0-1002-azure)."""
    numbers = list(re.finditer(r"\d+", kernel))
    if not numbers:
        return kernel + ".1"
    last = numbers[-1]
    return f"{kernel[: last.start()]}{int(last.group()) + 1}{kernel[last.end() :]}"


def _ready_condition(status: str, reason: str, message: str) -> dict[str, str]:
    stamp = now_rfc3339()
    return {
        "type": "Ready",
        "status": status,
        "reason": reason,
        "message": message,
        "lastHeartbeatTime": stamp,
        "lastTransitionTime": stamp,
    }


@dataclass
class NodeSimulator:
    """Simulated nodes on a real API server. ``await start()`` before use and ``await stop()`` after.

    ``grace_scale`` multiplies pods' termination grace periods (0.1 makes a 30 s grace period last 3 s);
    ``lease_seconds`` is the node-lease renewal period (None: no leases, for very large simulated clusters);
    ``schedule_pods`` binds pending pods without a node to a schedulable, Ready simulated node, standing in for the
    scheduler so that evicted ReplicaSet pods come back elsewhere.
    """

    api: client.ApiClient
    root: Path
    grace_scale: float = 1.0
    lease_seconds: float | None = 10.0
    schedule_pods: bool = True
    _nodes: dict[str, _Node] = field(default_factory=dict)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _deleting: set[str] = field(default_factory=set)
    _control: asyncio.Server | None = None
    _round_robin: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    # -- lifecycle -----------------------------------------------------------------------------------------

    async def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._control = await asyncio.start_server(self._serve_control, "127.0.0.1", 0)
        port = self._control.sockets[0].getsockname()[1]
        (self.root / files.CONTROL).write_text(json.dumps({"port": port}))
        self._tasks.append(asyncio.create_task(self._pod_loop(), name="nodesim-pods"))
        if self.lease_seconds:
            self._tasks.append(asyncio.create_task(self._lease_loop(self.lease_seconds), name="nodesim-leases"))

    async def stop(self) -> None:
        for node in self._nodes.values():
            if node.reboot_task is not None:
                node.reboot_task.cancel()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._control is not None:
            self._control.close()
            await self._control.wait_closed()
        (self.root / files.CONTROL).unlink(missing_ok=True)

    # -- nodes ---------------------------------------------------------------------------------------------

    async def add_node(
        self,
        name: str,
        *,
        labels: dict[str, str] | None = None,
        kernel: str = DEFAULT_KERNEL,
        os_image: str = DEFAULT_OS_IMAGE,
        unschedulable: bool = False,
        behaviour: NodeBehaviour | None = None,
    ) -> None:
        """Register a node the way a kubelet does: create the Node, then report its status and a lease."""
        node = _Node(
            name=name,
            boot_id=str(uuid.uuid4()),
            kernel=kernel,
            os_image=os_image,
            behaviour=behaviour or NodeBehaviour(),
        )
        self._nodes[name] = node
        files.node_dir(self.root, name).mkdir(parents=True, exist_ok=True)
        files.boot_id_path(self.root, name).write_text(node.boot_id + "\n")
        all_labels = {
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "rollboot.dev/simulated": "true",
            **(labels or {}),
        }
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": all_labels},
            "spec": {"unschedulable": unschedulable} if unschedulable else {},
        }
        await self.core.create_node(body)
        await self._report_status(node, ready=True)
        if self.lease_seconds:
            await self._renew_lease(node, create=True)

    async def add_nodes(self, names: Iterable[str], **kwargs: Any) -> None:
        await asyncio.gather(*(self.add_node(name, **kwargs) for name in names))

    async def delete_node(self, name: str) -> None:
        """Remove a node as a cluster autoscaler does: delete the Node object (its pods are collected too)."""
        node = self._nodes.pop(name, None)
        if node is not None and node.reboot_task is not None:
            node.reboot_task.cancel()
        with contextlib.suppress(ApiException):
            await self.core.delete_node(name)
        pods = await self.core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={name}")
        for pod in pods.items:
            with contextlib.suppress(ApiException):
                await self.core.delete_namespaced_pod(pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0)

    def node_names(self) -> list[str]:
        return sorted(self._nodes)

    def boot_id(self, name: str) -> str:
        return self._nodes[name].boot_id

    def kernel(self, name: str) -> str:
        return self._nodes[name].kernel

    def reboot_count(self, name: str) -> int:
        return self._nodes[name].reboots

    def is_up(self, name: str) -> bool:
        return self._nodes[name].up

    def set_behaviour(self, name: str, behaviour: NodeBehaviour) -> None:
        self._nodes[name].behaviour = behaviour

    def require_reboot(self, name: str, packages: list[str] | None = None) -> None:
        files.require_reboot(self.root, name, packages or ["linux-image-" + next_kernel(self._nodes[name].kernel)])

    def reboot_required(self, name: str) -> bool:
        return files.sentinel_path(self.root, name).exists()

    # -- reboots -------------------------------------------------------------------------------------------

    def reboot(self, name: str) -> bool:
        """Start rebooting ``name``; False when it is unknown or already rebooting (a reboot is not re-entrant)."""
        node = self._nodes.get(name)
        if node is None or not node.up:
            return False
        node.up = False
        node.reboots += 1
        node.reboot_task = asyncio.create_task(self._reboot(node), name=f"nodesim-reboot-{name}")
        return True

    async def wait_for_reboots(self, name: str, count: int, *, timeout: float = 60.0) -> None:
        async with asyncio.timeout(timeout):
            while self._nodes[name].reboots < count or not self._nodes[name].up:
                await asyncio.sleep(0.05)

    async def _reboot(self, node: _Node) -> None:
        log.info("node %s: rebooting (kernel %s, boot %s)", node.name, node.kernel, node.boot_id)
        await self._report_status(node, ready=False)
        if node.behaviour.never_returns:
            log.info("node %s: will never return", node.name)
            return
        await asyncio.sleep(node.behaviour.reboot_seconds)
        if not node.behaviour.sentinel_survives:
            files.clear_sentinel(self.root, node.name)
        node.kernel = node.behaviour.next_kernel or next_kernel(node.kernel)
        node.boot_id = str(uuid.uuid4())
        files.boot_id_path(self.root, node.name).write_text(node.boot_id + "\n")
        node.up = True
        await self._report_status(node, ready=True)
        log.info("node %s: back (kernel %s, boot %s)", node.name, node.kernel, node.boot_id)

    async def _serve_control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A one-route HTTP endpoint: ``POST /reboot/<node>``; what the reboot command calls."""
        try:
            request_line = (await reader.readline()).decode().split()
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            status, body = "404 Not Found", "unknown route\n"
            if len(request_line) >= 2 and request_line[0] == "POST" and request_line[1].startswith("/reboot/"):
                name = request_line[1].removeprefix("/reboot/")
                if name not in self._nodes:
                    status, body = "404 Not Found", f"no simulated node {name}\n"
                elif self.reboot(name):
                    status, body = "202 Accepted", f"rebooting {name}\n"
                else:
                    status, body = "409 Conflict", f"{name} is already rebooting\n"
            payload = body.encode()
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode() + payload
            )
            await writer.drain()
        finally:
            writer.close()

    # -- status and leases ---------------------------------------------------------------------------------

    async def _report_status(self, node: _Node, *, ready: bool) -> None:
        if ready:
            condition = _ready_condition("True", "KubeletReady", "kubelet is posting ready status")
        else:
            condition = _ready_condition("Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
        status: dict[str, Any] = {"conditions": [condition]}
        if ready:
            status.update(
                nodeInfo={
                    "machineID": node.name,
                    "systemUUID": node.name,
                    "bootID": node.boot_id,
                    "kernelVersion": node.kernel,
                    "osImage": node.os_image,
                    "containerRuntimeVersion": "simulated://1.0",
                    "kubeletVersion": "v1.37.2",
                    "kubeProxyVersion": "",
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                },
                capacity={"cpu": "4", "memory": "16Gi", "pods": "110"},
                allocatable={"cpu": "4", "memory": "16Gi", "pods": "110"},
            )
        await self._retrying(
            lambda: self.core.patch_node_status(node.name, {"status": status}, _content_type=STRATEGIC_PATCH)
        )

    async def _renew_lease(self, node: _Node, *, create: bool = False) -> None:
        coordination = client.CoordinationV1Api(self.api)
        spec = {"holderIdentity": node.name, "leaseDurationSeconds": 40, "renewTime": now_micro()}
        if create:
            body = {"metadata": {"name": node.name, "namespace": LEASE_NAMESPACE}, "spec": spec}
            try:
                await coordination.create_namespaced_lease(LEASE_NAMESPACE, body)
                return
            except ApiException as error:
                if error.status != 409:
                    raise
        await coordination.patch_namespaced_lease(node.name, LEASE_NAMESPACE, {"spec": spec}, _content_type=MERGE_PATCH)

    async def _lease_loop(self, period: float) -> None:
        while True:
            await asyncio.sleep(period)
            for node in list(self._nodes.values()):
                if node.up:
                    with contextlib.suppress(ApiException, OSError):
                        await self._renew_lease(node)

    async def _retrying(self, call: Any, attempts: int = 10) -> Any:
        for attempt in range(attempts):
            try:
                return await call()
            except (ApiException, OSError) as error:
                if isinstance(error, ApiException) and error.status not in (409, 429, 500, 503, 504):
                    raise
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(min(0.1 * 2**attempt, 2.0))
        return None

    # -- pods ----------------------------------------------------------------------------------------------

    async def _pod_loop(self) -> None:
        """List and watch every pod; act on those bound to simulated nodes. Re-lists after 410 Gone or errors."""
        delay = 0.2
        while True:
            try:
                listing = await self.core.list_pod_for_all_namespaces()
                for pod in listing.items:
                    await self._on_pod(pod)
                version = listing.metadata.resource_version
                stream = watch.Watch()
                async with stream.stream(
                    self.core.list_pod_for_all_namespaces, resource_version=version, timeout_seconds=300
                ) as events:
                    async for event in events:
                        if event["type"] in ("ADDED", "MODIFIED"):
                            await self._on_pod(event["object"])
                delay = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.debug("pod watch restarting after %s", error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _on_pod(self, pod: Any) -> None:
        node_name = pod.spec.node_name
        key = f"{pod.metadata.namespace}/{pod.metadata.name}/{pod.metadata.uid}"
        if node_name is None:
            if self.schedule_pods and pod.metadata.deletion_timestamp is None:
                await self._schedule(pod)
            return
        node = self._nodes.get(node_name)
        if node is None:
            return
        if pod.metadata.deletion_timestamp is not None:
            if key not in self._deleting:
                self._deleting.add(key)
                grace = pod.metadata.deletion_grace_period_seconds or 0
                self._tasks.append(asyncio.create_task(self._finish_deletion(pod, node, grace, key)))
            return
        if pod.status.phase in (None, "Pending") and node.up:
            await self._run(pod)

    async def _run(self, pod: Any) -> None:
        stamp = now_rfc3339()
        conditions = [
            {"type": kind, "status": "True", "lastTransitionTime": stamp}
            for kind in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
        ]
        status = {"phase": "Running", "startTime": stamp, "conditions": conditions, "podIP": "10.244.0.10"}
        with contextlib.suppress(ApiException):
            await self.core.patch_namespaced_pod_status(
                pod.metadata.name, pod.metadata.namespace, {"status": status}, _content_type=STRATEGIC_PATCH
            )

    async def _finish_deletion(self, pod: Any, node: _Node, grace: float, key: str) -> None:
        """Complete a graceful deletion after the (scaled) grace period, once the node's kubelet is up."""
        try:
            await asyncio.sleep(grace * self.grace_scale)
            while not node.up and node.name in self._nodes:
                await asyncio.sleep(0.1)
            body = client.V1DeleteOptions(grace_period_seconds=0, preconditions={"uid": pod.metadata.uid})
            with contextlib.suppress(ApiException):
                await self.core.delete_namespaced_pod(pod.metadata.name, pod.metadata.namespace, body=body)
        finally:
            self._deleting.discard(key)

    async def _schedule(self, pod: Any) -> None:
        candidates = [n for n in self._nodes.values() if n.up]
        if not candidates:
            return
        nodes = await self.core.list_node(label_selector="rollboot.dev/simulated=true")
        schedulable = {n.metadata.name for n in nodes.items if not n.spec.unschedulable}
        candidates = sorted((n for n in candidates if n.name in schedulable), key=lambda n: n.name)
        if not candidates:
            return
        target = candidates[next(self._round_robin) % len(candidates)]
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": pod.metadata.name, "namespace": pod.metadata.namespace},
            "target": {"apiVersion": "v1", "kind": "Node", "name": target.name},
        }
        with contextlib.suppress(ApiException):
            await self.core.create_namespaced_pod_binding(
                pod.metadata.name, pod.metadata.namespace, binding, _preload_content=False
            )
