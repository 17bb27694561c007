"""The agent's copy of the API contract matches the CRD the operator's models generate.

The agent cannot import the operator's models (it is stdlib-only and ships alone), so its vocabulary is
checked against ``crds/`` instead: a phase or reason source renamed on one side fails here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sentinel_agent.model import (
    GROUP,
    KIND,
    MAX_DETAIL,
    MAX_PACKAGE_NAME,
    MAX_PACKAGES,
    PLURAL,
    VERSION,
    Phase,
    Source,
)

CRD = Path(__file__).resolve().parents[2] / "crds" / f"{PLURAL}.{GROUP}.yaml"


def crd() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(CRD.read_text())
    return document


def schema() -> dict[str, Any]:
    [version] = [v for v in crd()["spec"]["versions"] if v["name"] == VERSION]
    properties: dict[str, Any] = version["schema"]["openAPIV3Schema"]["properties"]
    return properties


def test_names() -> None:
    spec = crd()["spec"]

    assert (spec["group"], spec["names"]["kind"], spec["names"]["plural"], spec["scope"]) == (
        GROUP,
        KIND,
        PLURAL,
        "Cluster",
    )


def test_phases_match_the_crd() -> None:
    assert schema()["status"]["properties"]["phase"]["enum"] == [phase.value for phase in Phase]


def test_reason_sources_match_the_crd() -> None:
    reason = schema()["spec"]["properties"]["reasons"]["items"]["properties"]

    assert reason["source"]["enum"] == [source.value for source in Source]


def test_the_fields_the_agent_writes_and_reads_exist() -> None:
    spec = schema()["spec"]["properties"]
    approval = schema()["status"]["properties"]["approval"]["properties"]

    assert {"nodeName", "reasons", "detectedAt", "bootID"} <= set(spec)
    assert {"bootID", "approvedAt", "attempt"} <= set(approval)


def test_the_agent_cuts_reasons_to_the_crd_limits() -> None:
    reason = schema()["spec"]["properties"]["reasons"]["items"]["properties"]

    assert reason["detail"]["maxLength"] == MAX_DETAIL
    assert reason["packages"]["maxItems"] == MAX_PACKAGES
    assert reason["packages"]["items"]["maxLength"] == MAX_PACKAGE_NAME
