"""The pool's live statistics on the node's WebSocket stream, against a served devnet node
running the pool (``stratum``) and the node API (``jsonrpc``): a scripted miner's shares
reach the subscriber that follows its address as ``pool_miner`` messages, the pool's
totals as ``pool_stats``; a block found is published at once; the snapshot builder at
10,000 miners.

The WebSocket client is wsproto over an anyio TCP stream (asyncio and trio alike).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import jsonschema
import pytest
from stratum_testkit import BASE_SETS, INSTALLED, MINER_ADDRESS, Pool
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Ping, Request, TextMessage

from zion_core.chain.keys import WalletKeys
from zion_plugin_stratum.accounting import POOL_STATS_SCHEMA, miner_snapshots
from zion_plugin_stratum.config import StratumConfig
from zion_plugin_stratum.ledger import Balance

pytestmark = pytest.mark.anyio

HIGH = ["chain.initial_difficulty=1000000000", "stratum.start_difficulty=5000"]
"""A network difficulty no share reaches: no blocks."""
STEADY = ["chain.seed_epoch=256", "chain.seed_lag=4", "chain.difficulty_window=128"]
"""Difficulty 1 and one RandomX key for the whole test."""
OTHER_ADDRESS = str(WalletKeys.from_seed(bytes([11]) * 32).address("devnet"))


@asynccontextmanager
async def served_pool_and_rpc(
    make_node: Callable[..., Any], sets: Sequence[str]
) -> AsyncIterator[tuple[Pool, int]]:
    """A served pool node with the node API; the pool and the API's port."""
    node = make_node(
        {}, installed=[*INSTALLED, "jsonrpc"], sets=[*BASE_SETS, "rpc.bind=127.0.0.1:0", *sets]
    )
    async with anyio.create_task_group() as tg:
        await tg.start(node.serve)
        pool = Pool(node)
        try:
            await pool.ready()
            yield pool, int(node.registry("service").get("rpc").port)
        finally:
            for client in pool.clients:
                await client.aclose()
            node.request_shutdown("test over")


class Subscriber:
    """A WebSocket client of ``/ws``: wsproto over an anyio TCP stream."""

    def __init__(self, stream: Any, connection: WSConnection) -> None:
        self.stream = stream
        self.connection = connection
        self.pending: list[Any] = []
        self.text = ""

    @classmethod
    async def open(cls, port: int, target: str) -> Subscriber:
        stream = await anyio.connect_tcp("127.0.0.1", port)
        connection = WSConnection(ConnectionType.CLIENT)
        await stream.send(connection.send(Request(host=f"127.0.0.1:{port}", target=target)))
        client = cls(stream, connection)
        event = await client._next()
        assert isinstance(event, AcceptConnection), f"{target} refused: {event}"
        return client

    async def _next(self) -> Any:
        while not self.pending:
            self.connection.receive_data(await self.stream.receive())
            self.pending.extend(self.connection.events())
        return self.pending.pop(0)

    async def receive(self) -> dict[str, Any]:
        while True:
            event = await self._next()
            if isinstance(event, TextMessage):
                self.text += event.data
                if event.message_finished:
                    message: dict[str, Any] = json.loads(self.text)
                    self.text = ""
                    return message
            elif isinstance(event, Ping):
                await self.stream.send(self.connection.send(event.response()))
            elif isinstance(event, CloseConnection):
                raise AssertionError(f"closed: {event.code} {event.reason}")

    async def until(self, event: str, predicate: Callable[[dict[str, Any]], bool]) -> Any:
        """The data of the first ``event`` message that satisfies ``predicate``."""
        while True:
            message = await self.receive()
            if message["event"] == event and predicate(message["data"]):
                return message["data"]

    async def aclose(self) -> None:
        await self.stream.aclose()


async def test_a_miners_shares_reach_the_subscriber_that_follows_its_address(
    make_node: Callable[..., Any],
) -> None:
    sets = [*HIGH, "stratum.stats_interval_seconds=0.2"]
    async with served_pool_and_rpc(make_node, sets) as (pool, port):
        mine = await Subscriber.open(
            port, f"/ws?events=pool_stats,pool_miner&miner={MINER_ADDRESS}"
        )
        other = await Subscriber.open(port, f"/ws?events=pool_miner&miner={OTHER_ADDRESS}")
        try:
            with anyio.fail_after(60):
                hello = await mine.receive()
                assert hello["event"] == "hello" and hello["data"]["miners"] == [MINER_ADDRESS]
                assert (await other.receive())["event"] == "hello"
                client = await pool.connect()
                await client.login(f"{MINER_ADDRESS}.rig1+1")
                before = time.time()
                for n in range(3):
                    assert client.job is not None
                    reply = await client.submit(
                        10 + n, client.job, n, await pool.pow_hash(client.job, n)
                    )
                    assert reply["result"] == {"status": "OK"}
                stats = await mine.until("pool_stats", lambda d: d["shares"]["accepted"] == 3)
                jsonschema.validate(stats, POOL_STATS_SCHEMA)
                assert stats["workers"] == 1 and stats["miners"] == 1 and stats["hashrate"] > 0
                assert stats["connected"] == {"miners": 1, "workers": 1}
                assert stats["interval_seconds"] == 0.2 and stats["status"] == "OK"
                miner = await mine.until("pool_miner", lambda d: d["shares"] == 3)
                assert miner["address"] == MINER_ADDRESS and miner["hashrate"] > 0
                (rig,) = miner["workers"]
                assert rig["name"] == "rig1" and rig["online"] and rig["shares"] == 3
                assert rig["difficulty"] == 3 and before <= rig["last_share_at"] <= time.time()
                assert miner["last_share_at"] == rig["last_share_at"]
                assert miner["balance"] == {"immature": 0, "credited": 0, "in_flight": 0, "paid": 0}
                assert miner["blocks_found"] == 0
                # the other address has no shares: its follower gets no pool_miner at all
                assert not other.pending
                with anyio.move_on_after(0.5):
                    message = await other.receive()
                    raise AssertionError(f"unexpected {message}")
        finally:
            await mine.aclose()
            await other.aclose()


async def test_a_block_found_is_published_at_once(make_node: Callable[..., Any]) -> None:
    sets = [*STEADY, "stratum.stats_interval_seconds=600"]
    async with served_pool_and_rpc(make_node, sets) as (pool, port):
        ws = await Subscriber.open(port, f"/ws?events=pool_stats,pool_miner&miner={MINER_ADDRESS}")
        try:
            with anyio.fail_after(60):
                assert (await ws.receive())["event"] == "hello"
                client = await pool.connect()
                await client.login(f"{MINER_ADDRESS}.rig1")
                assert client.job is not None
                job = client.job
                reply = await client.submit(2, job, 3, await pool.pow_hash(job, 3))
                assert reply["result"] == {"status": "OK"}  # network difficulty 1: a block
                stats = await ws.until("pool_stats", lambda d: d["blocks"]["found"] == 1)
                assert stats["blocks"]["pending"] == 1
                # the block of the job's height (the template may not have moved on yet)
                assert stats["last_block"]["height"] == job["height"]
                miner = await ws.until("pool_miner", lambda d: d["blocks_found"] == 1)
                assert miner["balance"]["immature"] > 0
        finally:
            await ws.aclose()


def test_snapshot_of_ten_thousand_miners() -> None:
    now = 1_700_000_000.0
    workers = {
        f"Zi{n:05d}.rig{r}": {"shares": 10, "difficulty": 50_000, "hashrate": 83.33}
        for n in range(10_000)
        for r in range(2)
    }
    online = [f"Zi{n:05d}.rig0" for n in range(10_000)]
    balances = [Balance(f"Zi{n:05d}", immature=n, balance=1) for n in range(0, 12_000, 2)]
    last = {key: now - 5 for key in workers}
    started = time.perf_counter()
    miners = miner_snapshots(workers, online, balances, {"Zi00007": 2}, last, now=now)
    elapsed = time.perf_counter() - started
    assert len(miners) == 11_000  # 10,000 hashing, 1,000 more with only a balance
    first = miners["Zi00000"]
    assert first["hashrate"] == 166.66 and first["shares"] == 20
    assert [(w["name"], w["online"]) for w in first["workers"]] == [("rig0", True), ("rig1", False)]
    assert first["last_share_at"] == now - 5 and first["time"] == now
    assert miners["Zi00007"]["blocks_found"] == 2
    assert miners["Zi11000"]["workers"] == [] and miners["Zi11000"]["balance"]["credited"] == 1
    assert elapsed < 5  # well under 0.1 s on a quiet machine


def test_stats_interval_is_a_number_of_seconds() -> None:
    assert StratumConfig().stats_interval_seconds == 10.0
    assert StratumConfig(stats_interval_seconds=1).stats_interval_seconds == 1
    bad_values: list[Any] = [0, 0.05, -1, True, "10", float("nan")]
    for bad in bad_values:
        with pytest.raises(ValueError, match="stats_interval_seconds must be a number"):
            StratumConfig(stats_interval_seconds=bad)
