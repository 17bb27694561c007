"""Ending a cycle early: the request is written ended only while it is still in one of the phases being ended, and
the caller is told what was written (over the in-memory stand-in, ``tests/operator/memory.py``)."""

from __future__ import annotations

import datetime

import pytest

from reboot_operator.api.vocabulary import ACTIVE_PHASES, Phase
from reboot_operator.rollout.handback import end_cycle, give_node_back
from tests.operator.memory import MemoryApi, node, request

NAME = "node-a"
NOW = datetime.datetime(2026, 12, 1, 3, 0, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("phase", "ends"),
    [("Draining", True), ("Rebooting", True), ("Completed", False), ("Waiting", False)],
)
async def test_a_cycle_is_ended_only_from_the_phases_being_ended_and_the_write_is_handed_back(
    phase: str, ends: bool
) -> None:
    memory = MemoryApi()
    memory.put("noderebootrequests", request(NAME, status={"phase": phase}))

    written = await end_cycle(
        await memory.client(), NAME, phase=Phase.FAILED, message="drain refused", now=NOW, ending=ACTIVE_PHASES
    )

    stored = memory.get("noderebootrequests", NAME)
    assert stored is not None
    assert stored["status"]["phase"] == ("Failed" if ends else phase)
    if ends:
        assert written is not None and written.status.phase is Phase.FAILED, written
        assert written.status.message == "drain refused" and written.status.completed_at == NOW
        assert written.resource_version == stored["metadata"]["resourceVersion"], "the request as written"
    else:
        assert written is None


@pytest.mark.parametrize(("answer_latest", "answered"), [(False, 1), (True, 2)])
async def test_a_failed_cycle_answers_the_agents_report_only_when_asked(answer_latest: bool, answered: int) -> None:
    # The reboot-loop guard: a cycle that fails keeps the report it answered as it was; a cancel (answer_latest)
    # marks the agent's latest report answered, so the same need does not start again by itself.
    memory = MemoryApi()
    memory.put("noderebootrequests", request(NAME, status={"phase": "Draining", "observedGeneration": 1}))
    memory.edit("noderebootrequests", NAME, lambda r: r["spec"].update({"bootID": "boot-2"}))  # a newer report

    api = await memory.client()
    if answer_latest:
        await end_cycle(api, NAME, phase=Phase.FAILED, message="x", now=NOW, ending=ACTIVE_PHASES, answer_latest=True)
    else:  # as the cycle's own give-back calls it: the default
        await end_cycle(api, NAME, phase=Phase.FAILED, message="x", now=NOW, ending=ACTIVE_PHASES)

    stored = memory.get("noderebootrequests", NAME)
    assert stored is not None and stored["metadata"]["generation"] == 2
    assert stored["status"]["observedGeneration"] == answered


@pytest.mark.parametrize(("before", "uncordoned"), [(False, True), (True, False)])
async def test_a_node_is_given_back_uncordoned_only_when_its_cycle_cordoned_it(before: bool, uncordoned: bool) -> None:
    memory = MemoryApi()
    memory.put("nodes", node(NAME, unschedulable=True))

    said = await give_node_back(await memory.client(), NAME, was_unschedulable=before, labels=None)

    stored = memory.get("nodes", NAME)
    assert stored is not None
    assert said is uncordoned
    assert bool(stored["spec"].get("unschedulable")) is before, "an admin's cordon stays"
