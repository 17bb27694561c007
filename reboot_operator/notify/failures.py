"""Telling an SRE that a policy's notifications fail, where they look: a Warning Event on the RebootPolicy.

A dropped notification is logged, but nobody reads the operator's log until something is already wrong, and the
commonest cause lasts: the operator may read Secrets only in its own namespace (and those granted through the Helm
value ``operator.secretNamespaces``), so a policy naming a Secret elsewhere gets 403 Forbidden on every notice.
So when a notification is dropped, the policy gets an Event ``NotificationFailed`` naming the Secret and the
reason, which ``kubectl describe rebootpolicy`` and ``kubectl get events`` show. Each distinct failure (policy,
Secret and key, cause) is told once, not once per notice, until a notification through that Secret gets through
again. The memory is the process's: a restarted operator tells a lasting failure once more.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from reboot_operator.api.meta import API_VERSION, GROUP, VERSION
from reboot_operator.api.policy import SecretKeyRef
from reboot_operator.kube.apicalls import ApiStatus, describe, read_json
from reboot_operator.kube.events import EventType, ObjectRef, post_event
from reboot_operator.runtime.errors import API_FAILURES

log = logging.getLogger(__name__)

REASON = "NotificationFailed"
FORBIDDEN_HINT = (
    "the operator may read Secrets only in its own namespace and in those granted to it "
    "(Helm value operator.secretNamespaces; see docs/install.md)"
)


@dataclass(frozen=True)
class NotificationFailure:
    """Why notifications of ``policy`` through one Secret key were dropped: ``cause`` is short and stable (what
    makes two failures the same), ``detail`` the words of whoever refused."""

    policy: str
    secret: SecretKeyRef
    cause: str
    detail: str = ""

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.policy, self.secret.namespace, self.secret.name, self.secret.key, self.cause)

    def message(self) -> str:
        """The Event's message: which Secret, what went wrong, and for a 403 what to do about it."""
        where = f"Secret {self.secret.namespace}/{self.secret.name} key {self.secret.key}"
        text = f"notifications of policy {self.policy} via {where} are failing: {self.cause}"
        if self.detail and self.detail != self.cause:
            text += f" ({self.detail})"
        if self.cause.startswith("403"):
            text += f"; {FORBIDDEN_HINT}"
        return text


REFUSED = "the notification service refused it"


def cause_of(error: BaseException | None) -> tuple[str, str]:
    """(cause, detail) of a failed delivery; ``None`` stands for a service that answered but refused the message."""
    if error is None:
        return REFUSED, ""
    if isinstance(error, ApiException):
        status = ApiStatus.of(error)
        return f"{status.code} {status.reason}".strip(), status.message
    if isinstance(error, KeyError):
        return "the Secret has no such key", str(error.args[0]) if error.args else ""
    if isinstance(error, UnicodeDecodeError):
        return "the Secret's value is not UTF-8 text", ""
    if isinstance(error, ValueError):
        return "the Secret's value is not a URL apprise understands", str(error)
    return type(error).__name__, describe(error)


class FailureMemory:
    """Which failures have been told; a success through a Secret key forgets its failures, so a relapse is told."""

    def __init__(self) -> None:
        self._told: set[tuple[str, str, str, str, str]] = set()

    def first_time(self, failure: NotificationFailure) -> bool:
        if failure.key in self._told:
            return False
        self._told.add(failure.key)
        return True

    def recovered(self, policy: str, secret: SecretKeyRef) -> None:
        self._told = {k for k in self._told if k[:4] != (policy, secret.namespace, secret.name, secret.key)}


FailureReporter = Callable[[NotificationFailure], Awaitable[None]]


def policy_events(api: client.ApiClient) -> FailureReporter:
    """Posts each failure as a Warning Event on its RebootPolicy (found by name; its UID lets ``kubectl describe``
    list the Event). Never raises: a failure to tell is logged."""
    custom = client.CustomObjectsApi(api)

    async def report(failure: NotificationFailure) -> None:
        uid = ""
        try:
            policy = await read_json(custom.get_cluster_custom_object, GROUP, VERSION, "rebootpolicies", failure.policy)
            uid = (policy.get("metadata") or {}).get("uid") or ""
        except API_FAILURES as error:  # the Event is still worth posting, found by name only
            log.debug("could not read RebootPolicy %s: %s", failure.policy, describe(error))
        involved = ObjectRef(kind="RebootPolicy", name=failure.policy, uid=uid, api_version=API_VERSION)
        await post_event(api, involved=involved, reason=REASON, message=failure.message(), type=EventType.WARNING)

    return report
