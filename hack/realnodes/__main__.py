"""``python -m hack.realnodes up [--nodes N]``: real nodes in the foreground until Ctrl-C; ``clean`` removes leftovers.

``up`` builds what is missing (the control plane, the kubelet, the images), starts the control plane and N real
nodes with the images imported, prints how to reach them, and reboots a node whenever its agent asks (or when you
``touch`` the node's name in the printed spool folder). Ctrl-C stops everything and removes it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

from hack.realnodes import cgroups
from hack.realnodes.cluster import RealCluster, RealNodesError, reap_leftovers
from hack.realnodes.images import node_images


def _memory_mb(cluster: RealCluster) -> dict[str, float]:
    """Resident memory of each node's processes (init, containerd, shims, kubelet, pods), in MB."""
    sizes = {}
    for name, node in cluster.nodes.items():
        total = 0
        for pid in cgroups.pids(node.cgroup_root):
            try:
                with open(f"/proc/{pid}/status") as status:
                    for line in status:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1])
            except OSError:
                continue
        sizes[name] = total / 1024
    return sizes


def _up(nodes: int) -> int:
    images, sandbox = node_images()
    # A plain flag: a handler that took a lock (Event.set) could deadlock with the main thread waiting on it.
    stopping: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda number, _: stopping.append(number))
    started = time.monotonic()
    with RealCluster(node_count=nodes, images=images, sandbox_image=sandbox) as cluster:
        print(f"\n{nodes} real nodes Ready in {time.monotonic() - started:.1f}s. In another shell:\n")
        print(f"export KUBECONFIG={cluster.kubeconfig}")
        print(f"# reboot a node: touch {cluster.spool}/NODE")
        for name, size in _memory_mb(cluster).items():
            print(f"# {name}: {size:.0f} MB resident, /run at {cluster.nodes[name].run_dir}")
        print("\nPress Ctrl-C to stop and remove everything.", flush=True)
        while not stopping:
            time.sleep(0.5)
            down = [name for name, node in cluster.nodes.items() if not node.alive() and name not in cluster.busy()]
            if down:
                print(f"node(s) {', '.join(down)} went down; see their logs", file=sys.stderr)
                break
    return 0


def _clean() -> int:
    reap_leftovers()
    print("removed what earlier runs left: node processes and cgroups, KUBE-* iptables chains, interfaces")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hack.realnodes", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run real nodes in the foreground")
    up.add_argument("--nodes", type=int, default=3, help="how many nodes (default 3)")
    sub.add_parser("clean", help="remove what a killed run left behind")
    args = parser.parse_args(argv)
    try:
        return _up(args.nodes) if args.command == "up" else _clean()
    except RealNodesError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
