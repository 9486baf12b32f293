"""Pool payouts through the real wallet plugin, on a devnet node (consensus, sqlite,
randomx, stratum, wallet) whose ``pool_address`` is the served wallet's address.

Two scripted miners find pool blocks through the Stratum port (network difficulty 1:
every share is a block); blocks mined directly (paid to someone else, with the pooled
transactions) take them past the coinbase maturity of 60. The accounting service's own
payout rounds (threshold 1, every 0.2 s) pay the miners through the wallet's RPC
handlers; a block confirms the transfers, and each miner's on-chain balance
(``get_address_balance``) is what the ledger paid it; ten confirmations settle them.

Then the wallet's coins are all held by a pending transfer of its own when a new pool
block matures: a round opens no batch and the balance waits; a round that believes the
wallet can pay is refused by the real wallet and leaves the balance intact; the answer to
the transfer that finally goes through is lost and the wallet becomes unreachable; after
a restart the payment is reconciled from the wallet's journal, and nothing is paid twice.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
from chain_testkit import mine
from stratum_testkit import MINER_ADDRESS, Client, Pool

from zion_core.chain.keys import WalletKeys
from zion_core.testing import make_node
from zion_plugin_stratum.accounting import PoolAccounting
from zion_plugin_stratum.ledger import PoolLedger
from zion_plugin_stratum.payouts import Destination, TransferRefusedError
from zion_plugin_stratum.policies import BASIS_POINTS
from zion_plugin_wallet.wallet import Wallet
from zion_plugin_wallet.walletfile import ScryptParams

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

PASSWORD = "pool wallet"
MATURITY = 60
SETTLE = 10
A_ADDRESS = MINER_ADDRESS
B_ADDRESS = str(WalletKeys.from_seed(bytes([10]) * 32).address("devnet"))
OTHER = WalletKeys.from_seed(bytes([11]) * 32)
INSTALLED = ["consensus", "sqlite", "randomx", "stratum", "wallet"]


class PoolNode:
    """The served pool node with its wallet, its accounting and RPC shortcuts."""

    def __init__(self, node: Any) -> None:
        self.node = node
        self.pool = Pool(node)
        self.accounting: PoolAccounting = node.registry("service").get("pool-accounting")

    @property
    def ledger(self) -> PoolLedger:
        assert self.accounting.ledger is not None
        return self.accounting.ledger

    @property
    def chain(self) -> Any:
        return self.pool.chain_service.chain

    async def call(self, method: str, params: Any = None) -> Any:
        """An RPC method's handler, in process (a blocking one in a worker thread)."""
        handler = self.node.registry("rpc_method").get(method).handler
        params = params if params is not None else {}
        if inspect.iscoroutinefunction(handler):
            return await handler(params)
        return await anyio.to_thread.run_sync(handler, params)

    async def on_chain(self, address: str) -> int:
        answer = await self.call("get_address_balance", {"address": address})
        return int(answer["balance"])


@asynccontextmanager
async def served(tmp_path: Path, pool_address: str) -> AsyncIterator[PoolNode]:
    node = make_node(
        installed=INSTALLED,
        data_dir=tmp_path / "node",
        sets=[
            "chain.initial_difficulty=1",
            "chain.seed_epoch=256",
            "chain.seed_lag=4",
            "chain.difficulty_window=128",
            "randomx.threads=1",
            "stratum.bind=127.0.0.1:0",
            f"stratum.pool_address={pool_address}",
            "stratum.start_difficulty=1",
            "stratum.min_difficulty=1",
            "stratum.payout_threshold=1",
            "stratum.payout_interval_seconds=0.2",
            f"wallet.file='{tmp_path / 'pool.wallet'}'",
            f"wallet.password_file='{tmp_path / 'password'}'",
        ],
    )
    async with anyio.create_task_group() as tg:
        await tg.start(node.serve)
        served = PoolNode(node)
        try:
            await served.pool.ready()
            yield served
        finally:
            for client in served.pool.clients:
                await client.aclose()
            node.request_shutdown("test over")


async def wait_for(predicate: Callable[[], bool], timeout: float = 60) -> None:  # noqa: ASYNC109
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.05)


async def pool_block(net: PoolNode, client: Client, nonce: int) -> bytes:
    """``client`` submits one share on the current tip: a block (difficulty 1); its id."""
    height = net.chain.height + 1
    assert client.job is not None
    while client.job["height"] != height:
        await client.next_job()
    job = client.job
    reply = await client.submit(nonce, job, nonce, await net.pool.pow_hash(job, nonce))
    assert reply["result"] == {"status": "OK"}, reply
    await wait_for(lambda: any(b.height == height for b in net.ledger.blocks()))
    (found,) = [b for b in net.ledger.blocks() if b.height == height]
    return found.block_id


def paid_by_ledger(ledger: PoolLedger) -> dict[str, int]:
    return {b.address: b.paid for b in ledger.balances() if b.paid}


class FaultyWallet:
    """The engine's wallet client with faults switched on by ``mode``:

    ``honest`` (none), ``lying`` (claims it can spend anything), ``lost`` (the next
    transfer is made but its answer lost; the wallet is then ``unreachable``).
    """

    def __init__(self, real: Any) -> None:
        self.real = real
        self.mode = "honest"
        self.spendable_calls = 0
        self.lost: list[str] = []

    def spendable(self) -> int | None:
        self.spendable_calls += 1
        if self.mode == "lying":
            return 10**18
        result: int | None = self.real.spendable()
        return result

    def transfer(self, destinations: Sequence[Destination], idempotency_key: str) -> str:
        if self.mode == "unreachable":
            raise ConnectionError("no answer from the wallet")
        txid: str = self.real.transfer(destinations, idempotency_key)
        if self.mode == "lost":
            self.lost.append(txid)
            self.mode = "unreachable"
            raise ConnectionError("the wallet's answer was lost")
        return txid

    def get_transfers(self) -> Any:
        if self.mode == "unreachable":
            raise ConnectionError("no answer from the wallet")
        return self.real.get_transfers()


async def test_pool_payouts_through_the_real_wallet(tmp_path: Path) -> None:
    wallet = Wallet.generate("devnet")
    wallet.save(tmp_path / "pool.wallet", PASSWORD, kdf=ScryptParams.new(n=16))
    (tmp_path / "password").write_text(PASSWORD + "\n")
    pool_address = str(wallet.address)

    async with served(tmp_path, pool_address) as net:
        assert net.accounting.engine is not None, "payouts are on with the node's wallet"
        a, b = await net.pool.connect(), await net.pool.connect()
        await a.login(f"{A_ADDRESS}.rig+1")
        await b.login(f"{B_ADDRESS}.rig+1")
        found = [
            await pool_block(net, a, 1),
            await pool_block(net, b, 2),
            await pool_block(net, a, 3),
        ]
        fee_bps = net.accounting.config.fee_bps
        credits: dict[str, int] = {}
        for block_id in found:
            block = net.ledger.block(block_id)
            assert block is not None and block.status == "pending"
            reward = net.chain.block(block_id).miner_tx.amount
            assert block.reward == reward
            assert sum(block.credits.values()) == reward - reward * fee_bps // BASIS_POINTS
            for address, amount in block.credits.items():
                credits[address] = credits.get(address, 0) + amount
        assert set(credits) == {A_ADDRESS, B_ADDRESS}

        # -- maturity: the payout rounds pay the credits through the wallet
        await mine(net.node, OTHER, MATURITY)
        await wait_for(lambda: all(net.ledger.block(i).status == "credited" for i in found))  # type: ignore[union-attr]
        await wait_for(lambda: paid_by_ledger(net.ledger) == credits)
        payments = net.ledger.payments()
        assert payments and all(p.status == "sent" for p in payments)
        transfers = await net.call("get_transfers", {"out": True, "pending": True})
        by_key = {t["idempotency_key"]: t for t in transfers["pending"] + transfers["out"]}
        for payment in payments:
            entry = by_key[payment.batch_id]
            assert entry["txid"] == payment.tx_hash
            destinations = [(d["address"], d["amount"]) for d in entry["destinations"]]
            assert destinations == list(payment.destinations)
        assert {await net.on_chain(A_ADDRESS), await net.on_chain(B_ADDRESS)} == {0}

        # -- a block confirms the transfers: on chain, each miner has what the ledger paid
        await mine(net.node, OTHER)
        for address, amount in credits.items():
            assert await net.on_chain(address) == amount
        await mine(net.node, OTHER, SETTLE - 1)
        await wait_for(lambda: all(p.status == "settled" for p in net.ledger.payments()))
        assert net.ledger.open_payments() == []

        # -- a new pool block; when it matures, every coin of the wallet is held
        new = await pool_block(net, b, 4)
        new_block = net.ledger.block(new)
        assert new_block is not None
        due = dict(new_block.credits)
        await mine(net.node, OTHER, MATURITY - 1)
        balance = await net.call("get_balance")
        fee = net.chain.params.min_fee
        await net.call(
            "transfer",
            {
                "destinations": [
                    {"address": pool_address, "amount": balance["unlocked_balance"] - fee}
                ]
            },
        )
        assert net.accounting.engine is not None
        faulty = FaultyWallet(net.accounting.engine.wallet)
        net.accounting.engine.wallet = faulty
        before = len(net.ledger.payments())
        await mine(net.node, OTHER, with_pool=False)  # the new block's credits mature
        await wait_for(lambda: net.ledger.block(new).status == "credited")  # type: ignore[union-attr]
        rounds = faulty.spendable_calls
        await wait_for(lambda: faulty.spendable_calls >= rounds + 2)
        assert len(net.ledger.payments()) == before, "a batch was opened the wallet cannot pay"
        for address, amount in due.items():
            assert net.ledger.balance(address).balance == amount

        # a round that believes the wallet can pay: the real wallet refuses, nothing moves
        faulty.mode = "lying"
        await wait_for(lambda: any(p.status == "failed" for p in net.ledger.payments()))
        faulty.mode = "honest"
        (refused,) = [p for p in net.ledger.payments() if p.status == "failed"]
        assert "held" in refused.reason or "locked" in refused.reason, refused.reason
        for address, amount in due.items():
            balance_now = net.ledger.balance(address)
            assert (balance_now.balance, balance_now.in_flight) == (amount, 0)
        with pytest.raises(TransferRefusedError):  # the wallet client's own answer, too
            await anyio.to_thread.run_sync(
                faulty.real.transfer, [Destination(address=B_ADDRESS, amount=10**15)], "probe"
            )

        # the wallet's coins come back; the next transfer is made, but its answer is lost
        faulty.mode = "lost"
        for _ in range(SETTLE + 2):  # the wallet's own transfer is mined, its coins unlock
            unlocked = (await net.call("get_balance"))["unlocked_balance"]
            if unlocked >= sum(due.values()) + fee:
                break
            await mine(net.node, OTHER)
        await wait_for(lambda: bool(faulty.lost), timeout=10)
        (open_intent,) = net.ledger.open_payments()
        assert open_intent.status == "intent" and dict(open_intent.destinations) == due
        await anyio.sleep(0.5)  # rounds meanwhile cannot reach the wallet: nothing changes
        assert net.ledger.payment(open_intent.batch_id).status == "intent"  # type: ignore[union-attr]

    # -- restart: the intent is reconciled from the wallet's journal, not paid again
    async with served(tmp_path, pool_address) as net:
        reconciled = net.ledger.payment(open_intent.batch_id)
        assert reconciled is not None and reconciled.status == "sent"
        assert reconciled.tx_hash == faulty.lost[0]
        paid = {address: credits.get(address, 0) + due.get(address, 0) for address in credits}
        assert paid_by_ledger(net.ledger) == paid
        await mine(net.node, OTHER)
        for address, amount in paid.items():
            assert await net.on_chain(address) == amount
        transfers = await net.call("get_transfers", {"out": True, "pending": True})
        keys = [t.get("idempotency_key", "") for t in transfers["out"] + transfers["pending"]]
        pool_keys = [k for k in keys if k.startswith("pool-")]
        assert len(pool_keys) == len(set(pool_keys))
        sent = [p for p in net.ledger.payments() if p.status in ("sent", "settled")]
        assert sorted(pool_keys) == sorted(p.batch_id for p in sent)
        await mine(net.node, OTHER, SETTLE)
        await wait_for(lambda: net.ledger.open_payments() == [])
        assert paid_by_ledger(net.ledger) == paid
        for address, amount in paid.items():
            assert await net.on_chain(address) == amount
