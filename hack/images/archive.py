"""Read an OCI archive the build wrote: the name its index gives, its image configuration, its layers' files.

What a node's containerd will see, read straight from the file: tests run an image's own entry point with this, and
check what an image holds without unpacking it.
"""

from __future__ import annotations

import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ImageConfig:
    """The runtime part of an image's configuration (the OCI image spec's ``config`` object)."""

    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    env: tuple[str, ...]
    user: str
    working_dir: str
    exposed_ports: tuple[str, ...]


def _blob(archive: tarfile.TarFile, digest: str) -> bytes:
    algorithm, _, value = digest.partition(":")
    member = archive.extractfile(f"blobs/{algorithm}/{value}")
    if member is None:
        raise ValueError(f"blob {digest} is missing from the archive")
    return member.read()


def _manifest(archive: tarfile.TarFile) -> tuple[str, dict[str, Any]]:
    index_file = archive.extractfile("index.json")
    if index_file is None:
        raise ValueError("not an OCI archive: no index.json")
    (entry,) = json.load(index_file)["manifests"]
    name = entry.get("annotations", {}).get("org.opencontainers.image.ref.name", "")
    return name, json.loads(_blob(archive, entry["digest"]))


def image_name(path: Path) -> str:
    """The name ``ctr images import`` gives the image (the index's ref.name annotation)."""
    with tarfile.open(path) as archive:
        return _manifest(archive)[0]


def image_config(path: Path) -> ImageConfig:
    with tarfile.open(path) as archive:
        _, manifest = _manifest(archive)
        config = json.loads(_blob(archive, manifest["config"]["digest"])).get("config", {})
    return ImageConfig(
        entrypoint=tuple(config.get("Entrypoint") or ()),
        cmd=tuple(config.get("Cmd") or ()),
        env=tuple(config.get("Env") or ()),
        user=config.get("User", ""),
        working_dir=config.get("WorkingDir", ""),
        exposed_ports=tuple(sorted(config.get("ExposedPorts") or {})),
    )


def layer_files(path: Path) -> list[dict[str, int]]:
    """Path (without a leading ``./``) and size of each entry of each layer, bottom layer first."""
    layers = []
    with tarfile.open(path) as archive:
        _, manifest = _manifest(archive)
        for layer in manifest["layers"]:
            blob = archive.extractfile(f"blobs/{layer['digest'].replace(':', '/', 1)}")
            if blob is None:
                raise ValueError(f"layer {layer['digest']} is missing from the archive")
            with tarfile.open(fileobj=blob, mode="r:*") as files:
                layers.append({member.name.removeprefix("./"): member.size for member in files})
    return layers
