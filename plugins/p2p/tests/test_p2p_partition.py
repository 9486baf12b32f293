"""Bad links between nodes: the chaos proxy itself, a partition that heals, a slow lossy link.

Nodes are joined through a :class:`~chaos_proxy.ChaosProxy` on 127.0.0.1, never
directly: the node behind the proxy dials it and does not listen (or is kept from
dialling anything else), so cutting the proxy partitions the network.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import anyio.to_thread
import pytest
from chaos_proxy import RETRANSMIT_SECONDS, ChaosProxy
from p2p_testkit import MINER, TestNet, TestNode, same_tip, wait_for

from zion_core.chain.keys import WalletKeys

pytestmark = pytest.mark.anyio

OTHER = WalletKeys.from_seed(bytes([9]) * 32)
GONE = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


# -- the proxy ----------------------------------------------------------------------------


async def _echo(stream: anyio.abc.SocketStream) -> None:
    async with stream:
        try:
            async for chunk in stream:
                await stream.send(chunk)
        except GONE:
            pass


async def _echo_server(*, task_status: anyio.abc.TaskStatus[int]) -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    async with listener, anyio.create_task_group() as tg:
        task_status.started(int(listener.extra(anyio.abc.SocketAttribute.local_port)))
        await listener.serve(_echo, task_group=tg)


async def _echo_through(
    tg: anyio.abc.TaskGroup, **kwargs: Any
) -> tuple[ChaosProxy, anyio.abc.SocketStream]:
    """A proxy (with ``kwargs``) in front of an echo server, and a connection through it."""
    port = await tg.start(_echo_server)
    proxy = ChaosProxy("127.0.0.1", port, listen_host="127.0.0.1", **kwargs)
    assert await tg.start(proxy.serve) == proxy.port
    return proxy, await anyio.connect_tcp("127.0.0.1", proxy.port)


async def _round_trip(stream: anyio.abc.SocketStream, data: bytes) -> tuple[bytes, float]:
    """Send ``data`` while reading the echo; what came back and how long it took."""
    began = time.monotonic()
    back = bytearray()

    async def send() -> None:
        for start in range(0, len(data), 1000 + len(data) // 50):
            await stream.send(data[start : start + 1000 + len(data) // 50])
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        tg.start_soon(send)
        with anyio.fail_after(20):
            while len(back) < len(data):
                back += await stream.receive()
    return bytes(back), time.monotonic() - began


async def _exchange(stream: anyio.abc.SocketStream, data: bytes) -> bytes:
    """Send ``data`` and read what comes back (raises once the connection is gone)."""
    with anyio.fail_after(5):
        await stream.send(data)
        return await stream.receive()


async def test_proxy_keeps_bytes_intact_and_in_order_through_jitter_and_loss() -> None:
    data = os.urandom(300_000)
    async with anyio.create_task_group() as tg:
        proxy, stream = await _echo_through(tg, latency=0.005, jitter=0.03, loss=0.2, seed=3)
        async with stream:
            back, _ = await _round_trip(stream, data)
        assert back == data
        assert proxy.held_back > 0  # some chunks were "lost" and sent again
        assert proxy.forwarded_bytes == 2 * len(data)
        tg.cancel_scope.cancel()


async def test_proxy_latency_loss_and_rate_are_observed() -> None:
    async with anyio.create_task_group() as tg:
        proxy, stream = await _echo_through(tg, latency=0.1)
        async with stream:
            back, took = await _round_trip(stream, b"ping")
        assert back == b"ping"
        assert took >= 0.2  # one way there, one way back

        proxy.latency, proxy.loss = 0.0, 0.999  # every chunk waits for a retransmission
        async with await anyio.connect_tcp("127.0.0.1", proxy.port) as stream:
            back, took = await _round_trip(stream, b"pong")
        assert back == b"pong"
        assert took >= 2 * RETRANSMIT_SECONDS

        proxy.loss, proxy.rate = 0.0, 200_000.0
        async with await anyio.connect_tcp("127.0.0.1", proxy.port) as stream:
            back, took = await _round_trip(stream, bytes(50_000))
        assert back == bytes(50_000)
        assert took >= 0.25  # 50 kB at 200 kB/s, each way (the two overlap)
        tg.cancel_scope.cancel()


async def test_proxy_cut_closes_and_refuses_then_heal_accepts() -> None:
    async with anyio.create_task_group() as tg:
        proxy, stream = await _echo_through(tg)
        async with stream:
            assert (await _round_trip(stream, b"before"))[0] == b"before"
            assert proxy.connections == 1
            proxy.cut()
            with pytest.raises(GONE):
                await _exchange(stream, b"after the cut")
        assert proxy.connections == 0
        # refused while cut: accepted and reset at once, nothing reaches the server
        async with await anyio.connect_tcp("127.0.0.1", proxy.port) as refused:
            with pytest.raises(GONE):
                await _exchange(refused, b"lost")
        assert proxy.refused >= 1
        proxy.heal()
        async with await anyio.connect_tcp("127.0.0.1", proxy.port) as again:
            assert (await _round_trip(again, b"after"))[0] == b"after"
        assert proxy.accepted == 2
        tg.cancel_scope.cancel()


# -- nodes through the proxy --------------------------------------------------------------


def _peerless(*nodes: TestNode) -> Callable[[], bool]:
    return lambda: all(not n.p2p.established() for n in nodes)


async def test_partition_heals_onto_the_heavier_side(
    make_node: Callable[..., Any], tmp_path: Path
) -> None:
    async with anyio.create_task_group() as tg:
        net = TestNet(make_node, tmp_path, tg)
        a = net.add()
        # B does not listen: A cannot learn an address of B, the proxy is the only link
        b = net.add(["p2p.bind=off"])
        await a.start()
        proxy = ChaosProxy(a.host, a.p2p.listen_port, listen_host="127.0.0.1")
        await tg.start(proxy.serve)
        await a.mine(4)
        await b.start([proxy.address])
        await wait_for(same_tip(a, b), 20, "B to sync A's blocks through the proxy")
        assert b.p2p.outgoing == 1 and a.p2p.incoming == 1

        proxy.cut()
        await wait_for(_peerless(a, b), 10, "both sides to see the link go")
        # A's side: a payment from a coin mined before the split, in A's 2 blocks
        tx = await anyio.to_thread.run_sync(lambda: a.payment(MINER, OTHER, 10**9))
        assert await anyio.to_thread.run_sync(a.chain_service.submit_transaction, tx)
        a_blocks = await a.mine(2)
        assert tx.txid in a.chain.block(a_blocks[0]).tx_hashes
        # B's side: 4 blocks without it (the heavier chain)
        b_blocks = await b.mine(4)
        assert tx.txid not in b.chain_service.mempool
        assert a.height == 6 and b.height == 8

        proxy.heal()
        await wait_for(lambda: a.tip == b.tip == b_blocks[-1], 30, "A to reorganise onto B's chain")
        assert not a.chain.is_main(a_blocks[0])
        assert proxy.accepted == 2  # the link came back as a new connection
        # back from A's disconnected block (the pool follows the tip, a moment later) and
        # announced like a new transaction; B's next block carries it
        await wait_for(
            lambda: tx.txid in a.chain_service.mempool, 5, "the transaction back in A's pool"
        )
        await wait_for(
            lambda: tx.txid in b.chain_service.mempool, 10, "A's returned transaction to reach B"
        )
        carried = await b.mine(1)
        assert tx.txid in b.chain.block(carried[0]).tx_hashes
        await wait_for(same_tip(a, b), 10, "B's block with the transaction to reach A")
        await wait_for(lambda: tx.txid not in a.chain_service.mempool, 5, "A's pool to drop it")
        await net.stop_all()
        tg.cancel_scope.cancel()


async def test_sync_and_relay_through_a_slow_lossy_link(
    make_node: Callable[..., Any], tmp_path: Path
) -> None:
    async with anyio.create_task_group() as tg:
        net = TestNet(make_node, tmp_path, tg)
        a = net.add()
        # B and C dial only their configured peer (no address book picks): A—proxy—B—C
        b = net.add(["p2p.max_outbound=1"])
        c = net.add(["p2p.max_outbound=1"])
        await a.start()
        proxy = ChaosProxy(a.host, a.p2p.listen_port, latency=0.1, loss=0.05, seed=7)
        await tg.start(proxy.serve)
        await a.mine(30)
        await b.start([proxy.address])
        await c.start([b.address])
        await wait_for(same_tip(a, b, c), 30, "30 blocks to reach C through the bad link")
        assert c.height == 30
        for _ in range(3):
            await a.mine(1)
            await wait_for(same_tip(a, b, c), 15, "A's new block to reach C")
        # as compact blocks (counted once the chain service has returned)
        await wait_for(
            lambda: b.p2p.metrics.relayed_in >= 3 and c.p2p.metrics.relayed_in >= 3,
            5,
            "the 3 blocks to count as relayed",
        )
        assert proxy.accepted == 1  # one connection all along: no timeouts, no bans
        assert proxy.held_back > 0
        assert not a.p2p.bans.entries() and not b.p2p.bans.entries()
        await net.stop_all()
        tg.cancel_scope.cancel()
