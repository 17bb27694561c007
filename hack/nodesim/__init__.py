"""A kubelet stand-in: simulated nodes that behave, as seen through the API, the way kubelets make nodes behave.

Nodes are Node objects; nothing runs on them. :class:`hack.nodesim.simulator.NodeSimulator` keeps them Ready with
fresh heartbeats, reports boot ID, kernel and OS image, runs pods bound to them (phase Running, Ready) and completes
their graceful deletion, and reboots a node when asked (through ``NodeSimulator.reboot`` or
``python -m hack.nodesim reboot``, which is what the real agent's reboot command runs in tests). Faults: a node that
never comes back, one whose sentinel survives the reboot, a slow node, a node deleted while in progress.

This package's ``__init__`` imports nothing heavy, so the reboot command starts fast.
"""
