"""The consensus plugin in a node: registration, the [chain] section, the chain service."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from zion_core import ESSENTIAL_PLUGINS
from zion_core.chain.keys import WalletKeys
from zion_core.chain.transaction import OutPoint, Transaction, TxOutput
from zion_hookspecs import hookimpl
from zion_plugin_consensus import ChainService, ZionConsensus, errors
from zion_plugin_consensus.chain import build_genesis
from zion_plugin_consensus.params import DEVNET, NetworkParamsError

PLUGINS = ["consensus", "sqlite", "randomx"]


def test_consensus_is_essential() -> None:
    assert "consensus" in ESSENTIAL_PLUGINS


def test_the_rules_are_registered_with_the_chain_overrides(make_node: Any) -> None:
    node = make_node(installed=PLUGINS, sets=["chain.initial_difficulty=7", "chain.seed_epoch=8"])
    rules = node.registry("consensus").select(None)
    assert isinstance(rules, ZionConsensus)
    assert set(rules.networks()) == {"mainnet", "testnet", "devnet"}
    params = rules.params("devnet")
    assert (params.initial_difficulty, params.seed_epoch) == (7, 8)
    assert params.target_seconds == DEVNET.target_seconds


def test_bad_chain_overrides_are_named(make_node: Any) -> None:
    node = make_node(installed=PLUGINS, sets=["chain.seed_epoch=12"])
    with pytest.raises(NetworkParamsError, match="seed_epoch"):
        node.registry("consensus").select(None).params("devnet")


@pytest.mark.anyio
async def test_the_chain_service_opens_and_closes_the_chain(make_node: Any) -> None:
    node = make_node(installed=PLUGINS)
    [service] = [
        s
        for s in (node.registry("service").get(n) for n in node.registry("service").names())
        if isinstance(s, ChainService)
    ]
    for _ in range(2):  # the second start reopens the same file
        async with anyio.create_task_group() as tg:
            await tg.start(service.run)
            assert service.chain is not None
            assert service.chain.height == 0
            assert service.chain.tip_id == build_genesis(DEVNET).id
            assert (node.data_dir / "chain.sqlite").exists()
            tg.cancel_scope.cancel()


class Recorder:
    """A plugin that records the chain events."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []

    @hookimpl
    def zion_block_connected(self, block: Any, height: int) -> None:
        self.events.append(("connected", height))

    @hookimpl
    def zion_tx_accepted(self, tx: Any) -> None:
        self.events.append(("tx", 0))


@pytest.mark.anyio
async def test_submitted_blocks_emit_events(make_node: Any) -> None:
    recorder = Recorder()
    node = make_node({"recorder": recorder}, installed=PLUGINS, sets=["chain.initial_difficulty=1"])
    service = node.registry("service").get("chain")
    keys = WalletKeys.from_seed(bytes(32))
    async with anyio.create_task_group() as tg:
        await tg.start(service.run)
        template = service.chain.template(keys.spend.public_key, keys.view.public_key)
        result = await anyio.to_thread.run_sync(service.submit_block, template.block)
        assert result.status == "connected"
        assert recorder.events == [("connected", 1)]
        bogus = Transaction(
            inputs=(OutPoint(txid=bytes(32), index=0),),
            outputs=(TxOutput(amount=1, spend_key=bytes(32), view_key=bytes(32)),),
            fee=0,
            signatures=(bytes(64),),
        )
        with pytest.raises(errors.FeeTooLowError):
            service.submit_transaction(bogus)
        assert recorder.events == [("connected", 1)]
        tg.cancel_scope.cancel()


def test_a_node_without_storage_or_hasher_keeps_no_chain(
    make_node: Any, caplog: pytest.LogCaptureFixture
) -> None:
    node = make_node(installed=["consensus"])
    assert "chain" not in node.registry("service").names()
    assert "this node keeps no chain" in caplog.text
    assert "storage or hasher" in caplog.text
