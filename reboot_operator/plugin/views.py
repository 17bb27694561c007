"""What ``kubectl rollboot`` shows, built from the API objects as read: pure functions, no I/O.

Everything here is read from what the operator wrote (status, conditions, messages) or what admins wrote (the
controls of ``api/controls.py``): nothing is decided again. The one thing computed is presentation: times are told
in the zone the policy's windows are written in (``core.clock.policy_zone``), as the operator's messages are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from reboot_operator.api.controls import CANCEL, REBOOT_NOW, SKIP, STOP_CONFIGMAP, parse_skip, stop_reason
from reboot_operator.api.vocabulary import ACTIVE_PHASES, Phase
from reboot_operator.core.clock import policy_zone, stamp
from reboot_operator.kube.node_view import CORDON_MARK

Object = Mapping[str, Any]
View = dict[str, Any]

_ACTIVE = {str(p) for p in ACTIVE_PHASES}


def _condition(obj: Object, kind: str) -> Object | None:
    conditions: list[Object] = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == kind), None)


def _zone(policy: Object) -> str:
    windows = (policy.get("spec") or {}).get("maintenanceWindows") or []
    return policy_zone([w.get("timeZone") or "UTC" for w in windows]) if windows else "UTC"


def _local(value: str | None, zone: str) -> str | None:
    if not value:
        return None
    return stamp(datetime.fromisoformat(value.replace("Z", "+00:00")), zone)


def controls(node: Object | None) -> View:
    """The admin's controls a node carries."""
    annotations = ((node or {}).get("metadata") or {}).get("annotations") or {}
    skip = parse_skip(annotations.get(SKIP))
    return {
        "skip": None if skip is None else skip.note,
        "rebootNow": REBOOT_NOW in annotations,
        "cancel": CANCEL in annotations,
    }


def stop_view(configmap: Object | None, namespace: str) -> View | None:
    reason = stop_reason(configmap)
    return None if reason is None else {"reason": reason, "configMap": f"{namespace}/{STOP_CONFIGMAP}"}


def policy_view(policy: Object) -> View:
    spec, status = policy.get("spec") or {}, policy.get("status") or {}
    window, counts = status.get("window") or {}, status.get("counts") or {}
    zone = _zone(policy)
    blocked, halted = _condition(policy, "Blocked"), _condition(policy, "Halted")
    ready = _condition(policy, "Ready")
    return {
        "name": (policy.get("metadata") or {}).get("name", ""),
        "ready": ready is None or ready.get("status") == "True",
        "paused": bool(spec.get("paused")),
        "timeZone": zone,
        "window": window.get("state"),
        "nextOpening": _local(window.get("nextOpening"), zone),
        "closesAt": _local(window.get("closesAt"), zone),
        "blocked": (
            {"reason": blocked.get("reason"), "message": blocked.get("message", "")}
            if blocked is not None and blocked.get("status") == "True"
            else None
        ),
        "halted": halted is not None and halted.get("status") == "True",
        "selected": counts.get("selected", 0),
        "inProgress": counts.get("inProgress", 0),
        "pending": counts.get("pending", 0),
        "failures": (status.get("failureBudget") or {}).get("failures", 0),
        "queue": list(status.get("queue") or []),
        "conflicts": list(status.get("conflicts") or []),
    }


def request_view(request: Object, node: Object | None) -> View:
    status = request.get("status") or {}
    waiting = _condition(request, "Waiting")
    drain = status.get("drain") or {}
    return {
        "node": (request.get("metadata") or {}).get("name", ""),
        "phase": status.get("phase"),
        "policy": status.get("policy"),
        "waitingFor": waiting.get("reason") if waiting is not None and waiting.get("status") == "True" else None,
        "message": status.get("message") or "",
        "needsReboot": bool((request.get("spec") or {}).get("reasons")),
        "kernel": status.get("kernel"),
        "blockingPods": [f"{p.get('namespace')}/{p.get('name')}" for p in drain.get("blockingPods") or []],
        "controls": controls(node),
    }


def status_view(
    *,
    policies: Iterable[Object],
    requests: Iterable[Object],
    nodes: Mapping[str, Object],
    stop: Object | None,
    namespace: str,
) -> View:
    """The whole picture: the stop, each policy, what reboots now, what waits and why."""
    shown = [request_view(r, nodes.get((r.get("metadata") or {}).get("name", ""))) for r in requests]
    return {
        "stopped": stop_view(stop, namespace),
        "policies": sorted((policy_view(p) for p in policies), key=lambda p: p["name"]),
        "inProgress": sorted((r for r in shown if r["phase"] in _ACTIVE), key=lambda r: r["node"]),
        "waiting": sorted(
            (r for r in shown if r["phase"] in (None, Phase.WAITING, Phase.PENDING) and r["waitingFor"] is not None),
            key=lambda r: r["node"],
        ),
    }


def why_view(*, name: str, node: Object | None, request: Object | None, stop: Object | None, namespace: str) -> View:
    """One node: its request as the operator describes it, its controls, its cordon."""
    annotations = ((node or {}).get("metadata") or {}).get("annotations") or {}
    unschedulable = bool(((node or {}).get("spec") or {}).get("unschedulable"))
    cordon = None
    if unschedulable:
        cordon = "by rollboot" if CORDON_MARK in annotations else "by someone else (rollboot leaves it so)"
    return {
        "node": name,
        "exists": node is not None,
        "cordoned": cordon,
        "controls": controls(node),
        "request": None if request is None else request_view(request, node),
        "stopped": stop_view(stop, namespace),
    }


# -- text ---------------------------------------------------------------------------------------------------------


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    return [
        "   ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


def _controls_text(found: View) -> str:
    parts = []
    if found["skip"] is not None:
        parts.append(f"skip {found['skip']}")
    if found["rebootNow"]:
        parts.append("reboot-now")
    if found["cancel"]:
        parts.append("cancel")
    return ", ".join(parts)


def render_status(view: View) -> str:
    lines: list[str] = []
    stopped = view["stopped"]
    if stopped is not None:
        lines += [
            f"STOPPED: {stopped['reason']} (ConfigMap {stopped['configMap']}); `kubectl rollboot resume` resumes",
            "",
        ]
    rows = [
        [
            p["name"],
            p["window"] or "",
            p["nextOpening"] or "",
            "yes" if p["paused"] else "",
            (p["blocked"] or {}).get("reason", ""),
            "yes" if p["halted"] else "",
            f"{p['inProgress']}/{p['selected']}",
            str(p["pending"]),
        ]
        for p in view["policies"]
    ]
    header = ["POLICY", "WINDOW", "NEXT-OPENING", "PAUSED", "BLOCKED", "HALTED", "IN-PROGRESS", "PENDING"]
    lines += _table(header, rows) if rows else ["No RebootPolicies."]
    lines.append("")
    if view["inProgress"]:
        rows = [[r["node"], r["phase"], r["policy"] or "", r["message"]] for r in view["inProgress"]]
        lines += _table(["REBOOTING", "PHASE", "POLICY", "MESSAGE"], rows)
    else:
        lines.append("No node is rebooting.")
    lines.append("")
    if view["waiting"]:
        rows = [
            [r["node"], r["policy"] or "", r["waitingFor"], r["message"], _controls_text(r["controls"])]
            for r in view["waiting"]
        ]
        lines += _table(["WAITING", "POLICY", "REASON", "MESSAGE", "CONTROLS"], rows)
    else:
        lines.append("No node is waiting.")
    return "\n".join(lines)


def render_why(view: View) -> str:
    name = view["node"]
    lines = [
        f"Node {name}: "
        + (
            "no such node"
            if not view["exists"]
            else f"cordoned {view['cordoned']}"
            if view["cordoned"]
            else "schedulable"
        )
    ]
    if view["stopped"] is not None:
        lines.append(f"Everything is stopped: {view['stopped']['reason']} (ConfigMap {view['stopped']['configMap']}).")
    controlled = _controls_text(view["controls"])
    if controlled:
        lines.append(f"Controls: {controlled}.")
    request = view["request"]
    if request is None:
        lines.append("No NodeRebootRequest: its agent has not reported a need for a reboot.")
        return "\n".join(lines)
    phase = request["phase"] or "not decided yet"
    lines.append(f"Phase: {phase}" + (f" under policy {request['policy']}" if request["policy"] else ""))
    if request["waitingFor"]:
        lines.append(f"Waiting for: {request['waitingFor']}")
    if request["message"]:
        lines.append(f"Message: {request['message']}")
    if request["blockingPods"]:
        lines.append("Drain waits for: " + ", ".join(request["blockingPods"]))
    if not request["needsReboot"]:
        lines.append("Its agent reports no need for a reboot.")
    return "\n".join(lines)
