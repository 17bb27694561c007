"""Compile Argo CD and kustomize from their pinned Go modules, once, into the cache beside the control plane's tools.

Argo CD v3.6 needs Go 1.27: ``GOTOOLCHAIN`` fetches that release from the Go module proxy for this one build, and
nothing else changes Go version. Its repo server renders kustomizations with an external ``kustomize`` (Argo CD's own
pin does not build from the proxy; v5.8.1 does) and Helm charts with the ``helm`` the control plane already builds.
Besides the binaries, Argo CD's CRDs and the git wrapper its repo server runs are copied out of the module, so a
run never reads the module cache.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hack.controlplane.build import GoModule, build_if_stale, cache_dir
from hack.controlplane.build import ensure_built as ensure_controlplane

HERE = Path(__file__).resolve().parent
ARGOCD_VERSION = "3.6.1"
ARGOCD_MODULE = "github.com/argoproj/argo-cd/v3"

ARGOCD = GoModule(
    folder="argocd",
    packages=(f"{ARGOCD_MODULE}/cmd",),
    binaries=("argocd",),
    # What Argo CD's Makefile stamps, so `argocd version` names the release.
    ldflags=f"-s -w -X {ARGOCD_MODULE}/common.version={ARGOCD_VERSION}",
    root=HERE,
    toolchain="go1.27.3",
)
KUSTOMIZE = GoModule(
    folder="kustomize",
    packages=("sigs.k8s.io/kustomize/kustomize/v5",),
    binaries=("kustomize",),
    ldflags="-s -w -X sigs.k8s.io/kustomize/api/provenance.version=v5.8.1",
    root=HERE,
)


@dataclass(frozen=True)
class ArgoTools:
    """Where the built Argo CD lives: ``bin`` holds argocd, kustomize, helm and kubectl; ``extras`` Argo CD's CRDs
    (``crds/``) and the git wrapper its repo server runs (both on the repo server's PATH)."""

    bin: Path
    extras: Path

    @property
    def argocd(self) -> Path:
        return self.bin / "argocd"

    @property
    def crds(self) -> Path:
        return self.extras / "crds"


def _module_dir() -> Path:
    listed = subprocess.run(
        ["go", "list", "-m", "-f", "{{.Dir}}", ARGOCD_MODULE],
        cwd=HERE / ARGOCD.folder,
        env=ARGOCD.env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(listed.stdout.strip())


def ensure_built(*, force: bool = False) -> ArgoTools:
    """Build what is missing or stale (the control plane's kubectl and helm too)."""
    target = ensure_controlplane()
    tools = ArgoTools(bin=target, extras=cache_dir() / "argocd" / ARGOCD_VERSION)
    with (target / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        go = shutil.which("go") or "go"
        for module in (KUSTOMIZE, ARGOCD):
            build_if_stale(module, go=go, target=target, force=force)
        wrapper = tools.extras / "git-verify-wrapper.sh"
        if force or not wrapper.exists() or not tools.crds.is_dir():
            source = _module_dir()
            tools.crds.mkdir(parents=True, exist_ok=True)
            for crd in ("application-crd.yaml", "applicationset-crd.yaml", "appproject-crd.yaml"):
                shutil.copyfile(source / "manifests" / "crds" / crd, tools.crds / crd)
            shutil.copyfile(source / "hack" / "git-verify-wrapper.sh", wrapper)
            wrapper.chmod(0o755)
    return tools
