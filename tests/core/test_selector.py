from __future__ import annotations

from typing import Any

import pytest

from reboot_operator.api.common import LabelSelector
from reboot_operator.core.governance import Claim, govern
from reboot_operator.core.selector import compile_selector, parse_selector


def selector(**fields: Any) -> LabelSelector:
    return LabelSelector.model_validate(fields)


BLUE = {"pool": "blue", "zone": "a"}
GREEN = {"pool": "green"}
BARE: dict[str, str] = {}


@pytest.mark.parametrize(
    ("fields", "labels", "matches"),
    [
        pytest.param({}, BARE, True, id="empty-selects-everything"),
        pytest.param({"matchLabels": {"pool": "blue"}}, BLUE, True, id="match-labels"),
        pytest.param({"matchLabels": {"pool": "blue"}}, GREEN, False, id="match-labels-other-value"),
        pytest.param({"matchLabels": {"pool": "blue"}}, BARE, False, id="match-labels-missing"),
        pytest.param(
            {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["blue"]}]}, BLUE, True, id="in"
        ),
        pytest.param(
            {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["x"]}]}, BARE, False, id="in-missing"
        ),
        pytest.param(
            {"matchExpressions": [{"key": "pool", "operator": "NotIn", "values": ["blue"]}]}, GREEN, True, id="not-in"
        ),
        pytest.param(
            {"matchExpressions": [{"key": "pool", "operator": "NotIn", "values": ["blue"]}]},
            BLUE,
            False,
            id="not-in-hit",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "pool", "operator": "NotIn", "values": ["blue"]}]},
            BARE,
            True,
            id="not-in-missing-label",
        ),
        pytest.param({"matchExpressions": [{"key": "zone", "operator": "Exists"}]}, BLUE, True, id="exists"),
        pytest.param({"matchExpressions": [{"key": "zone", "operator": "Exists"}]}, GREEN, False, id="exists-missing"),
        pytest.param(
            {"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}, GREEN, True, id="does-not-exist"
        ),
        pytest.param(
            {"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}, BLUE, False, id="does-not-exist-hit"
        ),
        pytest.param(
            {"matchLabels": {"pool": "blue"}, "matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]},
            BLUE,
            False,
            id="all-must-hold",
        ),
    ],
)
def test_label_selector(fields: dict[str, Any], labels: dict[str, str], matches: bool) -> None:
    assert compile_selector(selector(**fields)).matches(labels) is matches


def test_a_selector_knows_the_keys_it_looks_at() -> None:
    compiled = compile_selector(
        selector(matchLabels={"pool": "blue"}, matchExpressions=[{"key": "zone", "operator": "Exists"}])
    )
    assert compiled.keys == {"pool", "zone"}


def test_governance_decides_each_label_combination_once_and_counts_selected_nodes() -> None:
    claims = [
        Claim("blue", 1, compile_selector(selector(matchLabels={"pool": "blue"}))),
        Claim("rest", 0, compile_selector(selector())),
    ]
    labels = {f"n{i}": {"pool": "blue" if i % 2 else "green", "kubernetes.io/hostname": f"n{i}"} for i in range(10)}
    result = govern(claims, labels)
    assert result.selected == {"blue": 5, "rest": 5}
    assert result.governing["n1"] == "blue"
    assert result.conflicts == {}


POD_LABELS = {"app": "web", "tier": "front"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        pytest.param(None, False, id="a-null-selector-matches-nothing"),
        pytest.param({}, True, id="an-empty-selector-matches-everything"),
        pytest.param({"matchLabels": {"app": "web"}}, True, id="match-labels"),
        pytest.param({"matchLabels": {"app": "web", "tier": "back"}}, False, id="every-label-must-match"),
        pytest.param({"matchExpressions": [{"key": "app", "operator": "In", "values": ["db", "web"]}]}, True, id="in"),
        pytest.param(
            {"matchExpressions": [{"key": "app", "operator": "In", "values": ["db"]}]}, False, id="not-in-set"
        ),
        pytest.param({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["db"]}]}, True, id="notin"),
        pytest.param(
            {"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}, True, id="notin-missing-key"
        ),
        pytest.param({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, True, id="exists"),
        pytest.param({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, False, id="does-not-exist"),
        pytest.param(
            {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]},
            False,
            id="labels-and-expressions-must-both-match",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "app", "operator": "Gt", "values": ["1"]}]},
            False,
            id="an-unknown-operator-selects-nothing",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "tier", "operator": "Exists"}, {"key": "app", "operator": "Bogus"}]},
            False,
            id="an-unknown-operator-beside-a-holding-one-still-selects-nothing",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}, {"key": "x", "operator": "Bogus"}]},
            False,
            id="an-unknown-operator-is-not-taken-for-does-not-exist",
        ),
    ],
)
def test_a_selector_read_from_json_matches_as_the_api_server_would(
    selector: dict[str, Any] | None, matches: bool
) -> None:
    assert parse_selector(selector).matches(POD_LABELS) is matches
