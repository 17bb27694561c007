"""Compile the upstream control-plane binaries once and cache them.

The binaries land in ``<cache>/bin`` (``.cache/`` in the repository, git-ignored; ``ROLLBOOT_CACHE_DIR`` overrides
it). A stamp file records a hash of the Go module files and of ``go version``: while it matches, nothing is rebuilt,
so a warm start costs no compilation at all.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


@dataclass(frozen=True)
class GoModule:
    """One Go module folder (under hack/controlplane unless ``root`` says otherwise) and the commands built from it."""

    folder: str
    packages: tuple[str, ...]
    binaries: tuple[str, ...]
    ldflags: str = "-s -w"
    root: Path = HERE
    toolchain: str | None = None
    """A Go release (e.g. ``go1.27.3``) this module needs, fetched by ``GOTOOLCHAIN`` for its build only."""

    def env(self) -> dict[str, str]:
        env = dict(os.environ, GOFLAGS=os.environ.get("GOFLAGS", "-buildvcs=false"))
        if self.toolchain is not None:
            env["GOTOOLCHAIN"] = self.toolchain
        return env


KUBERNETES_VERSION = "v1.37.2"
# What Kubernetes' own build (hack/lib/version.sh) stamps into its binaries, so `kubectl version` and /version
# report the release instead of v0.0.0-master.
_VERSION_FLAGS = " ".join(
    f"-X {package}.{name}={value}"
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
    for name, value in (
        ("gitVersion", KUBERNETES_VERSION),
        ("gitMajor", "1"),
        ("gitMinor", "37"),
        ("gitTreeState", "clean"),
        ("buildDate", "1970-01-01T00:00:00Z"),
    )
)


MODULES = (
    GoModule(folder="etcd", packages=(".",), binaries=("etcd",)),
    GoModule(
        folder="k8s",
        packages=(
            "k8s.io/kubernetes/cmd/kube-apiserver",
            "k8s.io/kubernetes/cmd/kube-controller-manager",
            "k8s.io/kubernetes/cmd/kube-scheduler",
            "k8s.io/kubernetes/cmd/kubectl",
            # The node components of hack/realnodes.
            "k8s.io/kubernetes/cmd/kubelet",
            "k8s.io/kubernetes/cmd/kube-proxy",
        ),
        binaries=("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kubelet", "kube-proxy"),
        ldflags=f"-s -w {_VERSION_FLAGS}",
    ),
    # helm renders manifests/chart in the tests. Stamped as helm's own release build does (its Makefile), so
    # `helm version` names the release and `helm template` assumes Kubernetes 1.37, the version of its client modules.
    GoModule(
        folder="helm",
        packages=("helm.sh/helm/v3/cmd/helm",),
        binaries=("helm",),
        ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=v3.22.0 "
        + " ".join(
            f"-X helm.sh/helm/v3/pkg/{package}.k8sVersion{part}={value}"
            for package in ("chartutil", "lint/rules")
            for part, value in (("Major", "1"), ("Minor", "37"))
        ),
    ),
    # actionlint checks .github/workflows in the tests (tests/manifests/test_workflows.py); it reports its version
    # from the module's build information.
    GoModule(folder="actionlint", packages=("github.com/rhysd/actionlint/cmd/actionlint",), binaries=("actionlint",)),
    # promcheck decodes the chart's ServiceMonitor and PrometheusRule into the Prometheus Operator's Go types
    # (tests/manifests/test_monitoring.py): the test control plane has no CRDs of theirs to validate them.
    GoModule(folder="promcheck", packages=(".",), binaries=("promcheck",)),
)


class BuildError(RuntimeError):
    """The Go toolchain failed to build a control-plane binary."""


def cache_dir() -> Path:
    return Path(os.environ.get("ROLLBOOT_CACHE_DIR", REPO / ".cache")).resolve()


def bin_dir() -> Path:
    return cache_dir() / "bin"


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise BuildError("the Go toolchain ('go') is not on PATH; it is needed to build the control plane")
    return go


def _stamp_of(module: GoModule, go: str) -> str:
    digest = hashlib.sha256(module.ldflags.encode())
    folder = module.root / module.folder
    for path in sorted(folder.iterdir()):
        if path.suffix in {".mod", ".sum", ".go"}:
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    version = subprocess.run([go, "version"], capture_output=True, text=True, check=True, env=module.env()).stdout
    digest.update(version.encode())
    return digest.hexdigest()


def _log(message: str) -> None:
    print(f"[controlplane] {message}", file=sys.stderr, flush=True)


def ensure_built(*, force: bool = False) -> Path:
    """Build whatever is missing or stale; return the folder holding etcd, kube-apiserver, kubectl and friends."""
    go = _go()
    target = bin_dir()
    target.mkdir(parents=True, exist_ok=True)
    # Test runs, `make cluster` and the demo may start at once; one builds while the others wait for it.
    with (target / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for module in MODULES:
            build_if_stale(module, go=go, target=target, force=force)
    return target


def build_if_stale(module: GoModule, *, go: str, target: Path, force: bool) -> None:
    stamp_file = target / f".stamp-{module.folder}"
    stamp = _stamp_of(module, go)
    present = all((target / name).exists() for name in module.binaries)
    if present and not force and stamp_file.exists() and stamp_file.read_text() == stamp:
        return
    _log(f"building {', '.join(module.binaries)} (the first build takes several minutes on 2 cores)")
    started = time.monotonic()
    # One package builds into the one binary's name (Argo CD's is its package folder, cmd); several into the folder.
    output = str(target / module.binaries[0]) if len(module.packages) == 1 else str(target) + "/"
    result = subprocess.run(
        [go, "build", "-trimpath", f"-ldflags={module.ldflags}", "-o", output, *module.packages],
        cwd=module.root / module.folder,
        env=module.env(),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise BuildError(f"go build in {module.root / module.folder} failed:\n{result.stderr[-4000:]}")
    stamp_file.write_text(stamp)
    _log(f"built {', '.join(module.binaries)} in {time.monotonic() - started:.0f}s")
