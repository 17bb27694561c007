"""A real Kubernetes control plane on loopback, built from the upstream Go modules.

No container images and no prebuilt Kubernetes binaries can be fetched where rollboot is developed, but the Go
module proxy can be reached. So etcd, kube-apiserver, kube-controller-manager and kubectl are compiled from their
upstream modules (pinned in ``hack/controlplane/k8s`` and ``hack/controlplane/etcd``), cached under ``.cache/``,
and started here on free loopback ports. Tests, ``make cluster`` and the demo all go through :class:`ControlPlane`.
"""

from hack.controlplane.build import ensure_built
from hack.controlplane.cluster import ControlPlane, ControlPlaneError

__all__ = ["ControlPlane", "ControlPlaneError", "ensure_built"]
