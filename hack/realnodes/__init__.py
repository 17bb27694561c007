"""Real Kubernetes nodes on this machine: a real kubelet and containerd per node, rebooted for real.

``RealCluster`` (``cluster.py``) runs N nodes beside a control plane that serves them; each ``RealNode``
(``node.py``) has its own mount namespace, boot ID, cgroup tree (``cgroups.py``) and pod bridge (``network.py``),
and ``guard.py`` refuses any agent that could reboot the machine itself. ``python -m hack.realnodes up`` runs them
in the foreground.
"""

from hack.realnodes.cluster import RealCluster, RealNodesError, Reboot

__all__ = ["RealCluster", "RealNodesError", "Reboot"]
