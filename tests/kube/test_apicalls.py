"""Reading a failed call's Status, telling transient failures from permanent ones, and backing off."""

from __future__ import annotations

import json

import aiohttp
import pytest
from kubernetes_asyncio.client.exceptions import ApiException
from multidict import CIMultiDict, CIMultiDictProxy

from reboot_operator.kube.apicalls import ApiStatus, is_transient
from reboot_operator.kube.eviction import is_budget_refusal


def api_error(code: int, body: dict[str, object] | None = None, headers: dict[str, str] | None = None) -> ApiException:
    error = ApiException(status=code, reason="Reason")
    error.body = json.dumps(body).encode() if body is not None else None
    error.headers = CIMultiDictProxy(CIMultiDict(headers)) if headers is not None else None
    return error


BUDGET_429 = {
    "kind": "Status",
    "message": "Cannot evict pod as it would violate the pod's disruption budget.",
    "reason": "TooManyRequests",
    "details": {
        "causes": [{"reason": "DisruptionBudget", "message": "The disruption budget web needs 2 healthy pods"}]
    },
    "code": 429,
}


def test_a_budget_refusal_is_read_from_its_status_cause() -> None:
    status = ApiStatus.of(api_error(429, BUDGET_429, {"Retry-After": "10"}))
    assert status.code == 429
    assert status.reason == "TooManyRequests"
    assert status.cause_messages("DisruptionBudget") == ["The disruption budget web needs 2 healthy pods"]
    assert status.retry_after == 10.0
    assert is_budget_refusal(status)


@pytest.mark.parametrize(
    ("code", "body", "budget"),
    [
        pytest.param(429, {"message": "too many requests", "reason": "TooManyRequests"}, False, id="plain-throttling"),
        pytest.param(403, {**BUDGET_429, "code": 403}, True, id="forbidden-by-a-budget"),
        pytest.param(500, {"message": "This pod has more than one PodDisruptionBudget, which ..."}, True, id="two"),
        pytest.param(500, {"message": "etcd timeout"}, False, id="server-error"),
    ],
)
def test_only_budget_causes_count_as_budget_refusals(code: int, body: dict[str, object], budget: bool) -> None:
    assert is_budget_refusal(ApiStatus.of(api_error(code, body))) is budget


def test_a_status_without_a_json_body_still_has_its_code() -> None:
    error = ApiException(status=502, reason="Bad Gateway")
    error.body = b"<html>bad gateway</html>"
    status = ApiStatus.of(error)
    assert (status.code, status.reason, status.message) == (502, "Bad Gateway", "<html>bad gateway</html>")


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        pytest.param(api_error(503), True, id="unavailable"),
        pytest.param(api_error(429), True, id="throttled"),
        pytest.param(api_error(500), True, id="server-error"),
        pytest.param(aiohttp.ClientConnectionError(), True, id="connection"),
        pytest.param(TimeoutError(), True, id="timeout"),
        pytest.param(api_error(403), False, id="forbidden"),
        pytest.param(api_error(404), False, id="not-found"),
        pytest.param(api_error(409), False, id="conflict-is-for-the-caller-to-judge"),
        pytest.param(api_error(422), False, id="invalid"),
        pytest.param(ValueError(), False, id="a-bug"),
    ],
)
def test_transient_failures_are_those_that_say_nothing_about_the_request(error: Exception, transient: bool) -> None:
    assert is_transient(error) is transient
