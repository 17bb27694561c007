"""The images every real node holds before its kubelet starts: the project's two, and the pod sandbox's."""

from __future__ import annotations

from pathlib import Path


def node_images() -> tuple[dict[str, Path], str]:
    """(image name → archive to import, the sandbox image's name), building what is missing (``make images``)."""
    from hack.images import PAUSE_IMAGE, ensure_images

    return dict(ensure_images()), PAUSE_IMAGE
