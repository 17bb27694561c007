"""Label selector matching (``matchLabels`` and ``matchExpressions``), to find the PodDisruptionBudgets covering a pod.

Pure functions over the JSON form of a ``LabelSelector``. As in policy/v1 PodDisruptionBudgets, an empty selector
matches every pod and a missing (null) selector matches none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    return all(_expression_matches(expression, labels) for expression in selector.get("matchExpressions") or [])


def _expression_matches(expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key = expression.get("key", "")
    values = expression.get("values") or []
    match expression.get("operator"):
        case "In":
            return key in labels and labels[key] in values
        case "NotIn":
            return key not in labels or labels[key] not in values
        case "Exists":
            return key in labels
        case "DoesNotExist":
            return key not in labels
        case _:
            # The API server validates operators; an unknown one selects nothing, as the Go implementation does.
            return False
