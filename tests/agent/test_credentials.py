"""Finding the API server: --server flags, JSON kubeconfigs and the pod's service account."""

from __future__ import annotations

import base64
import json
import ssl
from pathlib import Path
from typing import Any

import pytest

from sentinel_agent.errors import ConfigError
from sentinel_agent.kube.client import ApiClient
from sentinel_agent.kube.credentials import from_kubeconfig, in_cluster, resolve_credentials
from tests.agent.fakeapi import FakeApiServer, Reply
from tests.agent.tlsfiles import TlsFiles


def kubeconfig(cluster: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "other", "cluster": {"server": "https://elsewhere"}}, {"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
    }


def write(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document))
    return path


def test_a_kubeconfig_with_a_token_and_a_ca_file(tmp_path: Path, tls_files: TlsFiles) -> None:
    path = write(
        tmp_path / "kubeconfig",
        kubeconfig(
            {"server": "https://127.0.0.1:6443", "certificate-authority": str(tls_files.ca_cert)}, {"token": "t0k"}
        ),
    )

    credentials = from_kubeconfig(path)

    assert credentials.server == "https://127.0.0.1:6443"
    assert credentials.bearer_token() == "t0k"
    assert credentials.ssl_context is not None
    assert credentials.ssl_context.verify_mode == ssl.CERT_REQUIRED


def test_relative_paths_in_a_kubeconfig_are_relative_to_its_folder(tmp_path: Path, tls_files: TlsFiles) -> None:
    (tmp_path / "ca.crt").write_bytes(tls_files.ca_cert.read_bytes())
    (tmp_path / "token").write_text("from-file\n")
    path = write(
        tmp_path / "kubeconfig",
        kubeconfig({"server": "https://127.0.0.1:6443", "certificate-authority": "ca.crt"}, {"tokenFile": "token"}),
    )

    credentials = from_kubeconfig(path)

    assert credentials.token_file == tmp_path / "token"
    assert credentials.bearer_token() == "from-file"


def test_a_kubeconfig_with_inline_ca_and_client_certificate_data_authenticates(
    tmp_path: Path, tls_files: TlsFiles
) -> None:
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tls_files.server_cert, tls_files.server_key)
    server_context.load_verify_locations(tls_files.client_cert)
    server_context.verify_mode = ssl.CERT_REQUIRED

    def data(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    with FakeApiServer(tls=server_context) as server:
        server.script(Reply(body={"mutual": True}))
        path = write(
            tmp_path / "kubeconfig",
            kubeconfig(
                {"server": server.url, "certificate-authority-data": data(tls_files.ca_cert)},
                {
                    "client-certificate-data": data(tls_files.client_cert),
                    "client-key-data": data(tls_files.client_key),
                },
            ),
        )

        assert ApiClient(from_kubeconfig(path)).request("GET", "/a") == {"mutual": True}
    assert list(tmp_path.iterdir()) == [path]


def test_insecure_skip_tls_verify_turns_verification_off(tmp_path: Path) -> None:
    path = write(tmp_path / "kc", kubeconfig({"server": "https://h:1", "insecure-skip-tls-verify": True}, {}))

    context = from_kubeconfig(path).ssl_context

    assert context is not None
    assert context.verify_mode == ssl.CERT_NONE


KUBECONFIG_ERRORS = [
    ("not-json", "apiVersion: v1\nkind: Config\n", "is not JSON"),
    ("not-an-object", [], "top level is not an object"),
    ("no-current-context", {**kubeconfig({"server": "https://h"}, {}), "current-context": ""}, "current-context"),
    (
        "unknown-context",
        {**kubeconfig({"server": "https://h"}, {}), "current-context": "nope"},
        "no contexts entry named 'nope'",
    ),
    ("no-server", kubeconfig({}, {}), "'server' is missing"),
    ("not-a-url", kubeconfig({"server": "localhost:6443"}, {}), "not an http"),
    ("exec-plugin", kubeconfig({"server": "https://h"}, {"exec": {"command": "aws"}}), "'exec' is not supported"),
    ("bad-base64", kubeconfig({"server": "https://h", "certificate-authority-data": "%%%"}, {}), "not valid base64"),
    (
        "ca-not-a-certificate",
        kubeconfig({"server": "https://h", "certificate-authority-data": base64.b64encode(b"junk").decode()}, {}),
        "cannot load the CA bundle",
    ),
    ("missing-ca-file", kubeconfig({"server": "https://h", "certificate-authority": "/nonexistent/ca"}, {}), "CA"),
    ("missing-token-file", kubeconfig({"server": "https://h"}, {"tokenFile": "/nonexistent/token"}), "tokenFile"),
]


@pytest.mark.parametrize(
    ("document", "message"), [c[1:] for c in KUBECONFIG_ERRORS], ids=[c[0] for c in KUBECONFIG_ERRORS]
)
def test_a_bad_kubeconfig_is_a_config_error(tmp_path: Path, document: object, message: str) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(document if isinstance(document, str) else json.dumps(document))

    with pytest.raises(ConfigError, match=message):
        from_kubeconfig(path)


def test_a_missing_kubeconfig_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        from_kubeconfig(tmp_path / "nope")


@pytest.fixture
def service_account(tmp_path: Path, tls_files: TlsFiles) -> Path:
    folder = tmp_path / "serviceaccount"
    folder.mkdir()
    (folder / "token").write_text("sa-token")
    (folder / "ca.crt").write_bytes(tls_files.ca_cert.read_bytes())
    return folder


@pytest.mark.parametrize(
    ("env", "server"),
    [
        ({"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}, "https://10.96.0.1:443"),
        ({"KUBERNETES_SERVICE_HOST": "10.96.0.1"}, "https://10.96.0.1:443"),
        ({"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443"}, "https://[fd00::1]:6443"),
    ],
    ids=["ipv4", "default-port", "ipv6"],
)
def test_in_cluster_uses_the_service_env_and_the_service_account(
    service_account: Path, env: dict[str, str], server: str
) -> None:
    credentials = in_cluster(env=env, service_account_dir=service_account)

    assert credentials.server == server
    assert credentials.token_file == service_account / "token"
    assert credentials.bearer_token() == "sa-token"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda sa: (sa / "token").unlink(), "service account token .*cannot read"),
        (lambda sa: (sa / "token").write_text("\n"), "is empty"),
        (lambda sa: (sa / "ca.crt").unlink(), "service account CA"),
        (lambda sa: (sa / "ca.crt").write_text("not a pem"), "cannot load the CA bundle"),
    ],
    ids=["token-missing", "token-empty", "ca-missing", "ca-garbage"],
)
def test_a_broken_service_account_is_a_config_error(service_account: Path, damage: Any, message: str) -> None:
    damage(service_account)

    with pytest.raises(ConfigError, match=message):
        in_cluster(env={"KUBERNETES_SERVICE_HOST": "10.96.0.1"}, service_account_dir=service_account)


def test_outside_a_pod_without_configuration_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no API server configured"):
        resolve_credentials(server=None, token_file=None, ca_file=None, kubeconfig=None, env={})


def test_server_flags_win_over_a_kubeconfig(tmp_path: Path) -> None:
    credentials = resolve_credentials(
        server="http://127.0.0.1:8080", token_file=None, ca_file=None, kubeconfig=tmp_path / "ignored", env={}
    )

    assert credentials.server == "http://127.0.0.1:8080"
    assert credentials.ssl_context is None


def test_token_and_ca_flags_do_not_mix_with_a_kubeconfig(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not with a kubeconfig"):
        resolve_credentials(server=None, token_file=tmp_path / "t", ca_file=None, kubeconfig=tmp_path / "kc", env={})


def test_token_and_ca_flags_override_the_in_cluster_paths(service_account: Path, tmp_path: Path) -> None:
    token = tmp_path / "other-token"
    token.write_text("other")

    credentials = resolve_credentials(
        server=None,
        token_file=token,
        ca_file=service_account / "ca.crt",
        kubeconfig=None,
        env={"KUBERNETES_SERVICE_HOST": "10.0.0.1"},
        service_account_dir=tmp_path / "nowhere",
    )

    assert credentials.bearer_token() == "other"
