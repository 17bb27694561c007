"""The agent's loop, driven step by step with a fake clock, a fake writer and a counting rebooter."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sentinel_agent.agent import Agent
from sentinel_agent.checkers import Checker
from sentinel_agent.checkers.sentinel_command import SentinelCommandChecker
from sentinel_agent.checkers.sentinel_file import SentinelFileChecker
from sentinel_agent.errors import ApiConflict, ApiConnectionError, ApiError
from sentinel_agent.guard import GuardStore
from sentinel_agent.model import Approval, NodeRebootRequest, Spec
from sentinel_agent.rebooters.dry_run import DryRunRebooter
from tests.agent.fakes import CountingRebooter

START = datetime(2026, 11, 27, 21, 0, tzinfo=UTC)
GUARD = 300.0
CHECK = 60.0


class Clock:
    """Wall clock and monotonic clock that move together, only when told."""

    def __init__(self) -> None:
        self.wall = START
        self.mono = 1000.0

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds


class FakeWriter:
    """The API server's copy of the request, as far as the agent's two writes are concerned."""

    def __init__(self) -> None:
        self.stored: NodeRebootRequest | None = None
        self.writes: list[tuple[str, Spec]] = []
        self.failures: list[ApiError] = []
        self._version = 100

    def _save(self, spec: Spec) -> NodeRebootRequest:
        self._version += 1
        base = self.stored or NodeRebootRequest(name=spec.node_name, resource_version=None, spec=spec)
        self.stored = base._replace(spec=spec, resource_version=str(self._version))
        return self.stored

    def create(self, spec: Spec) -> NodeRebootRequest:
        if self.failures:
            raise self.failures.pop(0)
        self.writes.append(("create", spec))
        return self._save(spec)

    def patch_spec(self, spec: Spec) -> NodeRebootRequest:
        if self.failures:
            raise self.failures.pop(0)
        self.writes.append(("patch", spec))
        return self._save(spec)

    def set_status(self, phase: str, approved_boot: str | None = None) -> NodeRebootRequest:
        """What the operator does, through the status subresource."""
        assert self.stored is not None
        self._version += 1
        approval = (
            Approval(boot_id=approved_boot, approved_at="2026-11-27T21:01:00Z", attempt=1) if approved_boot else None
        )
        self.stored = self.stored._replace(phase=phase, approval=approval, resource_version=str(self._version))
        return self.stored


class Node:
    """One node's files, its agent, and the fakes around it."""

    def __init__(self, root: Path, *, state_file: Path | None = None, checkers: list[Checker] | None = None) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.sentinel = root / "reboot-required"
        self.boot_file = root / "boot_id"
        self.boot_file.write_text("boot-1\n")
        self.clock = Clock()
        self.writer = FakeWriter()
        self.rebooter = CountingRebooter()
        self.state_file = state_file
        self.agent = self.new_agent(checkers)

    def new_agent(self, checkers: list[Checker] | None = None) -> Agent:
        """A fresh agent process on the same node (same files, same API server)."""
        return Agent(
            node_name="n1",
            checkers=checkers or [SentinelFileChecker(self.sentinel)],
            rebooter=self.rebooter,
            writer=self.writer,
            boot_id_file=self.boot_file,
            guard=GuardStore(self.state_file),
            check_interval=CHECK,
            guard_interval=GUARD,
            clock=self.clock.now,
            monotonic=self.clock.monotonic,
        )

    @property
    def boot(self) -> str:
        return self.boot_file.read_text().strip()

    def require_reboot(self, *packages: str) -> None:
        self.sentinel.write_text("")
        (self.root / "reboot-required.pkgs").write_text("".join(f"{p}\n" for p in packages))

    def clear_sentinel(self) -> None:
        self.sentinel.unlink(missing_ok=True)
        (self.root / "reboot-required.pkgs").unlink(missing_ok=True)

    def reboot_happened(self, boot: str = "boot-2") -> None:
        self.clear_sentinel()
        self.boot_file.write_text(boot + "\n")

    def operator(self, phase: str, approved_boot: str | None = None) -> None:
        self.agent.on_request(self.writer.set_status(phase, approved_boot))


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return Node(tmp_path / "n1", state_file=tmp_path / "state" / "agent.json")


def test_a_required_reboot_is_reported_once_the_request_is_known(node: Node) -> None:
    node.require_reboot("linux-image-6.8.0-1002-azure")
    node.agent.check()
    assert node.writer.writes == []

    node.agent.on_request(None)

    [(kind, spec)] = node.writer.writes
    assert kind == "create"
    assert spec.boot_id == "boot-1"
    assert spec.detected_at == "2026-11-27T21:00:00Z"
    assert spec.reasons[0].packages == ("linux-image-6.8.0-1002-azure",)


def test_nothing_is_written_while_nothing_changes(node: Node) -> None:
    node.agent.on_request(None)
    node.agent.check()
    node.require_reboot("k")
    for _ in range(10):
        node.agent.check()
        node.agent.on_request(node.writer.stored)
        node.clock.advance(CHECK)

    assert [kind for kind, _ in node.writer.writes] == ["create"]


def test_new_packages_update_the_reasons(node: Node) -> None:
    node.agent.on_request(None)
    node.require_reboot("k")
    node.agent.check()
    node.require_reboot("k", "libc6")
    node.agent.check()

    assert [kind for kind, _ in node.writer.writes] == ["create", "patch"]
    assert node.writer.stored is not None
    assert node.writer.stored.spec.reasons[0].packages == ("k", "libc6")


def test_an_approval_for_this_boot_reboots_exactly_once(node: Node) -> None:
    node.agent.on_request(None)
    node.require_reboot("k")
    node.agent.check()

    node.operator("Rebooting", approved_boot="boot-1")
    node.agent.on_request(node.writer.stored)
    node.agent.check()
    node.clock.advance(GUARD - 1)
    node.agent.act()

    assert node.rebooter.reboots == 1


def test_an_approval_still_standing_after_the_guard_interval_is_tried_again(node: Node) -> None:
    node.agent.on_request(None)
    node.require_reboot("k")
    node.agent.check()
    node.operator("Rebooting", approved_boot="boot-1")

    node.clock.advance(GUARD)
    node.agent.act()

    assert node.rebooter.reboots == 2


def test_phases_before_rebooting_never_reboot(node: Node) -> None:
    node.agent.on_request(None)
    node.require_reboot("k")
    node.agent.check()
    for phase in ("Pending", "Waiting", "Cordoning", "Draining"):
        node.operator(phase)

    assert node.rebooter.reboots == 0


def test_a_restarted_agent_does_not_reboot_again_within_the_guard(node: Node) -> None:
    node.agent.on_request(None)
    node.require_reboot("k")
    node.agent.check()
    node.operator("Rebooting", approved_boot="boot-1")
    assert node.rebooter.reboots == 1

    node.clock.advance(30)
    restarted = node.new_agent()
    restarted.on_request(node.writer.stored)
    restarted.check()

    assert node.rebooter.reboots == 1


def test_a_restarted_agent_after_the_reboot_does_nothing_more(tmp_path: Path) -> None:
    node = Node(tmp_path / "n1", state_file=None)
    node.agent.on_request(None)
    node.require_reboot("k")
    node.agent.check()
    node.operator("Rebooting", approved_boot="boot-1")

    node.reboot_happened()
    restarted = node.new_agent()
    restarted.on_request(node.writer.stored)
    restarted.check()

    assert node.rebooter.reboots == 1
    assert [kind for kind, _ in node.writer.writes] == ["create"]


def test_a_reboot_cleared_sentinel_is_not_a_withdrawal(node: Node) -> None:
    node.agent.on_request(None)
    node.require_reboot("k")
    node.agent.check()
    node.operator("Rebooting", approved_boot="boot-1")

    node.reboot_happened()
    node.agent.check()
    node.operator("Verifying", approved_boot="boot-1")
    node.operator("Completed", approved_boot="boot-1")
    node.agent.check()

    assert [kind for kind, _ in node.writer.writes] == ["create"]


def test_the_next_update_after_a_completed_cycle_opens_a_new_one(node: Node) -> None:
    node.agent.on_request(None)
    node.require_reboot("k1")
    node.agent.check()
    node.operator("Rebooting", approved_boot="boot-1")
    node.reboot_happened("boot-2")
    node.operator("Completed", approved_boot="boot-1")

    node.clock.advance(86400)
    node.require_reboot("k2")
    node.agent.check()

    kind, spec = node.writer.writes[-1]
    assert kind == "patch"
    assert spec.boot_id == "boot-2"
    assert spec.detected_at == "2026-11-28T21:00:00Z"
    assert spec.reasons[0].packages == ("k2",)


def test_a_sentinel_gone_without_a_reboot_withdraws_the_request(node: Node) -> None:
    node.agent.on_request(None)
    node.require_reboot("k")
    node.agent.check()
    node.operator("Waiting")

    node.clear_sentinel()
    node.agent.check()

    kind, spec = node.writer.writes[-1]
    assert kind == "patch"
    assert spec.reasons == ()
    assert node.rebooter.reboots == 0


def test_a_failing_sentinel_command_writes_nothing(tmp_path: Path) -> None:
    node = Node(tmp_path / "n1", checkers=[])
    node.agent = node.new_agent([SentinelCommandChecker(("/nonexistent/needs-restarting", "-r"), nsenter=False)])

    node.agent.on_request(None)
    node.agent.check()

    assert node.writer.writes == []


def test_a_failing_sentinel_command_keeps_an_existing_request(tmp_path: Path) -> None:
    node = Node(tmp_path / "n1")
    node.agent.on_request(None)
    node.require_reboot("k")
    node.agent.check()
    node.agent = node.new_agent(
        [SentinelFileChecker(node.sentinel), SentinelCommandChecker(("/nonexistent/cmd",), nsenter=False)]
    )
    node.clear_sentinel()

    node.agent.on_request(node.writer.stored)
    node.agent.check()

    assert [kind for kind, _ in node.writer.writes] == ["create"]


def test_a_failed_write_waits_before_trying_again(node: Node) -> None:
    node.writer.failures = [ApiConnectionError("down"), ApiConnectionError("down")]
    node.agent.on_request(None)
    node.require_reboot("k")

    node.agent.check()
    node.agent.on_request(None)
    assert len(node.writer.failures) == 1, "the second attempt came before the pause was over"

    node.clock.advance(CHECK)
    node.agent.check()
    node.clock.advance(2 * CHECK)
    node.agent.check()

    assert [kind for kind, _ in node.writer.writes] == ["create"]


def test_a_conflict_on_create_is_left_to_the_watch(node: Node) -> None:
    node.writer.failures = [ApiConflict(409, "AlreadyExists", "exists")]
    node.agent.on_request(None)
    node.require_reboot("k")

    node.agent.check()

    assert node.writer.writes == []


def test_a_late_event_older_than_what_we_wrote_is_ignored(node: Node) -> None:
    node.agent.on_request(None)
    node.require_reboot("k")
    node.agent.check()
    assert node.writer.stored is not None
    current = node.writer.stored
    stale = current._replace(resource_version="1", spec=current.spec._replace(reasons=()))

    node.agent.on_request(stale)

    assert [kind for kind, _ in node.writer.writes] == ["create"]


def test_an_unreadable_boot_id_neither_reboots_nor_crashes(node: Node) -> None:
    node.agent.on_request(None)
    node.require_reboot("k")
    node.agent.check()
    node.boot_file.unlink()

    node.operator("Rebooting", approved_boot="boot-1")
    node.agent.check()

    assert node.rebooter.reboots == 0


def test_a_dry_run_never_reboots(node: Node) -> None:
    inner = node.rebooter
    node.rebooter = DryRunRebooter(inner)  # type: ignore[assignment]
    node.agent = node.new_agent()
    node.agent.on_request(None)
    node.require_reboot("k")
    node.agent.check()

    node.operator("Rebooting", approved_boot="boot-1")

    assert inner.reboots == 0


def test_run_checks_on_its_interval_reacts_at_once_and_stops_promptly(tmp_path: Path) -> None:
    node = Node(tmp_path / "n1")
    node.require_reboot("k")
    agent = Agent(
        node_name="n1",
        checkers=[SentinelFileChecker(node.sentinel)],
        rebooter=node.rebooter,
        writer=node.writer,
        boot_id_file=node.boot_file,
        guard=GuardStore(None),
        check_interval=3600,
        guard_interval=GUARD,
    )
    thread = threading.Thread(target=agent.run)
    thread.start()
    try:
        agent.offer(None)
        deadline = time.monotonic() + 5
        while not node.writer.writes and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [kind for kind, _ in node.writer.writes] == ["create"]

        agent.offer(node.writer.set_status("Rebooting", approved_boot="boot-1"))
        while node.rebooter.reboots == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert node.rebooter.reboots == 1
    finally:
        agent.stop()
        thread.join(timeout=5)
    # Stopped long before its next look (check_interval is an hour); no tighter bound, which a busy machine breaks.
    assert not thread.is_alive()
