"""The base of the offline builds: a Debian bookworm root filesystem made from Debian's archive by mmdebstrap.

No container registry is reachable here, so ``python:3.11-slim`` cannot be pulled; Debian's archive can. The root
filesystem is cached as a tarball (about a minute to make) with the list of packages it holds, and made again only
when the recipe below changes (or on request). The images' stamps hash both the recipe and that list: a base made
again with newer packages rebuilds the images on it, one made again with the same packages does not.

It is slimmed as Debian's own ``-slim`` images are (no manuals, no documentation but the copyrights, no
translations) and gets merged /usr from mmdebstrap's hook rather than the usrmerge package (which pulls in perl).
Nothing of the build host goes in: /etc/resolv.conf, /etc/hostname and /etc/hosts are empty and /dev holds no
device nodes, since every runtime mounts its own there. They exist all the same, because a RUN step under buildah
would otherwise create them as mount points and leave them in the image's layer.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from hack.images.errors import ImageBuildError
from hack.images.log import log

SUITE = "bookworm"
# python-is-python3: /usr/bin/python, which the Dockerfiles call (python:3.11-slim has /usr/local/bin/python).
# util-linux: nsenter, which the agent's command reboot method and sentinel command run on the host.
PACKAGES = ("python3", "python3-venv", "python-is-python3", "ca-certificates", "util-linux")
MIRRORS = (
    f"deb http://deb.debian.org/debian {SUITE} main",
    f"deb http://deb.debian.org/debian {SUITE}-updates main",
    f"deb http://deb.debian.org/debian-security {SUITE}-security main",
)
_SLIM = (
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/groff/*",
    "path-exclude=/usr/share/lintian/*",
)
_MERGED_USR_HOOK = Path("/usr/share/mmdebstrap/hooks/merged-usr")
# The image configuration a registry base image would carry; a root filesystem tarball carries none.
ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8")


@dataclass(frozen=True)
class BaseRootfs:
    """The cached root filesystem, the hash of its recipe and the packages in it, one ``name=version`` a line."""

    tarball: Path
    recipe: str
    packages: str


def mmdebstrap_argv(tarball: Path) -> list[str]:
    return [
        "mmdebstrap",
        "--mode=root",
        "--variant=minbase",
        "--format=tar",
        f"--include={','.join(PACKAGES)}",
        f"--hook-dir={_MERGED_USR_HOOK}",
        "--skip=output/dev",
        *(f"--dpkgopt={option}" for option in _SLIM),
        '--customize-hook=for file in hosts hostname resolv.conf; do : > "$1/etc/$file"; done',
        SUITE,
        str(tarball),
        *MIRRORS,
    ]


def _recipe_stamp() -> str:
    return hashlib.sha256("\0".join(mmdebstrap_argv(Path("-"))).encode()).hexdigest()


def installed_packages(tarball: Path) -> str:
    """``name=version`` of every installed package, read from the dpkg database inside the tarball."""
    with tarfile.open(tarball) as archive:
        member = archive.extractfile("./var/lib/dpkg/status")
        if member is None:
            raise ImageBuildError(f"{tarball} has no dpkg status file")
        status = member.read().decode()
    installed = []
    for paragraph in status.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in paragraph.splitlines() if ": " in line and line[0] != " ")
        if fields.get("Status") == "install ok installed":
            installed.append(f"{fields['Package']}={fields['Version']}")
    return "".join(f"{line}\n" for line in sorted(installed))


def _add_dev_folder(tarball: Path) -> None:
    """Append an empty ./dev: --skip=output/dev leaves out the folder with the device nodes."""
    with tarfile.open(tarball, "a") as archive:
        if "./dev" not in archive.getnames():
            folder = tarfile.TarInfo("./dev")
            folder.type = tarfile.DIRTYPE
            folder.mode = 0o755
            folder.mtime = int(time.time())
            archive.addfile(folder)


def ensure_base(folder: Path, *, force: bool = False) -> BaseRootfs:
    """The cached base root filesystem, made first if missing, stale or ``force``d. The caller holds the lock."""
    folder.mkdir(parents=True, exist_ok=True)
    tarball = folder / f"{SUITE}.tar"
    packages = folder / f"{SUITE}.packages"
    stamp_file = folder / f".stamp-{SUITE}"
    stamp = _recipe_stamp()
    fresh = stamp_file.exists() and stamp_file.read_text() == stamp and tarball.exists() and packages.exists()
    if fresh and not force:
        return BaseRootfs(tarball=tarball, recipe=stamp, packages=packages.read_text())
    if shutil.which("mmdebstrap") is None:
        raise ImageBuildError("mmdebstrap is not installed (make images-deps installs Debian's)")
    if not _MERGED_USR_HOOK.is_dir():
        raise ImageBuildError(f"mmdebstrap's merged-usr hook is missing ({_MERGED_USR_HOOK})")
    log(f"making the Debian {SUITE} base with mmdebstrap (about a minute)")
    started = time.monotonic()
    partial = folder / f"{SUITE}.partial.tar"
    result = subprocess.run(mmdebstrap_argv(partial), capture_output=True, text=True, stdin=subprocess.DEVNULL)
    (folder / "mmdebstrap.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise ImageBuildError(f"mmdebstrap failed (full log: {folder / 'mmdebstrap.log'}):\n{result.stderr[-4000:]}")
    _add_dev_folder(partial)
    packages.write_text(installed_packages(partial))
    partial.rename(tarball)
    stamp_file.write_text(stamp)
    log(f"made the base in {time.monotonic() - started:.0f}s ({tarball.stat().st_size / 1e6:.0f} MB)")
    return BaseRootfs(tarball=tarball, recipe=stamp, packages=packages.read_text())
