"""Generates the CustomResourceDefinitions in ``crds/`` from the pydantic models: ``python -m
reboot_operator.api.crdgen crds/``.

It walks each model's JSON schema and rewrites it into a structural schema as the API server wants it: ``$ref``
inlined, ``Optional`` unwrapped, ``int | str`` as ``x-kubernetes-int-or-string``, titles and ``additionalProperties:
false`` dropped, and ``default: {}`` on optional objects whose fields have defaults (so the server fills those in).
Any schema keyword it does not know stops it, rather than emitting something the server might read differently.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from reboot_operator.api.meta import GROUP, VERSION, PrinterColumn, Resource
from reboot_operator.api.resources import RESOURCES

Schema = dict[str, Any]

HEADER = (
    "# Generated from reboot_operator/api by `python -m reboot_operator.api.crdgen crds/` (make crds). Do not edit.\n"
)

# The keywords kept, in the order they are written (so a reader meets the description first, nested shapes last).
_KEPT = (
    "description",
    "type",
    "format",
    "enum",
    "default",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "maxProperties",
    "x-kubernetes-int-or-string",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "required",
    "x-kubernetes-validations",
    "properties",
    "items",
    "additionalProperties",
)
_DROPPED = {"title"}


class SchemaError(ValueError):
    """The models use a JSON-schema construct this generator cannot express structurally."""


def structural(node: Schema, defs: Schema, where: str = "") -> Schema:
    """One node of a pydantic JSON schema rewritten as a structural Kubernetes schema."""
    node = _inline(node, defs)
    unknown = set(node) - set(_KEPT) - _DROPPED
    if unknown:
        raise SchemaError(f"{where or '<root>'}: unsupported schema keywords {sorted(unknown)}")
    out = {key: value for key, value in node.items() if key not in _DROPPED}
    if out.get("additionalProperties") is False:
        del out["additionalProperties"]
    if "default" in out and out["default"] is None:
        del out["default"]
    if "description" in out:
        out["description"] = " ".join(out["description"].split())
    if "properties" in out:
        out["properties"] = {
            name: _property(child, defs, f"{where}.{name}", required=name in out.get("required", ()))
            for name, child in out["properties"].items()
        }
    if "items" in out:
        out["items"] = structural(out["items"], defs, f"{where}[]")
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = structural(out["additionalProperties"], defs, f"{where}{{}}")
    if "type" not in out and not out.get("x-kubernetes-int-or-string"):
        raise SchemaError(f"{where or '<root>'}: no type")
    return _ordered(out)


def _property(node: Schema, defs: Schema, where: str, *, required: bool) -> Schema:
    had_default = "default" in node
    out = structural(node, defs, where)
    if "description" not in out:
        raise SchemaError(f"{where}: no description")
    # An optional object built by a default factory: default it to {} so the server fills in its fields' defaults.
    if not required and not had_default and out.get("type") == "object" and _has_defaults(out):
        out = _ordered({**out, "default": {}})
    return out


def _ordered(node: Schema) -> Schema:
    return {key: node[key] for key in _KEPT if key in node}


def _has_defaults(node: Schema) -> bool:
    return any("default" in child for child in node.get("properties", {}).values())


def _inline(node: Schema, defs: Schema) -> Schema:
    """Resolves ``$ref`` and ``anyOf``; the referring node's own keys (description, default) win."""
    node = dict(node)
    if "$ref" in node:
        target = _inline(defs[node.pop("$ref").rsplit("/", 1)[-1]], defs)
        rules = target.get("x-kubernetes-validations", []) + node.get("x-kubernetes-validations", [])
        node = {**target, **node}
        if rules:
            node["x-kubernetes-validations"] = rules
    if "anyOf" in node:
        variants = [_inline(v, defs) for v in node.pop("anyOf") if v != {"type": "null"}]
        types = {v.get("type") for v in variants}
        if len(variants) == 1:
            node = {**variants[0], **node}
        elif types == {"integer", "string"} and len(variants) == 2:
            node["x-kubernetes-int-or-string"] = True
        else:
            raise SchemaError(f"cannot express anyOf {variants} structurally")
    return node


def model_schema(model: type[Any], where: str) -> Schema:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    return structural(raw, defs, where)


def crd(resource: Resource) -> Schema:
    """The CustomResourceDefinition of one resource."""
    root: Schema = {
        "type": "object",
        "description": resource.description,
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion of this object."},
            "kind": {"type": "string", "description": "Kind of this object."},
            "metadata": {"type": "object"},
            "spec": model_schema(resource.spec, "spec"),
            "status": model_schema(resource.status, "status"),
        },
        "required": ["spec"],
    }
    if resource.root_validations:
        root["x-kubernetes-validations"] = list(resource.root_validations)
    version: Schema = {
        "name": VERSION,
        "served": True,
        "storage": True,
        "subresources": {"status": {}},
        "additionalPrinterColumns": [_column(c) for c in resource.columns],
    }
    if resource.selectable_fields:
        version["selectableFields"] = [{"jsonPath": path} for path in resource.selectable_fields]
    version["schema"] = {"openAPIV3Schema": root}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": resource.crd_name},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": resource.kind,
                "listKind": f"{resource.kind}List",
                "plural": resource.plural,
                "singular": resource.singular,
                "shortNames": list(resource.short_names),
                "categories": list(resource.categories),
            },
            "scope": "Cluster",
            "versions": [version],
        },
    }


def _column(column: PrinterColumn) -> Schema:
    out: Schema = {
        "name": column.name,
        "type": column.type,
        "jsonPath": column.json_path,
        "description": column.description,
    }
    if column.priority:
        out["priority"] = column.priority
    return out


class _Dumper(yaml.SafeDumper):
    """Writes shared sub-schemas out in full instead of as YAML anchors and aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render() -> dict[str, str]:
    """File name → YAML text, for every resource."""
    return {
        f"{r.crd_name}.yaml": HEADER + yaml.dump(crd(r), Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True)
        for r in RESOURCES
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m reboot_operator.api.crdgen OUTPUT_DIR", file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (out / name).write_text(text, encoding="utf-8")
        print(f"wrote {out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
