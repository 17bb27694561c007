"""Label selectors as PodDisruptionBudgets use them: which budgets cover a pod."""

from __future__ import annotations

from typing import Any

import pytest

from reboot_operator.kube.selectors import selector_matches

LABELS = {"app": "web", "tier": "front"}


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
        pytest.param({"matchExpressions": [{"key": "app", "operator": "Gt", "values": ["1"]}]}, False, id="unknown-op"),
    ],
)
def test_a_selector_matches_a_pods_labels_as_the_api_server_would(
    selector: dict[str, Any] | None, matches: bool
) -> None:
    assert selector_matches(selector, LABELS) is matches
