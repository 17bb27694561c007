"""``python -m hack.nodesim reboot --root ROOT NODE``: ask a running simulator to reboot one simulated node.

This is the reboot command the real sentinel agent runs for a simulated node, so the agent is exercised unmodified.
It imports only the standard library and starts in a few milliseconds.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
from pathlib import Path

from hack.nodesim import files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hack.nodesim")
    sub = parser.add_subparsers(dest="command", required=True)
    reboot = sub.add_parser("reboot", help="reboot a simulated node")
    reboot.add_argument("--root", required=True, type=Path, help="the simulator's root folder")
    reboot.add_argument("node")
    args = parser.parse_args(argv)
    try:
        port = json.loads((args.root / files.CONTROL).read_text())["port"]
    except (OSError, ValueError, KeyError) as error:
        print(f"error: no node simulator is listening under {args.root}: {error}", file=sys.stderr)
        return 2
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("POST", f"/reboot/{args.node}")
    response = connection.getresponse()
    message = response.read().decode().strip()
    print(message, file=sys.stderr if response.status >= 300 else sys.stdout)
    return 0 if response.status < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
