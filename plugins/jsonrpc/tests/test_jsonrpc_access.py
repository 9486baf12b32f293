"""Access control and live events of the node API, against a real devnet node served by
``node.serve`` on 127.0.0.1: the admin token, restricted mode, per-IP rate limits, CORS,
and the WebSocket event stream (new tip, pooled transaction, block found, pool and miner
statistics, slow clients, refused queries).

The WebSocket client is wsproto (the sans-IO protocol library Hypercorn uses) over an anyio
TCP stream, so the tests run on asyncio and trio alike.
"""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

from zion_core.chain.block import Block
from zion_core.chain.keys import WalletKeys
from zion_hookspecs import RpcMethod, hookimpl

pytestmark = pytest.mark.anyio

INSTALLED = ["consensus", "sqlite", "randomx", "jsonrpc"]
BASE_SETS = ["chain.initial_difficulty=1", "rpc.bind=127.0.0.1:0", "randomx.threads=1"]
ADDRESS = str(WalletKeys.from_seed(bytes(32)).address("devnet"))


class AdminMethods:
    """A plugin contributing one public and one admin method."""

    @hookimpl
    def zion_register_rpc_methods(self, register: Any, node: Any) -> None:
        register(RpcMethod("public_ping", lambda params: "pong"))
        register(RpcMethod("admin_ping", lambda params: "admin pong", restricted=True))


class Served:
    """A served node and its RPC service."""

    def __init__(self, node: Any) -> None:
        self.node = node
        self.rpc = node.registry("service").get("rpc")
        self.chain = node.registry("service").get("chain")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rpc.port}"


@asynccontextmanager
async def served(
    make_node: Callable[..., Any], sets: Sequence[str] = (), plugins: dict[str, Any] | None = None
) -> AsyncIterator[Served]:
    node = make_node(plugins or {}, installed=INSTALLED, sets=[*BASE_SETS, *sets])
    async with anyio.create_task_group() as tg:
        await tg.start(node.serve)
        try:
            yield Served(node)
        finally:
            node.request_shutdown("test over")


async def call(
    client: httpx.AsyncClient, method: str, params: Any = None, **headers: str
) -> dict[str, Any]:
    payload: dict[str, Any] = {"jsonrpc": "2.0", "id": 7, "method": method}
    if params is not None:
        payload["params"] = params
    response = await client.post("/json_rpc", json=payload, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def mine_one(client: httpx.AsyncClient) -> Block:
    """Fetch a template and submit it as is (difficulty 1: any nonce is a valid block)."""
    template = (await call(client, "get_block_template", {"wallet_address": ADDRESS}))["result"]
    accepted = await call(client, "submit_block", [template["blocktemplate_blob"]])
    assert accepted["result"]["status"] == "OK", accepted
    return Block.from_bytes(bytes.fromhex(template["blocktemplate_blob"]))


# -- admin token and restricted mode ------------------------------------------------------


async def test_admin_methods_need_the_token_from_the_token_file(
    make_node: Callable[..., Any],
) -> None:
    async with served(make_node, plugins={"admin": AdminMethods()}) as node:
        token_file = node.rpc.token_path
        assert token_file is not None and token_file.parent == node.node.data_dir
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        async with httpx.AsyncClient(base_url=node.url) as client:
            assert (await call(client, "public_ping"))["result"] == "pong"
            refused = await call(client, "admin_ping")
            assert refused["error"]["code"] == -32003 and refused["id"] == 7
            assert "Authorization: Bearer" in refused["error"]["message"]
            wrong = await call(client, "admin_ping", Authorization="Bearer not-the-token")
            assert wrong["error"]["code"] == -32003
            ok = await call(client, "admin_ping", Authorization=f"Bearer {token}")
            assert ok["result"] == "admin pong"
            # without restricted mode, mining methods are open (as in monerod)
            await mine_one(client)
    assert not token_file.exists()  # removed when the server stops


async def test_restricted_mode_closes_mining_methods(make_node: Callable[..., Any]) -> None:
    sets = ["rpc.restricted=true", "rpc.admin_token=s3cret-token"]
    async with served(make_node, sets) as node:
        assert node.rpc.token_path is None  # a configured token is not written anywhere
        async with httpx.AsyncClient(base_url=node.url) as client:
            params = {"wallet_address": ADDRESS}
            refused = await call(client, "getblocktemplate", params)
            assert refused["error"]["code"] == -32003
            assert (await call(client, "submit_block", ["00"]))["error"]["code"] == -32003
            assert (await call(client, "get_info"))["result"]["status"] == "OK"
            auth = {"Authorization": "Bearer s3cret-token"}
            template = await call(client, "get_block_template", params, **auth)
            assert template["result"]["height"] == 1
            batch = [
                {"jsonrpc": "2.0", "id": 1, "method": "get_block_count"},
                {"jsonrpc": "2.0", "id": 2, "method": "submit_block", "params": ["00"]},
            ]
            answers = (await client.post("/json_rpc", json=batch)).json()
            assert answers[0]["result"]["count"] == 1
            assert answers[1]["error"]["code"] == -32003


# -- rate limits ---------------------------------------------------------------------------


async def test_clients_over_their_rate_are_refused_with_429(
    make_node: Callable[..., Any],
) -> None:
    # loopback is exempt by default; the test removes the exemption
    sets = ["rpc.rate_limit=1", "rpc.rate_burst=5", "rpc.rate_limit_exempt=[]"]
    async with served(make_node, sets) as node, httpx.AsyncClient(base_url=node.url) as client:
        statuses = []
        for _ in range(8):
            response = await client.get("/get_height")
            statuses.append(response.status_code)
        assert statuses[:5] == [200] * 5
        assert statuses[5:] == [429] * 3
        refused = await client.post("/json_rpc", json={"jsonrpc": "2.0", "method": "x"})
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["error"]["code"] == -32005


async def test_loopback_is_exempt_by_default(make_node: Callable[..., Any]) -> None:
    async with (
        served(make_node, ["rpc.rate_limit=1", "rpc.rate_burst=1"]) as node,
        httpx.AsyncClient(base_url=node.url) as client,
    ):
        for _ in range(10):
            assert (await client.get("/get_height")).status_code == 200


# -- CORS ----------------------------------------------------------------------------------


async def test_cors_is_off_unless_configured(make_node: Callable[..., Any]) -> None:
    preflight = {
        "Origin": "https://explorer.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    async with served(make_node) as node, httpx.AsyncClient(base_url=node.url) as client:
        response = await client.get("/get_height", headers={"Origin": preflight["Origin"]})
        assert "access-control-allow-origin" not in response.headers
        options = await client.options("/json_rpc", headers=preflight)
        assert "access-control-allow-origin" not in options.headers
    async with (
        served(make_node, ['rpc.cors_origins=["https://explorer.example"]']) as node,
        httpx.AsyncClient(base_url=node.url) as client,
    ):
        options = await client.options("/json_rpc", headers=preflight)
        assert options.status_code == 200
        assert options.headers["access-control-allow-origin"] == preflight["Origin"]
        other = await client.get("/get_height", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


# -- WebSocket events ----------------------------------------------------------------------


class WsClient:
    """A minimal WebSocket client: wsproto over an anyio TCP stream."""

    def __init__(self, stream: Any, connection: WSConnection) -> None:
        self.stream = stream
        self.connection = connection
        self.pending: list[Any] = []
        self.text = ""

    @classmethod
    async def open(cls, port: int, target: str = "/ws") -> WsClient | int:
        """A connected client, or the HTTP status with which the handshake was refused."""
        stream = await anyio.connect_tcp("127.0.0.1", port)
        connection = WSConnection(ConnectionType.CLIENT)
        await stream.send(connection.send(Request(host=f"127.0.0.1:{port}", target=target)))
        client = cls(stream, connection)
        while True:
            event = await client._next_protocol_event()
            if isinstance(event, AcceptConnection):
                return client
            if isinstance(event, RejectConnection):
                await stream.aclose()
                return event.status_code

    async def _next_protocol_event(self) -> Any:
        while not self.pending:
            data = await self.stream.receive()
            self.connection.receive_data(data)
            self.pending.extend(self.connection.events())
        return self.pending.pop(0)

    async def receive(self) -> Any:
        """The next JSON message, or ("closed", code, reason)."""
        while True:
            event = await self._next_protocol_event()
            if isinstance(event, TextMessage):
                self.text += event.data
                if event.message_finished:
                    message: dict[str, Any] = json.loads(self.text)
                    self.text = ""
                    return message
            elif isinstance(event, CloseConnection):
                return ("closed", event.code, event.reason)
            elif isinstance(event, Ping):
                await self.stream.send(self.connection.send(event.response()))
            elif isinstance(event, RejectData):
                continue

    async def close(self) -> None:
        await self.stream.aclose()


async def test_websocket_streams_new_tips_transactions_and_found_blocks(
    make_node: Callable[..., Any],
) -> None:
    async with served(make_node) as node:
        ws = await WsClient.open(node.rpc.port)
        assert isinstance(ws, WsClient)
        only_tips = await WsClient.open(node.rpc.port, "/ws?events=new_tip")
        assert isinstance(only_tips, WsClient)
        try:
            with anyio.fail_after(30):
                hello = await ws.receive()
                assert isinstance(hello, dict) and hello["event"] == "hello"
                assert hello["data"]["network"] == "devnet" and hello["data"]["height"] == 0
                assert hello["data"]["events"] == sorted(
                    ["new_tip", "reorg", "mempool_tx", "block_found", "pool_stats"]
                )
                assert hello["data"]["miners"] == []
                async with httpx.AsyncClient(base_url=node.url) as client:
                    block = await mine_one(client)
                tip = await ws.receive()
                assert tip == {
                    "event": "new_tip",
                    "data": {
                        "height": 1,
                        "hash": block.id.hex(),
                        "prev_hash": block.header.prev_id.hex(),
                        "timestamp": block.header.timestamp,
                        "reward": block.miner_tx.amount,
                        "num_txes": 0,
                        "nonce": 0,
                    },
                }
                node.node.emit("block_found", block=block, height=1)
                found = await ws.receive()
                assert found == {
                    "event": "block_found",
                    "data": {"height": 1, "hash": block.id.hex(), "reward": block.miner_tx.amount},
                }
                hello = await only_tips.receive()
                assert isinstance(hello, dict) and hello["data"]["events"] == ["new_tip"]
                tip_only = await only_tips.receive()
                assert isinstance(tip_only, dict) and tip_only["event"] == "new_tip"
        finally:
            await ws.close()
            await only_tips.close()


async def test_a_slow_subscriber_is_dropped_and_the_node_goes_on(
    make_node: Callable[..., Any],
) -> None:
    async with served(make_node, ["rpc.ws_queue=2"]) as node:
        ws = await WsClient.open(node.rpc.port)
        assert isinstance(ws, WsClient)
        try:
            with anyio.fail_after(30):
                assert (await ws.receive())["event"] == "hello"
                while not node.rpc.hub.subscriptions:
                    await anyio.sleep(0.01)
                # ten events in one go on the event loop: the queue of two overflows
                for height in range(10):
                    node.rpc.hub.publish("new_tip", {"height": height})
                assert node.rpc.hub.dropped == 1 and not node.rpc.hub.subscriptions
                messages = []
                while True:
                    message = await ws.receive()
                    if isinstance(message, tuple):
                        break
                    messages.append(message)
                assert message[:2] == ("closed", 1008)
                assert "too slow" in message[2]
                # what was queued (two) and the one handed to the waiting sender
                assert [m["data"]["height"] for m in messages] == [0, 1, 2][: len(messages)]
                async with httpx.AsyncClient(base_url=node.url) as client:
                    await mine_one(client)  # the node is unaffected
        finally:
            await ws.close()


async def test_websocket_limits_and_bad_event_names(make_node: Callable[..., Any]) -> None:
    async with served(make_node, ["rpc.ws_max_clients=1"]) as node:
        first = await WsClient.open(node.rpc.port)
        assert isinstance(first, WsClient)
        try:
            with anyio.fail_after(30):
                assert (await first.receive())["event"] == "hello"
                second = await WsClient.open(node.rpc.port)
                assert second == 403  # refused before the handshake completes
                bad = await WsClient.open(node.rpc.port, "/ws?events=new_tip,nonsense")
                assert bad == 400  # a bad request, answered before the handshake
        finally:
            await first.close()


async def ws_refusal(port: int, target: str) -> tuple[int, dict[str, Any]]:
    """The HTTP status and JSON body with which the handshake for ``target`` was refused."""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        connection = WSConnection(ConnectionType.CLIENT)
        await stream.send(connection.send(Request(host=f"127.0.0.1:{port}", target=target)))
        status, body = 0, b""
        with anyio.fail_after(30):
            while True:
                connection.receive_data(await stream.receive())
                for event in connection.events():
                    if isinstance(event, RejectConnection):
                        status = event.status_code
                        if not event.has_body:
                            return status, {}
                    elif isinstance(event, RejectData):
                        body += event.data
                        if event.body_finished:
                            return status, json.loads(body)
                    else:
                        raise AssertionError(f"{target} was not refused: {event}")


MINERS = [str(WalletKeys.from_seed(bytes([n]) * 32).address("devnet")) for n in range(1, 10)]


async def test_websocket_follows_pool_miners_by_address(make_node: Callable[..., Any]) -> None:
    mine, other = MINERS[:2]
    async with served(make_node) as node:
        port = node.rpc.port
        status, body = await ws_refusal(port, "/ws?events=pool_stats,pool_miner")
        assert status == 400 and body["status"] == "Failed"
        assert body["reason"] == "pool_miner needs miner=ADDRESS (at most 8)"
        status, body = await ws_refusal(port, "/ws?events=pool_miner&miner=ZiNotAnAddress")
        assert status == 400 and body["reason"].startswith("miner ZiNotAnAddress: invalid")
        nine = "&".join(f"miner={address}" for address in MINERS)
        status, body = await ws_refusal(port, f"/ws?{nine}")
        assert status == 400 and body["reason"] == "miner: at most 8 addresses per client"
        ws = await WsClient.open(port, f"/ws?events=pool_stats,pool_miner&miner={mine}")
        everything = await WsClient.open(port, "/ws")
        assert isinstance(ws, WsClient) and isinstance(everything, WsClient)
        try:
            with anyio.fail_after(30):
                hello = await ws.receive()
                assert hello["data"]["events"] == ["pool_miner", "pool_stats"]
                assert hello["data"]["miners"] == [mine]
                assert (await everything.receive())["event"] == "hello"
                while len(node.rpc.hub.subscriptions) < 2:
                    await anyio.sleep(0.01)
                stats = {"hashrate": 3.5, "shares": {"accepted": 7}, "time": 1.0}
                miners = {
                    mine: {"address": mine, "shares": 5},
                    other: {"address": other, "shares": 2},
                }
                node.node.emit("pool_stats", stats=stats, miners=miners)
                assert await ws.receive() == {"event": "pool_stats", "data": stats}
                assert await ws.receive() == {"event": "pool_miner", "data": miners[mine]}
                assert await everything.receive() == {"event": "pool_stats", "data": stats}
                async with httpx.AsyncClient(base_url=node.url) as client:
                    await mine_one(client)
                # a new tip reaches only the client that takes every event; a snapshot
                # without the followed address sends it no pool_miner
                assert (await everything.receive())["event"] == "new_tip"
                node.node.emit("pool_stats", stats=stats, miners={other: miners[other]})
                assert await ws.receive() == {"event": "pool_stats", "data": stats}
                node.node.emit("pool_stats", stats={**stats, "time": 2.0}, miners=miners)
                assert (await ws.receive())["data"]["time"] == 2.0
                assert (await ws.receive())["data"] == miners[mine]
        finally:
            await ws.close()
            await everything.close()


async def test_subscribers_are_closed_with_1001_when_the_node_stops(
    make_node: Callable[..., Any],
) -> None:
    node = make_node({}, installed=INSTALLED, sets=BASE_SETS)
    rpc = node.registry("service").get("rpc")
    async with anyio.create_task_group() as tg:
        await tg.start(node.serve)
        ws = await WsClient.open(rpc.port)
        assert isinstance(ws, WsClient)
        with anyio.fail_after(30):
            assert (await ws.receive())["event"] == "hello"
            node.request_shutdown("test over")
            closed = await ws.receive()
        assert isinstance(closed, tuple) and closed[:2] == ("closed", 1001)
        await ws.close()


# -- cheap reads on the event loop -----------------------------------------------------------


async def test_cheap_reads_answer_while_the_chain_is_being_written(
    make_node: Callable[..., Any],
) -> None:
    async with served(make_node) as node, httpx.AsyncClient(base_url=node.url) as client:
        await mine_one(client)
        held, release = threading.Event(), threading.Event()

        def writer() -> None:  # as submit_block holds the lock while it verifies a block
            with node.chain.lock:
                held.set()
                release.wait(30)

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            assert held.wait(10)
            with anyio.fail_after(10):  # answered from a worker thread, not blocked
                height = (await client.get("/get_height")).json()
                info = (await call(client, "get_info"))["result"]
                header = (await call(client, "get_last_block_header"))["result"]
        finally:
            release.set()
            thread.join()
        assert height["height"] == info["height"] == 2
        assert header["block_header"]["height"] == 1
        block = await mine_one(client)  # the per-tip caches follow the new tip
        header = (await call(client, "get_last_block_header"))["result"]["block_header"]
        assert header["hash"] == block.id.hex() and header["height"] == 2
        info = (await call(client, "get_info"))["result"]
        assert info["top_block_hash"] == block.id.hex()


class SlowMethod:
    """A plugin method that takes its time (a request still open when the node stops)."""

    @hookimpl
    def zion_register_rpc_methods(self, register: Any, node: Any) -> None:
        async def slow(params: Any) -> str:
            await anyio.sleep(30)
            return "late"

        register(RpcMethod("slow", slow))


async def test_cancelling_while_requests_drain_stops_cleanly(
    make_node: Callable[..., Any],
) -> None:
    node = make_node({"slow": SlowMethod()}, installed=INSTALLED, sets=BASE_SETS)
    services = node.registry("service")
    rpc = services.get("rpc")
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            await tg.start(services.get("chain").run)
            await tg.start(rpc.run)

            async def open_request() -> None:
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{rpc.port}") as c:
                    await c.post("/json_rpc", json={"jsonrpc": "2.0", "id": 1, "method": "slow"})

            tg.start_soon(open_request)
            await anyio.sleep(0.5)  # the request is in the server
            tg.start_soon(rpc.drain)  # the server waits for it (graceful_timeout)
            await anyio.sleep(0.5)
            tg.cancel_scope.cancel()  # and is cancelled meanwhile: no error, just stopped
    assert rpc._stopped is not None and rpc._stopped.is_set()
