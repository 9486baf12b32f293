"""Several ports, each with its start difficulty, and TLS with a self-signed certificate."""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.streams.tls import TLSAttribute
from stratum_testkit import MINER_ADDRESS, Client, served_pool

from zion_plugin_stratum.protocol import target_hex
from zion_plugin_stratum.server import TLS_CERT, TLS_KEY
from zion_plugin_stratum.tls import fingerprint

pytestmark = pytest.mark.anyio

PORTS = [
    "chain.initial_difficulty=1000000000",
    'stratum.ports=[{bind = "127.0.0.1:0", tls = true, start_difficulty = 7}, '
    '{bind = "127.0.0.1:0", start_difficulty = 9}]',
]


def _client_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def test_tls_port_login_fingerprint_and_port_difficulties(
    make_node: Callable[..., Any],
) -> None:
    async with served_pool(make_node, PORTS) as pool:
        server = pool.server
        (_, main_port, main_tls), (_, tls_port, tls_on), (_, plain_port, plain_tls) = server.bound
        assert (main_tls, tls_on, plain_tls) == (False, True, False)
        data = Path(pool.node.data_dir)
        assert (data / TLS_CERT).exists() and (data / TLS_KEY).exists()
        assert server.tls_fingerprint == fingerprint(data / TLS_CERT)
        assert len(server.tls_fingerprint) == 64

        stream = await anyio.connect_tcp(
            "127.0.0.1", tls_port, ssl_context=_client_context(), tls_standard_compatible=False
        )
        der = stream.extra(TLSAttribute.peer_certificate_binary)
        assert der is not None and hashlib.sha256(der).hexdigest() == server.tls_fingerprint
        client = Client(stream)
        pool.clients.append(client)
        reply = await client.login(f"{MINER_ADDRESS}.tls")
        assert reply["result"]["status"] == "OK"
        assert reply["result"]["job"]["target"] == target_hex(7)

        plain = Client(await anyio.connect_tcp("127.0.0.1", plain_port))
        pool.clients.append(plain)
        assert (await plain.login())["result"]["job"]["target"] == target_hex(9)
        fixed = Client(await anyio.connect_tcp("127.0.0.1", plain_port))
        pool.clients.append(fixed)
        assert (await fixed.login(f"{MINER_ADDRESS}+11"))["result"]["job"]["target"] == target_hex(
            11
        )
        main = Client(await anyio.connect_tcp("127.0.0.1", main_port))
        pool.clients.append(main)
        assert (await main.login())["result"]["job"]["target"] == target_hex(1)
