"""The ``pool-accounting`` service against a served devnet pool: shares durable before the
miner's OK, a block found through the pool credited by PPLNS after coinbase maturity, an
orphaned block's credit reversed by a longer branch, ``pool_stats`` and
``pool_miner_stats`` against their schemas, payouts through a wallet client, and the
in-process wallet client's refusal-versus-no-answer distinction."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anyio
import anyio.to_thread
import jsonschema
import pytest
from stratum_testkit import BASE_SETS, INSTALLED, MINER_ADDRESS, Pool, served_pool

from zion_core import ConfigError
from zion_core.chain.block import Block, BlockHeader, MinerTx
from zion_core.chain.keys import WalletKeys
from zion_plugin_stratum.accounting import (
    POOL_MINER_STATS_SCHEMA,
    POOL_STATS_SCHEMA,
    PoolAccounting,
    WalletRpcClient,
    WalletUnansweredError,
)
from zion_plugin_stratum.payouts import (
    Destination,
    PayoutConfig,
    PayoutEngine,
    TransferRefusedError,
)
from zion_plugin_stratum.policies import BASIS_POINTS

pytestmark = pytest.mark.anyio

HIGH = ["chain.initial_difficulty=1000000000", "stratum.start_difficulty=5000"]
"""A network difficulty no share reaches: no blocks."""
STEADY = ["chain.seed_epoch=256", "chain.seed_lag=4", "chain.difficulty_window=128"]
"""Difficulty 1 and one RandomX key for the whole test."""
OTHER = WalletKeys.from_seed(bytes([11]) * 32)
MATURITY = 60


def accounting_of(pool: Pool) -> PoolAccounting:
    service: PoolAccounting = pool.node.registry("service").get("pool-accounting")
    return service


async def rpc(pool: Pool, method: str, params: Any = None) -> dict[str, Any]:
    handler = pool.node.registry("rpc_method").get(method).handler
    result: dict[str, Any] = await handler(params if params is not None else {})
    return result


async def wait_for(predicate: Callable[[], bool], timeout: float = 30) -> None:  # noqa: ASYNC109
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.02)


async def mine_directly(pool: Pool, count: int) -> None:
    """``count`` blocks paid to OTHER, submitted to the chain service (difficulty 1)."""
    service = pool.chain_service

    def mine() -> None:
        for _ in range(count):
            template = service.chain.template(OTHER.spend.public_key, OTHER.view.public_key)
            assert service.submit_block(template.block).status == "connected"

    await anyio.to_thread.run_sync(mine)


async def mine_through_pool(pool: Pool) -> tuple[int, bytes]:
    """One share of the miner at network difficulty 1: a block; its (height, id)."""
    accounting = accounting_of(pool)
    client = await pool.connect()
    await client.login(f"{MINER_ADDRESS}.rig1")
    assert client.job is not None
    job = client.job
    reply = await client.submit(2, job, 3, await pool.pow_hash(job, 3))
    assert reply["result"] == {"status": "OK"}
    await wait_for(lambda: bool(accounting.ledger and accounting.ledger.blocks()))
    assert accounting.ledger is not None
    (found,) = accounting.ledger.blocks()
    return found.height, found.block_id


async def test_a_share_is_in_the_ledger_when_the_miner_gets_its_ok(
    make_node: Callable[..., Any],
) -> None:
    async with served_pool(make_node, HIGH) as pool:
        accounting = accounting_of(pool)
        clients = [await pool.connect() for _ in range(3)]
        for n, client in enumerate(clients):
            await client.login(f"{MINER_ADDRESS}.w{n}+1")

        async def one_share(n: int) -> None:
            client = clients[n]
            assert client.job is not None
            reply = await client.submit(10 + n, client.job, n, await pool.pow_hash(client.job, n))
            assert reply["result"] == {"status": "OK"}
            assert accounting.ledger is not None
            workers = {s.worker for s in accounting.ledger.recent_shares()}
            assert f"w{n}" in workers

        async with anyio.create_task_group() as tg:
            for n in range(3):
                tg.start_soon(one_share, n)
        assert accounting.ledger is not None
        shares = accounting.ledger.recent_shares()
        assert sorted(s.worker for s in shares) == ["w0", "w1", "w2"]
        assert all(s.address == MINER_ADDRESS and s.difficulty == 1 for s in shares)
        assert 1 <= accounting.writes <= 3
        stats = await rpc(pool, "pool_stats")
        jsonschema.validate(stats, POOL_STATS_SCHEMA)
        assert stats["shares"]["accepted"] == 3 and stats["workers"] == 3
        assert stats["miners"] == 1 and stats["policy"] == "pplns" and stats["fee_bps"] == 100
        assert stats["blocks"] == {"found": 0, "pending": 0, "credited": 0, "orphaned": 0}
        assert stats["payouts"]["enabled"] is False
        mine = await rpc(pool, "pool_miner_stats", {"address": MINER_ADDRESS})
        jsonschema.validate(mine, POOL_MINER_STATS_SCHEMA)
        assert [w["name"] for w in mine["workers"]] == ["w0", "w1", "w2"]
        assert mine["shares"] == 3
        with pytest.raises(ValueError, match="address"):
            await rpc(pool, "pool_miner_stats", {"address": "nope"})


class ListWallet:
    """A thread-safe in-memory wallet with the RPC's idempotency semantics."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent: dict[str, tuple[list[Destination], str]] = {}

    def transfer(self, destinations: Sequence[Destination], idempotency_key: str) -> str:
        with self.lock:
            if idempotency_key not in self.sent:
                txid = f"{len(self.sent) + 1:064x}"
                self.sent[idempotency_key] = (list(destinations), txid)
            return self.sent[idempotency_key][1]

    def get_transfers(self) -> Mapping[str, Sequence[Mapping[str, Any]]]:
        with self.lock:
            return {
                "out": [
                    {"txid": txid, "type": "out", "idempotency_key": key, "confirmations": 1}
                    for key, (_, txid) in self.sent.items()
                ]
            }


async def test_a_pool_block_is_credited_by_pplns_at_maturity_and_paid(
    make_node: Callable[..., Any],
) -> None:
    async with served_pool(make_node, STEADY) as pool:
        accounting = accounting_of(pool)
        height, block_id = await mine_through_pool(pool)
        ledger = accounting.ledger
        assert ledger is not None
        found = ledger.block(block_id)
        assert found is not None and found.status == "pending"
        reward = pool.chain_service.chain.block_at(height).miner_tx.amount
        due = reward - reward * 100 // BASIS_POINTS
        assert found.reward == reward and dict(found.credits) == {MINER_ADDRESS: due}
        assert ledger.balance(MINER_ADDRESS).immature == due
        await mine_directly(pool, MATURITY - 1)
        await anyio.sleep(0.2)
        assert ledger.block(block_id).status == "pending"  # type: ignore[union-attr]
        await mine_directly(pool, 1)
        await wait_for(lambda: ledger.block(block_id).status == "credited")  # type: ignore[union-attr]
        balance = ledger.balance(MINER_ADDRESS)
        assert (balance.immature, balance.balance) == (0, due)
        stats = await rpc(pool, "pool_stats")
        jsonschema.validate(stats, POOL_STATS_SCHEMA)
        assert stats["blocks"] == {"found": 1, "pending": 0, "credited": 1, "orphaned": 0}
        assert stats["last_block"]["block_id"] == block_id.hex()

        wallet = ListWallet()
        accounting.engine = PayoutEngine(ledger, wallet, PayoutConfig(threshold=due))
        await accounting.pay()
        ((destinations, txid),) = wallet.sent.values()
        assert destinations == [{"address": MINER_ADDRESS, "amount": due}]
        mine = await rpc(pool, "pool_miner_stats", {"address": MINER_ADDRESS})
        jsonschema.validate(mine, POOL_MINER_STATS_SCHEMA)
        assert mine["balance"] == {"immature": 0, "credited": 0, "in_flight": 0, "paid": due}
        assert [(p["tx_hash"], p["amount"]) for p in mine["payments"]] == [(txid, due)]
        await accounting.pay()  # nothing more is due: no second transfer
        assert len(wallet.sent) == 1


def _block_on(parent: Block, height: int, amount: int, timestamp: int) -> Block:
    header = BlockHeader(
        major_version=parent.header.major_version,
        minor_version=parent.header.minor_version,
        timestamp=timestamp,
        prev_id=parent.id,
        nonce=0,
    )
    miner = MinerTx.build(
        height=height,
        amount=amount,
        spend_key=OTHER.spend.public_key,
        view_key=OTHER.view.public_key,
        unlock_window=MATURITY,
    )
    return Block(header=header, miner_tx=miner, tx_hashes=())


async def test_a_longer_branch_orphans_the_pool_block_and_reverses_its_credit(
    make_node: Callable[..., Any],
) -> None:
    async with served_pool(make_node, STEADY) as pool:
        accounting = accounting_of(pool)
        height, block_id = await mine_through_pool(pool)
        ledger = accounting.ledger
        assert ledger is not None
        assert ledger.balance(MINER_ADDRESS).immature > 0
        service = pool.chain_service
        chain = service.chain
        ours = chain.block(block_id)
        parent = chain.block_at(height - 1)
        next_reward = chain.template(OTHER.spend.public_key, OTHER.view.public_key).reward
        first = _block_on(parent, height, ours.miner_tx.amount, ours.header.timestamp)
        second = _block_on(first, height + 1, next_reward, ours.header.timestamp + 1)
        assert first.id != block_id
        await anyio.to_thread.run_sync(service.submit_block, first)
        result = await anyio.to_thread.run_sync(service.submit_block, second)
        assert str(result.status) == "connected"
        assert not chain.is_main(block_id)
        await wait_for(lambda: ledger.block(block_id).status == "orphaned")  # type: ignore[union-attr]
        assert ledger.balance(MINER_ADDRESS).immature == 0
        stats = await rpc(pool, "pool_stats")
        jsonschema.validate(stats, POOL_STATS_SCHEMA)
        assert stats["blocks"]["orphaned"] == 1 and stats["last_block"]["status"] == "orphaned"


async def test_payouts_on_without_a_wallet_is_a_start_up_error(
    make_node: Callable[..., Any],
) -> None:
    node = make_node({}, installed=INSTALLED, sets=[*BASE_SETS, *HIGH, "stratum.payouts=true"])
    accounting: PoolAccounting = node.registry("service").get("pool-accounting")
    with pytest.raises(ConfigError, match="no wallet to pay from"):
        await accounting.run(task_status=anyio.TASK_STATUS_IGNORED)
    policy = make_node(
        {}, installed=INSTALLED, sets=[*BASE_SETS, *HIGH, "stratum.payout_policy=nope"]
    )
    accounting = policy.registry("service").get("pool-accounting")
    with pytest.raises(ConfigError, match="unknown pool policy 'nope'; pplns, pps, solo"):
        await accounting.run(task_status=anyio.TASK_STATUS_IGNORED)


class _Method:
    def __init__(self, handler: Callable[[Any], Any]) -> None:
        self.handler = handler


class _Methods:
    def __init__(self, **handlers: Callable[[Any], Any]) -> None:
        self.handlers = {name: _Method(h) for name, h in handlers.items()}

    def names(self) -> list[str]:
        return sorted(self.handlers)

    def get(self, name: str) -> _Method:
        return self.handlers[name]


def test_the_wallet_client_tells_a_refusal_from_no_answer() -> None:
    calls: list[Any] = []

    def ok(params: Any) -> dict[str, Any]:
        calls.append(params)
        return {"tx_hash": "ab" * 32}

    def refuse(params: Any) -> dict[str, Any]:
        raise ValueError("not enough money")

    def crash(params: Any) -> dict[str, Any]:
        raise OSError("disk gone")

    def listing(*entries: dict[str, Any]) -> Callable[[Any], dict[str, Any]]:
        def get_transfers(params: Any) -> dict[str, Any]:
            assert params == {"out": True, "pending": True, "failed": True}
            return {"pending": [e for e in entries if e["type"] != "failed"], "failed": []}

        return get_transfers

    destinations = [Destination(address=MINER_ADDRESS, amount=5)]
    assert WalletRpcClient(_Methods(transfer=ok)).transfer(destinations, "k1") == "ab" * 32
    assert calls == [
        {"destinations": [{"address": MINER_ADDRESS, "amount": 5}], "idempotency_key": "k1"}
    ]
    wallet = WalletRpcClient(_Methods(transfer=refuse, get_transfers=listing()))
    with pytest.raises(TransferRefusedError, match="not enough money"):
        wallet.transfer(destinations, "k2")
    with pytest.raises(OSError, match="disk gone"):
        WalletRpcClient(_Methods(transfer=crash)).transfer(destinations, "k3")
    # an error, but the wallet journaled a transaction under the key: that is the answer
    journaled = {"txid": "cd" * 32, "type": "pending", "idempotency_key": "k4"}
    wallet = WalletRpcClient(_Methods(transfer=refuse, get_transfers=listing(journaled)))
    assert wallet.transfer(destinations, "k4") == "cd" * 32
    with pytest.raises(TransferRefusedError):
        wallet.transfer(destinations, "k5")
    # an error and no list to check it against: unknown, not a refusal
    with pytest.raises(WalletUnansweredError, match="outcome is unknown"):
        WalletRpcClient(_Methods(transfer=refuse)).transfer(destinations, "k6")

    assert WalletRpcClient(_Methods(get_transfers=listing())).get_transfers() == {
        "pending": [],
        "failed": [],
    }
    assert WalletRpcClient(_Methods()).spendable() is None

    def balance(params: Any) -> dict[str, Any]:
        return {"unlocked_balance": 1_000, "balance": 5_000}

    assert WalletRpcClient(_Methods(get_balance=balance), lambda: 300).spendable() == 700
    assert WalletRpcClient(_Methods(get_balance=balance), lambda: 3_000).spendable() == 0
