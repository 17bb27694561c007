"""The real-node harness's pure parts: addresses, the guard against agents that could reboot this machine, the
reboot command, cgroup paths and each node's configuration. The harness itself runs in
tests/integration/test_real_nodes.py."""

from __future__ import annotations

import ipaddress
import json
import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from hack.realnodes import cgroups, guard, network
from hack.realnodes.cluster import RealCluster
from hack.realnodes.node import RealNode
from tests.manifests.render import CHART, tool

# -- addresses ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "address", "subnet", "gateway", "bridge"),
    [
        (1, "10.213.0.11", "10.214.1.0/24", "10.214.1.1", "rbbr1"),
        (3, "10.213.0.13", "10.214.3.0/24", "10.214.3.1", "rbbr3"),
        (200, "10.213.0.210", "10.214.200.0/24", "10.214.200.1", "rbbr200"),
    ],
)
def test_each_node_has_its_own_addresses(index: int, address: str, subnet: str, gateway: str, bridge: str) -> None:
    net = network.node_network(index)
    assert (net.address, net.pod_subnet, net.gateway, net.bridge) == (address, subnet, gateway, bridge)
    assert ipaddress.ip_address(net.address) in network.HOST_SUBNET
    assert ipaddress.IPv4Network(net.pod_subnet).subnet_of(network.POD_SUPERNET)
    assert len(net.bridge) <= 15, "Linux interface names have at most 15 characters"


@pytest.mark.parametrize("index", [0, -1, network.MAX_NODES + 1])
def test_a_node_number_out_of_range_is_refused(index: int) -> None:
    with pytest.raises(network.NetworkError, match="outside"):
        network.node_network(index)


def test_no_two_nodes_share_an_address_and_none_is_the_control_plane() -> None:
    nets = [network.node_network(i) for i in range(1, network.MAX_NODES + 1)]
    addresses = [n.address for n in nets] + [network.CONTROL_PLANE_ADDRESS]
    assert len(set(addresses)) == len(addresses)
    assert len({n.pod_subnet for n in nets}) == len(nets)


def _link(name: str, *addresses: str) -> dict[str, Any]:
    return {
        "ifname": name,
        "addr_info": [
            {"family": "inet", "local": a.split("/")[0], "prefixlen": int(a.split("/")[1])} for a in addresses
        ],
    }


@pytest.mark.parametrize(
    ("links", "clashes"),
    [
        ([_link("lo", "127.0.0.1/8"), _link("eth0", "192.0.2.2/24")], []),
        ([_link("eth0", "10.0.0.5/8")], ["eth0 has 10.0.0.5/8"]),
        ([_link("wg0", "10.214.7.1/24")], ["wg0 has 10.214.7.1/24"]),
        ([_link("rollboot0", "10.213.0.1/32"), _link("rbbr1", "10.214.1.1/24")], []),
    ],
)
def test_the_harness_refuses_ranges_the_machine_already_uses(links: list[dict[str, Any]], clashes: list[str]) -> None:
    assert network.conflicts(links) == clashes


# -- the guard ------------------------------------------------------------------------------------------------

SPOOL_COMMAND = "sh -c 'echo reboot > /tmp/spool/\"$NODE_NAME\"'"


def _render(values: dict[str, Any], tmp_path: Path) -> list[dict[str, Any]]:
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    rendered = subprocess.run(
        [str(tool("helm")), "template", "rollboot", str(CHART), "-n", "rollboot-system", "-f", str(values_file)],
        capture_output=True,
        text=True,
        check=True,
    )
    return [d for d in yaml.safe_load_all(rendered.stdout) if d]


def test_the_guard_refuses_the_charts_default_signal_method(tmp_path: Path) -> None:
    with pytest.raises(guard.UnsafeAgentError, match="--reboot-method is 'signal'"):
        guard.check_agent(_render({}, tmp_path), reboot_command=SPOOL_COMMAND)


def test_the_guard_refuses_the_command_method_with_systemctl(tmp_path: Path) -> None:
    with pytest.raises(guard.UnsafeAgentError, match="--reboot-command is None"):
        guard.check_agent(_render({"agent": {"rebootMethod": "command"}}, tmp_path), reboot_command=SPOOL_COMMAND)
    values = {"agent": {"rebootMethod": "command", "rebootCommand": "systemctl reboot"}}
    with pytest.raises(guard.UnsafeAgentError, match="'systemctl reboot', not the harness's"):
        guard.check_agent(_render(values, tmp_path), reboot_command=SPOOL_COMMAND)


def test_the_guard_accepts_the_harness_command(tmp_path: Path) -> None:
    values = {"agent": {"rebootMethod": "command", "rebootCommand": SPOOL_COMMAND}}
    guard.check_agent(_render(values, tmp_path), reboot_command=SPOOL_COMMAND)


def _daemonset(args: list[str], **container: Any) -> dict[str, Any]:
    return {
        "kind": "DaemonSet",
        "metadata": {"name": "agent"},
        "spec": {"template": {"spec": {"containers": [{"name": "agent", "args": args, **container}]}}},
    }


@pytest.mark.parametrize(
    ("documents", "message"),
    [
        ([], "no DaemonSet"),
        ([None, {"kind": "Deployment"}], "no DaemonSet"),
        (
            [_daemonset(["--reboot-method=command", f"--reboot-command={SPOOL_COMMAND}", "--reboot-method=signal"])],
            "signal",
        ),
        (
            [
                _daemonset(
                    ["--reboot-method=command", f"--reboot-command={SPOOL_COMMAND}"],
                    env=[{"name": "ROLLBOOT_REBOOT_METHOD", "value": "signal"}],
                )
            ],
            "ROLLBOOT_REBOOT_METHOD",
        ),
        (
            [
                _daemonset(
                    ["--reboot-method=command", f"--reboot-command={SPOOL_COMMAND}"],
                    envFrom=[{"configMapRef": {"name": "x"}}],
                )
            ],
            "envFrom",
        ),
        (
            [_daemonset(["--reboot-method=command", f"--reboot-command={SPOOL_COMMAND}"], command=["sh"])],
            "command",
        ),
    ],
)
def test_the_guard_refuses_anything_else(documents: list[Any], message: str) -> None:
    with pytest.raises(guard.UnsafeAgentError, match=message):
        guard.check_agent(documents, reboot_command=SPOOL_COMMAND)


# -- the reboot command ---------------------------------------------------------------------------------------


def test_the_reboot_command_writes_the_nodes_name_into_the_spool(tmp_path: Path) -> None:
    cluster = RealCluster(root=tmp_path / "with space")
    cluster.spool.mkdir(parents=True)
    argv = shlex.split(cluster.reboot_command())  # as the agent splits --reboot-command
    subprocess.run(argv, env={**os.environ, "NODE_NAME": "rollboot-node-2"}, check=True)
    assert [p.name for p in cluster.spool.iterdir()] == ["rollboot-node-2"]


def test_the_agent_reads_the_boot_id_under_the_charts_sentinel_mount() -> None:
    assert RealCluster.agent_boot_id_file() == "/host/var/run/rollboot-node/boot_id"


# -- cgroups and node configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("proc_self_cgroup", "base"),
    [
        ("4:memory:/process_api/abc\n3:cpuset:/\n0::/\n", "/process_api/abc"),
        ("4:memory:/\n", "/"),
        ("0::/user.slice\n", "/"),
        ("5:cpu,memory:/x\n", "/x"),
    ],
)
def test_node_cgroups_nest_under_the_memory_cgroup_of_the_harness(proc_self_cgroup: str, base: str) -> None:
    assert cgroups.base_path(proc_self_cgroup) == base


def test_a_nodes_configuration_keeps_it_apart_from_the_others(tmp_path: Path) -> None:
    node = RealNode(
        name="rollboot-node-2",
        network=network.node_network(2),
        root=tmp_path,
        bins=tmp_path / "bin",
        labels={"pool": "a"},
        images={"example/img:1": tmp_path / "img.tar"},
        sandbox_image="localhost/rollboot/pause:1.0",
    )
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("{}")
    node.write_config(kubeconfig=kubeconfig, ca_file=tmp_path / "ca.crt", resolv_conf=tmp_path / "resolv.conf")
    config = node.folder / "config"
    kubelet = json.loads((config / "kubelet.yaml").read_text())
    assert kubelet["address"] == kubelet["healthzBindAddress"] == "10.213.0.12"
    assert kubelet["cgroupRoot"].endswith("/rollboot-rollboot-node-2")
    assert kubelet["cgroupDriver"] == "cgroupfs" and kubelet["failCgroupV1"] is False
    assert kubelet["readOnlyPort"] == 0 and kubelet["authentication"]["anonymous"]["enabled"] is False
    conflist = json.loads((config / "cni" / "10-rollboot.conflist").read_text())
    bridge = conflist["plugins"][0]
    assert bridge["bridge"] == "rbbr2" and bridge["isGateway"] is False, "isGateway would switch IP forwarding on"
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.214.2.0/24", "gateway": "10.214.2.1"}]]
    containerd = (config / "containerd.toml").read_text()
    assert "restrict_oom_score_adj = true" in containerd
    assert 'sandbox_image = "localhost/rollboot/pause:1.0"' in containerd
    init = json.loads((config / "nodeinit.json").read_text())
    assert [str(node.run_dir), "/run"] in init["binds"]
    assert [str(node.boot_id_file), "/proc/sys/kernel/random/boot_id"] in init["binds"]
    assert "--node-ip=10.213.0.12" in init["kubelet"] and "--node-labels=pool=a" in init["kubelet"]


def test_a_nodes_processes_never_include_this_machines_init_nor_the_harness(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whatever a cgroup file lists, the power switch never signals PID 1 (not ours here) or the harness itself.
    folder = tmp_path / "pids" / "rollboot-n1" / "system"
    folder.mkdir(parents=True)
    (folder / "cgroup.procs").write_text(f"1\n0\n{os.getpid()}\n4242\n")
    monkeypatch.setattr(cgroups, "CGROUP_FS", tmp_path)
    assert cgroups.pids("/rollboot-n1") == {4242}
