"""The dashboard on a real devnet node's HTTP server (the jsonrpc plugin) on 127.0.0.1:
the page, its files and ``site.json`` under ``/dashboard/``, next to the API the page
reads; the pool's ports with the ``stratum`` plugin; a clear error without ``jsonrpc``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest

from zion_core import ConfigError
from zion_core.chain.keys import WalletKeys
from zion_plugin_dashboard import MISSING_HTTP_SERVER, PATH
from zion_plugin_dashboard.app import CONTENT_SECURITY_POLICY

NODE = ["consensus", "sqlite", "randomx", "jsonrpc", "dashboard"]
SETS = ["rpc.bind=127.0.0.1:0", "randomx.threads=1", "chain.initial_difficulty=1"]
POOL_ADDRESS = str(WalletKeys.from_seed(bytes([7]) * 32).address("devnet"))
POOL_SETS = [
    "stratum.bind=127.0.0.1:0",
    f"stratum.pool_address={POOL_ADDRESS}",
    "stratum.start_difficulty=1",
    "stratum.min_difficulty=1",
]


@asynccontextmanager
async def served(
    make_node: Callable[..., Any], installed: Sequence[str], sets: Sequence[str]
) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """A served node and an HTTP client of its API's port."""
    node = make_node({}, installed=list(installed), sets=[*SETS, *sets])
    async with anyio.create_task_group() as tg:
        await tg.start(node.serve)
        port = node.registry("service").get("rpc").port
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                yield node, client
        finally:
            node.request_shutdown("test over")


async def rpc(client: httpx.AsyncClient, method: str, params: Any = None) -> dict[str, Any]:
    payload = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}
    response = await client.post("/json_rpc", json=payload)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.anyio
async def test_the_node_serves_the_dashboard_next_to_its_api(
    make_node: Callable[..., Any],
) -> None:
    sets = ["dashboard.title=Test pool", "dashboard.stratum_host=pool.example.org"]
    async with served(make_node, NODE, sets) as (_node, client):
        page = await client.get(PATH)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert 'src="js/main.js"' in page.text
        assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY

        redirect = await client.get("/dashboard", follow_redirects=False)
        assert redirect.status_code in (301, 307, 308)
        assert redirect.headers["location"].endswith("/dashboard/")

        script = await client.get("/dashboard/js/main.js")
        assert script.status_code == 200 and "javascript" in script.headers["content-type"]
        assert (await client.get("/dashboard/js/nothing.js")).status_code == 404

        site = (await client.get("/dashboard/site.json")).json()
        assert site == {
            "title": "Test pool",
            "network": "devnet",
            "stratum_host": "pool.example.org",
            "pool_ports": None,
            "tls_fingerprint": None,
        }

        # what the page reads: the node API on the same origin; no pool on this node
        info = await rpc(client, "get_info")
        assert info["result"]["nettype"] == "devnet"
        assert (await rpc(client, "pool_stats"))["error"]["code"] == -32601


@pytest.mark.anyio
async def test_site_json_names_the_pools_listening_port(make_node: Callable[..., Any]) -> None:
    async with served(make_node, [*NODE, "stratum"], POOL_SETS) as (node, client):
        server = node.registry("service").get("stratum")
        site = (await client.get("/dashboard/site.json")).json()
        assert site["pool_ports"] == [{"port": server.port, "tls": False}]
        assert site["stratum_host"] is None and site["title"] == "ZION pool"
        with anyio.fail_after(30):
            while "error" in (stats := await rpc(client, "pool_stats")):
                await anyio.sleep(0.1)  # the accounting service opens its ledger
        assert stats["result"]["pool_address"] == POOL_ADDRESS
        address = str(WalletKeys.from_seed(bytes([9]) * 32).address("devnet"))
        miner = await rpc(client, "pool_miner_stats", {"address": address})
        assert miner["result"]["shares"] == 0 and miner["result"]["workers"] == []
        invalid = await rpc(client, "pool_miner_stats", {"address": "ZDeTypo"})
        assert invalid["error"]["code"] == -32602  # the page says "not an address"


def test_without_the_http_server_the_node_refuses_to_start(
    make_node: Callable[..., Any],
) -> None:
    with pytest.raises(ConfigError, match="needs the node's HTTP server") as caught:
        make_node({}, installed=["consensus", "sqlite", "randomx", "dashboard"])
    assert str(caught.value) == MISSING_HTTP_SERVER
    assert "--plugin jsonrpc" in str(caught.value)
