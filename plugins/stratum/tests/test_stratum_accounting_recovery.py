"""A pool block survives kill -9 at the worst instant: after the node connected it and
before the ledger recorded it.

``candidate_child.py`` serves a devnet pool node whose Stratum port gets shares from
miner B and then a block from miner A; the accounting writes the block ahead as a
candidate before the node has it. The child is killed with SIGKILL:

- once the node connected the block, with the accounting held from recording it (and
  shares of a third miner written after the block): on restart the block is recorded
  from its candidate, once, found by A, with the credits of the window as it was when
  the block was found (A and B, not the later miner), and credited at maturity;
- while the block is still on its way to the node: on restart the candidate is dropped
  and nothing is credited.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
from accounting_child import open_sqlite_storage
from candidate_child import (
    A_ADDRESS,
    A_DIFFICULTY,
    B_ADDRESS,
    B_SHARES,
    C_ADDRESS,
    NETWORK_DIFFICULTY,
    build_node,
)
from chain_testkit import mine
from stratum_testkit import Pool

from zion_core.chain.keys import WalletKeys
from zion_hookspecs import ShareRecord
from zion_plugin_stratum.accounting import PoolAccounting
from zion_plugin_stratum.ledger import PoolLedger
from zion_plugin_stratum.policies import BlockContext, PplnsPolicy

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

CHILD = Path(__file__).with_name("candidate_child.py")
CHILD_TIMEOUT_S = 120.0
OTHER = WalletKeys.from_seed(bytes([11]) * 32)
MATURITY = 60


def run_child(data_dir: Path, mode: str, backend: str) -> tuple[str, str, str]:
    """Run the child until it prints ``mode``'s line, SIGKILL it; (what, block id, stderr)."""
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(data_dir), mode, backend],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=CHILD.parent,
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.strip())
        lines.put("")  # end of output

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        while True:
            line = lines.get(timeout=CHILD_TIMEOUT_S)
            if not line or line.startswith(("connected ", "candidate ")):
                break
    finally:
        proc.kill()
        proc.wait(timeout=30)
        reader.join(timeout=30)
    assert proc.stderr is not None and proc.stdout is not None
    stderr = proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    assert line, f"the child ended early:\n{stderr}"
    what, _, block_hex = line.partition(" ")
    return what, block_hex, stderr


def open_ledger(data_dir: Path, check_dir: Path) -> Any:
    """The pool ledger's store, opened directly (the node is down)."""
    return open_sqlite_storage(data_dir / "pool.sqlite", check_dir)


@asynccontextmanager
async def restarted(data_dir: Path, *sets: str) -> AsyncIterator[Pool]:
    node = build_node(data_dir, *sets)
    async with anyio.create_task_group() as tg:
        await tg.start(node.serve)
        try:
            pool = Pool(node)
            await pool.ready()
            yield pool
        finally:
            node.request_shutdown("test over")


def accounting_of(pool: Pool) -> PoolAccounting:
    service: PoolAccounting = pool.node.registry("service").get("pool-accounting")
    return service


async def wait_for(predicate: Callable[[], bool], timeout: float = 30) -> None:  # noqa: ASYNC109
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.05)


async def test_a_block_connected_before_the_ledger_recorded_it_is_credited_once(
    tmp_path: Path, backend_name: str
) -> None:
    data_dir = tmp_path / "node"
    what, block_hex, stderr = await anyio.to_thread.run_sync(
        run_child, data_dir, "connected", backend_name
    )
    assert what == "connected" and "Traceback" not in stderr, stderr
    block_id = bytes.fromhex(block_hex)
    with open_ledger(data_dir, tmp_path / "check") as storage:
        stored = PoolLedger(storage, PplnsPolicy(), maturity=MATURITY)
        assert stored.blocks() == [], "the child recorded the block: nothing to recover"
        (candidate,) = stored.candidates()
        assert candidate.block_id == block_id and candidate.finder == A_ADDRESS
        assert C_ADDRESS in {s.address for s in stored.recent_shares()}

    async with restarted(data_dir) as pool:
        chain = pool.chain_service.chain
        assert chain.is_main(block_id)
        height = chain.height
        reward = chain.block(block_id).miner_tx.amount
        window = [ShareRecord(A_ADDRESS, A_DIFFICULTY, 0.0)] + [
            ShareRecord(B_ADDRESS, 1, 0.0) for _ in range(B_SHARES)
        ]
        expected = PplnsPolicy(factor=2, fee_bps=100).split_block(
            reward, window, BlockContext(NETWORK_DIFFICULTY, A_ADDRESS)
        )
        assert set(expected) == {A_ADDRESS, B_ADDRESS}
        accounting = accounting_of(pool)
        ledger = accounting.ledger
        assert ledger is not None
        (found,) = ledger.blocks()
        assert (found.block_id, found.height, found.reward) == (block_id, height, reward)
        assert found.finder == A_ADDRESS and dict(found.credits) == expected
        assert ledger.candidates() == []
        assert ledger.balance(A_ADDRESS).immature == expected[A_ADDRESS]
        assert ledger.balance(C_ADDRESS).immature == 0
        handler = pool.node.registry("rpc_method").get("pool_miner_stats").handler
        stats = await handler({"address": A_ADDRESS})
        assert stats["blocks_found"] == 1
        assert stats["balance"]["immature"] == expected[A_ADDRESS]

    # a second start finds nothing more to do; the blocks to maturity are mined at
    # difficulty 1 (the devnet's starting difficulty, set lower: the test stays quick)
    async with restarted(data_dir, "chain.initial_difficulty=1") as pool:
        ledger = accounting_of(pool).ledger
        assert ledger is not None
        assert [b.block_id for b in ledger.blocks()] == [block_id]
        await mine(pool.node, OTHER, MATURITY)
        await wait_for(lambda: ledger.block(block_id).status == "credited")  # type: ignore[union-attr]
        for address, amount in expected.items():
            balance = ledger.balance(address)
            assert (balance.immature, balance.balance) == (0, amount)
        assert ledger.balance(C_ADDRESS).balance == 0


async def test_a_candidate_the_node_never_got_is_dropped(tmp_path: Path, backend_name: str) -> None:
    data_dir = tmp_path / "node"
    what, block_hex, stderr = await anyio.to_thread.run_sync(
        run_child, data_dir, "submitting", backend_name
    )
    assert what == "candidate" and "Traceback" not in stderr, stderr
    block_id = bytes.fromhex(block_hex)
    with open_ledger(data_dir, tmp_path / "check") as storage:
        stored = PoolLedger(storage, PplnsPolicy(), maturity=MATURITY)
        assert [c.block_id for c in stored.candidates()] == [block_id]

    async with restarted(data_dir) as pool:
        assert pool.chain_service.chain.block(block_id) is None
        ledger = accounting_of(pool).ledger
        assert ledger is not None
        assert ledger.candidates() == [] and ledger.blocks() == []
        assert all(b.immature == 0 and b.balance == 0 for b in ledger.balances())
