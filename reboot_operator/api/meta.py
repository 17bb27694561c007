"""Where the resources live (group, version) and how they are described to the API server besides their schema:
names, printer columns, selectable fields, rules on the whole object. ``crdgen`` turns each ``Resource`` into a CRD.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reboot_operator.api.base import ApiModel

GROUP = "rollboot.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORY = "rollboot"


@dataclass(frozen=True)
class PrinterColumn:
    """One column of ``kubectl get``; priority 1 shows only with ``-o wide``."""

    name: str
    json_path: str
    description: str
    type: str = "string"
    priority: int = 0


@dataclass(frozen=True)
class Resource:
    """A custom resource: its names, its spec and status models, and what kubectl shows of it."""

    kind: str
    plural: str
    singular: str
    description: str
    spec: type[ApiModel]
    status: type[ApiModel]
    short_names: tuple[str, ...] = ()
    columns: tuple[PrinterColumn, ...] = ()
    selectable_fields: tuple[str, ...] = ()
    root_validations: tuple[dict[str, str], ...] = ()
    categories: tuple[str, ...] = field(default=(CATEGORY,))

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"
