"""Shared tables of RebootPolicy specs: bad ones every layer must refuse, good ones every layer must accept."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Case:
    id: str
    spec: dict[str, Any]
    field: str = ""
    """For a bad spec: the path the refusal must name."""


def _load(name: str) -> list[Case]:
    return [Case(**entry) for entry in yaml.safe_load((HERE / name).read_text(encoding="utf-8"))]


BAD_POLICIES = _load("bad_policies.yaml")
GOOD_POLICIES = _load("good_policies.yaml")
