"""Evicting one pod through the Eviction API until the API server accepts, and naming what refuses it.

A PodDisruptionBudget refusal (429, or 403 with a DisruptionBudget cause) is retried after the drain's eviction
retry delay, never sooner than 5 s; the blocking budgets are found by matching every budget's selector in the pod's
namespace against the pod's labels. Other failures are retried with exponential backoff. Every eviction carries the
pod's UID as a precondition: if the pod was deleted and recreated under the same name (a StatefulSet pod, say), we
must not evict the newcomer, which may already run on another node; the original counts as gone.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import aiohttp
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from reboot_operator.core.selector import parse_selector
from reboot_operator.kube.apicalls import ApiStatus, describe, read_json
from reboot_operator.kube.drain_types import BlockingPod, BlockReason, DrainOptions
from reboot_operator.kube.pod_filters import PodInfo
from reboot_operator.runtime.backoff import OUTAGE_BACKOFF, Backoff

log = logging.getLogger(__name__)

DISRUPTION_BUDGET_CAUSE = "DisruptionBudget"
NAMESPACE_TERMINATING_CAUSE = "NamespaceTerminating"
_BUDGET_NAME = re.compile(r"disruption budget (\S+)")


class EvictionOutcome(StrEnum):
    ACCEPTED = "Accepted"  # the pod is now terminating
    GONE = "Gone"  # the pod no longer exists, or its name now belongs to a new pod


def eviction_body(pod: PodInfo, options: DrainOptions) -> dict[str, Any]:
    delete_options: dict[str, Any] = {"preconditions": {"uid": pod.uid}}
    if options.grace_period_seconds is not None:
        delete_options["gracePeriodSeconds"] = options.grace_period_seconds
    return {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": pod.name, "namespace": pod.namespace},
        "deleteOptions": delete_options,
    }


def is_budget_refusal(status: ApiStatus) -> bool:
    if status.code in (403, 429) and status.has_cause(DISRUPTION_BUDGET_CAUSE):
        return True
    # The eviction subresource cannot handle a pod covered by two budgets and answers 500; it is a budget problem.
    return status.code == 500 and "more than one PodDisruptionBudget" in status.message


async def matching_budgets(api: client.ApiClient, pod: PodInfo) -> list[str]:
    """Names of the PodDisruptionBudgets in the pod's namespace whose selector matches it; empty if unknown."""
    try:
        listing = await read_json(client.PolicyV1Api(api).list_namespaced_pod_disruption_budget, pod.namespace)
    except (TimeoutError, ApiException, aiohttp.ClientError, OSError) as error:
        log.debug("could not list PodDisruptionBudgets in %s: %s", pod.namespace, describe(error))
        return []
    return sorted(
        (item.get("metadata") or {}).get("name", "")
        for item in listing.get("items") or []
        if parse_selector((item.get("spec") or {}).get("selector")).matches(pod.labels)
    )


async def evict_until_accepted(
    api: client.ApiClient,
    pod: PodInfo,
    options: DrainOptions,
    *,
    on_blocked: Callable[[BlockingPod | None], None],
) -> EvictionOutcome:
    """Ask for the pod's eviction until the API server accepts it or the pod is gone; runs until cancelled otherwise.

    ``on_blocked`` is told what holds the pod up after each refusal, and None once it no longer is.
    """
    core = client.CoreV1Api(api)
    errors = Backoff(initial=0.5, maximum=OUTAGE_BACKOFF)
    attempt = 0
    while True:
        attempt += 1
        try:
            await read_json(core.create_namespaced_pod_eviction, pod.name, pod.namespace, eviction_body(pod, options))
            log.info("evicting pod %s", pod.ref, extra={"pod": pod.ref, "attempt": attempt})
            on_blocked(None)
            return EvictionOutcome.ACCEPTED
        except ApiException as error:
            status = ApiStatus.of(error)
            if status.code == 404:
                return EvictionOutcome.GONE
            if status.code == 409 and await _replaced(core, pod):
                return EvictionOutcome.GONE
            if is_budget_refusal(status):
                errors.reset()
                block = await _budget_block(api, pod, status)
                delay = max(options.eviction_retry_delay, status.retry_after or 0.0)
            elif status.code == 403 and status.has_cause(NAMESPACE_TERMINATING_CAUSE):
                # Evictions are forbidden in a terminating namespace; the namespace controller deletes the pod.
                if await _terminating(core, pod):
                    on_blocked(None)
                    return EvictionOutcome.ACCEPTED
                block = BlockingPod(pod.namespace, pod.name, BlockReason.NAMESPACE_TERMINATING, message=status.message)
                delay = options.eviction_retry_delay
            else:
                block = BlockingPod(pod.namespace, pod.name, BlockReason.API_ERROR, message=status.summary())
                delay = max(errors.next(), status.retry_after or 0.0)
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            block = BlockingPod(pod.namespace, pod.name, BlockReason.API_ERROR, message=describe(error))
            delay = errors.next()
        log.info(
            "cannot evict pod %s yet (%s), retrying in %.1f s: %s",
            pod.ref,
            block.describe(),
            delay,
            block.message,
            extra={"pod": pod.ref, "attempt": attempt, "block_reason": str(block.reason)},
        )
        on_blocked(block)
        await asyncio.sleep(delay)


async def _budget_block(api: client.ApiClient, pod: PodInfo, status: ApiStatus) -> BlockingPod:
    messages = status.cause_messages(DISRUPTION_BUDGET_CAUSE)
    names = await matching_budgets(api, pod)
    if not names:
        names = [m.group(1) for m in map(_BUDGET_NAME.search, messages) if m]
    return BlockingPod(
        pod.namespace,
        pod.name,
        BlockReason.POD_DISRUPTION_BUDGET,
        detail=", ".join(names),
        message="; ".join(messages) or status.message,
    )


async def _current(core: client.CoreV1Api, pod: PodInfo) -> dict[str, Any] | None:
    """The pod now under this name if it is still ours; None when it is gone or replaced. Raises when unknown."""
    try:
        current = await read_json(core.read_namespaced_pod, pod.name, pod.namespace)
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return current if (current.get("metadata") or {}).get("uid") == pod.uid else None


async def _replaced(core: client.CoreV1Api, pod: PodInfo) -> bool:
    try:
        return await _current(core, pod) is None
    except (TimeoutError, ApiException, aiohttp.ClientError, OSError):
        return False


async def _terminating(core: client.CoreV1Api, pod: PodInfo) -> bool:
    try:
        current = await _current(core, pod)
    except (TimeoutError, ApiException, aiohttp.ClientError, OSError):
        return False
    return current is None or bool((current.get("metadata") or {}).get("deletionTimestamp"))
