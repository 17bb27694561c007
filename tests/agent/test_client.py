"""The API client against a local HTTP server: headers, token rotation, retries, Retry-After, errors, TLS."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import pytest

from sentinel_agent.errors import (
    ApiConflict,
    ApiConnectionError,
    ApiGone,
    ApiNotFound,
    ApiStatusError,
)
from sentinel_agent.kube.backoff import Backoff
from sentinel_agent.kube.client import MAX_RETRY_AFTER, ApiClient
from sentinel_agent.kube.credentials import Credentials, from_flags
from tests.agent.fakeapi import FakeApiServer, Reply, status_body
from tests.agent.tlsfiles import TlsFiles


class RecordingSleep:
    """Stands in for time.sleep: remembers every delay, waits for none."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_client(
    server_url: str, *, token_file: Path | None = None, sleep: RecordingSleep | None = None, max_attempts: int = 5
) -> ApiClient:
    credentials = Credentials(server=server_url, ssl_context=None, token_file=token_file)
    return ApiClient(credentials, sleep=sleep or RecordingSleep(), max_attempts=max_attempts, timeout=5)


def test_request_returns_the_json_body_and_sends_json_headers(api_server: FakeApiServer, token_file: Path) -> None:
    api_server.script(Reply(body={"kind": "List", "items": []}))
    client = make_client(api_server.url, token_file=token_file)

    answer = client.request("GET", "/apis/x", query={"fieldSelector": "metadata.name=n1"})

    assert answer == {"kind": "List", "items": []}
    [request] = api_server.requests
    assert request.query == {"fieldSelector": "metadata.name=n1"}
    assert request.headers["accept"] == "application/json"
    assert request.headers["authorization"] == "Bearer first-token"
    assert request.headers["user-agent"].startswith("rollboot-agent/")


def test_a_rotated_token_file_is_used_by_the_next_request(api_server: FakeApiServer, token_file: Path) -> None:
    api_server.script(Reply(body={}), Reply(body={}))
    client = make_client(api_server.url, token_file=token_file)

    client.request("GET", "/a")
    token_file.write_text("second-token\n")
    client.request("GET", "/a")

    assert [r.headers["authorization"] for r in api_server.requests] == ["Bearer first-token", "Bearer second-token"]


def test_a_json_body_is_sent_with_its_content_type(api_server: FakeApiServer) -> None:
    api_server.script(Reply(body={"ok": True}))
    client = make_client(api_server.url)

    client.request("PATCH", "/things/n1", body={"spec": {"reasons": []}}, content_type="application/merge-patch+json")

    [request] = api_server.requests
    assert request.method == "PATCH"
    assert request.headers["content-type"] == "application/merge-patch+json"
    assert request.json() == {"spec": {"reasons": []}}


def test_a_server_url_path_prefix_is_kept(api_server: FakeApiServer) -> None:
    api_server.script(Reply(body={}))
    client = make_client(api_server.url + "/k8s/clusters/c1/")

    client.request("GET", "/apis/x")

    assert api_server.requests[0].path == "/k8s/clusters/c1/apis/x"


def test_429_waits_as_long_as_retry_after_says(api_server: FakeApiServer) -> None:
    sleep = RecordingSleep()
    api_server.script(
        Reply(status=429, body=status_body(429, "TooManyRequests"), headers={"Retry-After": "3"}),
        Reply(body={"done": True}),
    )

    answer = make_client(api_server.url, sleep=sleep).request("GET", "/a")

    assert answer == {"done": True}
    assert sleep.delays == [3.0]


def test_a_huge_retry_after_is_cut_to_the_maximum(api_server: FakeApiServer) -> None:
    sleep = RecordingSleep()
    api_server.script(Reply(status=503, headers={"Retry-After": "86400"}), Reply(body={}))

    make_client(api_server.url, sleep=sleep).request("GET", "/a")

    assert sleep.delays == [MAX_RETRY_AFTER]


@pytest.mark.parametrize("status", [500, 502, 503, 504], ids=lambda s: f"http-{s}")
def test_5xx_is_retried_with_growing_backoff(api_server: FakeApiServer, status: int) -> None:
    sleep = RecordingSleep()
    api_server.script(Reply(status=status), Reply(status=status), Reply(status=status), Reply(body={"ok": 1}))

    answer = make_client(api_server.url, sleep=sleep).request("GET", "/a")

    assert answer == {"ok": 1}
    assert len(sleep.delays) == 3
    # Each delay lies in [ceiling/2, ceiling] for ceilings 0.5, 1, 2.
    for delay, ceiling in zip(sleep.delays, [0.5, 1.0, 2.0], strict=True):
        assert ceiling / 2 <= delay <= ceiling


def test_persistent_5xx_gives_up_after_max_attempts(api_server: FakeApiServer) -> None:
    sleep = RecordingSleep()
    api_server.script(*[Reply(status=503, body=status_body(503, "ServiceUnavailable", "etcd down"))] * 3)

    with pytest.raises(ApiStatusError) as raised:
        make_client(api_server.url, sleep=sleep, max_attempts=3).request("GET", "/a")

    assert raised.value.status == 503
    assert raised.value.transient
    assert "etcd down" in str(raised.value)
    assert len(api_server.requests) == 3
    assert len(sleep.delays) == 2


@pytest.mark.parametrize(
    ("status", "reason", "error_type"),
    [
        (400, "BadRequest", ApiStatusError),
        (401, "Unauthorized", ApiStatusError),
        (403, "Forbidden", ApiStatusError),
        (404, "NotFound", ApiNotFound),
        (409, "AlreadyExists", ApiConflict),
        (410, "Expired", ApiGone),
        (422, "Invalid", ApiStatusError),
    ],
    ids=["bad-request", "unauthorized", "forbidden", "not-found", "conflict", "gone", "invalid"],
)
def test_client_errors_are_not_retried_and_carry_the_status_reason(
    api_server: FakeApiServer, status: int, reason: str, error_type: type[ApiStatusError]
) -> None:
    sleep = RecordingSleep()
    api_server.script(Reply(status=status, body=status_body(status, reason, "details here")))

    with pytest.raises(error_type) as raised:
        make_client(api_server.url, sleep=sleep).request("GET", "/a")

    assert type(raised.value) is error_type
    assert (raised.value.status, raised.value.reason, raised.value.message) == (status, reason, "details here")
    assert not raised.value.transient
    assert sleep.delays == []


def test_a_dropped_connection_is_retried(api_server: FakeApiServer) -> None:
    sleep = RecordingSleep()
    api_server.script(Reply(drop=True), Reply(body={"ok": True}))

    assert make_client(api_server.url, sleep=sleep).request("GET", "/a") == {"ok": True}
    assert len(sleep.delays) == 1


def test_a_refused_connection_ends_in_a_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleep = RecordingSleep()

    with pytest.raises(ApiConnectionError, match="refused"):
        make_client(f"http://127.0.0.1:{port}", sleep=sleep, max_attempts=2).request("GET", "/a")
    assert len(sleep.delays) == 1


def test_an_answer_that_is_not_json_is_a_connection_error(api_server: FakeApiServer) -> None:
    api_server.script(*[Reply(body=b"<html>proxy error</html>")] * 2)

    with pytest.raises(ApiConnectionError, match="not JSON"):
        make_client(api_server.url, max_attempts=2).request("GET", "/a")


def test_an_unreadable_token_file_is_a_transient_error(api_server: FakeApiServer, tmp_path: Path) -> None:
    client = make_client(api_server.url, token_file=tmp_path / "gone", max_attempts=1)

    with pytest.raises(ApiConnectionError, match="token file") as raised:
        client.request("GET", "/a")
    assert raised.value.transient
    assert api_server.requests == []


def test_backoff_is_fresh_for_each_request(api_server: FakeApiServer) -> None:
    sleep = RecordingSleep()
    api_server.script(Reply(status=503), Reply(body={}), Reply(status=503), Reply(body={}))
    client = ApiClient(
        Credentials(server=api_server.url, ssl_context=None),
        sleep=sleep,
        new_backoff=lambda: Backoff(initial=4.0, maximum=4.0),
    )

    client.request("GET", "/a")
    client.request("GET", "/a")

    assert all(2.0 <= delay <= 4.0 for delay in sleep.delays)
    assert len(sleep.delays) == 2


def _tls_server_context(tls: TlsFiles, *, require_client_cert: bool = False) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls.server_cert, tls.server_key)
    if require_client_cert:
        context.load_verify_locations(tls.ca_cert)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def test_tls_with_the_right_ca_works(tls_files: TlsFiles, token_file: Path) -> None:
    with FakeApiServer(tls=_tls_server_context(tls_files)) as server:
        server.script(Reply(body={"tls": True}))
        credentials = from_flags(server=server.url, token_file=token_file, ca_file=tls_files.ca_cert)

        assert ApiClient(credentials).request("GET", "/a") == {"tls": True}


def test_tls_without_the_right_ca_fails_verification(tls_files: TlsFiles, tmp_path: Path) -> None:
    with FakeApiServer(tls=_tls_server_context(tls_files)) as server:
        credentials = from_flags(server=server.url, token_file=None, ca_file=None)

        with pytest.raises(ApiConnectionError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            ApiClient(credentials, sleep=RecordingSleep(), max_attempts=1).request("GET", "/a")
