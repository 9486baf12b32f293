"""The pool waits for its node to synchronize with the network (testnet: devnet never
waits). A fake sync source, standing in for the p2p plugin, says the node is behind, then
caught up: meanwhile logins are refused with the reason, no job goes out and the last
jobs are stale; then jobs come back. The same with the pool against a remote node whose
``get_block_template`` answers ``Core is busy`` with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest
from chain_testkit import mine
from stratum_testkit import BASE_SETS, INSTALLED, POOL_KEYS, Client, Pool

from zion_core.chain.keys import WalletKeys
from zion_hookspecs import SyncStatus, hookimpl

pytestmark = pytest.mark.anyio

MINER = str(WalletKeys.from_seed(bytes([9]) * 32).address("testnet"))
OTHER = WalletKeys.from_seed(bytes([11]) * 32)
TESTNET_SETS = [
    *BASE_SETS,
    f"stratum.pool_address={POOL_KEYS.address('testnet')}",
    "stratum.stale_grace_seconds=0.2",
]
BEHIND = SyncStatus(
    synchronized=False, height=1, target_height=500, busy=True, outgoing=2, incoming=1
)
CAUGHT_UP = replace(BEHIND, synchronized=True, busy=False, target_height=1)
REASON = "synchronizing: height 1 of 500 (3 peers)"
LIMIT_S = 30


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


async def wait_for(predicate: Callable[[], bool]) -> None:
    with anyio.fail_after(LIMIT_S):
        while not predicate():
            await anyio.sleep(0.02)


async def refused(pool: Pool) -> str:
    """The error message of a login to ``pool``, which must then close the connection."""
    client = await pool.connect()
    reply = await client.login(MINER)
    assert "result" not in reply, reply
    assert await client.closed()
    message: str = reply["error"]["message"]
    return message


@asynccontextmanager
async def served(
    make_node: Callable[..., Any], plugins: dict[str, Any], sets: Sequence[str] = ()
) -> AsyncIterator[Pool]:
    node = make_node(plugins, network="testnet", installed=INSTALLED, sets=[*TESTNET_SETS, *sets])
    async with anyio.create_task_group() as tg:
        await tg.start(node.serve)
        pool = Pool(node)
        pool.server.sync_poll_seconds = 0.05
        try:
            yield pool
        finally:
            for client in pool.clients:
                await client.aclose()
            node.request_shutdown("test over")


async def test_the_pool_waits_for_its_node(
    make_node: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="zion_plugin_stratum")
    fake = FakeNetwork(BEHIND)
    async with served(make_node, {"net": fake}) as pool:
        server = pool.server
        await wait_for(lambda: server.waiting is not None)
        assert server.waiting == REASON and server.template is None
        assert await refused(pool) == REASON
        assert server.stats()["waiting"] == REASON
        assert f"pool: no jobs until the node is synchronized ({REASON})" in caplog.messages

        fake.status = CAUGHT_UP
        await wait_for(lambda: server.template is not None)
        assert server.waiting is None and server.stats()["waiting"] is None
        miner = await pool.connect()
        reply = await miner.login(MINER)
        assert reply["result"]["status"] == "OK"
        job = miner.job
        assert job is not None and job["height"] == 1

        # behind again: no job for anyone, new logins refused, the last jobs are stale
        server.sync_log_seconds = 0.1
        fake.status = replace(BEHIND, height=2)
        later = "synchronizing: height 2 of 500 (3 peers)"
        await wait_for(lambda: server.waiting == later)
        await wait_for(lambda: f"pool: still waiting for the node ({later})" in caplog.messages)
        assert await refused(pool) == later
        await anyio.sleep(0.3)  # past the stale grace
        share = await miner.submit(2, job, 7, await pool.pow_hash(job, 7))
        assert share["error"]["message"] == "Block expired"
        await mine(pool.node, OTHER)  # a new tip, and still no job
        with pytest.raises(TimeoutError):
            await miner.next_job(timeout=0.5)

        fake.status = CAUGHT_UP  # caught up: a job for the miner still connected
        pushed = await miner.next_job()
        assert pushed["height"] == 2
        share = await miner.submit(3, pushed, 8, await pool.pow_hash(pushed, 8))
        assert share["result"] == {"status": "OK"}
        assert "pool: the node is synchronized; jobs go out again" in caplog.messages


async def test_a_devnet_pool_does_not_wait(make_node: Callable[..., Any]) -> None:
    node = make_node({"net": FakeNetwork(BEHIND)}, installed=INSTALLED, sets=BASE_SETS)
    async with anyio.create_task_group() as tg:
        await tg.start(node.serve)
        pool = Pool(node)
        await pool.ready()
        assert pool.server.waiting is None
        node.request_shutdown("test over")


async def test_a_remote_node_that_is_behind(
    make_node: Callable[..., Any], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="zion_plugin_stratum")
    fake = FakeNetwork(BEHIND)
    node_a = make_node(
        {"net": fake},
        network="testnet",
        installed=["consensus", "sqlite", "randomx", "jsonrpc"],
        data_dir=tmp_path / "node-a",
        sets=["chain.initial_difficulty=1", "randomx.threads=1", "rpc.bind=127.0.0.1:0"],
    )
    async with anyio.create_task_group() as tg:
        await tg.start(node_a.serve)
        url = f"http://127.0.0.1:{node_a.registry('service').get('rpc').port}"
        async with served(make_node, {}, [f"stratum.node={url}"]) as pool:
            server = pool.server
            await wait_for(lambda: server.waiting is not None)
            assert server.waiting == REASON and server.template is None
            assert await refused(pool) == REASON
            assert not any("unreachable" in line for line in caplog.messages)

            fake.status = CAUGHT_UP
            await wait_for(lambda: server.template is not None)
            client: Client = await pool.connect()
            reply = await client.login(MINER)
            assert reply["result"]["status"] == "OK" and server.waiting is None
        node_a.request_shutdown("test over")
