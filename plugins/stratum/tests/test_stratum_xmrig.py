"""Pool mining with stock XMRig 6.16 against the ``stratum`` service of a devnet node on
127.0.0.1: XMRig logs in, its shares are verified and accepted without a single reject,
and a block it finds is connected to the chain, paid to the pool's address.

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
