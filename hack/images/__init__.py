"""The project's container images, built offline: the operator and the agent from the Dockerfiles users build (on a
Debian base made from Debian's archive, since no registry is reachable), and a pause image of our own.

    ensure_images() -> {image name: OCI archive}   builds what is missing or stale, cached in <cache>/images
    OPERATOR_IMAGE, AGENT_IMAGE                    the names the Helm chart pulls by default
    PAUSE_IMAGE                                    the pod sandbox image to configure in a node's containerd
    BASE_IMAGE                                     the Debian base, given to the Dockerfiles as BASE_IMAGE

``python -m hack.images build`` (``make images``) prints the archives' paths; docs/images.md explains the rest.
"""

from hack.images.build import ensure_images, images_dir
from hack.images.errors import ImageBuildError
from hack.images.names import AGENT_IMAGE, BASE_IMAGE, OPERATOR_IMAGE, PAUSE_IMAGE

__all__ = [
    "AGENT_IMAGE",
    "BASE_IMAGE",
    "OPERATOR_IMAGE",
    "PAUSE_IMAGE",
    "ImageBuildError",
    "ensure_images",
    "images_dir",
]
