"""buildah on a throwaway store: every offline build starts from an empty one and leaves nothing behind.

The store (vfs driver: no mounts to leak, and without ``--layers`` each stage copies the base only once) lives in a
work folder under the cache and is deleted after the archives are written, so the images exist only as archives.
RUN steps use chroot isolation: no runtime, no network namespace, and pip reaches PyPI through the host's network.

buildah 1.28 keeps a blob-info cache in /var/lib/containers/cache whatever the store, with no option to move it;
``session`` removes it again when it was not there before (the store itself never goes there).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import ssl
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from hack.images.errors import ImageBuildError

_SYSTEM_STORE = Path("/var/lib/containers")
_BLOB_INFO_CACHE = _SYSTEM_STORE / "cache" / "blob-info-cache-v1.boltdb"


@dataclass(frozen=True)
class Buildah:
    """buildah commands against one store; each command's output is appended to ``log_path``."""

    work: Path
    log_path: Path

    def run(self, *args: str) -> str:
        argv = [
            "buildah",
            f"--root={self.work / 'storage'}",
            f"--runroot={self.work / 'run'}",
            "--storage-driver=vfs",
            *args,
        ]
        # TMPDIR: where buildah stages layers and archives; the default, /var/tmp, is outside the cache.
        env = {**os.environ, "TMPDIR": str(self.work / "tmp")}
        with self.log_path.open("a") as log:
            log.write(f"$ {' '.join(argv)}\n")
            log.flush()
            result = subprocess.run(
                argv, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, env=env, text=True
            )
            log.write(result.stdout)
        if result.returncode != 0:
            tail = self.log_path.read_text(errors="replace")[-4000:]
            raise ImageBuildError(f"buildah {args[0]} failed (full log: {self.log_path}):\n{tail}")
        return result.stdout.strip()

    def import_rootfs(self, tarball: Path, *, name: str, env: Sequence[str], created_by: str) -> None:
        """Commit a root filesystem tarball as image ``name``: one layer, the given environment, no entry point."""
        container = self.run("from", "--pull=never", "scratch")
        self.run("add", container, str(tarball), "/")
        self.run("config", *(f"--env={variable}" for variable in env), f"--created-by={created_by}", container)
        self.run("commit", "--quiet", "--rm", container, name)

    def build(
        self,
        *,
        dockerfile: Path,
        context: Path,
        name: str,
        build_args: dict[str, str],
        volumes: Sequence[str] = (),
    ) -> None:
        """``buildah bud`` with nothing pulled: every FROM must already be in the store (or be scratch)."""
        self.run(
            "bud",
            "--isolation=chroot",
            "--pull=never",
            f"--file={dockerfile}",
            f"--tag={name}",
            *(f"--build-arg={key}={value}" for key, value in build_args.items()),
            *(f"--volume={volume}" for volume in volumes),
            str(context),
        )

    def export(self, name: str, archive: Path) -> None:
        """Write image ``name`` as an OCI archive whose index names it, as ``ctr images import`` expects."""
        archive.unlink(missing_ok=True)
        self.run("push", "--quiet", name, f"oci-archive:{archive}:{name}")


@contextlib.contextmanager
def session(work: Path, *, log_path: Path) -> Iterator[Buildah]:
    """A fresh store in ``work`` (whatever a killed build left there is removed first), removed again on exit."""
    if shutil.which("buildah") is None:
        raise ImageBuildError("buildah is not installed (make images-deps installs Debian's)")
    had_system_store = _SYSTEM_STORE.exists()
    shutil.rmtree(work, ignore_errors=True)
    (work / "tmp").mkdir(parents=True)
    try:
        yield Buildah(work=work, log_path=log_path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if not had_system_store:
            _remove_blob_info_cache()


def _remove_blob_info_cache() -> None:
    """Remove the blob-info cache buildah made, and its folders if nothing else is in them."""
    _BLOB_INFO_CACHE.unlink(missing_ok=True)
    for folder in (_BLOB_INFO_CACHE.parent, _SYSTEM_STORE):
        with contextlib.suppress(OSError):
            folder.rmdir()


def host_trust_volumes() -> list[str]:
    """A read-only mount that lets RUN steps trust what this machine trusts, without putting it in an image.

    A machine behind a TLS-intercepting proxy has the proxy's CA in its own bundle (and pip told so with PIP_CERT
    or pip.conf), but the image being built has Debian's bundle only, so ``pip install`` in a RUN step fails
    certificate verification. This machine's bundle is mounted over the image's for the RUN steps: Debian's pip
    (the one ``python -m venv`` installs from python3-pip-whl) reads the system bundle rather than its own certifi
    copy. The mount point exists in the base, so nothing of it reaches a layer (buildah 1.28 would otherwise leave
    an empty file there).
    """
    bundle = os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE") or ssl.get_default_verify_paths().cafile
    if not bundle or not Path(bundle).is_file():
        return []
    return [f"{Path(bundle).resolve()}:/etc/ssl/certs/ca-certificates.crt:ro"]
