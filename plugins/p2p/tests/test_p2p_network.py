"""Several nodes on loopback addresses: sync from genesis, relay, partitions, bans."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from p2p_testkit import MINER, TestNet, same_tip, wait_for

from zion_core.chain.keys import WalletKeys

pytestmark = pytest.mark.anyio

OTHER = WalletKeys.from_seed(bytes([9]) * 32)


async def test_sync_from_genesis_then_relay(make_node: Callable[..., Any], tmp_path: Path) -> None:
    async with anyio.create_task_group() as tg:
        net = TestNet(make_node, tmp_path, tg)
        a, b = net.add(), net.add()
        await a.start()
        await a.mine(40)
        await b.start([a.address])
        await wait_for(same_tip(a, b), 60, "B to sync A's 40 blocks")
        assert b.height == 40
        status = b.p2p.sync_status()
        await wait_for(lambda: b.p2p.sync_status().synchronized, 10, "B synchronized")
        assert status.outgoing == 1
        # relay: a new block on A reaches B as a compact block
        await a.mine(1)
        await wait_for(same_tip(a, b), 10, "the new block to reach B")
        await wait_for(lambda: b.p2p.metrics.relayed_in >= 1, 5, "B to count a relayed block")
        # a transaction submitted on B reaches A's mempool, and A's next block carries it
        await b.mine(3)
        await wait_for(same_tip(a, b), 10, "B's blocks to reach A")
        tx = await anyio.to_thread.run_sync(lambda: b.payment(MINER, OTHER, 10**9))
        await anyio.to_thread.run_sync(b.chain_service.submit_transaction, tx)
        await wait_for(lambda: tx.txid in a.chain_service.mempool, 10, "the transaction to reach A")
        await a.mine(1)
        await wait_for(same_tip(a, b), 10, "the block with the transaction to reach B")
        assert tx.txid not in b.chain_service.mempool
        await net.stop_all()


async def test_garbage_sender_is_banned_and_refused(
    make_node: Callable[..., Any], tmp_path: Path
) -> None:
    from p2p_testkit import ScriptedPeer, hello_for

    from zion_plugin_p2p.messages import Goodbye, Hello, network_magic

    async with anyio.create_task_group() as tg:
        net = TestNet(make_node, tmp_path, tg)
        a = net.add()
        await a.start()
        magic = network_magic(a.chain.genesis.id)
        stream = await anyio.connect_tcp(a.host, a.p2p.listen_port, local_host="127.0.0.60")
        peer = ScriptedPeer(stream, magic)
        await peer.send(hello_for(a))
        assert isinstance(await peer.receive(), Hello)
        await stream.send(b"\x00" * 64)  # not a frame: wrong magic
        assert await peer.closed()
        await stream.aclose()
        await wait_for(lambda: a.p2p.bans.is_banned("127.0.0.60"), 5, "the ban")
        assert "magic" in a.p2p.bans.entries()[0].reason
        # a banned address is told so and closed at once
        again = await anyio.connect_tcp(a.host, a.p2p.listen_port, local_host="127.0.0.60")
        refused = ScriptedPeer(again, magic)
        goodbye = await refused.receive()
        assert isinstance(goodbye, Goodbye) and "banned" in goodbye.reason
        await again.aclose()
        await a.stop()
        # the ban survives a restart
        await a.start()
        assert a.p2p.bans.is_banned("127.0.0.60")
        await net.stop_all()


async def test_invalid_block_peer_is_banned_while_honest_sync_goes_on(
    make_node: Callable[..., Any], tmp_path: Path
) -> None:
    """An evil peer claims the most work and serves a block breaking a rule (the miner
    transaction pays too much); the syncing node bans it and syncs from the honest one."""
    import attrs
    from p2p_testkit import ScriptedPeer, hello_for

    from zion_plugin_p2p.messages import (
        BlockEntry,
        Blocks,
        GetBlocks,
        GetHeaders,
        Headers,
        Hello,
        network_magic,
    )

    async with anyio.create_task_group() as tg:
        net = TestNet(make_node, tmp_path, tg)
        a, c = net.add(), net.add()
        await a.start()
        await a.mine(30)
        made = a.chain.template(MINER.spend.public_key, MINER.view.public_key)
        # on A's genesis, a block whose miner transaction pays one unit too much
        genesis = a.chain.genesis
        first = a.chain.block_at(1)
        bad = attrs.evolve(
            first, miner_tx=attrs.evolve(first.miner_tx, amount=first.miner_tx.amount + 1)
        )
        assert bad.header.prev_id == genesis.id and made is not None
        magic = network_magic(genesis.id)
        served = anyio.Event()

        async def evil(stream: Any) -> None:
            peer = ScriptedPeer(stream, magic)
            try:
                await peer.send(
                    hello_for(a, height=10_000, cumulative_difficulty=10**12, top_id=bad.id)
                )
                assert isinstance(await peer.receive(), Hello)
                while True:
                    message = await peer.receive(30)
                    if isinstance(message, GetHeaders):
                        await peer.send(Headers((bad.hashing_blob(),)))
                    elif isinstance(message, GetBlocks):
                        await peer.send(Blocks((BlockEntry(bad, ()),)))
                        served.set()
            except Exception:
                pass
            finally:
                await stream.aclose()

        listener = await anyio.create_tcp_listener(local_host="127.0.0.50", local_port=0)
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        evil_scope = anyio.CancelScope()

        async def serve_evil() -> None:
            async with listener:
                with evil_scope:
                    await listener.serve(evil)

        tg.start_soon(serve_evil)
        await c.start([f"127.0.0.50:{port}", a.address])
        await wait_for(served.is_set, 20, "the evil peer to serve its block")
        await wait_for(lambda: c.p2p.bans.is_banned("127.0.0.50"), 20, "the evil peer's ban")
        await wait_for(same_tip(a, c), 60, "C to sync A's chain")
        assert c.height == 30
        assert not c.p2p.bans.is_banned(a.host)
        await net.stop_all()
        evil_scope.cancel()
