"""Kubernetes label selectors compiled once into cheap matchers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reboot_operator.api.common import LabelSelector, SelectorOperator


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    operator: SelectorOperator
    values: frozenset[str]

    def holds(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        if self.operator is SelectorOperator.IN:
            return value is not None and value in self.values
        if self.operator is SelectorOperator.NOT_IN:
            return value is None or value not in self.values
        if self.operator is SelectorOperator.EXISTS:
            return value is not None
        return value is None


@dataclass(frozen=True, slots=True)
class Selector:
    """A compiled label selector; ``keys`` are the only labels its answer depends on."""

    match_labels: tuple[tuple[str, str], ...]
    requirements: tuple[Requirement, ...]
    keys: frozenset[str]

    def matches(self, labels: Mapping[str, str]) -> bool:
        for key, value in self.match_labels:
            if labels.get(key) != value:
                return False
        return all(requirement.holds(labels) for requirement in self.requirements)


def compile_selector(selector: LabelSelector) -> Selector:
    requirements = tuple(
        Requirement(key=e.key, operator=e.operator, values=frozenset(e.values)) for e in selector.match_expressions
    )
    match_labels = tuple(sorted(selector.match_labels.items()))
    keys = frozenset(key for key, _ in match_labels) | frozenset(r.key for r in requirements)
    return Selector(match_labels=match_labels, requirements=requirements, keys=keys)
