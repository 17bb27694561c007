"""The agent's only API calls: its own NodeRebootRequest, listed, watched, created and patched.

Every call names the node's own request, which is what the agent's RBAC should allow and nothing more (an
agent can never touch another node). Spec changes go through a JSON merge patch of the main resource, which
cannot touch ``status``: that belongs to the operator.
"""

from __future__ import annotations

from typing import NamedTuple

from sentinel_agent.kube.client import ApiClient, WatchStream
from sentinel_agent.model import (
    GROUP,
    PLURAL,
    VERSION,
    NodeRebootRequest,
    Spec,
    parse_request,
    request_document,
    spec_document,
)

COLLECTION = f"/apis/{GROUP}/{VERSION}/{PLURAL}"
MERGE_PATCH = "application/merge-patch+json"


class Listing(NamedTuple):
    """The request (None when it does not exist) and the resourceVersion to watch from."""

    request: NodeRebootRequest | None
    resource_version: str


class RequestResource:
    """The NodeRebootRequest named after this node."""

    def __init__(self, api: ApiClient, node_name: str) -> None:
        self._api = api
        self.name = node_name
        self._selector = {"fieldSelector": f"metadata.name={node_name}"}

    def list_own(self) -> Listing:
        """One list call, filtered to this node's request."""
        document = self._api.request("GET", COLLECTION, query=self._selector)
        items = document.get("items")
        requests = [parse_request(item) for item in items] if isinstance(items, list) else []
        metadata = document.get("metadata")
        version = metadata.get("resourceVersion") if isinstance(metadata, dict) else None
        return Listing(
            request=next((request for request in requests if request.name == self.name), None),
            resource_version=str(version or ""),
        )

    def watch(self, *, resource_version: str, timeout_seconds: int) -> WatchStream:
        """Watch this node's request from ``resource_version``; the server ends it after ``timeout_seconds``."""
        query = {
            **self._selector,
            "watch": "true",
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        if resource_version:
            query["resourceVersion"] = resource_version
        # The server ends the watch itself; the socket may stay silent that long, plus some slack.
        return self._api.watch(COLLECTION, query=query, read_timeout=timeout_seconds + 60)

    def create(self, spec: Spec) -> NodeRebootRequest:
        """Create the request (ApiConflict if it already exists)."""
        return parse_request(self._api.request("POST", COLLECTION, body=request_document(spec)))

    def patch_spec(self, spec: Spec) -> NodeRebootRequest:
        """Replace the spec fields the agent owns; ``reasons`` is replaced as a whole list."""
        return parse_request(
            self._api.request(
                "PATCH",
                f"{COLLECTION}/{self.name}",
                body={"spec": spec_document(spec)},
                content_type=MERGE_PATCH,
            )
        )
