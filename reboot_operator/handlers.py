"""The Kopf wiring, and nothing else: watch what the decisions need, and wake the coordinator.

Nodes, NodeRebootRequests and RebootPolicies are observed through ``@kopf.index`` (slim parsed snapshots, never
whole Nodes) and ``@kopf.on.event``. No change-handlers are registered, so Kopf keeps no bookkeeping of its own:
nothing is ever written to Nodes or Pods, and our own resources carry only the status the operator writes.
Kopf runs event handlers only after every index is fully listed, so the first decision sees the whole cluster.

Run with ``kopf run -m reboot_operator.handlers --all-namespaces`` or the ``rollboot-operator`` command.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import kopf
from kubernetes_asyncio import client

from reboot_operator.api.meta import GROUP, VERSION
from reboot_operator.connection import connection_info, load_configuration
from reboot_operator.coordinator import Coordinator
from reboot_operator.observed import NodeView, PolicyView, RequestView, node_view, policy_view, request_view

log = logging.getLogger(__name__)

COORDINATOR = Coordinator()
_API: dict[str, client.ApiClient] = {}


class KopfState:
    """The coordinator's view of Kopf's indexes: name → the one snapshot stored under it."""

    def __init__(
        self,
        nodes: kopf.Index[str, NodeView],
        requests: kopf.Index[str, RequestView],
        policies: kopf.Index[str, PolicyView],
    ) -> None:
        self._nodes, self._requests, self._policies = nodes, requests, policies

    @staticmethod
    def _flat(index: kopf.Index[str, Any]) -> dict[str, Any]:
        flat = {}
        for key, store in index.items():
            for value in store:
                flat[key] = value
        return flat

    @staticmethod
    def _one(index: kopf.Index[str, Any], key: str) -> Any:
        store = index.get(key)
        return next(iter(store), None) if store is not None else None

    def node(self, name: str) -> NodeView | None:
        view: NodeView | None = self._one(self._nodes, name)
        return view

    def policy(self, name: str) -> PolicyView | None:
        view: PolicyView | None = self._one(self._policies, name)
        return view

    def request(self, name: str) -> RequestView | None:
        view: RequestView | None = self._one(self._requests, name)
        return view

    def nodes(self) -> Mapping[str, NodeView]:
        return self._flat(self._nodes)

    def requests(self) -> Mapping[str, RequestView]:
        return self._flat(self._requests)

    def policies(self) -> Mapping[str, PolicyView]:
        return self._flat(self._policies)


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.posting.enabled = False  # we post our own Events, on the objects they are about
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    settings.networking.error_backoffs = [1, 2, 5, 10, 20]
    settings.persistence.finalizer = f"operator.{GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.StatusProgressStorage(field="status.kopf")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP, key="last-handled")
    _API["client"] = client.ApiClient(await load_configuration())


@kopf.on.login()
async def login(**_: Any) -> kopf.ConnectionInfo:
    return connection_info(await load_configuration())


@kopf.on.cleanup()
async def shutdown(**_: Any) -> None:
    await COORDINATOR.stop()
    api = _API.pop("client", None)
    if api is not None:
        await api.close()


@kopf.index("nodes")
async def rollboot_nodes(body: kopf.Body, name: str, **_: Any) -> dict[str, NodeView]:
    return {name: node_view(body)}


@kopf.index(GROUP, VERSION, "noderebootrequests")
async def rollboot_requests(body: kopf.Body, name: str, **_: Any) -> dict[str, RequestView] | None:
    view = request_view(body)
    return {name: view} if view is not None else None


@kopf.index(GROUP, VERSION, "rebootpolicies")
async def rollboot_policies(body: kopf.Body, name: str, **_: Any) -> dict[str, PolicyView]:
    return {name: policy_view(body)}


def _attach(kwargs: Mapping[str, Any]) -> None:
    COORDINATOR.start(
        _API["client"],
        KopfState(kwargs["rollboot_nodes"], kwargs["rollboot_requests"], kwargs["rollboot_policies"]),
    )


@kopf.on.event("nodes")
async def node_event(type: str | None, body: kopf.Body, name: str, **kwargs: Any) -> None:
    _attach(kwargs)
    if type == "DELETED":
        COORDINATOR.node_deleted(name)
    else:
        COORDINATOR.node_observed(node_view(body))


@kopf.on.event(GROUP, VERSION, "noderebootrequests")
async def request_event(name: str, body: kopf.Body, **kwargs: Any) -> None:
    _attach(kwargs)
    COORDINATOR.changed("noderebootrequests", name, body.metadata.get("resourceVersion", ""))


@kopf.on.event(GROUP, VERSION, "rebootpolicies")
async def policy_event(name: str, body: kopf.Body, **kwargs: Any) -> None:
    _attach(kwargs)
    COORDINATOR.changed("rebootpolicies", name, body.metadata.get("resourceVersion", ""))
