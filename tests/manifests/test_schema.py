"""values.schema.json: Helm refuses a value of the wrong type, or a key the chart does not know, and names it.

Each refusal is Helm's own (``helm template`` validates the merged values against the schema before rendering),
so ``helm install`` and ``helm upgrade`` refuse the same values. The schema and values.yaml describe the same keys.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from tests.manifests.render import CHART, render_values

SCHEMA: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
VALUES: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())


def _refusal(values: dict[str, Any]) -> str:
    result = render_values(values, check=False)
    assert result.returncode != 0, f"{values} was accepted"
    return result.stderr


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param({"operator": {"replicas": "abc"}}, "at '/operator/replicas': got string, want integer", id="type"),
        pytest.param(
            {"operator": {"resource": {"foo": 1}}},
            "at '/operator': additional properties 'resource' not allowed",
            id="typo-of-a-key",
        ),
        pytest.param({"agnet": {}}, "additional properties 'agnet' not allowed", id="unknown-top-level-key"),
        pytest.param(
            {"agent": {"image": {"pullPolicy": "Sometimes"}}}, "at '/agent/image/pullPolicy'", id="pullPolicy"
        ),
        pytest.param({"agent": {"image": {"digest": "latest"}}}, "at '/agent/image/digest'", id="digest-shape"),
        pytest.param({"logFormat": "xml"}, "at '/logFormat'", id="logFormat"),
        pytest.param({"rbac": {"create": "yes"}}, "at '/rbac/create': got string, want boolean", id="bool"),
        pytest.param({"operator": {"metricsPort": 70000}}, "at '/operator/metricsPort'", id="port-range"),
        pytest.param({"operator": {"extraEnv": [{"value": "x"}]}}, "at '/operator/extraEnv/0'", id="env-without-name"),
        pytest.param({"agent": {"tolerations": {"operator": "Exists"}}}, "at '/agent/tolerations'", id="list-not-map"),
        pytest.param(
            {"agent": {"updateStrategy": {"type": "Recreate"}}}, "at '/agent/updateStrategy/type'", id="strategy"
        ),
        pytest.param({"commonLabels": {"a": 1}}, "at '/commonLabels/a': got number, want string", id="label-value"),
        pytest.param({"metrics": {"serviceMonitor": {"interval": "often"}}}, "interval", id="interval"),
    ],
)
def test_helm_refuses_bad_values_naming_the_key(values: dict[str, Any], message: str) -> None:
    assert message in _refusal(values)


def _schema_paths(schema: dict[str, Any], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for key, sub in schema.get("properties", {}).items():
        path = f"{prefix}{key}"
        paths.add(path)
        if sub.get("additionalProperties") is False:
            paths |= _schema_paths(sub, f"{path}.")
    return paths


def _value_paths(values: dict[str, Any], schema: dict[str, Any], prefix: str = "") -> set[str]:
    """The keys of values.yaml down to where the schema stops naming keys (free-form maps like resources); an empty
    default (agent.updateStrategy) stands for the keys the schema allows in it."""
    paths: set[str] = set()
    for key, value in values.items():
        path = f"{prefix}{key}"
        paths.add(path)
        sub = schema.get("properties", {}).get(key, {})
        if isinstance(value, dict) and sub.get("additionalProperties") is False:
            paths |= _value_paths(value, sub, f"{path}.") if value else _schema_paths(sub, f"{path}.")
    return paths


def test_the_schema_and_values_yaml_name_the_same_keys() -> None:
    assert _schema_paths(SCHEMA) == _value_paths(VALUES, SCHEMA)


def test_every_mapping_of_the_schema_that_lists_its_keys_refuses_others() -> None:
    def walk(schema: dict[str, Any], where: str) -> list[str]:
        found = [] if "properties" not in schema or schema.get("additionalProperties") is False else [where]
        for key, sub in schema.get("properties", {}).items():
            found += walk(sub, f"{where}.{key}")
        return found

    assert walk(SCHEMA, "") == []


def test_the_defaults_pass_the_schema() -> None:
    assert render_values({}).returncode == 0
