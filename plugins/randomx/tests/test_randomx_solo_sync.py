"""The solo miner waits for the node to synchronize: a testnet node (difficulty 1 through
``[chain]``) whose fake sync source, standing in for the p2p plugin, says it is behind,
then caught up."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import anyio
import pytest
from zion_plugin_randomx.solo import SoloMiner

from zion_core.chain.keys import WalletKeys
from zion_hookspecs import SyncStatus, hookimpl

pytestmark = pytest.mark.anyio

INSTALLED = ["consensus", "sqlite", "randomx"]
ADDRESS = str(WalletKeys.from_seed(bytes(range(32))).address("testnet"))
SETS = [
    f"miner.address={ADDRESS}",
    "miner.threads=1",
    "randomx.threads=1",
    "randomx.mode=light",
    "chain.initial_difficulty=1",
]
BEHIND = SyncStatus(
    synchronized=False, height=1, target_height=500, busy=True, outgoing=2, incoming=1
)
REASON = "synchronizing: height 1 of 500 (3 peers)"
LIMIT_S = 120
"""Generous for a loaded 2-core machine (the RandomX cache, then two blocks)."""


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


class FoundListener:
    def __init__(self) -> None:
        self.heights: list[int] = []

    @hookimpl
    def zion_block_found(self, block: Any, height: int) -> None:
        self.heights.append(height)


def waiting(miner: SoloMiner) -> str | None:
    """Why ``miner`` waits (read through a call: the miner's task changes it)."""
    return miner.waiting


def waiting_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "zion_plugin_randomx.solo" and "waiting for the node" in r.getMessage()
    ]


async def test_the_miner_waits_for_sync_and_resumes(
    make_node: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="zion_plugin_randomx.solo")
    fake, listener = FakeNetwork(BEHIND), FoundListener()
    node = make_node(
        {"net": fake, "listener": listener}, network="testnet", installed=INSTALLED, sets=SETS
    )
    services = node.registry("service")
    miner = services.get("miner")
    assert isinstance(miner, SoloMiner)
    miner.poll_seconds = 0.05
    status_method = node.registry("rpc_method").get("mining_status").handler
    async with anyio.create_task_group() as tg:
        await tg.start(services.get("chain").run)
        await tg.start(miner.run)
        with anyio.fail_after(LIMIT_S):
            while waiting(miner) is None:
                await anyio.sleep(0.02)
        assert miner.waiting == REASON
        await anyio.sleep(0.5)  # about ten checks: still waiting, logged once
        assert waiting_lines(caplog) == [
            f"solo miner: waiting for the node to synchronize ({REASON})"
        ]
        assert miner.work is None and miner.meter.total == 0 and listener.heights == []
        status = status_method(None)
        assert status["active"] is False and status["waiting"] == REASON

        miner.sync_log_seconds = 0.1  # the reason is logged again while the wait goes on
        fake.status = replace(BEHIND, height=2)
        with anyio.fail_after(LIMIT_S):
            while not any("still waiting" in line for line in caplog.messages):
                await anyio.sleep(0.02)
        assert (
            "solo miner: still waiting for the node (synchronizing: height 2 of 500 (3 peers))"
            in caplog.messages
        )

        fake.status = replace(BEHIND, synchronized=True, busy=False, target_height=1)
        with anyio.fail_after(LIMIT_S):
            while len(listener.heights) < 2:
                await anyio.sleep(0.05)
        assert waiting(miner) is None
        assert any(line.startswith("solo miner: mining resumes") for line in caplog.messages)

        fake.status = BEHIND  # behind again: the threads pause at the next check
        with anyio.fail_after(LIMIT_S):
            while waiting(miner) is None:
                await anyio.sleep(0.02)
        await anyio.sleep(1.0)  # a block already submitted may still land
        found, hashes = len(listener.heights), miner.meter.total
        await anyio.sleep(0.5)
        assert len(listener.heights) == found and miner.meter.total == hashes
        tg.cancel_scope.cancel()
    assert listener.heights[:2] == [1, 2]
