"""Carrying out an admin's per-node controls (``api/controls.py``) once the decision core has said what they mean.

- **cancel** of a started cycle (Cordoning or Draining): the request is written ``Cancelled`` first, by a
  compare-and-swap that only a cancellable phase passes, so a cycle racing to authorize the reboot loses (its own
  write needs phase Draining); then the caller stops the cycle's task, and the node is handed back exactly as a
  failed drain hands it back (uncordoned unless it was cordoned before its cycle, preReboot labels undone), the
  slot freed. A cancel is no finish: minIntervalBetweenReboots does not count from it, and the failure budget does
  not count it.
- **reboot-now** for a node without a request: the operator creates one (no reasons: it is the admin's ask, and the
  agent leaves a request without reasons alone), which the decision then starts.

Each effect is idempotent: a second call, or one after a crash, finds the work done and does nothing.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from reboot_operator.api.meta import API_VERSION, GROUP, VERSION
from reboot_operator.api.policy import NodeLabels
from reboot_operator.api.vocabulary import CANCELLABLE_PHASES, Phase
from reboot_operator.kube import nodes as node_effects
from reboot_operator.kube.events import EventType, ObjectRef, background
from reboot_operator.observed import RequestView, request_view
from reboot_operator.options import labels_given_back
from reboot_operator.runtime.errors import NodeGone
from reboot_operator.slots import release_slot
from reboot_operator.statuses import REQUESTS, update_status, with_fields

log = logging.getLogger(__name__)


async def cancel_started(
    api: client.ApiClient, request: RequestView, *, note: str, now: datetime.datetime
) -> RequestView | None:
    """Write the request ``Cancelled`` if it is still cordoning or draining; the request as cancelled, or None when
    it had moved on (its reboot authorized meanwhile: the cycle then finishes) or is gone."""
    wrote = False

    def change(fresh: dict[str, Any]) -> dict[str, Any] | None:
        nonlocal wrote
        current = request_view(fresh)
        wrote = current is not None and current.status.phase in CANCELLABLE_PHASES
        if current is None or not wrote:
            return None
        return with_fields(
            current.status,
            phase=Phase.CANCELLED,
            message=note,
            completed_at=now,
            approval=None,
            observed_generation=current.generation,
        )

    written = await update_status(api, REQUESTS, request.name, change, known=request.as_stored())
    return request_view(written) if written is not None and wrote else None


async def hand_back(
    api: client.ApiClient, cancelled: RequestView, *, policy: str | None, labels: NodeLabels | None, note: str
) -> None:
    """Give a cancelled cycle's node back: uncordon (unless cordoned before the cycle), undo the preReboot labels,
    free the slot, tell it. Call it once the cycle's task has stopped."""
    name = cancelled.name
    uncordoned = False
    if not cancelled.status.was_unschedulable:
        with contextlib.suppress(NodeGone):
            uncordoned = await node_effects.ensure_uncordoned(api, name)
    if labels is not None and labels.pre_reboot:
        with contextlib.suppress(NodeGone):
            await node_effects.ensure_labels(api, name, labels_given_back(labels))
    if policy is not None:
        await release_slot(api, policy, name, completed_at=None)
    message = note + ("; uncordoned" if uncordoned else "")
    log.warning("node %s: %s", name, message)
    events = background()
    events.submit(api, involved=ObjectRef.node(name), reason="Cancelled", message=message, type=EventType.WARNING)
    events.submit(
        api,
        involved=ObjectRef(kind="NodeRebootRequest", name=name, uid=cancelled.uid, api_version=API_VERSION),
        reason="Cancelled",
        message=message,
        type=EventType.WARNING,
    )


async def create_request(api: client.ApiClient, node: str) -> bool:
    """Create the request of a node an admin asked to reboot now and that has none; False when one exists."""
    body = {
        "apiVersion": API_VERSION,
        "kind": "NodeRebootRequest",
        "metadata": {"name": node},
        "spec": {"nodeName": node, "reasons": []},
    }
    try:
        await client.CustomObjectsApi(api).create_cluster_custom_object(GROUP, VERSION, REQUESTS, body)
    except ApiException as error:
        if error.status == 409:
            return False
        raise
    log.info("node %s: request created for an admin's reboot-now", node)
    return True
