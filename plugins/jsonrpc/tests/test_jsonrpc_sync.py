"""The node API and the node's sync status: ``get_info`` reports it, templates and blocks
wait for it (``Core is busy`` with the reason) outside devnet.

A testnet node (consensus, sqlite, randomx, jsonrpc) on 127.0.0.1 with a fake sync source
whose status the test sets, standing in for the p2p plugin.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any, Literal

import anyio
import pytest
from test_jsonrpc_node import Client

from zion_core.chain.keys import WalletKeys
from zion_hookspecs import SyncStatus, hookimpl

pytestmark = pytest.mark.anyio

INSTALLED = ["consensus", "sqlite", "randomx", "jsonrpc"]
SETS = ["chain.initial_difficulty=1", "rpc.bind=127.0.0.1:0", "randomx.threads=1"]
KEYS = WalletKeys.from_seed(bytes(32))
BEHIND = SyncStatus(
    synchronized=False, height=120, target_height=500, busy=True, outgoing=2, incoming=1
)
REASON = "synchronizing: height 120 of 500 (3 peers)"


class FakeNetwork:
    """A sync source (and the plugin registering it) whose status the test sets."""

    name = "p2p"

    def __init__(self, status: SyncStatus) -> None:
        self.status = status

    def sync_status(self) -> SyncStatus:
        return self.status

    @hookimpl
    def zion_register_sync_sources(self, register: Any, node: Any) -> None:
        register(self)


@asynccontextmanager
async def served(
    make_node: Callable[..., Any],
    network: str,
    plugins: dict[str, Any],
    sets: Sequence[str] = (),
) -> AsyncIterator[Client]:
    node = make_node(plugins, network=network, installed=INSTALLED, sets=[*SETS, *sets])
    services = node.registry("service")
    rpc_service = services.get("rpc")
    async with anyio.create_task_group() as tg:
        await tg.start(services.get("chain").run)
        await tg.start(rpc_service.run)
        client = Client(rpc_service.port)
        try:
            yield client
        finally:
            client.connection.close()
            with anyio.fail_after(10):
                await rpc_service.drain()
            tg.cancel_scope.cancel()


def template_params(network: Literal["testnet", "devnet"]) -> dict[str, Any]:
    return {"wallet_address": str(KEYS.address(network)), "reserve_size": 8}


async def test_testnet_templates_wait_for_sync(make_node: Callable[..., Any]) -> None:
    fake = FakeNetwork(BEHIND)
    async with served(make_node, "testnet", {"net": fake}) as rpc:
        info = await rpc.result("get_info")
        assert info["synchronized"] is False and info["busy_syncing"] is True
        assert info["height"] == 1 and info["target_height"] == 500
        assert info["outgoing_connections_count"] == 2
        assert info["incoming_connections_count"] == 1
        assert (await rpc.result("get_version"))["target_height"] == 500
        for method in ("get_block_template", "getblocktemplate"):
            error = await rpc.error(method, template_params("testnet"))
            assert error == {"code": -9, "message": "Core is busy", "data": {"reason": REASON}}
        error = await rpc.error("submit_block", ["00"])
        assert error["code"] == -9 and error["data"]["reason"] == REASON
        _, rest_info = await rpc.request("GET", "/get_info")
        assert rest_info["synchronized"] is False

        fake.status = replace(BEHIND, height=1, target_height=1, synchronized=True, busy=False)
        info = await rpc.result("get_info")
        assert info["synchronized"] is True and info["busy_syncing"] is False
        assert info["target_height"] == 1  # never below height
        template = await rpc.result("getblocktemplate", template_params("testnet"))
        assert template["height"] == 1
        error = await rpc.error("submit_block", ["00"])
        assert error["code"] == -6  # the blob is looked at now


async def test_devnet_and_mine_before_sync_serve_templates(
    make_node: Callable[..., Any],
) -> None:
    async with served(make_node, "devnet", {"net": FakeNetwork(BEHIND)}) as rpc:
        info = await rpc.result("get_info")
        assert info["synchronized"] is False and info["target_height"] == 500
        template = await rpc.result("get_block_template", template_params("devnet"))
        assert template["height"] == 1
    plugins = {"net": FakeNetwork(BEHIND)}
    sets = ["node.mine_before_sync=true"]
    async with served(make_node, "testnet", plugins, sets) as rpc:
        assert (await rpc.result("get_info"))["synchronized"] is False
        template = await rpc.result("get_block_template", template_params("testnet"))
        assert template["height"] == 1


async def test_a_node_without_a_network_plugin_is_synchronized(
    make_node: Callable[..., Any],
) -> None:
    async with served(make_node, "testnet", {}) as rpc:
        info = await rpc.result("get_info")
        assert info["synchronized"] is True and info["busy_syncing"] is False
        assert info["target_height"] == info["height"] == 1
        assert info["outgoing_connections_count"] == info["incoming_connections_count"] == 0
        await rpc.result("get_block_template", template_params("testnet"))
