"""Per-miner jobs made from a template's branch, and a new tip broadcast to many miners."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from stratum_testkit import MINER_ADDRESS, served_pool

from zion_core.chain.block import Block, BlockHeader, MinerTx, tree_hash
from zion_plugin_stratum import protocol, server
from zion_plugin_stratum.jobs import BlobMaker, branch_root, tree_branch
from zion_plugin_stratum.server import INLINE_JOBS, Job, Template


def _hashes(rng: random.Random, count: int) -> list[bytes]:
    return [rng.randbytes(32) for _ in range(count)]


@pytest.mark.parametrize("count", range(1, 40))
def test_branch_gives_the_tree_root(count: int) -> None:
    rng = random.Random(count)
    others = _hashes(rng, count - 1)
    branch = tree_branch(others)
    for leaf in _hashes(rng, 3):
        assert branch_root(leaf, branch) == tree_hash([leaf, *others])


def _template(rng: random.Random, txs: int, next_seed: bool) -> Template:
    miner_tx = MinerTx.build(17, 5_000_000, rng.randbytes(32), rng.randbytes(32), reserve_size=8)
    header = BlockHeader(16, 16, 1_700_000_000, rng.randbytes(32), 0)
    block = Block(header, miner_tx, tuple(_hashes(rng, txs)))
    seed, upcoming = rng.randbytes(32), rng.randbytes(32) if next_seed else None
    return Template(
        serial=1,
        block=block,
        height=17,
        difficulty=1000,
        seed_hash=seed,
        next_seed_hash=upcoming,
        txs={},
        maker=BlobMaker(block, height=17, seed_hash=seed, next_seed_hash=upcoming),
    )


@pytest.mark.parametrize(("txs", "next_seed"), [(0, False), (1, True), (5, False), (16, True)])
def test_jobs_match_the_full_block(txs: int, next_seed: bool) -> None:
    rng = random.Random(txs)
    template = _template(rng, txs, next_seed)
    for difficulty in (1, 5000, 5_000_000):
        nonce = rng.randbytes(8)
        full = template.block.with_extra_nonce(nonce)
        maker = template.maker
        assert maker.miner_tx_hash(nonce) == full.miner_tx.hash
        blob = maker.hashing_blob(nonce)
        assert blob == full.hashing_blob()
        job = Job(nonce.hex(), template, nonce, blob, difficulty)
        assert job.block == full
        assert job.line() == protocol.encode(protocol.job_notification(job.to_json()))
    with pytest.raises(ValueError, match="extra nonce"):
        template.maker.hashing_blob(bytes(4))


@pytest.mark.anyio
@pytest.mark.parametrize("chunk", [server.BROADCAST_CHUNK, 16], ids=["one-chunk", "chunks"])
async def test_a_new_tip_reaches_every_miner_with_a_unique_working_job(
    make_node: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(server, "BROADCAST_CHUNK", chunk)
    async with served_pool(make_node) as pool:
        clients = []
        for index in range(INLINE_JOBS + 6):
            client = await pool.connect()
            assert (await client.login(f"{MINER_ADDRESS}.w{index}"))["result"]["status"] == "OK"
            clients.append(client)
        height = clients[0].job["height"]  # type: ignore[index]
        first = clients[0]
        job = first.job
        assert job is not None
        reply = await first.submit(2, job, 7, await pool.pow_hash(job, 7))
        assert reply["result"] == {"status": "OK"}
        jobs = []
        with anyio.fail_after(30):
            for client in clients:
                while True:
                    pushed = await client.next_job()
                    if pushed["height"] == height + 1:
                        jobs.append(pushed)
                        break
        assert len({j["blob"] for j in jobs}) == len(clients)
        assert len({j["job_id"] for j in jobs}) == len(clients)
        last = clients[-1]
        reply = await last.submit(3, jobs[-1], 11, await pool.pow_hash(jobs[-1], 11))
        assert reply["result"] == {"status": "OK"}
        miners, seconds = pool.server.broadcasts[-1]
        assert miners == len(clients) and seconds > 0
        assert pool.server.stats()["last_broadcast"]["miners"] == len(clients)
