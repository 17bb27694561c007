"""The reboot guard's state file: survives restarts, and never stops the agent when it is broken."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sentinel_agent.guard import GuardStore, RebootAttempt

ATTEMPT = RebootAttempt(boot_id="boot-1", at=datetime(2026, 11, 27, 21, 0, tzinfo=UTC))


def test_an_attempt_survives_a_restart(tmp_path: Path) -> None:
    GuardStore(tmp_path / "state" / "agent.json").record(ATTEMPT)

    assert GuardStore(tmp_path / "state" / "agent.json").last_attempt == ATTEMPT


def test_without_a_state_file_the_attempt_lives_in_memory_only() -> None:
    store = GuardStore(None)
    store.record(ATTEMPT)

    assert store.last_attempt == ATTEMPT
    assert GuardStore(None).last_attempt is None


@pytest.mark.parametrize(
    "content",
    ["", "{", "[]", '{"bootID": "b"}', '{"bootID": "b", "attemptedAt": "yesterday"}'],
    ids=["empty", "truncated", "not-an-object", "no-time", "bad-time"],
)
def test_a_corrupt_state_file_is_ignored_with_a_warning(
    tmp_path: Path, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "agent.json"
    path.write_text(content)

    assert GuardStore(path).last_attempt is None
    assert "unreadable state file" in caplog.text


def test_an_unwritable_state_file_keeps_the_attempt_in_memory(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    store = GuardStore(blocker / "agent.json")
    caplog.set_level(logging.WARNING)

    store.record(ATTEMPT)

    assert store.last_attempt == ATTEMPT
    assert "cannot write the state file" in caplog.text
