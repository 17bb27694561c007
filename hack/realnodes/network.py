"""The real nodes' addresses: every one assigned to an interface the harness creates, none on the machine's network.

The API server and each node's kubelet listen on their own address of ``rollboot0``, a bridge with no ports that
serves only as a holder of local addresses (this machine's kernel has no dummy interfaces). Each node's pods get
a /24 of ``10.214.0.0/16`` on a bridge of their own whose gateway address the harness assigns, so a pod reaches
the API server (through kube-proxy's rules for the ``kubernetes`` Service) by local delivery. IP forwarding is
never switched on: a pod's packet to any other address goes nowhere, and no traffic leaves the machine.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from dataclasses import dataclass
from typing import Any

HOLDER = "rollboot0"
HOST_SUBNET = ipaddress.IPv4Network("10.213.0.0/24")
POD_SUPERNET = ipaddress.IPv4Network("10.214.0.0/16")
CONTROL_PLANE_ADDRESS = "10.213.0.1"
MAX_NODES = 200


class NetworkError(RuntimeError):
    """The harness could not set up (or refused to set up) the real nodes' addresses."""


@dataclass(frozen=True)
class NodeNetwork:
    """One node's addresses: ``address`` for its kubelet (its InternalIP), ``pod_subnet`` behind ``bridge``."""

    index: int
    address: str
    pod_subnet: str
    gateway: str
    bridge: str


def node_network(index: int) -> NodeNetwork:
    """The addresses of node number ``index`` (1-based)."""
    if not 1 <= index <= MAX_NODES:
        raise NetworkError(f"node index {index} outside 1..{MAX_NODES}")
    subnet = ipaddress.IPv4Network(f"{POD_SUPERNET.network_address + (index << 8)}/24")
    return NodeNetwork(
        index=index,
        address=str(HOST_SUBNET.network_address + 10 + index),
        pod_subnet=str(subnet),
        gateway=str(subnet.network_address + 1),
        bridge=f"rbbr{index}",
    )


def conflicts(addresses: list[dict[str, Any]]) -> list[str]:
    """Interfaces other than ours (from ``ip -j addr``) whose networks overlap the ranges the harness uses."""
    ours = {HOLDER} | {node_network(i).bridge for i in range(1, MAX_NODES + 1)}
    found = []
    for link in addresses:
        name = str(link.get("ifname", ""))
        if name in ours:
            continue
        for info in link.get("addr_info") or []:
            if info.get("family") != "inet":
                continue
            network = ipaddress.IPv4Network(f"{info['local']}/{info['prefixlen']}", strict=False)
            if network.overlaps(HOST_SUBNET) or network.overlaps(POD_SUPERNET):
                found.append(f"{name} has {info['local']}/{info['prefixlen']}")
    return found


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


def _links() -> set[str]:
    return {str(link["ifname"]) for link in json.loads(_ip("-j", "link", "show").stdout)}


def _ensure_bridge(name: str, addresses: list[str]) -> None:
    if name not in _links():
        _ip("link", "add", name, "type", "bridge")
    present = json.loads(_ip("-j", "addr", "show", "dev", name).stdout)
    have = {f"{info['local']}/{info['prefixlen']}" for link in present for info in link.get("addr_info", [])}
    for address in addresses:
        if address not in have:
            _ip("addr", "add", address, "dev", name)
    _ip("link", "set", name, "up")


def set_up(node_count: int) -> list[NodeNetwork]:
    """Create the address holder and each node's pod bridge (idempotent); the nodes' addresses."""
    clashes = conflicts(json.loads(_ip("-j", "addr", "show").stdout))
    if clashes:
        raise NetworkError(
            f"the real nodes use {HOST_SUBNET} and {POD_SUPERNET}, but this machine already has: {'; '.join(clashes)}"
        )
    nodes = [node_network(i) for i in range(1, node_count + 1)]
    _ensure_bridge(HOLDER, [f"{CONTROL_PLANE_ADDRESS}/32", *(f"{n.address}/32" for n in nodes)])
    for node in nodes:
        _ensure_bridge(node.bridge, [f"{node.gateway}/24"])
    return nodes


def tear_down() -> None:
    """Remove every interface the harness made (those left by an earlier run too)."""
    ours = {HOLDER} | {node_network(i).bridge for i in range(1, MAX_NODES + 1)}
    for name in sorted(_links() & ours):
        _ip("link", "del", name, check=False)
