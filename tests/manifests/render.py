"""Render what a user installs: ``kubectl kustomize manifests/`` and ``helm template`` of manifests/chart.

Both tools are the real ones, built from their Go modules by hack/controlplane (kubectl with the control plane,
helm beside it), so the tests render exactly as a user's tools would. The rendered objects are plain dicts.
"""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from hack.controlplane.build import ensure_built

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
CHART = MANIFESTS / "chart"
NAMESPACE = "rollboot-system"
RELEASE = "rollboot"

Object = dict[str, Any]
Key = tuple[str, str, str]
"""(kind, namespace or "", name): what identifies an object in a rendering."""

HELM_ONLY_LABELS = frozenset({"helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance"})
HELM_ONLY_ANNOTATIONS = frozenset({"helm.sh/resource-policy"})


@functools.cache
def tool(name: str) -> Path:
    """kubectl or helm from the cache, building them first if needed (a failure to build fails the test)."""
    return ensure_built() / name


def run(argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr}")
    return result


def parse(text: str) -> list[Object]:
    return [document for document in yaml.safe_load_all(text) if document]


def kustomize_text(path: Path = MANIFESTS) -> str:
    return run([str(tool("kubectl")), "kustomize", str(path)]).stdout


def kustomize(path: Path = MANIFESTS) -> list[Object]:
    return parse(kustomize_text(path))


def helm_args(values: Mapping[str, str] | None = None, *, namespace: str = NAMESPACE) -> list[str]:
    argv = [str(tool("helm")), "template", RELEASE, str(CHART), "--namespace", namespace]
    for name, value in (values or {}).items():
        argv += ["--set", f"{name}={value}"]
    return argv


def chart_text(values: Mapping[str, str] | None = None, *, namespace: str = NAMESPACE) -> str:
    return run(helm_args(values, namespace=namespace)).stdout


def render_values(
    values: Mapping[str, Any], *, release: str = RELEASE, namespace: str = NAMESPACE, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``helm template`` with ``values`` as a values file (nested, any types: what ``--set`` cannot say)."""
    argv = [str(tool("helm")), "template", release, str(CHART), "--namespace", namespace, "-f", "-"]
    result = subprocess.run(argv, input=yaml.safe_dump(dict(values)), capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr}")
    return result


def chart_with(values: Mapping[str, Any], *, release: str = RELEASE, namespace: str = NAMESPACE) -> list[Object]:
    return parse(render_values(values, release=release, namespace=namespace).stdout)


def is_hook(document: Object) -> bool:
    """Helm hooks (the `helm test` pod) are rendered by `helm template` but are no part of the release."""
    return "helm.sh/hook" in (document["metadata"].get("annotations") or {})


def chart(values: Mapping[str, str] | None = None, *, namespace: str = NAMESPACE) -> list[Object]:
    return parse(chart_text(values, namespace=namespace))


def key(document: Object) -> Key:
    metadata = document["metadata"]
    return (document["kind"], metadata.get("namespace", ""), metadata["name"])


def by_key(documents: Iterable[Object]) -> dict[Key, Object]:
    return {key(document): document for document in documents}


def one(documents: Iterable[Object], kind: str, name: str) -> Object:
    found = [d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def without_helm_metadata(document: Object) -> Object:
    """The object as kustomize renders it: without the labels and annotations only Helm adds."""
    copy: Object = yaml.safe_load(yaml.safe_dump(document))
    metadata = copy["metadata"]
    for field, helm_only in (("labels", HELM_ONLY_LABELS), ("annotations", HELM_ONLY_ANNOTATIONS)):
        values = metadata.get(field) or {}
        for name in helm_only:
            values.pop(name, None)
        if field in metadata and not values:
            del metadata[field]
    return copy


def pod_spec(workload: Object) -> Object:
    spec: Object = workload["spec"]["template"]["spec"]
    return spec


def container(workload: Object) -> Object:
    [only] = pod_spec(workload)["containers"]
    found: Object = only
    return found
