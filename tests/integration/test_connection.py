"""The operator's API client against a real API server: its HTTP session reads the environment once, not per
request, and still goes through the proxy the environment names (``HTTPS_PROXY``), unless ``NO_PROXY`` exempts
the API server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from kubernetes_asyncio import client, config

from reboot_operator.kube.connection import KEEPALIVE_SECONDS, api_client
from tests.integration.conftest import Cluster


@dataclass
class ConnectProxy:
    """An HTTPS proxy on loopback: tunnels each CONNECT it is asked for, and remembers where to."""

    port: int = 0
    tunnels: list[str] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        verb, target, _ = head.split("\r\n", 1)[0].split(" ", 2)
        if verb != "CONNECT":
            writer.close()
            return
        self.tunnels.append(target)
        host, port = target.rsplit(":", 1)
        upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while chunk := await source.read(65536):
                    sink.write(chunk)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))


@pytest.fixture
async def proxy() -> AsyncIterator[ConnectProxy]:
    found = ConnectProxy()
    server = await asyncio.start_server(found.handle, "127.0.0.1", 0)
    found.port = server.sockets[0].getsockname()[1]
    async with server:
        yield found


async def _configuration(cluster: Cluster) -> client.Configuration:
    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=configuration)
    return configuration


async def test_the_client_talks_to_the_api_server_keeping_its_connections_and_reading_no_environment_per_request(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    async with await api_client(await _configuration(cluster)) as api:
        session = api.rest_client.pool_manager
        assert not session.trust_env, "no proxy variables or .netrc read for each request"
        assert session.connector is not None and session.connector._keepalive_timeout == KEEPALIVE_SECONDS
        assert api.rest_client.proxy is None
        namespace = await client.CoreV1Api(api).read_namespace("default")
        assert namespace.metadata.name == "default"


async def test_the_client_goes_through_the_environments_proxy_read_once(
    cluster: Cluster, proxy: ConnectProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    configuration = await _configuration(cluster)
    async with await api_client(configuration) as api:
        monkeypatch.delenv("HTTPS_PROXY")  # read once, when the client was made
        namespace = await client.CoreV1Api(api).read_namespace("default")
        assert namespace.metadata.name == "default"
    server = configuration.host.removeprefix("https://")
    assert proxy.tunnels and set(proxy.tunnels) == {server}, "the request went through the proxy"


async def test_no_proxy_exempts_the_api_server(
    cluster: Cluster, proxy: ConnectProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    async with await api_client(await _configuration(cluster)) as api:
        assert (await client.CoreV1Api(api).read_namespace("default")).metadata.name == "default"
    assert proxy.tunnels == []
