"""Issue 13, defect 2: one policy's value stopped every decision pass. For any spec the CRD's schema describes
(generated from the schema itself, so a new field is covered the day it is added), the operator's reading of it
(``policy_view``) and one decision pass over it and a healthy policy never raise, and the healthy policy's node is
decided on as if the other policy were not there (if the two select different nodes)."""

from __future__ import annotations

import datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reboot_operator.api.base import DURATION_PATTERN
from reboot_operator.api.vocabulary import WaitReason
from reboot_operator.core import Action, decide
from reboot_operator.watch.observed import policy_view
from tests.core.builders import node, request

CRD = Path(__file__).resolve().parents[2] / "crds" / "rebootpolicies.rollboot.dev.yaml"
NOW = datetime.datetime(2026, 3, 29, 1, 30, tzinfo=datetime.UTC)  # the night Europe's clocks spring forward


@cache
def spec_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD.read_text(encoding="utf-8"))
    [version] = crd["spec"]["versions"]
    spec: dict[str, Any] = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return spec


EDGE_DURATIONS = (
    *("0", "0s", "0.0h", "0.01ns", "999ns", "1us", "1000ns", "87600h", "87600h0.001s", "87601h"),
    *("315360000s", "99999999999999999999h", "9999999999999h", "1.5h30m", "0.000000001h"),
)
TIMESTAMPS = st.datetimes(
    min_value=datetime.datetime(2000, 1, 1), max_value=datetime.datetime(2100, 1, 1), timezones=st.just(datetime.UTC)
).map(lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ"))


def values(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values the structural schema of a CRD admits (its CEL rules are left to the model's twins, so some values
    drawn are ones the API server would refuse: the operator must survive those too, should one be stored)."""
    if schema.get("x-kubernetes-int-or-string"):
        return st.one_of(st.integers(-3, 200), st.sampled_from(["1", "50%", "100%", "0%", "x", ""]))
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        properties: dict[str, Any] = schema.get("properties") or {}
        if not properties:
            return st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True), st.text(max_size=8), max_size=3)
        required = set(schema.get("required") or ())
        return st.fixed_dictionaries(
            {k: values(v) for k, v in properties.items() if k in required},
            optional={k: values(v) for k, v in properties.items() if k not in required},
        )
    if kind == "array":
        size = min(int(schema.get("maxItems", 3)), 3)
        return st.lists(values(schema["items"]), min_size=min(int(schema.get("minItems", 0)), size), max_size=size)
    if kind == "integer":
        return st.integers(int(schema.get("minimum", -(2**31))), int(schema.get("maximum", 2**31)))
    if kind == "boolean":
        return st.booleans()
    if kind == "string":
        if schema.get("format") == "date-time":
            return TIMESTAMPS
        longest = int(schema.get("maxLength", 40))
        if schema.get("pattern") == DURATION_PATTERN:
            # Beside what the pattern generates, the edges it admits: zero spelled many ways, below a microsecond,
            # ten years and just over, and more hours than any date can be away.
            return st.one_of(st.from_regex(DURATION_PATTERN, fullmatch=True), st.sampled_from(EDGE_DURATIONS)).filter(
                lambda s: len(s) <= longest
            )
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True).filter(lambda s: len(s) <= longest)
        return st.text(min_size=int(schema.get("minLength", 0)), max_size=min(longest, 40))
    raise AssertionError(f"a schema this test does not know how to generate: {schema}")


def _body(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    # A node of the policy completed a minute ago: minIntervalBetweenReboots counts.
    status = {"lastCompletionAt": (NOW - datetime.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    metadata = {"name": name, "uid": f"uid-{name}", "generation": 1, "resourceVersion": "1"}
    return {"metadata": metadata, "spec": spec, "status": status}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(spec=st.deferred(lambda: values(spec_schema())))
def test_no_policy_the_schema_describes_stops_a_decision_pass(spec: dict[str, Any]) -> None:
    odd = policy_view(_body("odd", {**spec, "priority": 5, "nodeSelector": {"matchLabels": {"pool": "odd"}}}))
    healthy = policy_view(_body("healthy", {"nodeSelector": {"matchLabels": {"pool": "healthy"}}}))
    facts = [f for f in (odd.facts(), healthy.facts()) if f is not None]
    nodes = {"o1": node("o1", pool="odd"), "h1": node("h1", pool="healthy")}
    decisions = decide(policies=facts, requests=[request("o1"), request("h1")], nodes=nodes, now=NOW)
    assert decisions.requests["h1"].action is Action.START, decisions.requests["h1"]
    mine = decisions.requests["o1"]
    assert mine.policy == "odd", "a policy that cannot be read still owns (and holds) its nodes"
    if odd.spec is None:
        assert mine.action is Action.WAIT and mine.reason is WaitReason.INVALID_SPEC
        assert odd.problems and all(p.startswith("spec") for p in odd.problems), odd.problems
