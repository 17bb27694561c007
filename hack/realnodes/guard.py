"""The harness's refusal to run an agent that could reboot this machine.

On a real node the agent's default method signals PID 1 (``hostPID: true``), and ``systemctl reboot`` through
nsenter reaches PID 1's mount namespace. Here every node shares the machine's PID namespace, so PID 1 is the
machine's own init: either would take the machine down. The harness installs the chart only after the rendered
agent DaemonSet passes ``check_agent``: the command method, with exactly the harness's own reboot command, which
only asks the harness to power-cycle that one simulated node.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# Environment variables that would override the flags checked below (sentinel_agent/config.py).
_OVERRIDES = ("ROLLBOOT_REBOOT_METHOD", "ROLLBOOT_REBOOT_COMMAND", "ROLLBOOT_REBOOT_SIGNAL")


class UnsafeAgentError(RuntimeError):
    """The rendered agent could reboot or signal this machine; the harness refuses to install it."""


def _flags(args: Iterable[str]) -> dict[str, str]:
    flags: dict[str, str] = {}
    for arg in args:
        name, _, value = arg.partition("=")
        flags[name] = value
    return flags


def check_agent(documents: Iterable[Mapping[str, Any] | None], *, reboot_command: str) -> None:
    """Raise ``UnsafeAgentError`` unless every agent container reboots only with ``reboot_command``."""
    daemonsets = [d for d in documents if d and d.get("kind") == "DaemonSet"]
    if not daemonsets:
        raise UnsafeAgentError("no DaemonSet in the rendered chart: nothing to check, so nothing is installed")
    for daemonset in daemonsets:
        name = daemonset.get("metadata", {}).get("name", "?")
        containers = daemonset.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
        for container in containers:
            where = f"DaemonSet {name}, container {container.get('name', '?')}"
            if container.get("command"):
                raise UnsafeAgentError(f"{where}: overrides the image's command; only the agent's own is allowed")
            flags = _flags(container.get("args", []))
            method = flags.get("--reboot-method")
            if method != "command":
                raise UnsafeAgentError(
                    f"{where}: --reboot-method is {method!r}; only 'command' with the harness's command may run "
                    "here (signal and systemctl would reach this machine's PID 1)"
                )
            if flags.get("--reboot-command") != reboot_command:
                raise UnsafeAgentError(
                    f"{where}: --reboot-command is {flags.get('--reboot-command')!r}, not the harness's "
                    f"{reboot_command!r}"
                )
            overridden = [env["name"] for env in container.get("env", []) or [] if env.get("name") in _OVERRIDES]
            if overridden:
                raise UnsafeAgentError(f"{where}: sets {', '.join(overridden)}, which would override the checked flags")
            if container.get("envFrom"):
                raise UnsafeAgentError(f"{where}: envFrom could override the checked flags")
