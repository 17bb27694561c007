"""Kubernetes label selectors, compiled once into cheap matchers: the one matcher for policies' node selectors
(typed, ``compile_selector``) and PodDisruptionBudgets' pod selectors (JSON, ``parse_selector``).

The semantics are the API's (``metav1.LabelSelectorAsSelector``): every ``matchLabels`` pair and every
``matchExpressions`` requirement must hold, and an empty selector selects everything. A selector the API would
refuse to convert (an operator it does not know) selects nothing, as does a missing (null) one: a
PodDisruptionBudget with either covers no pod.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, assert_never

from reboot_operator.api.common import LabelSelector, SelectorOperator


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    operator: SelectorOperator
    values: frozenset[str]

    def holds(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        match self.operator:
            case SelectorOperator.IN:
                return value is not None and value in self.values
            case SelectorOperator.NOT_IN:
                return value is None or value not in self.values
            case SelectorOperator.EXISTS:
                return value is not None
            case SelectorOperator.DOES_NOT_EXIST:
                return value is None
            case _:  # pragma: no cover
                assert_never(self.operator)


@dataclass(frozen=True, slots=True)
class Selector:
    """A compiled label selector; ``keys`` are the only labels its answer depends on."""

    match_labels: tuple[tuple[str, str], ...]
    requirements: tuple[Requirement, ...]
    keys: frozenset[str]
    selects_nothing: bool = False
    """A null selector, or one with an operator Kubernetes does not know."""

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.selects_nothing:
            return False
        for key, value in self.match_labels:
            if labels.get(key) != value:
                return False
        return all(requirement.holds(labels) for requirement in self.requirements)


NOTHING = Selector(match_labels=(), requirements=(), keys=frozenset(), selects_nothing=True)


def compile_selector(selector: LabelSelector) -> Selector:
    requirements = tuple(
        Requirement(key=e.key, operator=e.operator, values=frozenset(e.values)) for e in selector.match_expressions
    )
    return _selector(tuple(sorted(selector.match_labels.items())), requirements)


def parse_selector(raw: Mapping[str, Any] | None) -> Selector:
    """The JSON form of a LabelSelector (as read from a PodDisruptionBudget); null or unknown operators select
    nothing."""
    if raw is None:
        return NOTHING
    requirements = []
    for expression in raw.get("matchExpressions") or []:
        try:
            operator = SelectorOperator(expression.get("operator"))
        except ValueError:
            return NOTHING
        requirements.append(
            Requirement(
                key=expression.get("key", ""), operator=operator, values=frozenset(expression.get("values") or ())
            )
        )
    match_labels = tuple(sorted((str(k), str(v)) for k, v in (raw.get("matchLabels") or {}).items()))
    return _selector(match_labels, tuple(requirements))


def _selector(match_labels: tuple[tuple[str, str], ...], requirements: tuple[Requirement, ...]) -> Selector:
    keys = frozenset(key for key, _ in match_labels) | frozenset(r.key for r in requirements)
    return Selector(match_labels=match_labels, requirements=requirements, keys=keys)
