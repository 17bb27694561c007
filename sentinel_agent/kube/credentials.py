"""Where the API server is and how to prove who we are: in-cluster, a JSON kubeconfig, or explicit flags.

The agent needs one server URL, one TLS context and usually a bearer token. A token that lives in a file (the
service account token, ``--token-file``, a kubeconfig ``tokenFile``) is read again for every request, because
the kubelet rotates projected tokens in place. Kubeconfigs must be JSON, which is also valid YAML, so kubectl
reads the same file; ``kubectl config view --raw --flatten -o json`` converts one. Exec and auth-provider
plugins are not supported: the agent is meant to run in-cluster.
"""

from __future__ import annotations

import base64
import binascii
import json
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from sentinel_agent.errors import ConfigError

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class Credentials(NamedTuple):
    """The API server's base URL, the TLS context for it (None for plain http) and the bearer token source."""

    server: str
    ssl_context: ssl.SSLContext | None
    token: str | None = None
    token_file: Path | None = None

    def bearer_token(self) -> str | None:
        """The token to send now; a token file is read again each time. Raises OSError if it cannot be read."""
        if self.token_file is not None:
            return self.token_file.read_text(encoding="utf-8").strip()
        return self.token


def resolve_credentials(
    *,
    server: str | None,
    token_file: Path | None,
    ca_file: Path | None,
    kubeconfig: Path | None,
    env: Mapping[str, str],
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
) -> Credentials:
    """Pick the configuration source: ``--server`` first, then a kubeconfig, then the pod's service account."""
    if server is not None:
        return from_flags(server=server, token_file=token_file, ca_file=ca_file)
    if kubeconfig is not None:
        if token_file is not None or ca_file is not None:
            raise ConfigError("--token-file and --ca-file go with --server or in-cluster, not with a kubeconfig")
        return from_kubeconfig(kubeconfig)
    return in_cluster(env=env, service_account_dir=service_account_dir, token_file=token_file, ca_file=ca_file)


def from_flags(*, server: str, token_file: Path | None, ca_file: Path | None) -> Credentials:
    """Credentials from ``--server``, ``--token-file`` and ``--ca-file``."""
    url = _checked_server(server, what="--server")
    if token_file is not None:
        _check_token_file(token_file, what="--token-file")
    context = _tls_context(ca_file=ca_file, what="--ca-file") if url.startswith("https://") else None
    return Credentials(server=url, ssl_context=context, token_file=token_file)


def in_cluster(
    *,
    env: Mapping[str, str],
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
    token_file: Path | None = None,
    ca_file: Path | None = None,
) -> Credentials:
    """Credentials of the pod's service account, as every in-cluster client finds them."""
    host = env.get("KUBERNETES_SERVICE_HOST", "").strip()
    port = env.get("KUBERNETES_SERVICE_PORT", "443").strip() or "443"
    if not host:
        raise ConfigError(
            "no API server configured: KUBERNETES_SERVICE_HOST is unset (not in a pod), "
            "and neither --kubeconfig/KUBECONFIG nor --server is given"
        )
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    token_path = token_file or service_account_dir / "token"
    _check_token_file(token_path, what="service account token")
    context = _tls_context(ca_file=ca_file or service_account_dir / "ca.crt", what="service account CA")
    return Credentials(server=f"https://{host}:{port}", ssl_context=context, token_file=token_path)


def from_kubeconfig(path: Path) -> Credentials:
    """Credentials of the current context of a JSON kubeconfig."""
    where = f"kubeconfig {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{where}: cannot read it: {error.strerror or error}") from error
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(
            f"{where} is not JSON: the agent reads JSON kubeconfigs only "
            "(convert with `kubectl config view --raw --flatten -o json`) or takes --server/--token-file/--ca-file"
        ) from error
    if not isinstance(document, dict):
        raise ConfigError(f"{where}: the top level is not an object")
    context_name = document.get("current-context")
    if not isinstance(context_name, str) or not context_name:
        raise ConfigError(f"{where}: current-context is not set")
    context = _named(document, "contexts", context_name, "context", where=where)
    cluster = _named(document, "clusters", _text(context, "cluster", where=where), "cluster", where=where)
    user_name = context.get("user")
    user = _named(document, "users", user_name, "user", where=where) if user_name else {}

    base = path.parent
    url = _checked_server(_text(cluster, "server", where=where), what=f"{where}: server")
    for unsupported in ("exec", "auth-provider", "username", "password"):
        if unsupported in user:
            raise ConfigError(
                f"{where}: user field {unsupported!r} is not supported; use a token or a client certificate"
            )

    context_tls: ssl.SSLContext | None = None
    if url.startswith("https://"):
        context_tls = _tls_context(
            ca_file=_path_field(cluster, "certificate-authority", base),
            ca_data=_data_field(cluster, "certificate-authority-data", where=where),
            insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
            cert_file=_path_field(user, "client-certificate", base),
            cert_data=_data_field(user, "client-certificate-data", where=where),
            key_file=_path_field(user, "client-key", base),
            key_data=_data_field(user, "client-key-data", where=where),
            what=where,
        )
    token = user.get("token")
    token_file = _path_field(user, "tokenFile", base)
    if token_file is not None:
        _check_token_file(token_file, what=f"{where}: tokenFile")
    return Credentials(
        server=url,
        ssl_context=context_tls,
        token=token if isinstance(token, str) and token else None,
        token_file=token_file,
    )


def _named(document: Mapping[str, Any], section: str, name: object, key: str, *, where: str) -> dict[str, Any]:
    entries = document.get(section)
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("name") == name:
            body = entry.get(key)
            if isinstance(body, dict):
                return body
            raise ConfigError(f"{where}: {section} entry {name!r} has no {key!r} object")
    raise ConfigError(f"{where}: no {section} entry named {name!r}")


def _text(mapping: Mapping[str, Any], key: str, *, where: str) -> str:
    value = mapping.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: {key!r} is missing")
    return value


def _path_field(mapping: Mapping[str, Any], key: str, base: Path) -> Path | None:
    value = mapping.get(key)
    if not isinstance(value, str) or not value:
        return None
    path = Path(value)
    return path if path.is_absolute() else base / path


def _data_field(mapping: Mapping[str, Any], key: str, *, where: str) -> bytes | None:
    value = mapping.get(key)
    if not isinstance(value, str) or not value:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ConfigError(f"{where}: {key} is not valid base64") from error


def _checked_server(server: str, *, what: str) -> str:
    parts = urlsplit(server.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"{what}: {server!r} is not an http(s) URL with a host")
    return server.strip().rstrip("/")


def _check_token_file(path: Path, *, what: str) -> None:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ConfigError(f"{what} {path}: cannot read it: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise ConfigError(f"{what} {path}: not a text token") from error
    if not token:
        raise ConfigError(f"{what} {path} is empty")


def _tls_context(
    *,
    what: str,
    ca_file: Path | None = None,
    ca_data: bytes | None = None,
    insecure: bool = False,
    cert_file: Path | None = None,
    cert_data: bytes | None = None,
    key_file: Path | None = None,
    key_data: bytes | None = None,
) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(
            cafile=str(ca_file) if ca_file is not None else None,
            cadata=ca_data.decode("ascii") if ca_data is not None else None,
        )
    except (OSError, ssl.SSLError, UnicodeDecodeError) as error:
        source = ca_file if ca_file is not None else "certificate-authority-data"
        raise ConfigError(f"{what} {source}: cannot load the CA bundle: {_reason(error)}") from error
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert_file is not None or cert_data is not None:
        _load_client_certificate(context, cert_file, cert_data, key_file, key_data, what=what)
    return context


def _load_client_certificate(
    context: ssl.SSLContext,
    cert_file: Path | None,
    cert_data: bytes | None,
    key_file: Path | None,
    key_data: bytes | None,
    *,
    what: str,
) -> None:
    # ssl loads certificates from files only; inline data goes through a private directory removed at once.
    import tempfile  # here, not at the top: only inline client certificates need it, and it costs memory.

    with tempfile.TemporaryDirectory(prefix="rollboot-agent-") as scratch:
        if cert_file is None:
            cert_file = Path(scratch) / "client.crt"
            cert_file.write_bytes(cert_data or b"")
        if key_file is None and key_data is not None:
            key_file = Path(scratch) / "client.key"
            key_file.write_bytes(key_data)
        try:
            context.load_cert_chain(str(cert_file), str(key_file) if key_file is not None else None)
        except (OSError, ssl.SSLError) as error:
            raise ConfigError(f"{what}: cannot load the client certificate and key: {_reason(error)}") from error


def _reason(error: BaseException) -> str:
    if isinstance(error, ssl.SSLError):
        return error.reason or str(error)
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)
