"""Leader election on a real Lease (issue 13, defect 7): one replica drives the cycles, a standby takes over.

The first tests run ``Leadership`` in-process with a clock of their own, so that "the Lease has not changed for its
duration" is a step of the test and not a sleep; the last runs two real operators with ``--leader-elect``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from kubernetes_asyncio import client, config

from hack.nodesim.simulator import NodeBehaviour
from reboot_operator.runtime.settings import LeaseTiming
from reboot_operator.watch.leadership import Leadership
from tests.integration.conftest import Cluster
from tests.integration.rollout import Rig

TIMING = LeaseTiming(duration=3.0, renew_deadline=2.0, retry=0.1)
FLAGS = (
    "--leader-elect-lease-duration",
    "3",
    "--leader-elect-renew-deadline",
    "2",
    "--leader-elect-retry-period",
    "0.5",
)


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Replica:
    """A Leadership whose start and stop are written down, in order, in a log shared by the replicas."""

    leadership: Leadership
    log: list[str]
    leading: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.log.append(f"{self.leadership.identity} starts")
        self.leading.set()

    async def stop(self) -> None:
        self.log.append(f"{self.leadership.identity} stops")
        self.leading.clear()

    def run(self) -> Replica:
        self.task = asyncio.create_task(self.leadership.run(self.start, self.stop))
        return self


@contextlib.asynccontextmanager
async def replicas(api: client.ApiClient, namespace: str, *names: str, clock: Clock) -> AsyncIterator[list[Replica]]:
    log: list[str] = []
    made = [
        Replica(Leadership(api, namespace=namespace, identity=name, timing=TIMING, clock=clock), log) for name in names
    ]
    try:
        yield made
    finally:
        for replica in made:
            if replica.task is not None:
                replica.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await replica.task


async def _lease(api: client.ApiClient, namespace: str) -> client.V1Lease:
    return await client.CoordinationV1Api(api).read_namespaced_lease("rollboot-operator", namespace)


async def _tries(replica: Replica, count: int) -> None:
    """Let ``replica`` make at least ``count`` more attempts (each reads the Lease once)."""
    await asyncio.sleep(TIMING.retry * (count + 1))


async def test_one_replica_leads_the_other_stands_by_and_takes_over_at_once_when_the_leader_stops(
    api: client.ApiClient, namespace: str
) -> None:
    clock = Clock()
    async with replicas(api, namespace, "a", "b", clock=clock) as (a, b):
        a.run()
        await asyncio.wait_for(a.leading.wait(), 10)
        b.run()
        await _tries(b, 5)
        assert not b.leading.is_set()
        assert a.log == ["a starts"]
        lease = await _lease(api, namespace)
        assert lease.spec.holder_identity == "a"
        assert lease.spec.lease_duration_seconds == 3

        # A clean stop: a stops leading first, then gives the Lease up; b starts without waiting for it to expire
        # (the clock never moves in this test).
        assert a.task is not None
        a.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await a.task
        await asyncio.wait_for(b.leading.wait(), 10)
        assert a.log == ["a starts", "a stops", "b starts"]
        lease = await _lease(api, namespace)
        assert lease.spec.holder_identity == "b"
        assert lease.spec.lease_transitions == 1


async def test_a_standby_takes_over_a_lease_its_holder_stopped_renewing_only_once_it_is_a_duration_old(
    api: client.ApiClient, namespace: str
) -> None:
    """A leader that died without a word (kill -9): its Lease stays, held. The standby waits a whole lease duration
    by its own clock, counted from when it last saw the record change."""
    now = "2026-01-01T00:00:00.000000Z"
    await client.CoordinationV1Api(api).create_namespaced_lease(
        namespace,
        {
            "metadata": {"name": "rollboot-operator"},
            "spec": {"holderIdentity": "dead", "leaseDurationSeconds": 3, "acquireTime": now, "renewTime": now},
        },
    )
    clock = Clock()
    async with replicas(api, namespace, "b", clock=clock) as (b,):
        b.run()
        await _tries(b, 5)
        clock.now += 2.9
        await _tries(b, 5)
        assert not b.leading.is_set(), "took over a Lease younger than its duration"
        assert (await _lease(api, namespace)).spec.holder_identity == "dead"
        clock.now += 0.2
        await asyncio.wait_for(b.leading.wait(), 10)
        assert (await _lease(api, namespace)).spec.holder_identity == "b"


async def test_a_leader_whose_lease_was_taken_stops_leading(api: client.ApiClient, namespace: str) -> None:
    clock = Clock()
    async with replicas(api, namespace, "a", clock=clock) as (a,):
        a.run()
        await asyncio.wait_for(a.leading.wait(), 10)
        lease = await _lease(api, namespace)
        lease.spec.holder_identity = "usurper"
        await client.CoordinationV1Api(api).replace_namespaced_lease("rollboot-operator", namespace, lease)
        async with asyncio.timeout(10):
            while a.leading.is_set():
                await asyncio.sleep(0.05)
        assert a.log == ["a starts", "a stops"]


async def test_a_leader_that_cannot_reach_the_api_stops_leading_at_its_renew_deadline(
    api: client.ApiClient, cluster: Cluster, namespace: str
) -> None:
    """The leader loses the API server (its client now points at a closed loopback port): past the renew deadline
    by its own clock it stops leading, before a standby could take over (a whole lease duration)."""
    clock = Clock()
    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=configuration)
    async with client.ApiClient(configuration) as own:
        a = Replica(Leadership(own, namespace=namespace, identity="a", timing=TIMING, clock=clock), []).run()
        try:
            await asyncio.wait_for(a.leading.wait(), 10)
            own.configuration.host = "https://127.0.0.1:1"
            await _tries(a, 5)
            assert a.leading.is_set(), "stopped before its renew deadline"
            clock.now += TIMING.renew_deadline + 0.1
            async with asyncio.timeout(10):
                while a.leading.is_set():
                    await asyncio.sleep(0.05)
            assert a.log == ["a starts", "a stops"]
        finally:
            assert a.task is not None
            a.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await a.task


@pytest.mark.parametrize("kill", [False, True], ids=["both-run", "leader-killed"])
async def test_with_two_operator_replicas_only_the_leader_runs_cycles(
    rig: Rig, namespace: str, unique: str, kill: bool
) -> None:
    """Two real operators with --leader-elect: the standby lists nothing and runs no cycle. Killed (kill -9) in
    the middle of the rollout, the leader is replaced by the standby, which finishes it; each node reboots once."""
    nodes = [f"lead-{unique}-{i}" for i in range(4)]
    await rig.add_nodes(nodes, labels={"pool": unique}, behaviour=NodeBehaviour(reboot_seconds=1))
    await rig.apply_policy(
        unique,
        {
            "nodeSelector": {"matchLabels": {"pool": unique}},
            "maxConcurrent": 1,
            "reboot": {"timeout": "60s", "soak": "0s"},
            "drain": {"timeout": "60s"},
        },
    )
    flags = ("--leader-elect", "--leader-elect-namespace", namespace, *FLAGS)
    first = rig.start_operator(*flags)
    async with asyncio.timeout(30):
        while "leading: this replica" not in first.log():
            await asyncio.sleep(0.1)
    second = rig.start_operator(*flags)
    async with asyncio.timeout(30):
        while "standing by" not in second.log():
            await asyncio.sleep(0.1)
    for node in nodes:
        rig.sim.require_reboot(node)
    if kill:
        async with asyncio.timeout(60):  # the first node done (whichever went first), then kill -9 the leader
            while "Completed" not in (await rig.phases(nodes)).values():
                await asyncio.sleep(0.05)
        first.kill()
        async with asyncio.timeout(60):
            while "leading: this replica" not in second.log():
                await asyncio.sleep(0.1)
    await rig.wait_phases(nodes, {"Completed"}, timeout=120)
    for node in nodes:
        assert rig.sim.reboot_count(node) == 1, node
    started = [child.log().count("starting its reboot cycle") for child in (first, second)]
    if kill:
        assert started[0] >= 1 and started[1] >= 1, started
        # No node started twice. (Fewer lines than nodes is possible: a kill -9 between a start's write and its log
        # line leaves the start to be resumed, unlogged, by the new leader.)
        assert sum(started) <= len(nodes), started
    else:
        assert started == [len(nodes), 0], started
        assert "watched state listed" not in second.log(), "the standby listed the cluster"
