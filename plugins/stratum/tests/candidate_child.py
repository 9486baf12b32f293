"""The process the pool-block kill -9 test kills: a served devnet pool node, and two miners.

``python candidate_child.py DATA_DIR MODE BACKEND`` serves a node (consensus, sqlite,
randomx, stratum) on ``BACKEND`` (asyncio or trio) and mines through its Stratum port:
miner B submits :data:`B_SHARES` shares that make no block, then miner A finds a block.
The accounting writes the block ahead as a candidate, then:

- MODE ``connected``: the node connects the block; the accounting is stopped from
  recording it (``on_block`` and the tip follower are held), and shares of miner C are
  written to the ledger (they came after the block: they must not count for it). The
  child prints ``connected <block id hex>`` and waits to be killed.
- MODE ``submitting``: the block never reaches the chain (the chain's ``submit_block`` is
  held); the child prints ``candidate <block id hex>`` and waits to be killed.

It prints ``ready`` once the pool serves. Difficulties: network :data:`NETWORK_DIFFICULTY`,
A's shares :data:`A_DIFFICULTY`, B's 1 (fixed through ``ADDRESS+DIFF`` logins).
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from typing import Any

import anyio
from stratum_testkit import BASE_SETS, INSTALLED, MINER_ADDRESS, Pool

from zion_core.chain.keys import WalletKeys
from zion_core.testing import make_node
from zion_hookspecs import ShareRecord
from zion_plugin_stratum import protocol

A_ADDRESS = MINER_ADDRESS
B_ADDRESS = str(WalletKeys.from_seed(bytes([10]) * 32).address("devnet"))
C_ADDRESS = str(WalletKeys.from_seed(bytes([12]) * 32).address("devnet"))
NETWORK_DIFFICULTY = 8
A_DIFFICULTY = 3
B_SHARES = 3
SETS = [
    *BASE_SETS,
    f"chain.initial_difficulty={NETWORK_DIFFICULTY}",
    "chain.seed_epoch=256",
    "chain.seed_lag=4",
    "chain.difficulty_window=128",
]
"""One RandomX key and a fixed network difficulty for the whole test."""
MAX_NONCES = 2000


def build_node(data_dir: Path, *sets: str) -> Any:
    """The pool node the child and the test's restarts use (``sets`` added)."""
    return make_node(installed=INSTALLED, data_dir=data_dir, sets=[*SETS, *sets])


async def find_nonce(
    pool: Pool, job: dict[str, Any], *, block: bool, start: int
) -> tuple[int, bytes]:
    """The first nonce from ``start`` whose hash meets (``block``) or misses the network
    difficulty, and that hash."""
    for nonce in range(start, start + MAX_NONCES):
        pow_hash = await pool.pow_hash(job, nonce)
        if protocol.meets(pow_hash, NETWORK_DIFFICULTY) == block:
            return nonce, pow_hash
    raise RuntimeError("no suitable nonce")


async def main(data_dir: Path, mode: str) -> None:
    node = build_node(data_dir)
    services = node.registry("service")
    accounting = services.get("pool-accounting")
    held = threading.Event()

    async def hold_on_block(template: Any, block: Any, height: int, finder: str) -> None:
        ledger = accounting.ledger
        late = [ShareRecord(C_ADDRESS, 1000, 2.0, "late")]
        await anyio.to_thread.run_sync(
            lambda: ledger.record_shares(
                late, network_difficulty=template.difficulty, block_reward=1
            )
        )
        print("connected", block.id.hex(), flush=True)
        await anyio.sleep_forever()

    def hold_submit(block: Any, txs: Any = None) -> Any:
        print("candidate", block.id.hex(), flush=True)
        held.wait()  # until killed

    if mode == "connected":
        accounting.on_block = hold_on_block
        accounting._settle = lambda restart=False: None  # no tip follower either
    elif mode == "submitting":
        services.get("chain").submit_block = hold_submit
    else:
        raise SystemExit(f"unknown mode {mode!r}")

    async with anyio.create_task_group() as tg:
        await tg.start(node.serve)
        pool = Pool(node)
        await pool.ready()
        print("ready", flush=True)
        miner_b = await pool.connect()
        await miner_b.login(f"{B_ADDRESS}.b+1")
        assert miner_b.job is not None
        nonce = 0
        for n in range(B_SHARES):
            nonce, pow_hash = await find_nonce(pool, miner_b.job, block=False, start=nonce + 1)
            reply = await miner_b.submit(10 + n, miner_b.job, nonce, pow_hash)
            assert reply.get("result") == {"status": "OK"}, reply
        miner_a = await pool.connect()
        await miner_a.login(f"{A_ADDRESS}.a+{A_DIFFICULTY}")
        assert miner_a.job is not None
        nonce, pow_hash = await find_nonce(pool, miner_a.job, block=True, start=0)
        reply = await miner_a.submit(2, miner_a.job, nonce, pow_hash)
        assert reply.get("result") == {"status": "OK"}, reply
        await anyio.sleep_forever()


if __name__ == "__main__":
    logging.disable(logging.WARNING)
    anyio.run(main, Path(sys.argv[1]), sys.argv[2], backend=sys.argv[3])
