"""The errors this layer raises, in one place so the handler layer can map them to Kopf's retry semantics.

::

    KubeEffectError            something we asked the API server to do did not happen
    ├── NodeGone               the node does not exist (deleted, e.g. by a cluster autoscaler)
    ├── ApiUnavailable         a transient failure outlived our short retries; try again later
    └── ApiRejected            the API server refused the request; retrying the same request will not help

The drain does not raise these: a drain never fails on a transient error, and its refusals (unmanaged pods,
emptyDir data) and time-outs are outcomes reported in its ``DrainResult``.
"""

from __future__ import annotations


class KubeEffectError(Exception):
    """Base of every error raised by ``reboot_operator.kube``."""


class NodeGone(KubeEffectError):
    """The node named in the call does not exist."""

    def __init__(self, node: str) -> None:
        super().__init__(f"node {node} not found")
        self.node = node


class ApiUnavailable(KubeEffectError):
    """A transient API failure (5xx, throttling, conflicts, network) that persisted through our retries."""


class ApiRejected(KubeEffectError):
    """A permanent API failure: forbidden, invalid, or otherwise not worth repeating unchanged."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status
