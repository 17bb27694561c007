"""``python -m hack.controlplane build|up|down|env``: the one entry point to the local control plane.

``up`` runs in the foreground until Ctrl-C (``make cluster``); ``up --detach`` leaves it running for other shells,
``env`` prints the exports that point kubectl at it, and ``down`` stops a detached one and removes its data.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

from hack.controlplane.build import BuildError, cache_dir, ensure_built
from hack.controlplane.cluster import ControlPlane, ControlPlaneError


def _state_file() -> Path:
    return cache_dir() / "cluster.json"


def _print_env(kubeconfig: str, bins: str) -> None:
    print(f"export KUBECONFIG={kubeconfig}")
    print(f"export ROLLBOOT_KUBECONFIG={kubeconfig}")
    print(f'export PATH="{bins}:$PATH"')


def _up(detach: bool) -> int:
    if _state_file().exists():
        print(f"a control plane is already recorded in {_state_file()}; run 'down' first", file=sys.stderr)
        return 1
    data_dir = cache_dir() / "cluster"
    shutil.rmtree(data_dir, ignore_errors=True)
    plane = ControlPlane(data_dir=data_dir, tie_to_parent=not detach)
    plane.start()
    state = {"dataDir": str(data_dir), "kubeconfig": str(plane.kubeconfig), "pids": plane.pids()}
    _state_file().write_text(json.dumps(state, indent=2))
    print(f"\nkube-apiserver is serving at {plane.server}. In another shell:\n")
    _print_env(str(plane.kubeconfig), str(plane.kubectl.parent))
    print("kubectl get --raw /readyz\n", flush=True)
    if detach:
        return 0
    # A plain flag: a handler that took a lock (Event.set) could deadlock with the main thread waiting on it.
    stopping: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda number, _: stopping.append(number))
    print("Running in the foreground; press Ctrl-C to stop and remove it.", flush=True)
    while not stopping:
        time.sleep(1.0)
        dead = [name for name, process in plane._processes.items() if not process.alive()]
        if dead:
            print(f"{', '.join(dead)} exited unexpectedly; see logs in {data_dir}", file=sys.stderr)
            break
    plane.stop()
    _state_file().unlink(missing_ok=True)
    return 0


def _down() -> int:
    if not _state_file().exists():
        print("no control plane recorded; nothing to stop", file=sys.stderr)
        return 0
    state = json.loads(_state_file().read_text())
    pids: dict[str, int] = state["pids"]
    for name in ("kube-controller-manager", "kube-apiserver", "etcd"):
        pid = pids.get(name)
        if pid is None:
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                os.kill(pid, 0)
                time.sleep(0.1)
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(state["dataDir"], ignore_errors=True)
    _state_file().unlink(missing_ok=True)
    print("control plane stopped and its data removed")
    return 0


def _env() -> int:
    if not _state_file().exists():
        print("no control plane is running; start one with 'make cluster'", file=sys.stderr)
        return 1
    state = json.loads(_state_file().read_text())
    _print_env(state["kubeconfig"], str(cache_dir() / "bin"))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hack.controlplane", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "build", help="build (or verify the cache of) etcd, kube-apiserver, kube-controller-manager, kubectl"
    )
    up = sub.add_parser("up", help="start the control plane (foreground unless --detach)")
    up.add_argument("--detach", action="store_true", help="leave it running and return")
    sub.add_parser("down", help="stop a detached control plane and remove its data")
    sub.add_parser("env", help="print the shell exports for the running control plane")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            print(ensure_built())
            return 0
        if args.command == "up":
            return _up(args.detach)
        if args.command == "down":
            return _down()
        return _env()
    except (BuildError, ControlPlaneError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
