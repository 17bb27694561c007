"""The names the images are built under.

The operator and the agent are named exactly as the Helm chart pulls them by default (``rollboot.image`` in
``manifests/chart/templates/_helpers.tpl``: the values' registry (else ``image.registry``) and repository, at the
chart's appVersion when the tag is empty),
so that an archive imported into a node's containerd is found there and never pulled. The base and the pause image
exist only on this machine and on the nodes it feeds, hence ``localhost/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "manifests" / "chart"


def _load(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text())
    if not isinstance(loaded, dict):
        raise ValueError(f"{path} is not a YAML mapping")
    return loaded


def chart_image(component: str) -> str:
    """The image the chart runs for ``component`` (``operator`` or ``agent``) with its default values."""
    values = _load(CHART / "values.yaml")
    image = values[component]["image"]
    registry = image.get("registry") or values["image"]["registry"]
    tag = image.get("tag") or _load(CHART / "Chart.yaml")["appVersion"]
    return f"{registry}/{image['repository']}:{tag}" if registry else f"{image['repository']}:{tag}"


OPERATOR_IMAGE = chart_image("operator")
AGENT_IMAGE = chart_image("agent")
# The pod sandbox image a node's containerd must be told about (sandbox_image in its CRI config).
PAUSE_IMAGE = "localhost/rollboot/pause:1.0"
# Debian bookworm from Debian's archive, what the Dockerfiles get as BASE_IMAGE in an offline build.
BASE_IMAGE = "localhost/rollboot/base:bookworm"
