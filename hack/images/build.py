"""Build the operator, agent and pause images offline and cache each as an OCI archive.

The operator and the agent are built from the Dockerfiles users build (``images/*.Dockerfile``), with
``BASE_IMAGE`` set to the Debian base made from Debian's archive (``hack/images/base.py``) and nothing pulled; the
pause image is our own static Go program alone (``hack/images/pause``). The archives land in ``<cache>/images``
(``.cache/`` in the repository; ``ROLLBOOT_CACHE_DIR`` overrides it), ready for ``ctr -n k8s.io images import``.

Each archive has a stamp: a hash of everything its build reads (the Dockerfile, .dockerignore, the files COPY takes,
the base's recipe and package list; for pause its Go source and ``go version``). While the stamp matches, nothing is
built, so a warm call costs a few hashes. A file lock lets test runs and ``make images`` start at once: one builds,
the others wait for it and find the archives fresh.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hack.controlplane.build import cache_dir
from hack.images import base, buildah, dockerfile
from hack.images.errors import ImageBuildError
from hack.images.log import log
from hack.images.names import AGENT_IMAGE, BASE_IMAGE, OPERATOR_IMAGE, PAUSE_IMAGE, REPO

PAUSE_MODULE = Path(__file__).resolve().parent / "pause"


@dataclass(frozen=True)
class ImageSpec:
    """One image: the name it is built under, the Dockerfile that defines it, and its archive's file name."""

    name: str
    dockerfile: Path
    archive: str
    # A Go module whose static binary is the whole build context (pause); None: the repository is the context and
    # the Dockerfile builds on BASE_IMAGE.
    go_module: Path | None = None


IMAGES = (
    ImageSpec(name=OPERATOR_IMAGE, dockerfile=REPO / "images" / "operator.Dockerfile", archive="operator.oci.tar"),
    ImageSpec(name=AGENT_IMAGE, dockerfile=REPO / "images" / "agent.Dockerfile", archive="agent.oci.tar"),
    ImageSpec(
        name=PAUSE_IMAGE, dockerfile=PAUSE_MODULE / "Dockerfile", archive="pause.oci.tar", go_module=PAUSE_MODULE
    ),
)
BUILD_ARGS = {"BASE_IMAGE": BASE_IMAGE}


def images_dir() -> Path:
    return cache_dir() / "images"


def archive_path(spec: ImageSpec) -> Path:
    return images_dir() / spec.archive


def _context_files(relative: str) -> Iterator[bytes]:
    """Path and content of each file COPY takes from ``relative`` in the repository (byte-code left out)."""
    path = REPO / relative
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    if not files:
        raise ImageBuildError(f"the build context has nothing at {relative}")
    for file in files:
        if "__pycache__" not in file.parts and file.suffix != ".pyc":
            yield str(file.relative_to(REPO)).encode() + b"\0" + file.read_bytes() + b"\0"


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise ImageBuildError("the Go toolchain ('go') is not on PATH; it compiles the pause image's program")
    return go


def stamp_of(spec: ImageSpec, *, rootfs: base.BaseRootfs) -> str:
    """A hash of everything the build of ``spec`` reads; ``rootfs`` only matters for the images on the base."""
    digest = hashlib.sha256(f"{spec.name}\0".encode() + spec.dockerfile.read_bytes())
    if spec.go_module is not None:
        for path in sorted(spec.go_module.iterdir()):
            if path.suffix in {".go", ".mod", ".sum"}:
                digest.update(path.name.encode() + b"\0" + path.read_bytes())
        digest.update(subprocess.run([_go(), "version"], capture_output=True, text=True, check=True).stdout.encode())
        return digest.hexdigest()
    digest.update((REPO / ".dockerignore").read_bytes())
    for source in sorted(dockerfile.copied_sources(spec.dockerfile)):
        for chunk in _context_files(source):
            digest.update(chunk)
    digest.update(repr(sorted(BUILD_ARGS.items())).encode())
    digest.update(f"{rootfs.recipe}\0{rootfs.packages}\0{base.ENV}".encode())
    return digest.hexdigest()


def _stamp_file(spec: ImageSpec) -> Path:
    return images_dir() / f".stamp-{spec.archive}"


def _is_fresh(spec: ImageSpec, stamp: str) -> bool:
    stamp_file = _stamp_file(spec)
    return archive_path(spec).exists() and stamp_file.exists() and stamp_file.read_text() == stamp


def ensure_images(*, force: bool = False, refresh_base: bool = False) -> dict[str, Path]:
    """Build whatever is missing or stale; return each image's name and its OCI archive.

    ``force`` rebuilds every image; ``refresh_base`` makes the Debian base again first (newer packages from the
    archive), which rebuilds the images on it when any package changed.
    """
    folder = images_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        rootfs = base.ensure_base(folder / "base", force=refresh_base)
        stamps = {spec.name: stamp_of(spec, rootfs=rootfs) for spec in IMAGES}
        stale = [spec for spec in IMAGES if force or not _is_fresh(spec, stamps[spec.name])]
        if stale:
            _build(stale, rootfs=rootfs, stamps=stamps, folder=folder)
    return {spec.name: archive_path(spec) for spec in IMAGES}


def _build(stale: list[ImageSpec], *, rootfs: base.BaseRootfs, stamps: dict[str, str], folder: Path) -> None:
    log_path = folder / "build.log"
    log_path.write_text("")
    with buildah.session(folder / "work", log_path=log_path) as builder:
        if any(spec.go_module is None for spec in stale):
            builder.import_rootfs(
                rootfs.tarball, name=BASE_IMAGE, env=base.ENV, created_by=f"mmdebstrap {base.SUITE} minbase"
            )
        volumes = buildah.host_trust_volumes()
        for spec in stale:
            log(f"building {spec.name}")
            started = time.monotonic()
            if spec.go_module is None:
                builder.build(
                    dockerfile=spec.dockerfile,
                    context=REPO,
                    name=spec.name,
                    build_args=BUILD_ARGS,
                    volumes=volumes,
                )
            else:
                context = builder.work / f"context-{spec.archive}"
                _compile_static(spec.go_module, context)
                builder.build(dockerfile=spec.dockerfile, context=context, name=spec.name, build_args={})
            partial = folder / f"{spec.archive}.partial"
            builder.export(spec.name, partial)
            partial.rename(archive_path(spec))
            _stamp_file(spec).write_text(stamps[spec.name])
            size = archive_path(spec).stat().st_size / 1e6
            log(f"built {spec.name} in {time.monotonic() - started:.0f}s: {archive_path(spec)} ({size:.0f} MB)")


def _compile_static(module: Path, context: Path) -> None:
    """``go build`` the module into ``context``, statically linked (no libc in an image that holds nothing else)."""
    context.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CGO_ENABLED": "0", "GOWORK": "off"}
    result = subprocess.run(
        [_go(), "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", str(context / module.name), "."],
        cwd=module,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise ImageBuildError(f"go build in {module} failed:\n{result.stderr[-4000:]}")
