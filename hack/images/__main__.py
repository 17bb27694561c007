"""``python -m hack.images build|verify``: build the images offline (``make images``), or build and prove them.

``build`` prints the path of each OCI archive, one a line (operator, agent, pause), for
``ctr -n k8s.io images import``. ``verify`` also imports every archive into a throwaway containerd and lists what
it holds under which name.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from hack.images.build import ensure_images
from hack.images.containerd import throwaway_containerd
from hack.images.errors import ImageBuildError


def _verify(archives: dict[str, Path]) -> int:
    with throwaway_containerd() as containerd:
        for archive in archives.values():
            containerd.import_archive(archive)
        imported = containerd.image_names()
    missing = sorted(set(archives) - set(imported))
    print("\n".join(sorted(imported)))
    if missing:
        print(f"not imported under their names: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hack.images", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("build", "build what is missing or stale and print the archives' paths"),
        ("verify", "build, then import each archive into a throwaway containerd and list the images"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument("--force", action="store_true", help="rebuild every image")
        command.add_argument(
            "--refresh-base", action="store_true", help="make the Debian base again from the archive first"
        )
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        archives = ensure_images(force=args.force, refresh_base=args.refresh_base)
        print(f"[images] ready in {time.monotonic() - started:.1f}s", file=sys.stderr)
        if args.command == "build":
            print("\n".join(str(path) for path in archives.values()))
            return 0
        return _verify(archives)
    except ImageBuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
