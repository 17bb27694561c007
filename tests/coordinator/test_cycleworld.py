"""The world a cycle sees (``coordinator/cycleworld.py``): a policy as our own last status write left it, when the
watch has not shown that write yet, so a cycle's release of its slot starts from the version that write made
instead of one that can only come back as 409 Conflict (one more round trip on the way to the next node)."""

from __future__ import annotations

from reboot_operator.coordinator.cycleworld import CycleWorld
from reboot_operator.coordinator.unseen import OwnWrites
from reboot_operator.kube.statuses import POLICIES
from reboot_operator.notify import Notifier
from reboot_operator.watch.observed import policy_view
from tests.operator.memory import policy


async def _no_secret(_: object) -> str:
    raise AssertionError("no notification is sent here")


def _version(slots: list[str], version: str) -> dict[str, object]:
    body = policy("pool-a", {}, slots=slots)
    body["metadata"]["resourceVersion"] = version
    return body


async def test_a_cycle_sees_a_policy_as_our_newer_write_left_it_and_the_watch_once_it_caught_up() -> None:
    watched = {"pool-a": policy_view(_version(["a", "b"], "5"))}
    own = OwnWrites(kick=lambda: None, known=lambda _plural, name: watched.get(name))
    world = CycleWorld(
        node=lambda _: None, policy=watched.get, own=own, notifier=Notifier(read_secret=_no_secret), kick=lambda: None
    )
    assert world.policy("pool-a") is watched["pool-a"]

    own.wrote(POLICIES, _version(["a", "b", "c"], "7"))  # our claim, not yet shown by the watch
    seen = world.policy("pool-a")
    assert seen is not None and seen.resource_version == "7" and seen.status.slots == ["a", "b", "c"]

    watched["pool-a"] = policy_view(_version(["b", "c"], "9"))  # the watch moved past it
    assert world.policy("pool-a") is watched["pool-a"]
    assert world.policy("gone") is None
