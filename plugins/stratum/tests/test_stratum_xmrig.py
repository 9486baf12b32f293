"""Pool mining with stock XMRig 6.16 against the ``stratum`` service of a devnet node on
127.0.0.1: XMRig logs in, its shares are verified and accepted without a single reject,
and a block it finds is connected to the chain, paid to the pool's address. Then, with
the node's own solo miner (paying another address) mining past the coinbase maturity,
the pool's ledger credits XMRig's login address what PPLNS owes it: each pool block's
reward less the pool fee, every share in the window being XMRig's.

XMRig runs only against loopback with the safe flags, in light mode on one thread, and is
killed after at most a minute and a half.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from stratum_testkit import MINER_ADDRESS, POOL_KEYS, served_pool

from zion_core.chain.keys import WalletKeys
from zion_plugin_stratum.accounting import PoolAccounting
from zion_plugin_stratum.policies import BASIS_POINTS

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.xmrig import XmrigUnavailableError, ensure_xmrig, run_xmrig, xmrig_command  # noqa: E402

RUN_LIMIT_S = 75.0
SETS = [
    "chain.initial_difficulty=300",
    "stratum.start_difficulty=30",
    "stratum.min_difficulty=10",
    "stratum.target_share_seconds=1",
]
"""Shares about every fraction of a second and a block every few seconds for XMRig on one
light-mode thread."""
SHARES = 3


def tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(errors="replace") if path.exists() else "(no log)"
    return "\n".join(text.splitlines()[-lines:])


@pytest.mark.slow
@pytest.mark.xmrig
@pytest.mark.anyio
async def test_xmrig_mines_a_block_through_the_pool(
    make_node: Callable[..., Any], tmp_path: Path
) -> None:
    try:
        binary = ensure_xmrig()
    except XmrigUnavailableError as exc:
        pytest.fail(f"XMRig unavailable (tools/xmrig.py fetches it with npm): {exc}")
    log = tmp_path / "xmrig.log"
    async with served_pool(make_node, SETS) as pool:
        server, chain = pool.server, pool.chain_service.chain
        argv = xmrig_command(
            binary,
            url=f"127.0.0.1:{pool.port}",
            user=f"{MINER_ADDRESS}.xmrig",
            threads=1,
            extra=["--randomx-mode=light", f"--log-file={log}"],
            print_time=5,
        )
        with run_xmrig(argv, workdir=tmp_path, output=tmp_path / "stdout.txt") as proc:
            try:
                with anyio.fail_after(RUN_LIMIT_S):
                    while True:
                        stats = server.stats()
                        if stats["blocks_found"] >= 1 and stats["shares_accepted"] >= SHARES:
                            break
                        assert proc.poll() is None, f"XMRig exited\n{tail(log)}"
                        await anyio.sleep(0.2)
            except TimeoutError:
                pytest.fail(
                    f"no block and {SHARES} shares within {RUN_LIMIT_S} s: {server.stats()}\n"
                    f"{tail(log)}"
                )
            stats = server.stats()
        assert stats["shares_rejected"] == {}, stats
        assert chain.height >= 1
        block = chain.block_at(1)
        assert block.miner_tx.key == POOL_KEYS.spend.public_key
        assert block.miner_tx.tx_public_key == POOL_KEYS.view.public_key
        assert f"{MINER_ADDRESS}.xmrig" in stats["workers"]
    text = log.read_text(errors="replace")
    assert "accepted" in text and "rejected" not in text, tail(log)
    assert "duplicate job" not in text, tail(log)


MATURITY = 60
SOLO_ADDRESS = str(WalletKeys.from_seed(bytes([11]) * 32).address("devnet"))
CREDIT_SETS = [
    "chain.initial_difficulty=8",
    "chain.seed_epoch=256",
    "chain.seed_lag=4",
    "chain.difficulty_window=128",
    "stratum.start_difficulty=2",
    "stratum.min_difficulty=1",
    "stratum.target_share_seconds=1",
    f"miner.address={SOLO_ADDRESS}",
    "miner.threads=1",
]
"""A fixed network difficulty of 8 (LWMA keeps the starting difficulty for the first 128
blocks) and one RandomX key: XMRig finds a pool block within a second or two, and the
node's solo miner (light mode, one thread) mines the 60 blocks of the coinbase maturity
in a few tens of seconds."""
MATURE_LIMIT_S = 150.0


@pytest.mark.slow
@pytest.mark.xmrig
@pytest.mark.anyio
async def test_a_block_xmrig_finds_is_credited_to_its_login_after_maturity(
    make_node: Callable[..., Any], tmp_path: Path
) -> None:
    try:
        binary = ensure_xmrig()
    except XmrigUnavailableError as exc:
        pytest.fail(f"XMRig unavailable (tools/xmrig.py fetches it with npm): {exc}")
    log = tmp_path / "xmrig.log"
    async with served_pool(make_node, CREDIT_SETS) as pool:
        server, chain = pool.server, pool.chain_service.chain
        accounting: PoolAccounting = pool.node.registry("service").get("pool-accounting")
        argv = xmrig_command(
            binary,
            url=f"127.0.0.1:{pool.port}",
            user=f"{MINER_ADDRESS}.xmrig",
            threads=1,
            extra=["--randomx-mode=light", f"--log-file={log}"],
            print_time=5,
        )
        with run_xmrig(argv, workdir=tmp_path, output=tmp_path / "stdout.txt") as proc:
            try:
                with anyio.fail_after(RUN_LIMIT_S):
                    while not (accounting.ledger is not None and accounting.ledger.blocks()):
                        assert proc.poll() is None, f"XMRig exited\n{tail(log)}"
                        await anyio.sleep(0.2)
            except TimeoutError:
                pytest.fail(f"no pool block within {RUN_LIMIT_S} s: {server.stats()}\n{tail(log)}")
        # XMRig is stopped: no pool block after this one; the solo miner goes on
        started = anyio.current_time()
        ledger = accounting.ledger
        assert ledger is not None
        await anyio.sleep(1.0)  # a pool block XMRig found as it stopped gets recorded
        found = ledger.blocks()
        last = max(b.height for b in found)
        try:
            with anyio.fail_after(MATURE_LIMIT_S):
                while not all(b.status in ("credited", "orphaned") for b in ledger.blocks()):
                    await anyio.sleep(0.5)
        except TimeoutError:
            pytest.fail(
                f"the solo miner did not reach height {last + MATURITY} within "
                f"{MATURE_LIMIT_S} s (height {chain.height})"
            )
        matured_in = anyio.current_time() - started
        assert chain.height >= last + MATURITY
        blocks = ledger.blocks()
        credited = [b for b in blocks if b.status == "credited"]
        assert credited, blocks
        fee_bps = accounting.config.fee_bps
        owed = 0
        for block in credited:
            reward = chain.block(block.block_id).miner_tx.amount
            assert chain.is_main(block.block_id) and block.reward == reward
            assert block.finder == MINER_ADDRESS
            assert dict(block.credits) == {MINER_ADDRESS: reward - reward * fee_bps // BASIS_POINTS}
            owed += reward - reward * fee_bps // BASIS_POINTS
        handler = pool.node.registry("rpc_method").get("pool_miner_stats").handler
        stats = await handler({"address": MINER_ADDRESS})
        assert stats["balance"] == {"immature": 0, "credited": owed, "in_flight": 0, "paid": 0}
        assert stats["blocks_found"] == len(blocks)
        assert [w["name"] for w in stats["workers"]] == ["xmrig"]
        solo = await handler({"address": SOLO_ADDRESS})
        assert solo["balance"]["credited"] == 0 and solo["blocks_found"] == 0
        print(f"{len(credited)} pool block(s) credited {matured_in:.1f} s after XMRig stopped")
