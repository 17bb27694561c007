"""One place that knows how to reach the API server: in-cluster, or a kubeconfig (``KUBECONFIG`` or a path).

Both the operator's own client (kubernetes_asyncio) and Kopf's watches (through ``@kopf.on.login``) are built from
the same loaded configuration, so they always talk to the same cluster as the same identity.
"""

from __future__ import annotations

import os

import kopf
from kubernetes_asyncio import client, config


async def load_configuration(kubeconfig: str | None = None) -> client.Configuration:
    configuration = client.Configuration()
    path = kubeconfig or os.environ.get("KUBECONFIG")
    if path is None and "KUBERNETES_SERVICE_HOST" in os.environ:
        config.load_incluster_config(client_configuration=configuration)
    else:
        await config.load_kube_config(config_file=path, client_configuration=configuration)
    return configuration


def connection_info(configuration: client.Configuration) -> kopf.ConnectionInfo:
    token = configuration.api_key.get("BearerToken") or configuration.api_key.get("authorization")
    if token is not None and token.lower().startswith("bearer "):
        token = token.split(" ", 1)[1]
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert or None,
        insecure=not configuration.verify_ssl,
        scheme="Bearer" if token else None,
        token=token,
        certificate_path=configuration.cert_file or None,
        private_key_path=configuration.key_file or None,
    )
