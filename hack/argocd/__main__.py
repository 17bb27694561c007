"""``python -m hack.argocd build``: compile Argo CD and kustomize into the cache (``make argocd``)."""

from __future__ import annotations

import argparse
import sys

from hack.argocd.build import ensure_built
from hack.controlplane.build import BuildError


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m hack.argocd", description=__doc__)
    parser.add_argument("command", choices=["build"])
    parser.add_argument("--force", action="store_true", help="rebuild even when the cached binaries are current")
    args = parser.parse_args()
    try:
        tools = ensure_built(force=args.force)
    except BuildError as error:
        print(error, file=sys.stderr)
        return 1
    print(tools.argocd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
