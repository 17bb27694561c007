"""docs/agent.md documents every flag and environment variable the agent reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinel_agent.config import OPTIONS, Option

DOCS = Path(__file__).resolve().parents[2] / "docs" / "agent.md"


@pytest.mark.parametrize("option", OPTIONS, ids=[option.flag for option in OPTIONS])
def test_every_option_has_a_row_with_its_flag_and_variable(option: Option) -> None:
    rows = [line for line in DOCS.read_text().splitlines() if line.startswith(f"| `{option.flag}` |")]

    assert len(rows) == 1, f"docs/agent.md needs one table row for {option.flag}"
    assert f"`{option.env}`" in rows[0]


def test_the_in_cluster_variables_are_documented() -> None:
    text = DOCS.read_text()

    for name in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "/var/run/secrets/kubernetes.io/serviceaccount"):
        assert name in text
