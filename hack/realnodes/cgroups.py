"""One cgroup tree per real node, in every cgroup v1 hierarchy: where its processes live and how a reboot kills them.

A node's init, containerd, the shims, the kubelet and every pod run under ``<base>/rollboot-<node>`` (the kubelet is
given that path as its ``cgroupRoot``, so pods land in ``<root>/kubepods/...``; everything else is in
``<root>/system``). A reboot freezes the whole tree, SIGKILLs every task in it and thaws it: nothing of the node
survives, as nothing survives a power cycle. ``<base>`` is the cgroup this process runs in (in the memory
hierarchy), so the nodes stay inside whatever accounts for the test run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

CGROUP_FS = Path("/sys/fs/cgroup")
SYSTEM = "system"


class CgroupError(RuntimeError):
    """A node's cgroups could not be made, joined or emptied."""


def hierarchies() -> list[Path]:
    """The mounted hierarchies (cpu, memory, name=systemd, the unified one, ...), symlinked aliases left out."""
    if not CGROUP_FS.is_dir():
        raise CgroupError(f"{CGROUP_FS} does not exist: real nodes need cgroups")
    return sorted(path for path in CGROUP_FS.iterdir() if path.is_dir() and not path.is_symlink())


def base_path(proc_self_cgroup: str) -> str:
    """The cgroup path this process runs under, taken from its memory line of ``/proc/self/cgroup`` ("/" if none)."""
    for line in proc_self_cgroup.splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return path or "/"
    return "/"


def node_root(node: str) -> str:
    """The node's cgroup path, the same in every hierarchy: the kubelet's ``cgroupRoot``."""
    base = base_path(Path("/proc/self/cgroup").read_text())
    return f"{base.rstrip('/')}/rollboot-{node}"


def create(root: str) -> None:
    """Make ``root`` and ``root/system`` in every hierarchy (idempotent)."""
    for hierarchy in hierarchies():
        for relative in (root, f"{root}/{SYSTEM}"):
            folder = hierarchy / relative.lstrip("/")
            folder.mkdir(parents=True, exist_ok=True)
            if hierarchy.name == "cpuset":
                _inherit_cpuset(folder)


def _inherit_cpuset(folder: Path) -> None:
    # A v1 cpuset starts empty and takes no task until it has CPUs and memory nodes; copy them from above.
    chain = []
    current = folder
    while current != CGROUP_FS / "cpuset":
        chain.append(current)
        current = current.parent
    for level in reversed(chain):
        for name in ("cpuset.cpus", "cpuset.mems"):
            if not (level / name).read_text().strip():
                (level / name).write_text((level.parent / name).read_text())


def join(root: str, pid: int) -> None:
    """Move ``pid`` into ``root/system`` in every hierarchy (its children follow it there)."""
    for hierarchy in hierarchies():
        procs = hierarchy / root.lstrip("/") / SYSTEM / "cgroup.procs"
        try:
            procs.write_text(f"{pid}\n")
        except OSError as error:
            raise CgroupError(f"cannot move {pid} into {procs}: {error}") from error


def pids(root: str) -> set[int]:
    """Every process in the tree under ``root``, read from the pids (or else the freezer) hierarchy."""
    hierarchy = next((h for h in hierarchies() if h.name in ("pids", "freezer")), None)
    if hierarchy is None:
        raise CgroupError("neither the pids nor the freezer hierarchy is mounted")
    found: set[int] = set()
    # Never this machine's init nor this process, whatever a cgroup file says: a node's processes are only ever
    # its own init's descendants.
    never = {0, 1, os.getpid()}
    top = hierarchy / root.lstrip("/")
    if not top.is_dir():
        return found
    for folder, _, _ in os.walk(top):
        with contextlib.suppress(OSError):
            # A process outside the reader's PID namespace reads as 0: never a process to signal.
            found.update(
                pid for pid in map(int, (Path(folder) / "cgroup.procs").read_text().split()) if pid not in never
            )
    return found


def kill_all(root: str, *, timeout: float = 30.0) -> int:
    """SIGKILL every process under ``root``, frozen first so none can fork away; the number killed."""
    freezer = CGROUP_FS / "freezer" / root.lstrip("/") / "freezer.state"
    frozen = freezer.exists()
    if frozen:
        freezer.write_text("FROZEN\n")
    killed: set[int] = set()
    try:
        for pid in pids(root):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
    finally:
        if frozen:
            freezer.write_text("THAWED\n")
    deadline = time.monotonic() + timeout
    while pids(root):
        if time.monotonic() > deadline:
            raise CgroupError(f"processes under {root} survived SIGKILL for {timeout:.0f}s: {sorted(pids(root))}")
        for pid in pids(root):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    return len(killed)


def node_roots() -> list[str]:
    """Every node cgroup tree on this machine (``.../rollboot-<node>`` holding a ``system`` folder), this run's or
    one a killed run left behind."""
    hierarchy = CGROUP_FS / "freezer"
    found = []
    for folder, subfolders, _ in os.walk(hierarchy):
        path = Path(folder)
        if path.name.startswith("rollboot-") and SYSTEM in subfolders:
            found.append("/" + str(path.relative_to(hierarchy)))
            subfolders.clear()
    return sorted(found)


def remove(root: str) -> None:
    """Remove the (empty) tree under ``root`` from every hierarchy, deepest folders first."""
    for hierarchy in hierarchies():
        top = hierarchy / root.lstrip("/")
        if not top.is_dir():
            continue
        for folder, _, _ in os.walk(top, topdown=False):
            for attempt in range(50):
                try:
                    Path(folder).rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as error:
                    if attempt == 49:
                        raise CgroupError(f"cannot remove {folder}: {error}") from error
                    time.sleep(0.1)
