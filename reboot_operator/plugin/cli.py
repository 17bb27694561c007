"""The command line of ``kubectl rollboot`` (installed as ``kubectl-rollboot``, which kubectl finds on PATH).

    kubectl rollboot status            the stop, each policy, what reboots now, what waits and why
    kubectl rollboot why NODE          one node: its phase, why it waits, its controls, its cordon
    kubectl rollboot pause [--reason]  stop everything (creates the ConfigMap rollboot-stop)
    kubectl rollboot resume            resume (deletes it)
    kubectl rollboot skip NODE [--until TIME | --for DURATION]   keep a node from starting; unskip NODE undoes it
    kubectl rollboot now NODE          reboot a node next, past a closed window (never past maxConcurrent)
    kubectl rollboot cancel NODE       hand a waiting, cordoning or draining node back

``-o json`` or ``-o yaml`` prints the same as data, for scripts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import yaml

from reboot_operator.api.controls import (
    CANCEL,
    DEFAULT_NAMESPACE,
    REBOOT_NOW,
    SKIP,
    STOP_CONFIGMAP,
    STOP_REASON_KEY,
    STOP_SWITCH_KEY,
    parse_skip,
)
from reboot_operator.api.duration import parse_duration
from reboot_operator.plugin import views
from reboot_operator.plugin.kubectl import Kubectl, KubectlError

Command = Callable[[Kubectl, argparse.Namespace], dict[str, Any]]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _stop(kubectl: Kubectl, namespace: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = kubectl.json(
        "get", "configmap", STOP_CONFIGMAP, "-n", namespace, "--ignore-not-found"
    )
    return found


def status(kubectl: Kubectl, args: argparse.Namespace) -> dict[str, Any]:
    nodes = {n["metadata"]["name"]: n for n in kubectl.items("nodes")}
    return views.status_view(
        policies=kubectl.items("rebootpolicies.rollboot.dev"),
        requests=kubectl.items("noderebootrequests.rollboot.dev"),
        nodes=nodes,
        stop=_stop(kubectl, args.namespace),
        namespace=args.namespace,
    )


def why(kubectl: Kubectl, args: argparse.Namespace) -> dict[str, Any]:
    return views.why_view(
        name=args.node,
        node=kubectl.json("get", "node", args.node, "--ignore-not-found"),
        request=kubectl.json("get", "noderebootrequests.rollboot.dev", args.node, "--ignore-not-found"),
        stop=_stop(kubectl, args.namespace),
        namespace=args.namespace,
    )


def pause(kubectl: Kubectl, args: argparse.Namespace) -> dict[str, Any]:
    reason = args.reason or f"paused with kubectl rollboot at {_now()}"
    try:
        kubectl.run(
            "create", "configmap", STOP_CONFIGMAP, "-n", args.namespace, f"--from-literal={STOP_REASON_KEY}={reason}"
        )
    except KubectlError as error:
        if "AlreadyExists" not in str(error) and "already exists" not in str(error):
            raise
        patch = {"data": {STOP_REASON_KEY: reason, STOP_SWITCH_KEY: "true"}}
        kubectl.run("patch", "configmap", STOP_CONFIGMAP, "-n", args.namespace, "--type=merge", "-p", json.dumps(patch))
    return {"stopped": True, "reason": reason, "configMap": f"{args.namespace}/{STOP_CONFIGMAP}"}


def resume(kubectl: Kubectl, args: argparse.Namespace) -> dict[str, Any]:
    kubectl.run("delete", "configmap", STOP_CONFIGMAP, "-n", args.namespace, "--ignore-not-found")
    return {"stopped": False, "configMap": f"{args.namespace}/{STOP_CONFIGMAP}"}


def _annotate(kubectl: Kubectl, node: str, key: str, value: str | None) -> None:
    change = f"{key}-" if value is None else f"{key}={value}"
    kubectl.run("annotate", "node", node, change, "--overwrite")


def skip(kubectl: Kubectl, args: argparse.Namespace) -> dict[str, Any]:
    value = ""
    if args.until is not None:
        value = args.until
        parsed = parse_skip(value)
        if parsed is None or parsed.until is None:
            raise SystemExit(f"--until {value!r} is no RFC 3339 time with a zone, e.g. 2026-12-24T08:00:00Z")
    elif args.for_ is not None:
        until = datetime.now(UTC) + parse_duration(args.for_)
        value = until.strftime("%Y-%m-%dT%H:%M:%SZ")
    _annotate(kubectl, args.node, SKIP, value)
    parsed = parse_skip(value)
    assert parsed is not None
    return {"node": args.node, "control": SKIP, "value": value, "skipped": parsed.note}


def unskip(kubectl: Kubectl, args: argparse.Namespace) -> dict[str, Any]:
    _annotate(kubectl, args.node, SKIP, None)
    return {"node": args.node, "control": SKIP, "value": None}


def now(kubectl: Kubectl, args: argparse.Namespace) -> dict[str, Any]:
    value = _now()
    _annotate(kubectl, args.node, REBOOT_NOW, value)
    return {"node": args.node, "control": REBOOT_NOW, "value": value}


def cancel(kubectl: Kubectl, args: argparse.Namespace) -> dict[str, Any]:
    value = _now()
    _annotate(kubectl, args.node, CANCEL, value)
    return {"node": args.node, "control": CANCEL, "value": value}


def _text(command: str, result: dict[str, Any]) -> str:
    if command == "status":
        return views.render_status(result)
    if command == "why":
        return views.render_why(result)
    if command in ("pause", "resume"):
        if result["stopped"]:
            return (
                f"stopped: no node starts and no reboot is authorized ({result['reason']}); "
                "resume with `kubectl rollboot resume`"
            )
        return "resumed"
    node = result["node"]
    if command == "skip":
        return f"node {node}: skipped {result['skipped']}"
    if command == "unskip":
        return f"node {node}: no longer skipped"
    if command == "now":
        return f"node {node}: asked to reboot next, past a closed window; `kubectl rollboot why {node}` follows it"
    return f"node {node}: cancel asked; `kubectl rollboot why {node}` follows it"


def _common(suppress: bool) -> argparse.ArgumentParser:
    """The options every command takes, before or after its name (kubectl's habit: ``status -o json``)."""

    def default(value: str | None) -> str | None:
        return argparse.SUPPRESS if suppress else value

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-o", "--output", choices=("text", "json", "yaml"), default=default("text"))
    common.add_argument(
        "-n",
        "--namespace",
        default=default(os.environ.get("ROLLBOOT_NAMESPACE", DEFAULT_NAMESPACE)),
        help=f"rollboot's namespace, where the stop ConfigMap lives ($ROLLBOOT_NAMESPACE, else {DEFAULT_NAMESPACE})",
    )
    common.add_argument("--kubeconfig", default=default(None), help="kubeconfig file (default: kubectl's)")
    common.add_argument("--context", default=default(None), help="kubeconfig context (default: the current one)")
    return common


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="kubectl rollboot",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_common(suppress=False)],
    )
    later = [_common(suppress=True)]
    commands = top.add_subparsers(dest="command", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help, parents=later)

    command("status", "the stop, each policy, what reboots now, what waits and why")
    command("why", "why a node is where it is").add_argument("node")
    command("pause", "stop everything").add_argument("--reason", help="shown in every message")
    command("resume", "resume after a pause")
    skipping = command("skip", "keep a node from starting its reboot")
    skipping.add_argument("node")
    until = skipping.add_mutually_exclusive_group()
    until.add_argument("--until", help="an RFC 3339 time, e.g. 2026-12-24T08:00:00Z (default: until unskip)")
    until.add_argument("--for", dest="for_", metavar="DURATION", help="e.g. 8h or 30m")
    command("unskip", "undo skip").add_argument("node")
    command("now", "reboot a node next, past a closed window").add_argument("node")
    command("cancel", "hand a waiting, cordoning or draining node back").add_argument("node")
    return top


COMMANDS: dict[str, Command] = {
    "status": status,
    "why": why,
    "pause": pause,
    "resume": resume,
    "skip": skip,
    "unskip": unskip,
    "now": now,
    "cancel": cancel,
}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    flags: list[str] = []
    if args.kubeconfig:
        flags.append(f"--kubeconfig={args.kubeconfig}")
    if args.context:
        flags.append(f"--context={args.context}")
    try:
        result = COMMANDS[args.command](Kubectl(tuple(flags)), args)
    except KubectlError as error:
        print(f"kubectl rollboot {args.command}: {error}", file=sys.stderr)
        return 1
    if args.output == "json":
        print(json.dumps(result, indent=2))
    elif args.output == "yaml":
        print(yaml.safe_dump(result, sort_keys=False), end="")
    else:
        print(_text(args.command, result))
    return 0
