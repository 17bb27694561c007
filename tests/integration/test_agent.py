"""The real agent process against the real API server, rebooting simulated nodes.

Each test runs ``python -m sentinel_agent`` unmodified: it reads the simulated node's sentinel and boot ID
files and reboots it with ``python -m hack.nodesim reboot``. The test plays the operator by writing the
request's status through the status subresource. The main test runs the agent as a ServiceAccount that may
only get, list, watch, create and patch NodeRebootRequests: the rights the agent's ClusterRole grants.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from hack.nodesim import files
from hack.nodesim.simulator import NodeBehaviour, NodeSimulator
from reboot_operator.api.meta import GROUP, VERSION
from sentinel_agent.model import PLURAL
from tests.integration.conftest import Cluster
from tests.integration.polling import eventually

REPO = Path(__file__).resolve().parents[2]
MERGE_PATCH = "application/merge-patch+json"
CHECK_INTERVAL = "1s"
AGENT_RBAC = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: rollboot-agent-test}
rules:
- apiGroups: [rollboot.dev]
  resources: [noderebootrequests]
  verbs: [get, list, watch, create, patch]
"""


@dataclass
class AgentProcess:
    """One ``python -m sentinel_agent`` process and its JSON log."""

    argv: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _log: Any = field(default=None, repr=False)

    def start(self) -> None:
        self.starts += 1
        self._log = self.log_path.open("ab")
        self.popen = subprocess.Popen(self.argv, cwd=REPO, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """SIGKILL: the agent gets no chance to tidy up, as when its node or container dies."""
        assert self.popen is not None
        self.popen.kill()
        self.popen.wait(timeout=10)
        self._log.close()

    def terminate(self) -> int:
        assert self.popen is not None
        self.popen.send_signal(signal.SIGTERM)
        code = self.popen.wait(timeout=10)
        self._log.close()
        return code

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def lines(self) -> list[dict[str, Any]]:
        found = []
        for raw in self.log_path.read_text(errors="replace").splitlines():
            try:
                found.append(json.loads(raw))
            except ValueError:
                found.append({"msg": raw, "level": "raw"})
        return found

    def said(self, message: str, **contains: str) -> int:
        """How many lines say ``message``, with each field named in ``contains`` holding the text given."""
        return sum(
            1
            for line in self.lines()
            if line.get("msg") == message and all(text in str(line.get(key)) for key, text in contains.items())
        )

    async def says(self, message: str, *, times: int = 1, timeout: float = 30, **contains: str) -> None:
        """Wait until the log holds ``times`` such lines: the agent's own word that it has decided."""

        async def enough() -> bool:
            return self.said(message, **contains) >= times

        await eventually(enough, what=f"the agent logs {message!r} {contains} {times} time(s)", timeout=timeout)


@dataclass(frozen=True)
class Identity:
    """How the agent reaches the API server: flags for the restricted identity, or the admin kubeconfig."""

    flags: list[str]


@pytest.fixture
def agents(tmp_path: Path, cluster: Cluster) -> Iterator[Callable[..., AgentProcess]]:
    started: list[AgentProcess] = []

    def start(node: str, root: Path, identity: Identity, *extra: str) -> AgentProcess:
        argv = [
            sys.executable, "-m", "sentinel_agent",
            "--node-name", node,
            *identity.flags,
            "--reboot-sentinel", str(files.sentinel_path(root, node)),
            "--boot-id-file", str(files.boot_id_path(root, node)),
            "--reboot-method", "command",
            "--reboot-command", f"{sys.executable} -m hack.nodesim reboot --root {root} {node}",
            "--reboot-command-no-nsenter",
            "--check-interval", CHECK_INTERVAL,
            "--state-file", str(tmp_path / f"{node}-state.json"),
            "--log-format", "json",
            *extra,
        ]  # fmt: skip
        env = {key: value for key, value in os.environ.items() if not key.startswith("ROLLBOOT_")}
        env.pop("KUBECONFIG", None)
        agent = AgentProcess(argv=argv, env=env, log_path=tmp_path / f"{node}-agent.log")
        agent.start()
        started.append(agent)
        return agent

    yield start
    for agent in started:
        if agent.alive():
            agent.kill()
        print(f"--- agent log {agent.log_path.name} ---\n{agent.log_path.read_text(errors='replace')}")


@pytest.fixture
def admin_identity(cluster: Cluster) -> Identity:
    return Identity(flags=["--kubeconfig", str(cluster.kubeconfig)])


@pytest.fixture
def agent_identity(cluster: Cluster, unique: str, tmp_path: Path) -> Iterator[Identity]:
    """A ServiceAccount bound to the agent's ClusterRole, reached with --server/--token-file/--ca-file."""
    account = f"agent-{unique}"
    cluster.kubectl("apply", "-f", "-", input=AGENT_RBAC)
    cluster.kubectl("create", "serviceaccount", account, "-n", "default")
    cluster.kubectl(
        "create",
        "clusterrolebinding",
        account,
        "--clusterrole=rollboot-agent-test",
        f"--serviceaccount=default:{account}",
    )
    token = cluster.kubectl("create", "token", account, "-n", "default", "--duration=1h").stdout.strip()
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    kubeconfig = json.loads(cluster.kubeconfig.read_text())
    [entry] = [c["cluster"] for c in kubeconfig["clusters"]]
    if "certificate-authority-data" in entry:
        ca_file = tmp_path / "ca.crt"
        ca_file.write_bytes(base64.b64decode(entry["certificate-authority-data"]))
    else:
        ca_file = Path(entry["certificate-authority"])
    yield Identity(flags=["--server", entry["server"], "--token-file", str(token_file), "--ca-file", str(ca_file)])
    cluster.kubectl("delete", "clusterrolebinding", account, "--ignore-not-found")
    cluster.kubectl("delete", "serviceaccount", account, "-n", "default", "--ignore-not-found")


async def get_request(api: client.ApiClient, name: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = await client.CustomObjectsApi(api).get_cluster_custom_object(
            GROUP, VERSION, PLURAL, name
        )
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return found


async def request_where(
    api: client.ApiClient, name: str, predicate: Callable[[dict[str, Any]], bool], *, what: str, timeout: float = 30
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        found = await get_request(api, name)
        return found if found is not None and predicate(found) else None

    result: dict[str, Any] = await eventually(check, what=what, timeout=timeout)
    return result


async def set_status(api: client.ApiClient, name: str, phase: str, *, approve_boot: str | None = None) -> None:
    """Write the status the way the operator does: through the status subresource."""
    status: dict[str, Any] = {"phase": phase}
    if approve_boot is not None:
        status["approval"] = {
            "bootID": approve_boot,
            "approvedAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "attempt": 1,
        }
    await client.CustomObjectsApi(api).patch_cluster_custom_object_status(
        GROUP, VERSION, PLURAL, name, {"status": status}, _content_type=MERGE_PATCH
    )


async def reported(api: client.ApiClient, name: str) -> dict[str, Any]:
    """The request once the agent has reported a required reboot in it."""
    return await request_where(api, name, lambda r: bool(r["spec"].get("reasons")), what="the agent reports a reboot")


async def controllers_caught_up(api: client.ApiClient, probe: str, *, timeout: float = 180) -> None:
    """Wait until the controller-manager works again after an outage: a new namespace gets its ServiceAccount.

    Its informers come back on their own backoff, later than the API server; tests that run next need them.
    """
    core = client.CoreV1Api(api)

    async def created() -> bool:
        try:
            await core.create_namespace({"metadata": {"name": probe}})
        except ApiException as error:
            if error.status != 409:
                return False
        return True

    async def has_default_account() -> bool:
        accounts = await core.list_namespaced_service_account(probe)
        return any(account.metadata.name == "default" for account in accounts.items)

    await eventually(created, what="the API server takes writes again", timeout=timeout)
    await eventually(has_default_account, what="the controller-manager works again", timeout=timeout)
    await core.delete_namespace(probe)


def packages_of(request: dict[str, Any]) -> list[str]:
    return [package for reason in request["spec"].get("reasons", []) for package in reason.get("packages", [])]


async def test_the_agent_reports_reboots_once_on_approval_and_opens_the_next_cycle(
    api: client.ApiClient,
    simulator: NodeSimulator,
    agents: Callable[..., AgentProcess],
    agent_identity: Identity,
    unique: str,
) -> None:
    node = f"agent-cycle-{unique}"
    await simulator.add_node(node, behaviour=NodeBehaviour(reboot_seconds=1))
    # At debug level the agent logs each decision not to reboot, and why: the sign to wait for that it has decided.
    agent = agents(node, simulator.root, agent_identity, "--log-level", "debug")
    first_boot = simulator.boot_id(node)

    simulator.require_reboot(node, ["linux-image-6.8.0-1002-azure", "linux-base"])
    request = await reported(api, node)
    assert request["spec"]["nodeName"] == node
    assert request["spec"]["bootID"] == first_boot
    assert request["spec"]["reasons"][0]["source"] == "sentinel-file"
    assert packages_of(request) == ["linux-image-6.8.0-1002-azure", "linux-base"]
    assert "status" not in request

    await set_status(api, node, "Draining")
    await agent.says("no reboot", why="in phase Draining")
    assert simulator.reboot_count(node) == 0
    assert agent.said("rebooting the node") == 0

    await set_status(api, node, "Rebooting", approve_boot=first_boot)
    await simulator.wait_for_reboots(node, 1, timeout=30)
    second_boot = simulator.boot_id(node)
    assert second_boot != first_boot

    # The approval still stands (the operator has not moved on yet): the new boot ID says it was honoured.
    await agent.says("no reboot", why="the node has rebooted since")
    assert simulator.reboot_count(node) == 1
    after = await get_request(api, node)
    assert after is not None
    assert packages_of(after) == ["linux-image-6.8.0-1002-azure", "linux-base"], "not withdrawn by the reboot"
    assert agent.said("rebooting the node") == 1

    await set_status(api, node, "Completed", approve_boot=first_boot)
    simulator.require_reboot(node, ["linux-image-6.8.0-1003-azure"])
    request = await request_where(
        api, node, lambda r: r["spec"].get("bootID") == second_boot, what="the next update opens a new cycle"
    )
    assert packages_of(request) == ["linux-image-6.8.0-1003-azure"]
    assert simulator.reboot_count(node) == 1
    assert agent.alive()
    assert agent.terminate() == 0


async def test_a_killed_and_restarted_agent_does_not_reboot_twice(
    api: client.ApiClient,
    simulator: NodeSimulator,
    agents: Callable[..., AgentProcess],
    admin_identity: Identity,
    unique: str,
) -> None:
    node = f"agent-restart-{unique}"
    await simulator.add_node(node, behaviour=NodeBehaviour(reboot_seconds=5))
    agent = agents(node, simulator.root, admin_identity, "--reboot-guard-interval", "10m", "--log-level", "debug")
    first_boot = simulator.boot_id(node)
    simulator.require_reboot(node)
    await reported(api, node)

    await set_status(api, node, "Rebooting", approve_boot=first_boot)
    await eventually(
        lambda: asyncio.sleep(0, result=simulator.reboot_count(node) == 1), what="the approved reboot starts"
    )
    # Killed while the node is going down: same boot ID, approval still standing. Restarted, it finds its own
    # attempt in this boot (the state file) and waits for the guard interval instead of asking again.
    agent.kill()
    waited = agent.said("waiting before asking for the reboot again")
    agent.start()
    await agent.says("waiting before asking for the reboot again", times=waited + 1)
    await simulator.wait_for_reboots(node, 1, timeout=30)
    await agent.says("no reboot", why="the node has rebooted since")
    # Killed again after the reboot, with the old approval still in the status: the new boot ID says it was done.
    agent.kill()
    honoured = agent.said("no reboot", why="the node has rebooted since")
    agent.start()
    await agent.says("no reboot", times=honoured + 1, why="the node has rebooted since")

    assert simulator.reboot_count(node) == 1
    assert agent.said("rebooting the node") == 1
    assert agent.alive()


async def test_a_sentinel_that_goes_away_without_a_reboot_withdraws_the_request(
    api: client.ApiClient,
    simulator: NodeSimulator,
    agents: Callable[..., AgentProcess],
    admin_identity: Identity,
    unique: str,
) -> None:
    node = f"agent-withdraw-{unique}"
    await simulator.add_node(node)
    agents(node, simulator.root, admin_identity)
    simulator.require_reboot(node)
    await reported(api, node)
    await set_status(api, node, "Waiting")

    files.clear_sentinel(simulator.root, node)

    await request_where(api, node, lambda r: r["spec"].get("reasons") == [], what="the agent withdraws")
    assert simulator.reboot_count(node) == 0


async def test_the_agent_lives_through_an_api_server_outage_without_a_second_reboot(
    api: client.ApiClient,
    cluster: Cluster,
    simulator: NodeSimulator,
    agents: Callable[..., AgentProcess],
    admin_identity: Identity,
    unique: str,
) -> None:
    plane = cluster.owned()
    node = f"agent-outage-{unique}"
    await simulator.add_node(node, behaviour=NodeBehaviour(reboot_seconds=1))
    agent = agents(node, simulator.root, admin_identity)
    first_boot = simulator.boot_id(node)
    simulator.require_reboot(node)
    await reported(api, node)
    await set_status(api, node, "Rebooting", approve_boot=first_boot)
    await simulator.wait_for_reboots(node, 1, timeout=30)
    second_boot = simulator.boot_id(node)

    # Stopped and started from this (the main) thread on purpose: the control plane ties its processes to the
    # thread that starts them (PR_SET_PDEATHSIG), so an API server started from a worker thread would be killed
    # when that thread ends, taking every later test down with it.
    plane.stop_apiserver()
    try:
        # While the API server is away, the next kernel update lands.
        simulator.require_reboot(node, ["linux-image-6.8.0-1003-azure"])
        # A positive sign: the agent found the update, failed to write it (each time after its own retries), and
        # lived to try again; and its watch failed too.
        await agent.says("cannot write the request; will try again", times=2, timeout=120)
        assert agent.said("watch failed") >= 1
        assert agent.alive(), "the agent must not exit while the API server is away"
    finally:
        plane.start_apiserver()
        await controllers_caught_up(api, f"agent-outage-probe-{unique}")

    request = await request_where(
        api,
        node,
        lambda r: r["spec"].get("bootID") == second_boot,
        what="the agent reports the new cycle once the API server is back",
        timeout=120,
    )
    assert packages_of(request) == ["linux-image-6.8.0-1003-azure"]
    assert simulator.reboot_count(node) == 1
    assert agent.alive()
    assert agent.starts == 1
    assert not [line for line in agent.lines() if "Traceback" in line.get("msg", "")]
