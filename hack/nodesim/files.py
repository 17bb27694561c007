"""The per-node folder a simulated node keeps on the host, standing in for its root filesystem.

``<root>/<node>/reboot-required`` and ``reboot-required.pkgs`` are the sentinel files Ubuntu writes;
``<root>/<node>/boot_id`` stands in for ``/proc/sys/kernel/random/boot_id``. The agent of a simulated node is pointed
at these paths. ``<root>/control.json`` tells the reboot command where the simulator listens.
"""

from __future__ import annotations

from pathlib import Path

SENTINEL = "reboot-required"
PACKAGES = "reboot-required.pkgs"
BOOT_ID = "boot_id"
CONTROL = "control.json"


def node_dir(root: Path, node: str) -> Path:
    return root / node


def sentinel_path(root: Path, node: str) -> Path:
    return node_dir(root, node) / SENTINEL


def boot_id_path(root: Path, node: str) -> Path:
    return node_dir(root, node) / BOOT_ID


def require_reboot(root: Path, node: str, packages: list[str] | None = None) -> None:
    """Do what unattended-upgrades does after installing a kernel: write the sentinel and its package list."""
    folder = node_dir(root, node)
    folder.mkdir(parents=True, exist_ok=True)
    if packages:
        (folder / PACKAGES).write_text("".join(f"{p}\n" for p in packages))
    (folder / SENTINEL).write_text("*** System restart required ***\n")


def clear_sentinel(root: Path, node: str) -> None:
    folder = node_dir(root, node)
    (folder / SENTINEL).unlink(missing_ok=True)
    (folder / PACKAGES).unlink(missing_ok=True)
