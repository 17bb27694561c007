"""A RebootPolicy the models cannot parse still shows the decision which nodes it selects, so that it holds them."""

from __future__ import annotations

from typing import Any

import pytest

from reboot_operator.watch.observed import policy_view


def _stored(spec: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "broken", "uid": "u", "generation": 3, "resourceVersion": "7"}, "spec": spec}


def test_a_spec_that_cannot_be_parsed_keeps_its_selector_and_priority_with_its_problems() -> None:
    # Accepted by the API server (the CRD cannot compile Python's regular expressions), refused by the models.
    view = policy_view(
        _stored(
            {
                "priority": 10,
                "nodeSelector": {"matchLabels": {"pool": "a"}},
                "blockers": {"prometheus": {"url": "http://prometheus:9090", "alertFilterRegexp": "Watchdog|[Info"}},
            }
        )
    )
    assert view.spec is None and view.problems
    facts = view.facts()
    assert facts is not None, "the policy must still claim its nodes"
    assert facts.spec.priority == 10
    assert facts.spec.node_selector.match_labels == {"pool": "a"}
    assert facts.problems == view.problems
    assert any("alertFilterRegexp" in problem for problem in facts.problems), facts.problems


@pytest.mark.parametrize(
    "spec",
    [
        {"nodeSelector": {"matchExpressions": [{"key": "pool", "operator": "Sometimes"}]}, "maxConcurrent": 0},
        {"priority": "high", "maxConcurrent": 0},
    ],
    ids=["unreadable-selector", "unreadable-priority"],
)
def test_a_spec_whose_selector_cannot_be_read_selects_nothing(spec: dict[str, Any]) -> None:
    view = policy_view(_stored(spec))
    assert view.spec is None and view.facts() is None


def test_a_valid_spec_has_no_problems_of_its_own() -> None:
    facts = policy_view(_stored({"nodeSelector": {"matchLabels": {"pool": "a"}}})).facts()
    assert facts is not None and facts.problems == ()
