"""The wallet against a real devnet node (consensus, sqlite, randomx, jsonrpc, wallet).

Blocks are mined with the real RandomX backend at difficulty 1 (every hash meets it, so
the template itself is a valid block; the node still verifies its RandomX hash), with a
RandomX key epoch long enough that the key never changes during the test. Devnet's
coinbase maturity is 60 blocks: wallet A mines blocks 1-59, and its first coinbase is
spendable from height 61, so a send at tip 59 is refused as locked and one at tip 60
goes through. ``zion wallet`` runs in process (``zion_core.cli.main``, in a worker thread
while the node serves on the event loop); the node also serves wallet A's wallet RPC.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest

from zion_core.chain.keys import WalletKeys
from zion_core.chain.transaction import ATOMIC_UNITS_PER_ZION
from zion_core.cli import main
from zion_plugin_wallet.journal import journal_path
from zion_plugin_wallet.wallet import Wallet
from zion_plugin_wallet.walletfile import ScryptParams

pytestmark = pytest.mark.anyio

ZION = ATOMIC_UNITS_PER_ZION
PASSWORD = "correct horse"
MATURITY = 60
CAROL = WalletKeys.from_seed(bytes([77]) * 32)  # mines the blocks that confirm transfers


class Devnet:
    """The running node, its wallets, and helpers to mine and to run ``zion wallet``."""

    def __init__(self, node: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        services = node.registry("service")
        self.chain_service = services.get("chain")
        self.rpc_service = services.get("rpc")
        self.tmp_path = tmp_path
        self.capsys = capsys
        self.a = Wallet.open(tmp_path / "a.wallet", PASSWORD)
        self.b = Wallet.open(tmp_path / "b.wallet", PASSWORD)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rpc_service.port}"

    def _mine(self, keys: WalletKeys, count: int) -> None:
        service = self.chain_service
        for _ in range(count):
            txs = service.mempool.select(1 << 20)
            template = service.chain.template(keys.spend.public_key, keys.view.public_key, txs)
            result = service.submit_block(template.block, {tx.txid: tx for tx in txs})
            assert result.status == "connected", result

    async def mine(self, keys: WalletKeys, count: int = 1) -> None:
        await anyio.to_thread.run_sync(self._mine, keys, count)

    @property
    def tip(self) -> int:
        height: int = self.chain_service.chain.height
        return height

    async def zion(self, *args: str) -> tuple[int, str, str]:
        """``zion wallet ARGS --node URL`` in a worker thread: (status, stdout, stderr)."""
        argv = ["wallet", *args]
        if args[0] in ("balance", "history", "send") and "--node" not in args:
            argv += ["--node", self.url]
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        try:
            code = await anyio.to_thread.run_sync(main, argv)
        finally:  # main() points the root logger at stderr; the node logs meanwhile
            root.handlers[:] = handlers
            root.setLevel(level)
        captured = self.capsys.readouterr()
        return code, captured.out, captured.err

    async def balance(self, name: str) -> dict[str, Any]:
        code, out, err = await self.zion("balance", str(self.tmp_path / f"{name}.wallet"), "--json")
        assert code == 0, err
        report: dict[str, Any] = json.loads(out)
        return report

    async def rpc(self, method: str, params: Any = None) -> dict[str, Any]:
        """A call of the node's JSON-RPC, with the admin token when the node has one (the
        wallet methods are restricted: admin-only)."""
        body = {"jsonrpc": "2.0", "id": "0", "method": method, "params": params or {}}
        token = getattr(self.rpc_service, "admin_token", None)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(timeout=60) as client:
            response = await client.post(f"{self.url}/json_rpc", json=body, headers=headers)
        assert response.status_code == 200
        answer: dict[str, Any] = response.json()
        return answer


@pytest.fixture
async def devnet(
    make_node: Callable[..., Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Devnet]:
    monkeypatch.delenv("ZION_WALLET_PASSWORD", raising=False)
    monkeypatch.delenv("ZION_WALLET_NODE", raising=False)
    monkeypatch.delenv("ZION_DISABLED_PLUGINS", raising=False)
    for name in ("a", "b"):
        Wallet.generate("devnet").save(
            tmp_path / f"{name}.wallet", PASSWORD, kdf=ScryptParams.new(n=16)
        )
    (tmp_path / "password").write_text(PASSWORD + "\n")
    node = make_node(
        installed=["consensus", "sqlite", "randomx", "jsonrpc", "wallet"],
        sets=[
            "chain.initial_difficulty=1",
            "chain.seed_epoch=256",
            "chain.seed_lag=4",
            "chain.difficulty_window=128",
            "rpc.bind=127.0.0.1:0",
            "randomx.threads=1",
            f"wallet.file='{tmp_path / 'a.wallet'}'",
            f"wallet.password_file='{tmp_path / 'password'}'",
        ],
    )
    net = Devnet(node, tmp_path, capsys)
    async with anyio.create_task_group() as tg:
        await tg.start(net.chain_service.run)
        await tg.start(net.rpc_service.run)
        try:
            yield net
        finally:
            with anyio.fail_after(10):
                await net.rpc_service.drain()
            tg.cancel_scope.cancel()


async def test_send_confirm_balance_history_and_wallet_rpc(devnet: Devnet) -> None:
    a_path, b_path = str(devnet.tmp_path / "a.wallet"), str(devnet.tmp_path / "b.wallet")
    password = ("--password-file", str(devnet.tmp_path / "password"))
    a_keys = devnet.a.keys
    b_address = str(devnet.b.address)

    # -- wallet A mines; nothing is spendable before the coinbase maturity
    await devnet.mine(a_keys, MATURITY - 1)
    assert devnet.tip == MATURITY - 1
    code, _, err = await devnet.zion("send", a_path, b_address, "1.5", *password, "--yes")
    assert code == 1
    assert "error: funds are locked" in err and "unlocks at height 61" in err
    # one line (the node, in this process, may log meanwhile: its lines are not the CLI's)
    assert "the chain's tip is at height 59" in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1
    code, _, err = await devnet.zion("send", a_path, b_address, "100000", *password, "--yes")
    assert code == 1 and "error: insufficient funds" in err
    assert not (devnet.tmp_path / "b.wallet.journal").exists()

    await devnet.mine(a_keys)
    before = await devnet.balance("a")
    mined = sum(
        block.miner_tx.amount
        for block in (devnet.chain_service.chain.block_at(h) for h in range(1, MATURITY + 1))
    )
    assert before["balance"] == mined and before["height"] == MATURITY + 1
    first_reward = devnet.chain_service.chain.block_at(1).miner_tx.amount
    assert before["unlocked_balance"] == first_reward
    assert before["locked_outputs"] == MATURITY - 1 and before["next_unlock_height"] == 62

    # -- A sends 1.5 ZION to B; the fee is the node's estimate
    fee = devnet.chain_service.chain.params.min_fee
    code, out, err = await devnet.zion(
        "send", a_path, b_address, "1.5", *password, "--yes", "--json"
    )
    assert code == 0, err
    sent = json.loads(out)
    assert (sent["amount"], sent["fee"], sent["destination"]) == (3 * ZION // 2, fee, b_address)
    assert sent["replayed"] is False and journal_path(Path(a_path)).exists()
    pending = await devnet.balance("a")
    assert pending["balance"] == before["balance"] - 3 * ZION // 2 - fee  # change counted
    assert pending["pending_transfers"] == 1 and pending["unlocked_balance"] == 0

    # -- a block by someone else confirms it
    await devnet.mine(CAROL)
    after = await devnet.balance("a")
    assert after["balance"] == before["balance"] - 3 * ZION // 2 - fee
    assert after["pending_transfers"] == 0
    b_balance = await devnet.balance("b")
    assert b_balance["balance"] == 3 * ZION // 2 and b_balance["unlocked_balance"] == 0
    assert b_balance["next_unlock_height"] == MATURITY + 1 + 10  # devnet's spendable age

    code, out, err = await devnet.zion("history", b_path)
    assert code == 0, err
    assert sent["tx_hash"] in out and "+1.5 ZION" in out and "in" in out
    code, out, _ = await devnet.zion("history", b_path, "--json")
    [received] = json.loads(out)["transfers"]
    assert received["txid"] == sent["tx_hash"] and received["type"] == "in"
    assert received["amount"] == 3 * ZION // 2 and received["confirmations"] == 1
    assert received["height"] == MATURITY + 1 and received["locked"] is True
    code, out, _ = await devnet.zion("history", a_path, "--json")
    transfers = json.loads(out)["transfers"]
    [out_entry] = [t for t in transfers if t["type"] == "out"]
    assert out_entry["txid"] == sent["tx_hash"] and out_entry["fee"] == fee
    assert out_entry["amount"] == 3 * ZION // 2
    assert out_entry["destinations"] == [{"address": b_address, "amount": 3 * ZION // 2}]
    assert sum(1 for t in transfers if t["type"] == "block") == MATURITY
    code, out, _ = await devnet.zion("balance", b_path)
    assert code == 0 and "balance: 1.5 ZION" in out and "unlocked: 0 ZION" in out

    # -- the node's wallet RPC (wallet A), with an idempotent transfer
    address = await devnet.rpc("get_address")
    assert address["result"]["address"] == str(devnet.a.address)
    assert address["result"]["addresses"][0]["used"] is True
    rpc_balance = (await devnet.rpc("get_balance"))["result"]
    assert rpc_balance["balance"] == after["balance"]
    assert rpc_balance["unlocked_balance"] == after["unlocked_balance"] > 0
    request = {
        "destinations": [{"amount": 2 * ZION, "address": b_address}],
        "idempotency_key": "order-42",
    }
    first = (await devnet.rpc("transfer", request))["result"]
    assert first["amount"] == 2 * ZION and first["fee"] == fee and first["replayed"] is False
    again = (await devnet.rpc("transfer", request))["result"]
    assert again["tx_hash"] == first["tx_hash"] and again["replayed"] is True
    assert len(devnet.chain_service.mempool) == 1
    other = {**request, "destinations": [{"amount": 3 * ZION, "address": b_address}]}
    conflict = (await devnet.rpc("transfer", other))["error"]
    assert conflict["code"] == -32602 and "order-42" in conflict["data"]
    transfers = (await devnet.rpc("get_transfers", {"pending": True}))["result"]
    assert [t["txid"] for t in transfers["pending"]] == [first["tx_hash"]]
    assert transfers["pending"][0]["idempotency_key"] == "order-42"
    assert set(transfers) == {"pending"}

    await devnet.mine(CAROL)
    again = (await devnet.rpc("transfer", request))["result"]
    assert again["tx_hash"] == first["tx_hash"] and again["replayed"] is True
    found = (await devnet.rpc("get_transfer_by_txid", {"txid": first["tx_hash"]}))["result"]
    assert found["transfer"]["type"] == "out" and found["transfer"]["confirmations"] == 1
    assert len(devnet.chain_service.mempool) == 0
    assert (await devnet.balance("b"))["balance"] == 3 * ZION // 2 + 2 * ZION
