"""Progress lines of the image builds, on stderr so that stdout keeps only what a command is asked to print."""

from __future__ import annotations

import sys


def log(message: str) -> None:
    print(f"[images] {message}", file=sys.stderr, flush=True)
