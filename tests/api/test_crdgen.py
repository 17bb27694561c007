"""The CRDs in crds/ are exactly what the models generate, and are structural schemas the API server can use."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import Field

from reboot_operator.api import NODE_REBOOT_REQUEST, REBOOT_POLICY, RESOURCES
from reboot_operator.api.base import ApiModel
from reboot_operator.api.crdgen import SchemaError, crd, main, model_schema, render

REPO = Path(__file__).resolve().parents[2]
Schema = dict[str, Any]


def test_crds_directory_is_up_to_date_with_the_models() -> None:
    for name, text in render().items():
        on_disk = REPO / "crds" / name
        assert on_disk.exists(), f"crds/{name} is missing: run make crds"
        assert on_disk.read_text(encoding="utf-8") == text, f"crds/{name} is out of date: run make crds"


def test_main_writes_one_file_per_resource(tmp_path: Path) -> None:
    assert main([str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{r.crd_name}.yaml" for r in RESOURCES)


def test_main_wants_exactly_one_directory(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage" in capsys.readouterr().err


def _nodes(schema: Schema, path: str = "") -> Iterator[tuple[str, Schema]]:
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from _nodes(child, f"{path}.{name}")
    if "items" in schema:
        yield from _nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _nodes(schema["additionalProperties"], f"{path}{{}}")


def _root(resource: Any) -> Schema:
    document = yaml.safe_load(render()[f"{resource.crd_name}.yaml"])
    schema: Schema = document["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.kind)
def test_schema_is_structural(resource: Any) -> None:
    for path, node in _nodes(_root(resource)):
        assert not {"$ref", "anyOf", "allOf", "oneOf", "not", "title", "$defs"} & set(node), path
        assert "type" in node or node.get("x-kubernetes-int-or-string"), path
        if node.get("type") == "object" and path != ".metadata":
            assert node.get("properties") or isinstance(node.get("additionalProperties"), dict), path


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.kind)
def test_every_property_is_described(resource: Any) -> None:
    for path, node in _nodes(_root(resource)):
        is_property = path and not path.endswith(("[]", "}")) and path != ".metadata"
        if is_property:
            assert node.get("description"), path


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.kind)
def test_spec_strings_and_lists_are_bounded_for_cel_cost(resource: Any) -> None:
    for path, node in _nodes(_root(resource)["properties"]["spec"], ".spec"):
        if node.get("type") == "array":
            assert "maxItems" in node, path
        if node.get("type") == "string" and "enum" not in node and node.get("format") != "date-time":
            assert "maxLength" in node, path
        if node.get("type") == "object" and isinstance(node.get("additionalProperties"), dict):
            assert "maxProperties" in node, path


def test_policy_max_concurrent_is_int_or_string_with_a_cel_rule() -> None:
    node = _root(REBOOT_POLICY)["properties"]["spec"]["properties"]["maxConcurrent"]
    assert node["x-kubernetes-int-or-string"] is True
    assert "type" not in node
    assert node["default"] == 1
    assert "type(self) == int" in node["x-kubernetes-validations"][0]["rule"]


def test_optional_objects_with_defaults_default_to_empty_so_the_server_fills_them() -> None:
    spec = _root(REBOOT_POLICY)["properties"]["spec"]["properties"]
    assert spec["drain"]["default"] == {}
    assert spec["drain"]["properties"]["timeout"]["default"] == "30m"
    assert "default" not in spec["nodeSelector"]
    assert "default" not in spec["blockers"]["properties"]["prometheus"]


def test_conditions_are_a_map_list_keyed_by_type() -> None:
    conditions = _root(REBOOT_POLICY)["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert set(conditions["items"]["required"]) >= {"type", "status", "reason", "lastTransitionTime"}


def test_request_name_must_equal_node_name_and_node_name_is_selectable() -> None:
    document = crd(NODE_REBOOT_REQUEST)
    version = document["spec"]["versions"][0]
    rule = version["schema"]["openAPIV3Schema"]["x-kubernetes-validations"][0]
    assert rule["rule"] == "self.metadata.name == self.spec.nodeName"
    assert version["selectableFields"] == [{"jsonPath": ".spec.nodeName"}]
    assert version["subresources"] == {"status": {}}
    assert document["spec"]["names"]["shortNames"] == ["nrr"]
    assert document["spec"]["scope"] == "Cluster"


def test_no_description_names_a_python_identifier() -> None:
    """kubectl explain is read by people: no internal name (issue 14: "see kernel_transition") may leak into it."""

    def descriptions(node: Any) -> Any:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "description" and isinstance(value, str):
                    yield value
                else:
                    yield from descriptions(value)
        elif isinstance(node, list):
            for item in node:
                yield from descriptions(item)

    for resource in (NODE_REBOOT_REQUEST, REBOOT_POLICY):
        for text in descriptions(crd(resource)):
            # {kernel_before} and the like are the notification template's placeholders, written as users write them.
            leaked = [w for w in re.findall(r"(?<![{\w])[a-z]+_[a-z_]+(?![}\w])", text)]
            assert not leaked, f"{resource.kind}: {leaked} in {text!r}"


@pytest.mark.parametrize(
    ("resource", "columns", "wide"),
    [
        (NODE_REBOOT_REQUEST, ["Node", "Phase", "Policy", "Reason", "Age", "Message"], ["Kernel"]),
        (
            REBOOT_POLICY,
            ["Selected", "Pending", "In-Progress", "Window", "Age"],
            ["Next-Opening", "Paused", "Blocked", "Halted", "Conflict"],
        ),
    ],
    ids=["noderebootrequest", "rebootpolicy"],
)
def test_printer_columns(resource: Any, columns: list[str], wide: list[str]) -> None:
    printed = crd(resource)["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [c["name"] for c in printed if "priority" not in c] == columns
    assert set(wide) <= {c["name"] for c in printed if c.get("priority") == 1}


class _Unexpressible(ApiModel):
    """A model the generator must refuse."""

    choice: int | list[int] = Field(description="Either kind.")


class _Undescribed(ApiModel):
    """Another one."""

    bare: int = 0


class _Unknown(ApiModel):
    """And one with a keyword the server does not know."""

    odd: int = Field(description="Odd.", json_schema_extra={"examples": [1]})


@pytest.mark.parametrize(
    ("model", "complaint"),
    [(_Unexpressible, "anyOf"), (_Undescribed, "no description"), (_Unknown, "unsupported")],
    ids=["union", "undescribed", "unknown-keyword"],
)
def test_generator_refuses_what_it_cannot_express(model: type[ApiModel], complaint: str) -> None:
    with pytest.raises(SchemaError, match=complaint):
        model_schema(model, "spec")
