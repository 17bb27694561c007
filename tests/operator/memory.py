"""An in-memory stand-in for the handful of API calls a reboot cycle makes, for fast tests of its decisions.

A cycle reads and writes the status of its NodeRebootRequest and RebootPolicy (a PUT carrying the resourceVersion
it read: 409 when it is stale), reads and patches its Node (JSON patches with ``test`` operations: 422 when one
fails; merge patches for labels) and posts Events. ``MemoryApi`` answers exactly these, at the transport under
kubernetes_asyncio's ``ApiClient`` (its ``rest_client``), so the product's own code, compare-and-swaps included,
runs unchanged above it. Every object stored is kept in ``history``, in order: the tests check the safety rules on
that full replay, not on samples. Anything else asked of it is answered 501 and kept in ``unexpected``.

The real API server stays the end-to-end proof (tests/integration); this stand-in is not a Kubernetes: no
admission, no defaulting, no watch. ``MemoryWorld`` plays the watch (it shows the stored objects) and the clock
(frozen: time passes only when the cycle waits for a node and nothing happens, straight to its deadline), and
``Agent`` plays the node's agent and kubelet.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from kubernetes_asyncio import client

from reboot_operator.api.meta import GROUP, VERSION
from reboot_operator.kube.node_view import NodeView, node_view
from reboot_operator.notify import Notice
from reboot_operator.watch.observed import PolicyView, policy_view

START = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
CUSTOM = f"/apis/{GROUP}/{VERSION}/"


@dataclass(frozen=True)
class Stored:
    """One write, as stored: which object, and the object afterwards (a copy)."""

    kind: str
    name: str
    body: dict[str, Any]


class _Response:
    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.reason = {200: "OK", 201: "Created", 404: "NotFound", 409: "Conflict", 422: "Invalid"}.get(status, "")
        self.headers: dict[str, str] = {"Content-Type": "application/json"}
        self._data = json.dumps(body).encode()

    async def read(self) -> bytes:
        return self._data

    def release(self) -> None:
        pass


def _status(code: int, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "message": message}


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


class PatchFailed(Exception):
    pass


def apply_json_patch(document: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """RFC 6902 for the operations the product sends (test, add, remove, replace); ``PatchFailed`` as the API
    server's 422. As the API server does, a ``test`` against null passes when the field is absent."""
    result = copy.deepcopy(document)
    for op in ops:
        *parents, last = [_unescape(t) for t in op["path"].split("/")[1:]]
        parent: Any = result
        for token in parents:
            if not isinstance(parent, dict) or token not in parent:
                if op["op"] == "test" and op.get("value") is None:
                    parent = None
                    break
                raise PatchFailed(f"{op['op']} {op['path']}: no such path")
            parent = parent[token]
        present = isinstance(parent, dict) and last in parent
        if op["op"] == "test":
            if (parent[last] if present else None) != op.get("value"):
                raise PatchFailed(f"test operation for path {op['path']} failed")
        elif op["op"] == "add":
            if not isinstance(parent, dict):
                raise PatchFailed(f"add {op['path']}: no parent")
            parent[last] = copy.deepcopy(op["value"])
        elif op["op"] in ("remove", "replace"):
            if not present:
                raise PatchFailed(f"{op['op']} {op['path']}: no such path")
            if op["op"] == "remove":
                del parent[last]
            else:
                parent[last] = copy.deepcopy(op["value"])
        else:
            raise PatchFailed(f"unsupported operation {op['op']}")
    return result


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(target)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class MemoryApi:
    """The stored objects by (kind, name); kinds: ``nodes``, ``noderebootrequests``, ``rebootpolicies``."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.history: list[Stored] = []
        self.events: list[dict[str, Any]] = []
        self.unexpected: list[str] = []
        self.reads: list[tuple[str, str]] = []
        """Every GET answered, as (kind, name): what "without a read" promises is checked on it."""
        self.refused: list[tuple[str, str, int]] = []
        """Every write refused (409 stale, 422 a failed ``test``), as (kind, name, code)."""
        self.changed = asyncio.Event()
        self.before: Callable[[str, str], int | None] | None = None
        """Called with (method, path) before each call is answered: someone else acting in between, or (returning
        an HTTP status) the API server refusing the call."""
        self._revision = 0

    # -- the test's side -----------------------------------------------------------------------------------------

    def put(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """Store ``body`` as it is (a create or an edit by someone else: the admin, the agent, the kubelet)."""
        stored = copy.deepcopy(body)
        metadata = stored.setdefault("metadata", {})
        metadata.setdefault("uid", f"uid-{kind}-{metadata['name']}")
        old = self.objects.get((kind, metadata["name"]))
        generation = int((old or {}).get("metadata", {}).get("generation") or 0)
        if old is None or old.get("spec") != stored.get("spec"):
            generation += 1
        metadata["generation"] = generation
        return self._store(kind, stored)

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        found = self.objects.get((kind, name))
        return copy.deepcopy(found) if found is not None else None

    def edit(self, kind: str, name: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        body = self.get(kind, name)
        assert body is not None, f"{kind}/{name} does not exist"
        change(body)
        return self.put(kind, body)

    def delete(self, kind: str, name: str) -> None:
        del self.objects[kind, name]
        self.changed.set()

    async def client(self) -> client.ApiClient:
        """An ApiClient whose calls this stand-in answers (its own HTTP session closed unused)."""
        api = client.ApiClient(configuration=client.Configuration(host="http://memory"))
        unused, api.rest_client = api.rest_client, _Transport(self)
        await unused.close()
        return api

    def reasons(self) -> list[str]:
        """The reasons of the Events posted about NodeRebootRequests, in order."""
        return [e["reason"] for e in self.events if e["involvedObject"]["kind"] == "NodeRebootRequest"]

    # -- the API's side ------------------------------------------------------------------------------------------

    def _store(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        self._revision += 1
        body["metadata"]["resourceVersion"] = str(self._revision)
        name = body["metadata"]["name"]
        self.objects[kind, name] = body
        self.history.append(Stored(kind, name, copy.deepcopy(body)))
        self.changed.set()
        return copy.deepcopy(body)

    def answer(self, method: str, url: str, headers: dict[str, str], body: Any) -> _Response:
        path = unquote(urlsplit(url).path)
        refusal = self.before(method, path) if self.before is not None else None
        if refusal is not None:
            return _Response(refusal, _status(refusal, f"refused by the test: {method} {path}"))
        parts = path.strip("/").split("/")
        if path.startswith(CUSTOM) and len(parts) in (4, 5):
            kind, name = parts[3], parts[4] if len(parts) == 5 else ""
            return self._custom(method, kind, name, path.endswith("/status") and len(parts) == 5, body, path)
        if path.startswith(CUSTOM) and len(parts) == 6 and parts[5] == "status":
            return self._custom(method, parts[3], parts[4], True, body, path)
        if parts[:3] == ["api", "v1", "nodes"] and len(parts) == 4:
            return self._node(method, parts[3], headers.get("Content-Type", ""), body)
        if len(parts) == 5 and parts[:3] == ["api", "v1", "namespaces"] and parts[4] == "events" and method == "POST":
            self.events.append(body)
            return _Response(201, body)
        self.unexpected.append(f"{method} {path}")
        return _Response(501, _status(501, f"the stand-in does not answer {method} {path}"))

    def _custom(self, method: str, kind: str, name: str, status: bool, body: Any, path: str) -> _Response:
        stored = self.objects.get((kind, name))
        if method == "GET" and not status:
            self.reads.append((kind, name))
            return _Response(200, stored) if stored is not None else _Response(404, _status(404, "not found"))
        if method == "PUT" and status:
            if stored is None:
                return _Response(404, _status(404, "not found"))
            if body["metadata"].get("resourceVersion") != stored["metadata"]["resourceVersion"]:
                self.refused.append((kind, name, 409))
                return _Response(409, _status(409, "the object has been modified"))
            updated = {**copy.deepcopy(stored), "status": copy.deepcopy(body.get("status") or {})}
            return _Response(200, self._store(kind, updated))
        self.unexpected.append(f"{method} {path}")
        return _Response(501, _status(501, f"the stand-in does not answer {method} {path}"))

    def _node(self, method: str, name: str, content_type: str, body: Any) -> _Response:
        stored = self.objects.get(("nodes", name))
        if stored is None:
            return _Response(404, _status(404, f'nodes "{name}" not found'))
        if method == "GET":
            self.reads.append(("nodes", name))
            return _Response(200, stored)
        if method == "PATCH" and content_type == "application/json-patch+json":
            try:
                patched = apply_json_patch(stored, body)
            except PatchFailed as failed:
                self.refused.append(("nodes", name, 422))
                return _Response(422, _status(422, str(failed)))
            return _Response(200, self._store("nodes", patched))
        if method == "PATCH" and content_type == "application/merge-patch+json":
            return _Response(200, self._store("nodes", _merge(stored, body)))
        self.unexpected.append(f"{method} nodes/{name} ({content_type})")
        return _Response(501, _status(501, "unsupported"))


class _Transport:
    """Stands where kubernetes_asyncio's RESTClientObject stands: it gets each call's method, URL, headers, body."""

    def __init__(self, memory: MemoryApi) -> None:
        self.memory = memory

    async def request(self, method: str, url: str, **kwargs: Any) -> _Response:
        await asyncio.sleep(0)  # a call is a chance for other tasks to run, as on a real connection
        return self.memory.answer(method, url, dict(kwargs.get("headers") or {}), kwargs.get("body"))

    async def GET(self, url: str, **kwargs: Any) -> _Response:  # the names kubernetes_asyncio calls
        return await self.request("GET", url, **kwargs)

    async def PUT(self, url: str, **kwargs: Any) -> _Response:
        return await self.request("PUT", url, **kwargs)

    async def POST(self, url: str, **kwargs: Any) -> _Response:
        return await self.request("POST", url, **kwargs)

    async def PATCH(self, url: str, **kwargs: Any) -> _Response:
        return await self.request("PATCH", url, **kwargs)

    async def DELETE(self, url: str, **kwargs: Any) -> _Response:
        return await self.request("DELETE", url, **kwargs)

    async def close(self) -> None:
        pass


# -- the cluster around a cycle --------------------------------------------------------------------------------------


def node(name: str, *, boot: str = "boot-1", unschedulable: bool = False, ready: bool = True) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"pool": "a"}, "annotations": {"example.com/owner": "team"}},
        "spec": {"unschedulable": True} if unschedulable else {},
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "nodeInfo": {"bootID": boot, "kernelVersion": "6.1.0-1"},
        },
    }


def request(name: str, *, boot: str = "boot-1", status: dict[str, Any] | None = None) -> dict[str, Any]:
    reasons = [{"source": "sentinel-file", "detail": "/var/run/reboot-required"}]
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "NodeRebootRequest",
        "metadata": {"name": name},
        "spec": {"nodeName": name, "reasons": reasons, "bootID": boot},
        **({"status": status} if status is not None else {}),
    }


def policy(name: str, spec: dict[str, Any], *, slots: list[str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RebootPolicy",
        "metadata": {"name": name},
        "spec": {"nodeSelector": {"matchLabels": {"pool": "a"}}, **spec},
        "status": {"slots": list(slots or [])},
    }


@dataclass
class Agent:
    """The node's agent and kubelet: reboots when approved for the node's current boot, comes back Ready; on each of
    the cycle's waits it does what ``script`` says first (a NotReady blip, a surviving sentinel...)."""

    memory: MemoryApi
    name: str
    reboots: int = 0
    survives: int = 0
    """How many reboots the reboot-required sentinel survives (the agent then reports it again)."""
    comes_back: bool = True
    script: list[Callable[[MemoryApi], None]] = field(default_factory=list)

    def act(self) -> bool:
        """One step of the node's life; True if it changed anything."""
        if self.script:
            self.script.pop(0)(self.memory)
            return True
        body = self.memory.get("noderebootrequests", self.name)
        current = self.memory.get("nodes", self.name)
        if body is None or current is None:
            return False
        status = body.get("status") or {}
        approval = status.get("approval") or {}
        boot = current["status"]["nodeInfo"]["bootID"]
        if status.get("phase") == "Rebooting" and approval.get("bootID") == boot and self.comes_back:
            self.reboots += 1
            new_boot = f"boot-{self.reboots + 1}"

            def rebooted(n: dict[str, Any]) -> None:
                n["status"]["nodeInfo"]["bootID"] = new_boot

            self.memory.edit("nodes", self.name, rebooted)
            if self.reboots <= self.survives:

                def reported(r: dict[str, Any]) -> None:
                    r["spec"]["bootID"] = new_boot

                self.memory.edit("noderebootrequests", self.name, reported)
            return True
        return False


@dataclass
class MemoryWorld:
    """The watched state (the stored objects, or a lagging copy of the node) and a frozen clock."""

    memory: MemoryApi
    agent: Agent | None = None
    now: datetime.datetime = START
    lagging_node: NodeView | None = None
    notices: list[Notice] = field(default_factory=list)
    waits: int = 0
    stop: str | None = None
    """Why everything is stopped (issue 14's switch); None while nothing is."""
    resume: asyncio.Event = field(default_factory=asyncio.Event)
    """Set by the test to end the stop for the cycles holding at it."""

    def clock(self) -> datetime.datetime:
        return self.now

    def node(self, name: str) -> NodeView | None:
        if self.lagging_node is not None and self.lagging_node.name == name:
            return self.lagging_node
        body = self.memory.get("nodes", name)
        return node_view(body) if body is not None else None

    def policy(self, name: str) -> PolicyView | None:
        body = self.memory.get("rebootpolicies", name)
        return policy_view(body) if body is not None else None

    async def node_changed(self, name: str, timeout: float) -> None:
        """The agent acts; if nothing changes, time passes to the deadline (the clock is frozen otherwise)."""
        self.waits += 1
        self.lagging_node = None  # the watch catches up
        assert self.waits < 1000, "the cycle keeps waiting"
        if self.agent is None or not self.agent.act():
            self.now += datetime.timedelta(seconds=timeout)
        await asyncio.sleep(0)

    def kick(self) -> None:
        pass

    def notify(self, notice: Notice) -> None:
        self.notices.append(notice)

    def stopped(self) -> str | None:
        return self.stop

    async def resumed(self) -> None:
        if self.stop is not None:
            await self.resume.wait()
            self.stop = None
