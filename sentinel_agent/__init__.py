"""rollboot's node agent: tells the cluster whether its node needs a reboot, and reboots it when approved.

The agent runs on every Linux node as a DaemonSet pod. It watches the host's reboot sentinel, reports it into
the node's NodeRebootRequest (``spec``), watches that request and reboots the node when the operator's approval
(``status``) names the node's current boot. It never cordons, drains or decides anything, and it depends on
the Python standard library only so that it stays small on every node (docs/agent.md, "Lightweight"). For the
same reason its records are NamedTuples, not dataclasses: importing dataclasses pulls in inspect, 1.3 MB.
"""

__version__ = "0.1.0"
