"""The one error of the offline image builds: a tool (mmdebstrap, buildah, go, containerd) failed or is missing."""

from __future__ import annotations


class ImageBuildError(RuntimeError):
    """Building, exporting or checking an image failed; the message carries the tool's own last words."""
