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

import datetime
import logging

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from reboot_operator.api.meta import API_VERSION, GROUP, VERSION
from reboot_operator.api.policy import NodeLabels
from reboot_operator.api.vocabulary import CANCELLABLE_PHASES, Phase
from reboot_operator.kube.events import EventType, ObjectRef, background
from reboot_operator.kube.statuses import REQUESTS
from reboot_operator.rollout.handback import end_cycle, give_node_back
from reboot_operator.rollout.slots import release_slot
from reboot_operator.watch.observed import RequestView

log = logging.getLogger(__name__)


async def cancel_started(
    api: client.ApiClient, request: RequestView, *, note: str, now: datetime.datetime
) -> RequestView | None:
    """Write the request ``Cancelled`` if it is still cordoning or draining; the request as cancelled, or None when
    it had moved on (its reboot authorized meanwhile: the cycle then finishes) or is gone."""
    return await end_cycle(
        api,
        request.name,
        phase=Phase.CANCELLED,
        message=note,
        now=now,
        ending=CANCELLABLE_PHASES,
        answer_latest=True,
        known=request.as_stored(),
    )


async def hand_back(
    api: client.ApiClient, cancelled: RequestView, *, policy: str | None, labels: NodeLabels | None, note: str
) -> None:
    """Give a cancelled cycle's node back: uncordon (unless cordoned before the cycle), undo the preReboot labels,
    free the slot, tell it. Call it once the cycle's task has stopped."""
    name = cancelled.name
    uncordoned = await give_node_back(api, name, was_unschedulable=cancelled.status.was_unschedulable, labels=labels)
    if policy is not None:
        await release_slot(api, policy, name, completed_at=None)
    message = note + ("; uncordoned" if uncordoned else "")
    log.warning("node %s: %s", name, message)
    events = background()
    for involved in (
        ObjectRef.node(name),
        ObjectRef(kind="NodeRebootRequest", name=name, uid=cancelled.uid, api_version=API_VERSION),
    ):
        events.submit(api, involved=involved, reason="Cancelled", message=message, type=EventType.WARNING)


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
