"""The node's solo miner (``[miner] address``): a devnet node (consensus, sqlite, randomx)
that mines its own blocks, light mode, one hashing thread."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from zion_plugin_randomx.config import SoloMinerConfig
from zion_plugin_randomx.solo import SoloMiner, block_target, zion_amount

from zion_core import ConfigError
from zion_core.chain.block import Block
from zion_core.chain.keys import WalletKeys
from zion_hookspecs import hookimpl

pytestmark = pytest.mark.anyio

INSTALLED = ["consensus", "sqlite", "randomx"]
KEYS = WalletKeys.from_seed(bytes(range(32)))
ADDRESS = str(KEYS.address("devnet"))
MINE_LIMIT_S = 120
"""Generous for a loaded 2-core machine; eight blocks take a few seconds."""
STOP_LIMIT_S = 5
BLOCKS = 8


class FoundListener:
    """Records ``block_found`` events."""

    def __init__(self) -> None:
        self.found: list[tuple[Block, int]] = []

    @hookimpl
    def zion_block_found(self, block: Any, height: int) -> None:
        self.found.append((block, height))


def sets(*extra: str) -> list[str]:
    return [
        f"miner.address={ADDRESS}",
        "miner.threads=1",
        "randomx.threads=1",
        "randomx.mode=light",
        *extra,
    ]


async def test_node_mines_blocks_to_the_configured_address(
    make_node: Callable[..., Any],
) -> None:
    listener = FoundListener()
    # a RandomX key switch every 4 blocks (seed lag 2): blocks 7 and 8 use a new key
    node = make_node(
        {"listener": listener},
        installed=INSTALLED,
        sets=sets("chain.initial_difficulty=1", "chain.seed_epoch=4", "chain.seed_lag=2"),
    )
    services = node.registry("service")
    chain_service = services.get("chain")
    miner = services.get("miner")
    assert isinstance(miner, SoloMiner)
    assert miner.threads == 1 and miner.rx_config.mode == "light"
    async with anyio.create_task_group() as tg:
        await tg.start(chain_service.run)
        await tg.start(miner.run)
        with anyio.fail_after(MINE_LIMIT_S):
            while len(listener.found) < BLOCKS:
                await anyio.sleep(0.05)
        found = listener.found[:BLOCKS]
        chain = chain_service.chain
        stored = await anyio.to_thread.run_sync(
            lambda: [(chain.is_main(b.id), chain.block_at(h)) for b, h in found]
        )
        tip_height = chain.tip.height
        tg.cancel_scope.cancel()
    assert miner.blocks_found >= BLOCKS
    assert tip_height >= BLOCKS
    for (block, _), (main, at_height) in zip(found, stored, strict=True):
        assert main and at_height == block
        # the miner transaction pays the configured address's keys
        assert block.miner_tx.key == KEYS.address("devnet").spend_key
        assert block.miner_tx.tx_public_key == KEYS.address("devnet").view_key
    assert [height for _, height in found] == list(range(1, BLOCKS + 1))
    # past the key switch: the threads hash with the seed of the template (block 4 or 8)
    assert miner.work is not None and miner.work.height >= 7
    assert miner.key == miner.work.seed_hash
    assert miner.key in {found[3][0].id, found[7][0].id}
    snapshot = miner.snapshot()
    assert snapshot["address"] == ADDRESS and snapshot["blocks_found"] == miner.blocks_found
    assert snapshot["hashes"] >= 3
    assert miner.hashers is not None and miner.hashers.running == 0
    status = node.registry("rpc_method").get("mining_status").handler(None)
    assert status["status"] == "OK" and status["active"] is True
    assert status["address"] == ADDRESS and status["threads_count"] == 1
    assert status["blocks_found"] == miner.blocks_found and status["block_target"] == 10
    assert status["pow_algorithm"] == "RandomX" and status["block_reward"] > 0


async def test_cancel_stops_the_hashing_threads_promptly(make_node: Callable[..., Any]) -> None:
    node = make_node(installed=INSTALLED, sets=sets("chain.initial_difficulty=1000000000000"))
    services = node.registry("service")
    miner = services.get("miner")
    async with anyio.create_task_group() as tg:
        await tg.start(services.get("chain").run)
        await tg.start(miner.run)
        with anyio.fail_after(MINE_LIMIT_S):
            while miner.meter.total < 2:  # the key is built and the thread hashes
                await anyio.sleep(0.05)
        assert miner.hashers.running == 1
        assert miner.work is not None and miner.work.height == 1
        cancelled = time.monotonic()
        tg.cancel_scope.cancel()
    assert time.monotonic() - cancelled < STOP_LIMIT_S
    assert miner.hashers.running == 0
    hashes = miner.meter.total
    await anyio.sleep(0.3)
    assert miner.meter.total == hashes  # nothing hashes any more
    assert miner.blocks_found == 0
    assert miner.backend is not None and miner.backend._keys is None  # memory freed


def test_no_miner_without_an_address(make_node: Callable[..., Any]) -> None:
    node = make_node(installed=INSTALLED)
    assert node.config_section("miner") == SoloMinerConfig()
    assert "miner" not in node.registry("service").names()
    status = node.registry("rpc_method").get("mining_status").handler(None)
    assert status["active"] is False and status["speed"] == 0 and status["status"] == "OK"


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("nope", r"bad value in \[miner\].*address: invalid address"),
        (ADDRESS[:-1] + ("A" if ADDRESS[-1] != "A" else "B"), r"address.*mistyped"),
        (str(KEYS.address("mainnet")), r"\[miner\].*mainnet"),
    ],
)
def test_bad_address_is_a_config_error(
    make_node: Callable[..., Any], address: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        make_node(installed=INSTALLED, sets=[f"miner.address={address}"])


def test_bad_threads_is_a_config_error(make_node: Callable[..., Any]) -> None:
    with pytest.raises(ConfigError, match="'threads' must be >= 0"):
        make_node(installed=INSTALLED, sets=sets("miner.threads=-1"))


async def test_miner_without_a_chain_fails_to_start(make_node: Callable[..., Any]) -> None:
    node = make_node(installed=["consensus", "randomx"], sets=sets())
    miner = node.registry("service").get("miner")
    with pytest.raises(ConfigError, match="keeps no chain"):
        await miner.run(task_status=anyio.TASK_STATUS_IGNORED)


def test_block_target_is_exact() -> None:
    for difficulty in (1, 2, 3, 100, 12345678901234567890):
        target = block_target(difficulty)
        assert target * difficulty < 1 << 256 <= (target + 1) * difficulty
    assert zion_amount(17_500_000_000_000) == "17.5"
    assert zion_amount(3 * 10**12) == "3"
