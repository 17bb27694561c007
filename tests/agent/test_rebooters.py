"""Reboot methods: the signal to PID 1, the command, and the dry run that never reboots."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

import pytest

from sentinel_agent.errors import RebootError
from sentinel_agent.rebooters.command import CommandRebooter
from sentinel_agent.rebooters.dry_run import DryRunRebooter
from sentinel_agent.rebooters.signal_pid1 import DEFAULT_SIGNAL, SignalRebooter
from tests.agent.fakes import CountingRebooter


class FakeKill:
    def __init__(self, error: OSError | None = None) -> None:
        self.calls: list[tuple[int, int]] = []
        self.error = error

    def __call__(self, pid: int, number: int) -> None:
        self.calls.append((pid, number))
        if self.error is not None:
            raise self.error


def test_the_default_signal_is_sigrtmin_plus_5() -> None:
    assert DEFAULT_SIGNAL == int(signal.SIGRTMIN) + 5 == 39


def test_the_signal_method_signals_pid_1_once() -> None:
    kill = FakeKill()

    SignalRebooter(kill=kill).reboot()

    assert kill.calls == [(1, 39)]


def test_the_signal_number_is_configurable() -> None:
    kill = FakeKill()

    SignalRebooter(signal_number=int(signal.SIGTERM), kill=kill).reboot()

    assert kill.calls == [(1, int(signal.SIGTERM))]


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (PermissionError(1, "Operation not permitted"), "CAP_KILL"),
        (ProcessLookupError(3, "No such process"), "No such"),
    ],
    ids=["not-permitted", "no-such-process"],
)
def test_a_signal_that_cannot_be_sent_is_a_reboot_error(error: OSError, message: str) -> None:
    with pytest.raises(RebootError, match=message):
        SignalRebooter(kill=FakeKill(error)).reboot()


def test_the_command_method_runs_its_argv(tmp_path: Path) -> None:
    marker = tmp_path / "rebooted"

    CommandRebooter((sys.executable, "-c", f"open({str(marker)!r}, 'w').write('yes')"), nsenter=False).reboot()

    assert marker.read_text() == "yes"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            (sys.executable, "-c", "import sys; sys.stderr.write('node busy'); raise SystemExit(1)"),
            "exited 1: node busy",
        ),
        (("/nonexistent/systemctl", "reboot"), "not found"),
    ],
    ids=["fails", "missing"],
)
def test_a_failing_reboot_command_is_a_reboot_error(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(RebootError, match=message):
        CommandRebooter(argv, nsenter=False).reboot()


def test_the_command_method_defaults_to_systemctl_reboot_in_the_host() -> None:
    assert CommandRebooter().describe() == "command `systemctl reboot` run in the host's mount namespace"


def test_a_dry_run_logs_and_never_reboots(caplog: pytest.LogCaptureFixture) -> None:
    inner = CountingRebooter()
    caplog.set_level(logging.WARNING)

    DryRunRebooter(inner).reboot()

    assert inner.reboots == 0
    assert "would reboot" in caplog.text
