"""A reboot cycle's decisions, fast: the real ``Cycle`` over an in-memory stand-in of the API calls it makes
(``tests/operator/memory.py``), with the drain scripted. The safety rules of docs/operator.md are checked on the
full history of every object the cycle wrote:

- never rebooted undrained: an approval is written only after a drain that completed (or timed out under
  ``onTimeout: Reboot``) while the node was cordoned, and never on a node that is schedulable;
- an admin's cordon is never undone, and a node we cordoned is never left cordoned, whichever way the cycle ends;
- one reboot per approval: a new approval only for a node that came back with a new boot ID;
- the failure budget: every failed cycle is counted once, and frees its slot.

The real API server proves the same end to end (tests/integration/test_cycle.py, test_safety.py).
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from reboot_operator.kube import CORDON_MARK
from reboot_operator.kube.drain_types import DrainOptions, DrainOutcome, DrainProgress, DrainResult, ProgressCallback
from reboot_operator.kube.events import background
from reboot_operator.kube.node_view import node_view
from reboot_operator.rollout import starting
from reboot_operator.rollout.cycle import Cycle
from reboot_operator.rollout.starting import MAX_RECORDONS
from reboot_operator.runtime import metrics
from reboot_operator.watch.observed import request_view
from tests.operator.memory import START, Agent, MemoryApi, MemoryWorld, Stored, node, policy, request

NODE = "node-a"
POLICY = "pool-a"
SPEC: dict[str, Any] = {"maxConcurrent": 1, "reboot": {"timeout": "10m", "soak": "0s"}, "drain": {"timeout": "5m"}}

ACTIVE = {"Cordoning", "Draining", "Rebooting", "Verifying", "Uncordoning"}


@dataclass
class ScriptedDrain:
    """Stands for ``kube.drain.drain_node``: each call returns the next outcome, after doing ``during`` to the
    cluster (say, an admin uncordoning the node in the middle of it)."""

    memory: MemoryApi
    outcomes: list[DrainOutcome]
    during: Callable[[MemoryApi], None] | None = None
    progress: list[DrainProgress] = field(default_factory=list)
    """What the drain reports as it goes, in order."""
    calls: int = 0
    cordoned_when_called: list[bool] = field(default_factory=list)
    clocks: list[Callable[[], datetime.datetime]] = field(default_factory=list)
    """The clock each call was given: the cycle's own."""

    async def __call__(
        self,
        api: Any,
        name: str,
        options: DrainOptions,
        *,
        on_progress: ProgressCallback | None = None,
        clock: Callable[[], datetime.datetime],
    ) -> DrainResult:
        self.calls += 1
        self.clocks.append(clock)
        stored = self.memory.get("nodes", name)
        assert stored is not None
        self.cordoned_when_called.append(bool(stored["spec"].get("unschedulable")))
        if self.during is not None:
            self.during(self.memory)
        for step in self.progress:
            if on_progress is not None:
                await on_progress(step)
        outcome = self.outcomes[min(self.calls, len(self.outcomes)) - 1]
        return DrainResult(outcome=outcome, error=None if outcome is DrainOutcome.COMPLETED else f"drain {outcome}")


@dataclass
class Rig:
    memory: MemoryApi
    world: MemoryWorld
    agent: Agent
    drain: ScriptedDrain

    async def cycle(self, *, starting: bool = True) -> Cycle:
        stored = self.memory.get("noderebootrequests", NODE)
        version = stored["metadata"]["resourceVersion"] if stored is not None else None
        return Cycle(
            api=await self.memory.client(),
            world=self.world,
            name=NODE,
            policy=POLICY,
            clock=self.world.clock,
            starting=starting,
            decided_version=version,
        )

    async def run(self, *, starting: bool = True) -> dict[str, Any]:
        """Run a cycle to its end; the request's status as it ended."""
        return await self.run_cycle(await self.cycle(starting=starting))

    async def run_cycle(self, cycle: Cycle) -> dict[str, Any]:
        """Run ``cycle`` to its end; the request's status as it ended."""
        await cycle.run()
        await background().drain()
        assert not self.memory.unexpected, self.memory.unexpected
        stored = self.memory.get("noderebootrequests", NODE)
        return (stored or {}).get("status") or {}

    def node(self) -> dict[str, Any]:
        stored = self.memory.get("nodes", NODE)
        assert stored is not None
        return stored

    def policy_status(self) -> dict[str, Any]:
        stored = self.memory.get("rebootpolicies", POLICY)
        assert stored is not None
        return stored.get("status") or {}

    def phases(self) -> list[str]:
        """Every phase the request went through, in order, repeats removed."""
        seen: list[str] = []
        for write in self.memory.history:
            if write.kind == "noderebootrequests":
                phase = (write.body.get("status") or {}).get("phase")
                if phase and (not seen or seen[-1] != phase):
                    seen.append(phase)
        return seen

    def approvals(self) -> list[Stored]:
        """The writes that gave a new approval (a new attempt), in order."""
        found: list[Stored] = []
        last = None
        for write in self.memory.history:
            if write.kind != "noderebootrequests":
                continue
            approval = (write.body.get("status") or {}).get("approval")
            key = (approval or {}).get("attempt")
            if approval is not None and key != last:
                found.append(write)
            last = key
        return found


@pytest.fixture
async def rig(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Rig]:
    memory = MemoryApi()
    agent = Agent(memory, NODE)
    world = MemoryWorld(memory, agent)
    drain = ScriptedDrain(memory, [DrainOutcome.COMPLETED])
    monkeypatch.setattr(starting, "drain_node", drain)
    memory.put("nodes", node(NODE))
    memory.put("rebootpolicies", policy(POLICY, SPEC, slots=[NODE]))
    memory.put("noderebootrequests", request(NODE))
    yield Rig(memory, world, agent, drain)
    await background().drain()


def node_reasons(rig: Rig) -> list[str]:
    """The reasons of the Events posted on the Node, in order."""
    return [e["reason"] for e in rig.memory.events if e["involvedObject"]["kind"] == "Node"]


def set_spec(rig: Rig, **changes: Any) -> None:
    def edit(body: dict[str, Any]) -> None:
        for key, value in changes.items():
            body["spec"][key] = {**body["spec"].get(key, {}), **value}

    rig.memory.edit("rebootpolicies", POLICY, edit)


def uncordon(memory: MemoryApi) -> None:
    """Someone runs ``kubectl uncordon`` (which leaves annotations alone)."""

    def edit(body: dict[str, Any]) -> None:
        body["spec"].pop("unschedulable", None)

    memory.edit("nodes", NODE, edit)


def cordon(memory: MemoryApi) -> None:
    def edit(body: dict[str, Any]) -> None:
        body["spec"]["unschedulable"] = True

    memory.edit("nodes", NODE, edit)


def set_ready(memory: MemoryApi, ready: bool) -> None:
    def edit(body: dict[str, Any]) -> None:
        body["status"]["conditions"] = [{"type": "Ready", "status": "True" if ready else "False"}]

    memory.edit("nodes", NODE, edit)


# -- the rules, on the full history ---------------------------------------------------------------------------------


def check_safety(rig: Rig, *, admin_cordon: bool) -> None:
    """The rules every cycle keeps, whatever its ending, checked on every write it made."""
    node_state: dict[str, Any] = {}
    request_state: dict[str, Any] = {}
    approvals_seen: set[tuple[str, int]] = set()
    admin_cordoned = False
    for write in rig.memory.history:
        if write.kind == "nodes":
            node_state = write.body
            admin_cordoned = admin_cordoned or bool(node_state["spec"].get("unschedulable"))
            if admin_cordon and admin_cordoned:
                assert node_state["spec"].get("unschedulable") is True, "an admin's cordon was undone"
        elif write.kind == "noderebootrequests":
            request_state = write.body.get("status") or {}
            approval = request_state.get("approval")
            if request_state.get("phase") == "Rebooting" and approval is not None:
                key = (approval["bootID"], approval["attempt"])
                if key not in approvals_seen:
                    approvals_seen.add(key)
                    assert node_state["spec"].get("unschedulable") is True, "approved to reboot while schedulable"
                    assert approval["bootID"] == node_state["status"]["nodeInfo"]["bootID"], "approval for old boot"
        elif write.kind == "rebootpolicies":
            slots = (write.body.get("status") or {}).get("slots") or []
            assert len(slots) <= 1, f"more slots than maxConcurrent: {slots}"
    boots = [key[0] for key in sorted(approvals_seen, key=lambda k: k[1])]
    assert len(boots) == len(set(boots)), f"two approvals for one boot: {boots}"
    final = rig.node()
    phase = (rig.memory.get("noderebootrequests", NODE) or {}).get("status", {}).get("phase")
    if phase in ("Completed", "Failed"):
        assert rig.memory.reasons()[-1] == phase, "the ending is told as an Event"
        assert rig.memory.events[-1]["type"] == ("Warning" if phase == "Failed" else "Normal")
        assert rig.world.notices[-1].event.value.lower() == phase.lower(), "and to the policy's subscribers"
    if phase not in ACTIVE:
        assert NODE not in rig.policy_status().get("slots", []), "the slot outlived the cycle"
        if admin_cordon:
            assert final["spec"].get("unschedulable") is True, "an admin's cordon was undone"
        else:
            assert not final["spec"].get("unschedulable"), "a node we cordoned was left cordoned"
            assert CORDON_MARK not in final["metadata"].get("annotations", {}), "our cordon mark was left behind"


def failures(rig: Rig) -> int:
    return int((rig.policy_status().get("failureBudget") or {}).get("failures") or 0)


# -- a cycle that goes well -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("annotated", [True, False], ids=["node-with-annotations", "node-without-annotations"])
async def test_a_cycle_cordons_drains_reboots_once_and_hands_the_node_back(rig: Rig, annotated: bool) -> None:
    if not annotated:
        rig.memory.edit("nodes", NODE, lambda n: n["metadata"].pop("annotations"))

    status = await rig.run()

    # Cordon and uncordon patch from the watched view without a read, and nothing raced them: none refused.
    assert rig.memory.refused == [], rig.memory.refused
    # Every read the cycle makes, and why; a read more is a step working from something other than what it knew.
    assert rig.memory.reads == [
        ("noderebootrequests", NODE),  # the first step (the coordinator would hand over the object it decided on)
        # No read to remove the reboot-pending taint: the policy does not ask for it and the watch shows none.
        ("nodes", NODE),  # after the drain: still cordoned? (fresh, never the watched view)
        ("noderebootrequests", NODE),  # after the soak: did the sentinel survive?
    ]

    assert rig.phases() == ["Cordoning", "Draining", "Rebooting", "Verifying", "Uncordoning", "Completed"]
    assert status["bootIDBefore"] == "boot-1" and status["bootIDAfter"] == "boot-2"
    assert rig.agent.reboots == 1 and len(rig.approvals()) == 1
    assert rig.drain.cordoned_when_called == [True], "drained only once cordoned"
    assert rig.drain.clocks == [rig.world.clock], "the drain judges pods by the cycle's clock"
    assert rig.policy_status()["lastCompletionAt"]
    assert failures(rig) == 0
    # Each Event once, on the object it is about: the cycle's steps on its request, what it did to the Node there.
    assert rig.memory.reasons() == ["Started", "Draining", "RebootAuthorized", "NodeReturned", "Completed"]
    assert node_reasons(rig) == ["Cordoned", "Uncordoned"]
    assert {e["type"] for e in rig.memory.events} == {"Normal"}
    assert [n.event.value for n in rig.world.notices] == ["Started", "Rebooting", "Completed"]
    check_safety(rig, admin_cordon=False)


@pytest.mark.parametrize("watch_lags", [False, True], ids=["watch-shows-the-taint", "watch-lags-behind-the-taint"])
async def test_the_reboot_pending_taint_goes_when_the_node_is_cordoned(rig: Rig, watch_lags: bool) -> None:
    taint = {"key": "rollboot.dev/reboot-pending", "effect": "PreferNoSchedule"}
    other = {"key": "example.com/gpu", "effect": "NoSchedule"}
    if watch_lags:
        # The policy asks for the taint, and the coordinator put it on just now: the watch has not shown it yet.
        rig.memory.edit("rebootpolicies", POLICY, lambda p: p["spec"].update(preferNoScheduleTaint=True))
        rig.world.lagging_node = node_view(rig.node())
    rig.memory.edit("nodes", NODE, lambda n: n["spec"].update(taints=[other, taint]))

    await rig.run()

    assert rig.node()["spec"]["taints"] == [other]


LABELS = {"preReboot": {"example.com/rebooting": "true"}, "postReboot": {"example.com/rebooted": "true"}}


@pytest.mark.parametrize(
    ("outcome", "final"),
    [
        pytest.param(DrainOutcome.COMPLETED, {"pool": "a", "example.com/rebooted": "true"}, id="completed"),
        pytest.param(DrainOutcome.REFUSED, {"pool": "a"}, id="given-back"),
        pytest.param(None, {"pool": "a"}, id="not-back-in-time"),
    ],
)
async def test_the_policys_labels_mark_the_cycle_and_its_end(
    rig: Rig, outcome: DrainOutcome | None, final: dict[str, str]
) -> None:
    set_spec(rig, nodeLabels=LABELS)
    rig.drain.outcomes = [outcome or DrainOutcome.COMPLETED]
    rig.agent.comes_back = outcome is not None
    labelled_when_drained: list[dict[str, str]] = []
    rig.drain.during = lambda memory: labelled_when_drained.append(rig.node()["metadata"]["labels"])

    await rig.run()

    assert labelled_when_drained == [{"pool": "a", "example.com/rebooting": "true"}]
    assert rig.node()["metadata"]["labels"] == final


async def test_our_cordon_is_marked_with_the_request_uid_while_it_lasts(rig: Rig) -> None:
    await rig.run()

    marks = {
        w.body["metadata"].get("annotations", {}).get(CORDON_MARK)
        for w in rig.memory.history
        if w.kind == "nodes" and w.body["spec"].get("unschedulable")
    }
    assert marks == {"uid-noderebootrequests-node-a"}


# -- never rebooted undrained ---------------------------------------------------------------------------------------


DRAIN_CASES = [
    pytest.param(DrainOutcome.COMPLETED, "Abort", True, id="completed"),
    pytest.param(DrainOutcome.COMPLETED, "Reboot", True, id="completed-reboot-on-timeout"),
    pytest.param(DrainOutcome.TIMED_OUT, "Abort", False, id="timed-out-abort"),
    pytest.param(DrainOutcome.TIMED_OUT, "Reboot", True, id="timed-out-reboot"),
    pytest.param(DrainOutcome.REFUSED, "Abort", False, id="refused-abort"),
    pytest.param(DrainOutcome.REFUSED, "Reboot", False, id="refused-reboot"),
    pytest.param(DrainOutcome.FAILED, "Abort", False, id="failed-abort"),
    pytest.param(DrainOutcome.FAILED, "Reboot", False, id="failed-reboot"),
]


@pytest.mark.parametrize(("outcome", "on_timeout", "reboots"), DRAIN_CASES)
async def test_a_node_reboots_only_after_its_drain_allows_it(
    rig: Rig, outcome: DrainOutcome, on_timeout: str, reboots: bool
) -> None:
    set_spec(rig, drain={"onTimeout": on_timeout})
    rig.drain.outcomes = [outcome]
    failed_before = sample("rollboot_reboots_total", result="Failed")

    status = await rig.run()

    assert sample("rollboot_reboots_total", result="Failed") - failed_before == (0 if reboots else 1)

    if reboots:
        assert status["phase"] == "Completed" and rig.agent.reboots == 1
        assert failures(rig) == 0
    else:
        assert status["phase"] == "Failed"
        assert "Rebooting" not in rig.phases() and rig.approvals() == [] and rig.agent.reboots == 0
        assert failures(rig) == 1, "a failed drain counts against the failure budget"
        assert status["observedGeneration"] == 1, "the report it started for stays the one answered"
        assert status["message"].startswith("drain timed out" if outcome is DrainOutcome.TIMED_OUT else "drain failed")
    check_safety(rig, admin_cordon=False)


async def test_a_node_uncordoned_during_its_drain_is_cordoned_and_drained_again(rig: Rig) -> None:
    rig.drain.during = lambda memory: uncordon(memory) if rig.drain.calls == 1 else None

    status = await rig.run()

    assert status["phase"] == "Completed"
    assert rig.drain.calls == 2 and rig.drain.cordoned_when_called == [True, True]
    assert "Recordoned" in rig.memory.reasons()
    check_safety(rig, admin_cordon=False)


async def test_a_node_that_keeps_being_uncordoned_is_given_back_unrebooted(rig: Rig) -> None:
    rig.drain.during = uncordon

    status = await rig.run()

    assert status["phase"] == "Failed" and "kept being uncordoned" in status["message"]
    assert rig.drain.calls == MAX_RECORDONS == 3, "cordoned and drained again twice, then given up"
    assert rig.approvals() == [] and rig.agent.reboots == 0
    assert failures(rig) == 1
    check_safety(rig, admin_cordon=False)


async def test_an_admin_cordon_lifted_during_the_drain_is_restored_unmarked_and_kept(rig: Rig) -> None:
    cordon(rig.memory)
    rig.drain.during = lambda memory: uncordon(memory) if rig.drain.calls == 1 else None

    status = await rig.run()

    assert status["phase"] == "Completed" and status["wasUnschedulable"] is True
    assert rig.node()["spec"].get("unschedulable") is True
    assert CORDON_MARK not in rig.node()["metadata"].get("annotations", {})


@pytest.mark.parametrize(("delay", "seconds"), [("90s", 90.0), ("500ms", 0.5)])
async def test_the_reboot_waits_for_its_delay_after_the_drain(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, delay: str, seconds: float
) -> None:
    set_spec(rig, reboot={"delay": delay})
    sleeps: list[float] = []
    original = asyncio.sleep

    async def sleep(seconds: float) -> None:  # time passes on the frozen clock, at once
        if seconds:
            sleeps.append(seconds)
            rig.world.now += datetime.timedelta(seconds=seconds)
        await original(0)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    status = await rig.run()

    assert status["phase"] == "Completed"
    assert sleeps == [seconds]
    approved = rig.approvals()[0].body["status"]["approval"]["approvedAt"]
    assert datetime.datetime.fromisoformat(approved) == START + datetime.timedelta(seconds=seconds)


# -- an admin's cordon kept, ours never left behind -----------------------------------------------------------------


@pytest.mark.parametrize("outcome", [DrainOutcome.COMPLETED, DrainOutcome.REFUSED])
async def test_a_node_cordoned_before_its_cycle_stays_cordoned_whatever_the_ending(
    rig: Rig, outcome: DrainOutcome
) -> None:
    cordon(rig.memory)
    rig.drain.outcomes = [outcome]

    status = await rig.run()

    assert status["wasUnschedulable"] is True
    assert status["phase"] == ("Completed" if outcome is DrainOutcome.COMPLETED else "Failed")
    check_safety(rig, admin_cordon=True)


async def test_a_cordon_the_watch_had_not_shown_yet_is_the_admins(rig: Rig) -> None:
    rig.world.lagging_node = node_view(rig.node())  # seen schedulable
    cordon(rig.memory)  # the admin, a moment before the cycle

    status = await rig.run()

    assert status["wasUnschedulable"] is True
    check_safety(rig, admin_cordon=True)


async def test_a_cordon_we_marked_before_a_restart_is_ours_and_undone(rig: Rig) -> None:
    def ours(body: dict[str, Any]) -> None:
        body["spec"]["unschedulable"] = True
        body["metadata"]["annotations"][CORDON_MARK] = "uid-of-an-earlier-request"

    rig.world.lagging_node = node_view(rig.node())
    rig.memory.edit("nodes", NODE, ours)

    status = await rig.run()

    assert status["phase"] == "Completed" and status["wasUnschedulable"] is False
    check_safety(rig, admin_cordon=False)


# -- verifying: the soak, time-outs, a sentinel that survives -------------------------------------------------------


async def test_a_node_not_back_in_time_fails_and_is_handed_back(rig: Rig) -> None:
    rig.agent.comes_back = False

    status = await rig.run()

    assert status["phase"] == "Failed" and "did not come back" in status["message"]
    assert "approval" not in status
    assert failures(rig) == 1
    assert rig.world.now - datetime.timedelta(minutes=10) >= datetime.datetime.fromisoformat(
        rig.approvals()[0].body["status"]["approval"]["approvedAt"]
    ), "gave up before reboot.timeout"
    check_safety(rig, admin_cordon=False)


def blip_after_the_reboot(rig: Rig, *steps: Callable[[MemoryApi], None]) -> None:
    """Once the node has rebooted, the agent's next waits do ``steps`` (say NotReady, then Ready again)."""
    original = rig.agent.act

    def act() -> bool:
        rebooted = rig.agent.reboots
        changed = original()
        if rig.agent.reboots == 1 and rebooted == 0:
            rig.agent.script.extend(steps)
        return changed

    rig.agent.act = act  # type: ignore[method-assign]


async def test_a_node_going_not_ready_during_the_soak_soaks_again_from_the_start(rig: Rig) -> None:
    set_spec(rig, reboot={"soak": "5m"})
    ready_again: list[datetime.datetime] = []

    def back(memory: MemoryApi) -> None:
        ready_again.append(rig.world.now)
        set_ready(memory, True)

    blip_after_the_reboot(rig, lambda memory: set_ready(memory, False), back)

    status = await rig.run()

    assert status["phase"] == "Completed"
    assert ready_again, "the node never went NotReady and back"
    completed = datetime.datetime.fromisoformat(status["completedAt"])
    assert completed >= ready_again[0] + datetime.timedelta(minutes=5), "the soak did not start again"
    check_safety(rig, admin_cordon=False)


@pytest.mark.parametrize(("soak", "seconds"), [("5m", 300.0), ("500ms", 0.5), ("0s", 0.0)])
async def test_the_soak_counts_from_the_return(rig: Rig, soak: str, seconds: float) -> None:
    set_spec(rig, reboot={"soak": soak})

    status = await rig.run()

    assert status["phase"] == "Completed"
    completed = datetime.datetime.fromisoformat(status["completedAt"])
    assert completed == START + datetime.timedelta(seconds=seconds), "back at once, then Ready for the whole soak"


async def test_a_node_not_back_gives_up_at_the_deadline_not_before(rig: Rig) -> None:
    set_spec(rig, reboot={"timeout": "800ms"})
    rig.agent.comes_back = False

    status = await rig.run()

    assert status["phase"] == "Failed"
    assert datetime.datetime.fromisoformat(status["completedAt"]) == START + datetime.timedelta(milliseconds=800)


async def test_a_node_not_ready_until_the_timeout_fails_and_is_handed_back(rig: Rig) -> None:
    set_spec(rig, reboot={"soak": "1m"})

    def a_slow_boot(memory: MemoryApi) -> None:
        rig.world.now += datetime.timedelta(minutes=3)

    rig.agent.script = [a_slow_boot]
    blip_after_the_reboot(rig, lambda memory: set_ready(memory, False))

    status = await rig.run()

    assert status["phase"] == "Failed" and "not Ready within" in status["message"]
    approved = datetime.datetime.fromisoformat(rig.approvals()[0].body["status"]["approval"]["approvedAt"])
    failed = datetime.datetime.fromisoformat(status["completedAt"])
    assert failed == approved + datetime.timedelta(minutes=10), "reboot.timeout counts from the approval"
    assert failures(rig) == 1
    check_safety(rig, admin_cordon=False)


async def test_a_sentinel_that_survives_is_rebooted_again_up_to_max_attempts(rig: Rig) -> None:
    set_spec(rig, reboot={"maxAttempts": 2})
    rig.agent.survives = 5

    status = await rig.run()

    assert status["phase"] == "Failed" and "survived 2 reboots" in status["message"]
    assert rig.agent.reboots == 2 and len(rig.approvals()) == 2
    assert failures(rig) == 1
    generation = rig.memory.get("noderebootrequests", NODE)["metadata"]["generation"]  # type: ignore[index]
    assert status["observedGeneration"] == generation == 3, "the agent's last report is answered: no reboot loop"
    check_safety(rig, admin_cordon=False)


async def test_a_sentinel_that_survives_once_is_rebooted_once_more_then_completes(rig: Rig) -> None:
    set_spec(rig, reboot={"maxAttempts": 3})
    rig.agent.survives = 1

    status = await rig.run()

    assert status["phase"] == "Completed" and status["attempts"] == 2
    assert rig.agent.reboots == 2
    assert [w.body["status"]["approval"]["attempt"] for w in rig.approvals()] == [1, 2]
    assert rig.memory.reasons().count("RebootAuthorized") == 2, rig.memory.reasons()
    authorized = [e["type"] for e in rig.memory.events if e["reason"] == "RebootAuthorized"]
    assert authorized == ["Normal", "Warning", "Warning"], "a reboot again is a warning (node and request)"
    check_safety(rig, admin_cordon=False)


async def test_a_node_uncordoned_while_rebooting_is_drained_again_before_another_reboot(rig: Rig) -> None:
    set_spec(rig, reboot={"maxAttempts": 3})
    rig.agent.survives = 1
    original = rig.agent.act

    def act() -> bool:
        changed = original()
        if rig.agent.reboots == 1 and rig.node()["spec"].get("unschedulable"):
            uncordon(rig.memory)  # someone uncordons the node while it is down
        return changed

    rig.agent.act = act  # type: ignore[method-assign]

    status = await rig.run()

    assert status["phase"] == "Completed" and rig.agent.reboots == 2
    assert rig.drain.calls == 2, "the second reboot came without a second drain"
    assert status["attempts"] == 2
    attempts = [w.body["status"]["approval"]["attempt"] for w in rig.approvals()]
    assert attempts == [1, 2]
    check_safety(rig, admin_cordon=False)


# -- phases a cycle resumes in --------------------------------------------------------------------------------------


async def test_a_surviving_sentinel_found_by_a_resumed_cycle_without_attempts_counts_as_the_first(rig: Rig) -> None:
    set_spec(rig, reboot={"maxAttempts": 2})
    approval = {"bootID": "boot-1", "approvedAt": "2026-03-01T11:59:00Z", "attempt": 1}
    resumed = {"phase": "Verifying", "policy": POLICY, "wasUnschedulable": False, "approval": approval}
    rig.memory.edit("noderebootrequests", NODE, lambda r: r.update(status=resumed))
    rig.memory.edit("noderebootrequests", NODE, lambda r: r["spec"].update(bootID="boot-2"))

    def rebooted_cordoned(body: dict[str, Any]) -> None:
        body["spec"]["unschedulable"] = True
        body["status"]["nodeInfo"]["bootID"] = "boot-2"

    rig.memory.edit("nodes", NODE, rebooted_cordoned)
    rig.agent.reboots = 1

    status = await rig.run(starting=False)

    assert status["phase"] == "Completed" and status["attempts"] == 2, "attempts unknown: this was the first"


async def test_rebooting_without_an_approval_is_given_back_without_a_reboot(rig: Rig) -> None:
    started = {"phase": "Rebooting", "policy": POLICY, "wasUnschedulable": False, "attempts": 1}
    rig.memory.edit("noderebootrequests", NODE, lambda r: r.update(status=started))
    rig.memory.edit("nodes", NODE, lambda n: n["spec"].update(unschedulable=True))

    status = await rig.run(starting=False)

    assert status["phase"] == "Failed" and "without an approval" in status["message"]
    assert rig.agent.reboots == 0
    assert failures(rig) == 1
    check_safety(rig, admin_cordon=False)


async def test_a_cycle_that_was_not_chosen_to_start_starts_nothing(rig: Rig) -> None:
    """A cycle resumed for a request in progress finds it not started (deleted and made again meanwhile, say):
    it frees the claim and leaves the node alone, so only a decision starts a node (windows, budget, limits)."""
    status = await rig.run(starting=False)

    assert status == {}
    assert rig.phases() == []
    assert NODE not in rig.policy_status()["slots"]
    assert rig.node()["spec"].get("unschedulable") is None


@pytest.mark.parametrize("outcome", [DrainOutcome.COMPLETED, DrainOutcome.REFUSED])
async def test_a_cycle_whose_request_another_replica_ended_stops_and_frees_the_claim(
    rig: Rig, outcome: DrainOutcome
) -> None:
    def ended_elsewhere(memory: MemoryApi) -> None:
        memory.edit("noderebootrequests", NODE, lambda r: r["status"].update(phase="Failed", message="elsewhere"))

    rig.drain.during = ended_elsewhere
    rig.drain.outcomes = [outcome]

    status = await rig.run()

    assert status["phase"] == "Failed" and status["message"] == "elsewhere"
    assert rig.approvals() == [] and rig.agent.reboots == 0
    assert NODE not in rig.policy_status()["slots"]


async def test_a_cycle_made_without_saying_it_starts_does_not_start(rig: Rig) -> None:
    cycle = Cycle(api=await rig.memory.client(), world=rig.world, name=NODE, policy=POLICY, clock=rig.world.clock)

    await cycle.run()

    assert rig.phases() == [] and rig.node()["spec"].get("unschedulable") is None


async def test_a_request_changed_between_the_decision_and_the_start_is_not_started(rig: Rig) -> None:
    decided = rig.memory.get("noderebootrequests", NODE)
    assert decided is not None
    cycle = await rig.cycle()
    cycle.known = decided  # the object the decision saw, used instead of a read
    rig.memory.edit("noderebootrequests", NODE, lambda r: r["metadata"].update(labels={"x": "y"}))

    await cycle.run()

    assert rig.phases() == [] and rig.memory.refused == [("noderebootrequests", NODE, 409)]
    assert NODE in rig.policy_status()["slots"], "the claim stays: the next decision resumes or frees it"


async def test_a_request_changed_since_the_decision_is_not_started(rig: Rig) -> None:
    cycle = await rig.cycle()
    rig.memory.edit("noderebootrequests", NODE, lambda r: r["metadata"].update(labels={"x": "y"}))

    await cycle.run()

    assert rig.phases() == []
    assert rig.node()["spec"].get("unschedulable") is None
    assert NODE in rig.policy_status()["slots"], "the claim stays: the next decision resumes or frees it"


async def test_a_withdrawn_request_frees_its_claim_without_starting(rig: Rig) -> None:
    rig.memory.edit("noderebootrequests", NODE, lambda r: r["spec"].update(reasons=[]))

    await rig.run()

    assert rig.phases() == [] and NODE not in rig.policy_status()["slots"]
    assert failures(rig) == 0


async def test_a_deleted_request_frees_its_slot(rig: Rig) -> None:
    rig.memory.delete("noderebootrequests", NODE)

    await rig.run(starting=False)

    assert NODE not in rig.policy_status()["slots"] and failures(rig) == 0


async def test_a_deleted_policy_hands_the_node_back_and_cancels(rig: Rig) -> None:
    started = {"phase": "Draining", "policy": POLICY, "wasUnschedulable": False}
    rig.memory.edit("noderebootrequests", NODE, lambda r: r.update(status=started))
    rig.memory.edit("nodes", NODE, lambda n: n["spec"].update(unschedulable=True))
    rig.memory.delete("rebootpolicies", POLICY)

    status = await rig.run(starting=False)

    assert status["phase"] == "Cancelled"
    assert not rig.node()["spec"].get("unschedulable")


# -- what the cycle measures ----------------------------------------------------------------------------------------


def sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, {"policy": POLICY, **labels}) or 0.0


@pytest.mark.parametrize(
    ("queued_before_the_finish", "handoffs"),
    [
        pytest.param(datetime.timedelta(seconds=20), 1, id="waiting-when-the-last-node-finished"),
        pytest.param(datetime.timedelta(0), 1, id="queued-the-moment-it-finished"),
        pytest.param(datetime.timedelta(seconds=-5), 0, id="queued-after-it-finished"),
    ],
)
async def test_the_hand_off_is_measured_from_the_last_finish_for_a_node_that_waited(
    rig: Rig, queued_before_the_finish: datetime.timedelta, handoffs: int
) -> None:
    finished = START - datetime.timedelta(seconds=30)
    rig.memory.edit(
        "rebootpolicies", POLICY, lambda p: p["status"].update(lastCompletionAt=finished.strftime("%Y-%m-%dT%H:%M:%SZ"))
    )
    queued = (finished - queued_before_the_finish).strftime("%Y-%m-%dT%H:%M:%SZ")
    rig.memory.edit("noderebootrequests", NODE, lambda r: r.update(status={"phase": "Waiting", "queuedAt": queued}))
    count, total = sample("rollboot_handoff_seconds_count"), sample("rollboot_handoff_seconds_sum")

    await rig.run()

    assert sample("rollboot_handoff_seconds_count") - count == handoffs
    assert sample("rollboot_handoff_seconds_sum") - total == 30.0 * handoffs


async def test_a_completed_cycle_and_a_failed_one_are_counted_and_timed(rig: Rig) -> None:
    set_spec(rig, reboot={"soak": "2m"})
    completed, failed = (
        sample("rollboot_reboots_total", result="Completed"),
        sample("rollboot_reboots_total", result="Failed"),
    )
    cycles = sample("rollboot_cycle_duration_seconds_sum")
    drains = sample("rollboot_drain_duration_seconds_count")

    await rig.run()

    assert sample("rollboot_reboots_total", result="Completed") - completed == 1
    assert sample("rollboot_reboots_total", result="Failed") - failed == 0
    assert sample("rollboot_cycle_duration_seconds_sum") - cycles == 120.0, "start to end on the frozen clock: the soak"
    assert sample("rollboot_drain_duration_seconds_count") - drains == 1


async def test_a_request_whose_waiting_message_was_rewritten_after_the_decision_still_starts(rig: Rig) -> None:
    """The coordinator's own rewrite of why a request waits, queued before the decision and landing after it,
    changes nothing the decision stood on: the start is made on the newer version, not left to a later decision."""
    waiting = {"phase": "Waiting", "policy": POLICY, "message": "position 2 in the queue", "observedGeneration": 1}
    rig.memory.edit("noderebootrequests", NODE, lambda r: r.update(status=waiting))
    decided = rig.memory.get("noderebootrequests", NODE)
    assert decided is not None
    cycle = await rig.cycle()
    cycle.known = decided
    rig.memory.edit("noderebootrequests", NODE, lambda r: r["status"].update(message="position 1 in the queue"))

    status = await rig.run_cycle(cycle)

    assert status["phase"] == "Completed", status
    assert rig.memory.refused == [("noderebootrequests", NODE, 409)], "one start refused, then one on the newer version"
    check_safety(rig, admin_cordon=False)


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda r: r["status"].update(phase="Failed", message="ended elsewhere"), id="ended"),
        pytest.param(lambda r: r["spec"].update(reasons=[]), id="withdrawn"),
        pytest.param(lambda r: r["status"].update(policy="another"), id="another-policy"),
        pytest.param(lambda r: r["status"].update(observedGeneration=7), id="report-answered"),
        pytest.param(lambda r: r["metadata"].update(uid="made-again"), id="made-again"),
    ],
)
async def test_a_request_changed_in_what_the_decision_stood_on_is_not_started(
    rig: Rig, edit: Callable[[dict[str, Any]], None]
) -> None:
    waiting = {"phase": "Waiting", "policy": POLICY, "message": "position 1 in the queue", "observedGeneration": 1}
    rig.memory.edit("noderebootrequests", NODE, lambda r: r.update(status=waiting))
    decided = rig.memory.get("noderebootrequests", NODE)
    assert decided is not None
    cycle = await rig.cycle()
    cycle.known = decided
    rig.memory.edit("noderebootrequests", NODE, edit)

    await rig.run_cycle(cycle)

    assert "Cordoning" not in rig.phases()
    assert rig.node()["spec"].get("unschedulable") is None
    assert NODE in rig.policy_status()["slots"], "the claim stays: the next decision resumes or frees it"


async def test_an_admins_reboot_now_starts_a_request_without_reasons(rig: Rig) -> None:
    """The request the operator made for an admin's reboot-now has no reasons: the annotation is the ask."""
    rig.memory.edit("noderebootrequests", NODE, lambda r: r["spec"].update(reasons=[]))
    ask = {"rollboot.dev/reboot-now": "2026-03-01T11:59:00Z"}
    rig.memory.edit("nodes", NODE, lambda n: n["metadata"].setdefault("annotations", {}).update(ask))

    status = await rig.run()

    assert rig.phases()[:2] == ["Cordoning", "Draining"] and status["phase"] == "Completed", status
    assert rig.agent.reboots == 1
    check_safety(rig, admin_cordon=False)


async def test_a_request_rewritten_before_each_start_is_left_to_the_next_decision(rig: Rig) -> None:
    """One start again on the newer version, no more: a request that keeps changing is decided on again, and its
    claim stays for that decision (a cycle that looped would find it not started and free the claim)."""
    waiting = {"phase": "Waiting", "policy": POLICY, "message": "position 1 in the queue", "observedGeneration": 1}
    rig.memory.edit("noderebootrequests", NODE, lambda r: r.update(status=waiting))
    decided = rig.memory.get("noderebootrequests", NODE)
    assert decided is not None
    cycle = await rig.cycle()
    cycle.known = decided
    rewrites = iter(range(100))

    def rewritten_first(method: str, path: str) -> int | None:
        if method == "PUT" and path.endswith(f"/noderebootrequests/{NODE}/status"):
            message = f"position 1 in the queue ({next(rewrites)})"
            rig.memory.edit("noderebootrequests", NODE, lambda r: r["status"].update(message=message))
        return None

    rig.memory.before = rewritten_first

    await rig.run_cycle(cycle)

    assert rig.phases() == ["Waiting"]
    assert len(rig.memory.refused) == 2, rig.memory.refused
    assert NODE in rig.policy_status()["slots"], "the claim stays: the next decision resumes or frees it"
    assert rig.node()["spec"].get("unschedulable") is None


async def test_drain_progress_is_written_from_the_request_as_last_written_and_its_end_with_the_approval(
    rig: Rig,
) -> None:
    rig.drain.progress = [DrainProgress(2, 2, ()), DrainProgress(2, 1, ()), DrainProgress(2, 0, ())]

    status = await rig.run()

    messages = [
        (w.body.get("status") or {}).get("message") for w in rig.memory.history if w.kind == "noderebootrequests"
    ]
    assert "draining: 2 of 2 pods left" in messages and "draining: 1 of 2 pods left" in messages
    assert "draining: 0 of 2 pods left" not in messages, "the end of the drain is written with the approval"
    assert status["drain"] == {"podsTotal": 2, "podsRemaining": 0, "blockingPods": []}
    requests_read = [r for r in rig.memory.reads if r[0] == "noderebootrequests"]
    assert len(requests_read) == 2, "the first step and after the soak: no read before a progress or the approval"
    assert rig.memory.refused == []


async def test_the_cluster_wide_stop_holds_a_drained_node_before_its_reboot_until_resumed(rig: Rig) -> None:
    rig.world.stop = "the ConfigMap rollboot-system/rollboot-stop exists"
    cycle = asyncio.create_task(rig.run())
    for _ in range(1000):
        stored = rig.memory.get("noderebootrequests", NODE) or {}
        if "holding before its reboot" in str((stored.get("status") or {}).get("message")):
            break
        await asyncio.sleep(0)
    else:
        raise AssertionError("the cycle never said it holds")

    assert not cycle.done(), "it waits for the resume"
    assert rig.agent.reboots == 0 and rig.approvals() == [], "no reboot authorized while stopped"
    assert rig.node()["spec"].get("unschedulable") is True, "the node stays cordoned"
    assert "rollboot-stop exists" in stored["status"]["message"] and stored["status"]["phase"] == "Draining"

    rig.world.resume.set()
    status = await cycle

    assert status["phase"] == "Completed" and rig.agent.reboots == 1 and len(rig.approvals()) == 1
    assert rig.memory.reasons().count("Held") == 1, rig.memory.reasons()
    check_safety(rig, admin_cordon=False)


async def _holding(rig: Rig, cycle: asyncio.Task[dict[str, Any]]) -> None:
    """Until the cycle waits at the stop (its Held Event queued), failing if it ends first."""
    for _ in range(1000):
        await background().drain()
        if "Held" in rig.memory.reasons():
            break
        assert not cycle.done(), cycle.result()
        await asyncio.sleep(0)
    else:
        raise AssertionError("the cycle never held")


async def test_after_the_stop_the_step_starts_again_from_the_request_as_stored(rig: Rig) -> None:
    """A hold can last hours: once resumed, the node is drained again (a pod bound to it by name meanwhile goes
    before the reboot) and the approval is written on the request as stored, with no write refused as stale."""
    rig.world.stop = "the ConfigMap rollboot-system/rollboot-stop exists"
    resumed_when_drained: list[bool] = []
    rig.drain.during = lambda memory: resumed_when_drained.append(rig.world.resume.is_set())
    cycle = asyncio.create_task(rig.run())
    await _holding(rig, cycle)

    rig.world.resume.set()
    status = await cycle

    assert status["phase"] == "Completed" and rig.agent.reboots == 1 and len(rig.approvals()) == 1
    assert resumed_when_drained == [False, True], "drained before the hold, and again after the resume"
    assert rig.memory.refused == [], "the step after the resume re-read the request its hold wrote"
    check_safety(rig, admin_cordon=False)


async def test_a_cycle_resumed_while_stopped_and_already_saying_so_writes_nothing_until_the_resume(rig: Rig) -> None:
    """An operator restarted during a hold finds the request saying it holds: it holds again without a write."""
    why = "the ConfigMap rollboot-system/rollboot-stop exists"
    rig.world.stop = why
    message = f"holding before its reboot: rollboot is stopped cluster-wide ({why}); the node stays cordoned"
    holding = {"phase": "Draining", "policy": POLICY, "wasUnschedulable": False, "message": message}
    rig.memory.edit("noderebootrequests", NODE, lambda r: r.update(status=holding))

    def cordoned_by_us(body: dict[str, Any]) -> None:
        body["spec"]["unschedulable"] = True
        body["metadata"].setdefault("annotations", {})[CORDON_MARK] = body_uid

    body_uid = (rig.memory.get("noderebootrequests", NODE) or {})["metadata"]["uid"]
    rig.memory.edit("nodes", NODE, cordoned_by_us)
    writes_before = len(rig.memory.history)

    cycle = asyncio.create_task(rig.run(starting=False))
    await _holding(rig, cycle)
    assert len(rig.memory.history) == writes_before, [w.kind for w in rig.memory.history[writes_before:]]

    rig.world.resume.set()
    status = await cycle
    assert status["phase"] == "Completed" and rig.agent.reboots == 1


def _decided_on_its_view(rig: Rig, cycle: Cycle) -> None:
    """As the coordinator hands a start over: the watched view (no labels, no annotations) and their ``marks``."""
    stored = rig.memory.get("noderebootrequests", NODE)
    view = request_view(stored) if stored is not None else None
    assert view is not None
    cycle.known, cycle.known_marks = view.as_stored(), view.marks


WAITING_2ND = {"phase": "Waiting", "policy": POLICY, "message": "position 2 in the queue", "observedGeneration": 1}


async def test_a_labelled_request_decided_on_its_view_still_starts_after_its_message_was_rewritten(rig: Rig) -> None:
    """Labels set long before (an agent's, a GitOps tool's) are no change: the start is made on the newer version,
    not left to a later decision (at 15,000 nodes that cost a whole pass and ~0.4 s of a hand-off)."""
    rig.memory.edit("noderebootrequests", NODE, lambda r: r.update(status=WAITING_2ND))
    rig.memory.edit("noderebootrequests", NODE, lambda r: r["metadata"].update(labels={"team": "infra"}))
    cycle = await rig.cycle()
    _decided_on_its_view(rig, cycle)
    rig.memory.edit("noderebootrequests", NODE, lambda r: r["status"].update(message="position 1 in the queue"))

    status = await rig.run_cycle(cycle)

    assert status["phase"] == "Completed", status
    assert rig.memory.refused == [("noderebootrequests", NODE, 409)], "one start refused, then one on the newer version"
    check_safety(rig, admin_cordon=False)


@pytest.mark.parametrize("key", ["labels", "annotations"])
async def test_a_request_whose_labels_changed_since_its_view_was_decided_on_is_not_started(rig: Rig, key: str) -> None:
    rig.memory.edit("noderebootrequests", NODE, lambda r: r.update(status=WAITING_2ND))
    rig.memory.edit("noderebootrequests", NODE, lambda r: r["metadata"].update({key: {"team": "infra"}}))
    cycle = await rig.cycle()
    _decided_on_its_view(rig, cycle)
    rig.memory.edit("noderebootrequests", NODE, lambda r: r["metadata"].update({key: {"team": "apps"}}))

    await rig.run_cycle(cycle)

    assert "Cordoning" not in rig.phases()
    assert NODE in rig.policy_status()["slots"], "the claim stays: the next decision resumes or frees it"
