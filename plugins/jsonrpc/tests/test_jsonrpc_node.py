"""The jsonrpc plugin against a real devnet node (consensus, sqlite, randomx) on 127.0.0.1.

httpx is not installed in this environment, so the tests speak HTTP through the standard
library's ``http.client`` (one keep-alive connection, used from a worker thread).
"""

from __future__ import annotations

import http.client
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest

from zion_core import PluginLoadError
from zion_core.chain.block import Block
from zion_core.chain.keys import WalletKeys
from zion_hookspecs import RpcMethod, hookimpl

pytestmark = pytest.mark.anyio

INSTALLED = ["consensus", "sqlite", "randomx", "jsonrpc"]
SETS = [
    "chain.initial_difficulty=1",
    "rpc.bind=127.0.0.1:0",
    "randomx.threads=1",
    "rpc.max_body_bytes=2048",
]
ADDRESS = str(WalletKeys.from_seed(bytes(32)).address("devnet"))


class Client:
    """A keep-alive HTTP/1.1 client for one ``host:port``."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def _request(self, method: str, path: str, body: bytes | None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        data = response.read()
        return response.status, json.loads(data)

    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
        return await anyio.to_thread.run_sync(self._request, method, path, body)

    async def call(self, method: str, params: Any = None) -> dict[str, Any]:
        """One JSON-RPC call; the whole response object."""
        payload: dict[str, Any] = {"jsonrpc": "2.0", "id": "0", "method": method}
        if params is not None:
            payload["params"] = params
        status, response = await self.request("POST", "/json_rpc", json.dumps(payload).encode())
        assert status == 200
        assert response["jsonrpc"] == "2.0" and response["id"] == "0"
        result: dict[str, Any] = response
        return result

    async def result(self, method: str, params: Any = None) -> Any:
        response = await self.call(method, params)
        assert "error" not in response, response
        return response["result"]

    async def error(self, method: str, params: Any = None) -> dict[str, Any]:
        response = await self.call(method, params)
        assert "result" not in response, response
        error: dict[str, Any] = response["error"]
        return error


@pytest.fixture
async def rpc(make_node: Callable[..., Any]) -> AsyncIterator[Client]:
    node = make_node({"extra": ExtraMethods()}, installed=INSTALLED, sets=SETS)
    services = node.registry("service")
    rpc_service = services.get("rpc")
    async with anyio.create_task_group() as tg:
        await tg.start(services.get("chain").run)
        await tg.start(rpc_service.run)
        assert isinstance(rpc_service.port, int) and rpc_service.port > 0
        client = Client(rpc_service.port)
        try:
            yield client
        finally:
            client.connection.close()
            with anyio.fail_after(10):
                await rpc_service.drain()
            tg.cancel_scope.cancel()


class ExtraMethods:
    """A plugin contributing one synchronous and one asynchronous method."""

    @hookimpl
    def zion_register_rpc_methods(self, register: Any, node: Any) -> None:
        register(RpcMethod("echo_params", lambda params: {"echo": params}, aliases=("echoparams",)))

        async def slow(params: Any) -> str:
            await anyio.lowlevel.checkpoint()
            return "done"

        register(RpcMethod("async_method", slow))


async def test_chain_state_is_consistent(rpc: Client) -> None:
    info = await rpc.result("get_info")
    count = await rpc.result("get_block_count")
    status, height = await rpc.request("GET", "/getheight")
    assert status == 200
    assert info["status"] == count["status"] == height["status"] == "OK"
    assert info["untrusted"] is False and info["synchronized"] is True
    assert info["height"] == count["count"] == height["height"] == 1  # genesis only
    assert info["top_block_hash"] == height["hash"]
    assert info["nettype"] == "devnet" and info["mainnet"] is False
    assert info["difficulty"] == 1 and info["wide_difficulty"] == "0x1"
    _, rest_info = await rpc.request("GET", "/get_info")
    assert rest_info["top_block_hash"] == info["top_block_hash"]
    assert await rpc.result("on_getblockhash", [0]) == height["hash"]
    assert await rpc.result("getblockcount") == count  # squashed alias
    fee = await rpc.result("get_fee_estimate")
    assert fee["fee"] > 0
    # methods from another plugin, aliases and awaitables included
    assert await rpc.result("echoparams", [1, 2]) == {"echo": [1, 2]}
    assert await rpc.result("async_method") == "done"


async def test_mine_through_the_template_and_submit(rpc: Client) -> None:
    template = await rpc.result("getblocktemplate", {"wallet_address": ADDRESS, "reserve_size": 8})
    assert template["status"] == "OK" and template["untrusted"] is False
    assert template["height"] == 1 and template["difficulty"] == 1
    assert template["wide_difficulty"] == "0x1" and template["difficulty_top64"] == 0
    assert template["next_seed_hash"] == ""
    _, tip = await rpc.request("GET", "/get_height")
    assert template["prev_hash"] == template["seed_hash"] == tip["hash"]
    assert template["seed_height"] == 0
    blob = bytes.fromhex(template["blocktemplate_blob"])
    block = Block.from_bytes(blob)
    assert template["blockhashing_blob"] == block.hashing_blob().hex()
    assert template["expected_reward"] == block.miner_tx.amount > 0
    offset = template["reserved_offset"]
    assert offset == block.reserved_offset and blob[offset : offset + 8] == bytes(8)

    # difficulty 1: the template, nonce 0, is already a valid block
    accepted = await rpc.result("submitblock", [template["blocktemplate_blob"]])
    assert accepted["status"] == "OK" and accepted["block_id"] == block.id.hex()
    _, after = await rpc.request("GET", "/getheight")
    assert after == {"height": 2, "hash": block.id.hex(), "status": "OK", "untrusted": False}

    header = (await rpc.result("get_last_block_header"))["block_header"]
    assert header["hash"] == block.id.hex() and header["height"] == 1
    assert header["prev_hash"] == tip["hash"] and header["depth"] == 0
    assert header["reward"] == template["expected_reward"]
    assert header["timestamp"] == block.header.timestamp and header["nonce"] == 0
    assert header["miner_tx_hash"] == block.miner_tx.hash.hex()
    assert header["num_txes"] == 0 and header["orphan_status"] is False
    assert header["difficulty"] == 1 and header["wide_cumulative_difficulty"] == "0x2"
    by_height = await rpc.result("get_block_header_by_height", {"height": 1})
    by_hash = await rpc.result("getblockheaderbyhash", {"hash": block.id.hex()})
    assert by_height["block_header"] == by_hash["block_header"] == header
    headers = await rpc.result("get_block_headers_range", {"start_height": 0, "end_height": 1})
    assert [h["height"] for h in headers["headers"]] == [0, 1]
    full = await rpc.result("get_block", {"height": 1})
    assert full["blob"] == template["blocktemplate_blob"] and full["tx_hashes"] == []
    assert json.loads(full["json"])["miner_tx"]["vin"] == [{"gen": {"height": 1}}]

    # xmrig's form: the extra nonce's bytes fill the reserved space
    xmrig = await rpc.result(
        "get_block_template", {"wallet_address": ADDRESS, "extra_nonce": "ab" * 4}
    )
    mined = bytes.fromhex(xmrig["blocktemplate_blob"])
    assert xmrig["height"] == 2
    assert mined[xmrig["reserved_offset"] : xmrig["reserved_offset"] + 4] == b"\xab" * 4

    # a known block again is fine; a block on an unknown parent is not accepted
    again = await rpc.result("submit_block", [template["blocktemplate_blob"]])
    assert again["status"] == "OK"
    orphan = Block.from_bytes(blob)
    orphan = Block(
        header=orphan.header.__class__(
            major_version=orphan.header.major_version,
            minor_version=orphan.header.minor_version,
            timestamp=orphan.header.timestamp,
            prev_id=b"\x11" * 32,
            nonce=0,
        ),
        miner_tx=orphan.miner_tx,
    )
    rejected = await rpc.error("submit_block", [orphan.to_bytes().hex()])
    assert rejected["code"] == -7 and rejected["message"] == "Block not accepted"
    assert rejected["data"]["error"] == "OrphanBlockError"


async def test_errors_have_monero_codes(rpc: Client) -> None:
    assert (await rpc.error("no_such_method"))["code"] == -32601
    bad = await rpc.error("get_block_template", {"wallet_address": "not an address"})
    assert bad == {"code": -4, "message": "Failed to parse wallet address"}
    assert (await rpc.error("get_block_template", {}))["code"] == -32602
    assert (await rpc.error("submit_block", ["00ff"])) == {
        "code": -6,
        "message": "Wrong block blob",
    }
    assert (await rpc.error("submit_block", ["zz"]))["code"] == -6
    assert (await rpc.error("get_block_header_by_height", {"height": 5}))["code"] == -2
    assert (await rpc.error("on_get_block_hash", [7]))["code"] == -2

    status, parsed = await rpc.request("POST", "/json_rpc", b"{not json")
    assert status == 200 and parsed["error"]["code"] == -32700
    status, invalid = await rpc.request("POST", "/json_rpc", b'{"jsonrpc": "2.0", "id": 1}')
    assert invalid["error"]["code"] == -32600 and invalid["id"] == 1
    status, sent = await rpc.request(
        "POST", "/send_raw_transaction", json.dumps({"tx_as_hex": "deadbeef"}).encode()
    )
    assert status == 200 and sent["status"] == "Failed" and sent["reason"]
    assert sent["sanity_check_failed"] is True and sent["double_spend"] is False
    _, missing = await rpc.request(
        "POST", "/get_transactions", json.dumps({"txs_hashes": ["00" * 32]}).encode()
    )
    assert missing["status"] == "OK" and missing["missed_tx"] == ["00" * 32]
    _, pool = await rpc.request("GET", "/get_transaction_pool")
    assert pool["status"] == "OK" and pool["transactions"] == []

    # last: the server closes a connection whose oversized body it did not read
    status, huge = await rpc.request("POST", "/json_rpc", b"[" + b"1," * 4096 + b"1]")
    assert status == 413 and huge["error"]["code"] == -32600


async def test_the_chain_backends_are_loaded_for_the_api(make_node: Callable[..., Any]) -> None:
    # sqlite and randomx are installed but not asked for: jsonrpc needs them, so they load
    node = make_node(
        installed=["consensus", "sqlite", "randomx", "jsonrpc"],
        sets=["rpc.bind=127.0.0.1:0"],
        requested=["jsonrpc"],
    )
    assert {"sqlite", "randomx"} <= set(node.plugin_names())


async def test_without_a_chain_the_api_fails_clearly(make_node: Callable[..., Any]) -> None:
    with pytest.raises(PluginLoadError, match="plugin 'jsonrpc' needs a storage backend"):
        make_node(installed=["consensus", "jsonrpc"], sets=["rpc.bind=127.0.0.1:0"])
