"""One place that knows how to reach the API server: in-cluster, or a kubeconfig (``KUBECONFIG`` or a path).

Both the operator's own client (kubernetes_asyncio) and Kopf's watches (through ``@kopf.on.login``, where
``handlers.connection_info`` hands it to Kopf) are built from the same loaded configuration, so they always talk to
the same cluster as the same identity.
"""

from __future__ import annotations

import os

from kubernetes_asyncio import client, config


async def load_configuration(kubeconfig: str | None = None) -> client.Configuration:
    configuration = client.Configuration()
    path = kubeconfig or os.environ.get("KUBECONFIG")
    if path is None and "KUBERNETES_SERVICE_HOST" in os.environ:
        config.load_incluster_config(client_configuration=configuration)
    else:
        await config.load_kube_config(config_file=path, client_configuration=configuration)
    return configuration
