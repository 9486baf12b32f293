"""The address methods (get_address_balance, _outputs, _history) of the consensus plugin.

Most tests call the handlers directly over a :class:`ChainHarness` chain (a test hasher,
small maturities); the last ones go through a real devnet node: the registration, a node
that is still starting, and one call over HTTP with the jsonrpc plugin.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest
from consensus_helpers import ChainHarness

from zion_core import ServiceError
from zion_core.chain.address import WrongNetworkError
from zion_core.chain.block import Block
from zion_core.chain.keys import WalletKeys
from zion_core.chain.transaction import OutPoint, Transaction, TxOutput
from zion_core.config import Network
from zion_plugin_consensus import errors
from zion_plugin_consensus.chain import check_spendable
from zion_plugin_consensus.mempool import Mempool
from zion_plugin_consensus.params import DEVNET, NetworkParams, with_overrides
from zion_plugin_consensus.rpc import (
    BALANCE_RESULT_SCHEMA,
    HISTORY_RESULT_SCHEMA,
    MAX_HISTORY_LIMIT,
    NO_CHAIN,
    NOT_OPEN,
    OUTPUTS_RESULT_SCHEMA,
    AddressRpc,
    rpc_methods,
    unlock_height,
)

ALICE = WalletKeys.from_seed(bytes([21]) * 32)
BOB = WalletKeys.from_seed(bytes([22]) * 32)
CAROL = WalletKeys.from_seed(bytes([23]) * 32)
MATURITY = 4
AGE = 2


def address(keys: WalletKeys, network: Network = "devnet") -> str:
    return str(keys.address(network))


@pytest.fixture
def params() -> NetworkParams:
    return with_overrides(
        DEVNET, initial_difficulty=4, coinbase_maturity=MATURITY, spendable_age=AGE
    )


class Fixture:
    """A chain, its mempool and the address methods over them."""

    def __init__(self, harness: ChainHarness) -> None:
        self.harness = harness
        self.chain = harness.chain
        self.mempool = Mempool(harness.chain)
        self.service = SimpleNamespace(
            chain=self.chain, mempool=self.mempool, lock=threading.RLock()
        )
        self.api = AddressRpc(lambda: self.service, "devnet")

    def mine(self, keys: WalletKeys, txs: tuple[Transaction, ...] = ()) -> Block:
        block = self.harness.mine(keys, txs)
        self.mempool.remove_mined(txs)
        return block

    def balance(self, keys: WalletKeys) -> dict[str, Any]:
        return checked(self.api.get_address_balance({"address": address(keys)}), "balance")

    def outputs(self, keys: WalletKeys) -> dict[str, Any]:
        return checked(self.api.get_address_outputs({"address": address(keys)}), "outputs")

    def history(self, keys: WalletKeys, **page: int) -> dict[str, Any]:
        params = {"address": address(keys), **page}
        return checked(self.api.get_address_history(params), "history")


SCHEMAS = {
    "balance": BALANCE_RESULT_SCHEMA,
    "outputs": OUTPUTS_RESULT_SCHEMA,
    "history": HISTORY_RESULT_SCHEMA,
}


def checked(result: dict[str, Any], kind: str) -> dict[str, Any]:
    """``result``, after checking it against its published JSON Schema."""
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(SCHEMAS[kind])
    jsonschema.validate(result, SCHEMAS[kind], cls=jsonschema.Draft202012Validator)
    assert result["status"] == "OK" and result["untrusted"] is False
    return result


@pytest.fixture
def fx(harness: ChainHarness) -> Fixture:
    return Fixture(harness)


def pay(
    keys: WalletKeys, coin: tuple[OutPoint, int], to: WalletKeys, amount: int, fee: int
) -> Transaction:
    outputs = [TxOutput(amount, to.spend.public_key, to.view.public_key)]
    change = coin[1] - amount - fee
    outputs.append(TxOutput(change, keys.spend.public_key, keys.view.public_key))
    tx = Transaction(inputs=(coin[0],), outputs=tuple(outputs), fee=fee)
    signature = keys.spend.sign(tx.signing_message)
    return tx.with_signatures((signature,))


def coinbase(block: Block) -> tuple[OutPoint, int]:
    return OutPoint(txid=block.miner_tx.hash, index=0), block.miner_tx.amount


def test_an_unknown_address_has_nothing(fx: Fixture) -> None:
    balance = fx.balance(ALICE)
    assert balance["balance"] == balance["unlocked_balance"] == balance["outputs"] == 0
    assert balance["next_unlock_height"] == balance["unlocked_height"] == 0
    assert balance["height"] == 1 and balance["top_block_hash"] == fx.chain.tip_id.hex()
    assert fx.outputs(ALICE)["outputs"] == []
    history = fx.history(ALICE)
    assert (history["entries"], history["total"], history["pool"]) == ([], 0, [])


def test_coinbase_maturity_and_balance(fx: Fixture) -> None:
    first = fx.mine(ALICE)
    reward = first.miner_tx.amount
    balance = fx.balance(ALICE)
    assert balance["balance"] == balance["locked_balance"] == reward
    assert balance["unlocked_balance"] == 0 and balance["locked_outputs"] == 1
    assert balance["next_unlock_height"] == balance["unlocked_height"] == 1 + MATURITY
    [output] = fx.outputs(ALICE)["outputs"]
    assert output == {
        "txid": first.miner_tx.hash.hex(),
        "index": 0,
        "amount": reward,
        "height": 1,
        "unlock_height": 1 + MATURITY,
        "coinbase": True,
        "spendable": False,
        "spent_in_pool": False,
    }
    # the unlock height is exactly where the chain's own rule starts to accept it
    outpoint, _ = coinbase(first)
    coin = fx.chain.coin(outpoint)
    assert coin is not None and unlock_height(coin, fx.chain.params) == 1 + MATURITY
    check_spendable(coin, 1 + MATURITY, fx.chain.params, outpoint)
    with pytest.raises(errors.ImmatureSpendError):
        check_spendable(coin, MATURITY, fx.chain.params, outpoint)

    for _ in range(MATURITY - 2):
        fx.mine(CAROL)
    assert fx.balance(ALICE)["unlocked_balance"] == 0  # the tip is at MATURITY - 1
    fx.mine(CAROL)  # the next block, 1 + MATURITY, may spend it
    balance = fx.balance(ALICE)
    assert balance["unlocked_balance"] == balance["balance"] == reward
    assert balance["locked_outputs"] == 0 and balance["next_unlock_height"] == 0
    assert fx.outputs(ALICE)["outputs"][0]["spendable"] is True


def test_a_transfer_in_the_pool_then_mined(fx: Fixture) -> None:
    first = fx.mine(ALICE)
    for _ in range(MATURITY):
        fx.mine(CAROL)
    coin = coinbase(first)
    fee = fx.chain.params.min_fee
    amount = 3 * 10**12
    tx = pay(ALICE, coin, BOB, amount, fee)
    assert fx.mempool.add(tx)

    # in the pool: the coin is spent there, the change and the payment are incoming
    alice = fx.balance(ALICE)
    assert alice["pool_outgoing"] == coin[1]
    assert alice["pool_incoming"] == coin[1] - amount - fee
    assert alice["balance"] == coin[1]  # the chain has not changed yet
    assert fx.outputs(ALICE)["outputs"][0]["spent_in_pool"] is True
    assert fx.outputs(BOB)["pool_outputs"] == [
        {"txid": tx.txid.hex(), "index": 0, "amount": amount}
    ]
    pool = fx.history(ALICE)["pool"]
    assert {(e["type"], e["amount"], e["fee"]) for e in pool} == {
        ("in", coin[1] - amount - fee, 0),
        ("out", coin[1], fee),
    }
    assert fx.history(BOB)["pool"][0]["txid"] == tx.txid.hex()

    block = fx.mine(CAROL, (tx,))
    height = fx.chain.height
    bob = fx.balance(BOB)
    assert bob["balance"] == bob["locked_balance"] == amount and bob["unlocked_balance"] == 0
    assert bob["next_unlock_height"] == height + AGE
    assert fx.history(ALICE)["pool"] == [] and fx.balance(ALICE)["pool_outgoing"] == 0
    [received] = fx.history(BOB)["entries"]
    assert received == {
        "type": "in",
        "txid": tx.txid.hex(),
        "height": height,
        "timestamp": block.header.timestamp,
        "confirmations": 1,
        "amount": amount,
        "fee": 0,
        "coinbase": False,
        "outpoint": {"txid": tx.txid.hex(), "index": 0},
    }
    entries = fx.history(ALICE)["entries"]
    assert [(e["type"], e["height"]) for e in entries] == [
        ("in", 1),
        ("out", height),
        ("in", height),
    ]
    mined, spent, change = entries
    assert mined["coinbase"] is True and mined["confirmations"] == height
    assert spent["txid"] == tx.txid.hex() and spent["fee"] == fee and spent["amount"] == coin[1]
    assert spent["outpoint"] == {"txid": first.miner_tx.hash.hex(), "index": 0}
    assert change["amount"] == coin[1] - amount - fee and change["outpoint"]["index"] == 1
    alice = fx.balance(ALICE)
    assert alice["balance"] == coin[1] - amount - fee

    # pages
    page = fx.history(ALICE, offset=1, limit=1)
    assert page["entries"] == [spent] and page["total"] == 3
    assert (page["offset"], page["limit"]) == (1, 1)
    assert fx.history(ALICE, offset=5)["entries"] == []


def test_bad_params_are_clear_errors(fx: Fixture) -> None:
    api = fx.api
    with pytest.raises(WrongNetworkError, match="this is a testnet address; this node runs devnet"):
        api.get_address_balance({"address": address(ALICE, "testnet")})
    with pytest.raises(ValueError, match="missing param: address"):
        api.get_address_outputs({})
    with pytest.raises(TypeError, match="params must be an object"):
        api.get_address_outputs([address(ALICE)])
    with pytest.raises(TypeError, match="address must be a string"):
        api.get_address_balance({"address": 5})
    with pytest.raises(ValueError, match="invalid address"):
        api.get_address_history({"address": "ZDe" + "1" * 20})
    with pytest.raises(ValueError, match=f"limit must be in 1..{MAX_HISTORY_LIMIT}"):
        api.get_address_history({"address": address(ALICE), "limit": 0})
    with pytest.raises(TypeError, match="offset must be an integer"):
        api.get_address_history({"address": address(ALICE), "offset": "1"})
    with pytest.raises(TypeError, match="limit must be an integer"):
        api.get_address_history({"address": address(ALICE), "limit": True})


def test_a_chain_that_is_not_open_is_a_clear_error(fx: Fixture) -> None:
    starting = SimpleNamespace(chain=None, mempool=None, lock=threading.RLock())
    api = AddressRpc(lambda: starting, "devnet")
    with pytest.raises(ServiceError, match="the node is starting"):
        api.get_address_balance({"address": address(ALICE)})
    assert NOT_OPEN.startswith("the node is starting")


def test_the_methods_are_described() -> None:
    methods = rpc_methods(AddressRpc(lambda: None, "devnet"))  # type: ignore[arg-type,return-value]
    assert [m.name for m in methods] == [
        "get_address_balance",
        "get_address_outputs",
        "get_address_history",
    ]
    jsonschema = pytest.importorskip("jsonschema")
    for method in methods:
        assert method.description and not method.restricted
        assert method.params_schema is not None and method.result_schema is not None
        jsonschema.Draft202012Validator.check_schema(method.params_schema)
        jsonschema.Draft202012Validator.check_schema(method.result_schema)
        assert method.params_schema["required"][0] == "address"


# ----------------------------------------------------------------------------- a real node

PLUGINS = ["consensus", "sqlite", "randomx"]


def test_registered_by_the_plugin_and_clear_before_the_chain_opens(make_node: Any) -> None:
    node = make_node(installed=PLUGINS)
    registry = node.registry("rpc_method")
    for name in ("get_address_balance", "get_address_outputs", "get_address_history"):
        assert name in registry.names() and registry.owner(name) == "consensus"
    with pytest.raises(ServiceError, match="the node is starting"):
        registry.get("get_address_balance").handler({"address": address(ALICE)})
    bare = make_node(installed=["consensus"])  # no storage, no hasher: no chain service
    with pytest.raises(ServiceError, match="keeps no chain"):
        bare.registry("rpc_method").get("get_address_outputs").handler({"address": address(ALICE)})
    assert "--plugin sqlite --plugin randomx" in NO_CHAIN


@pytest.mark.anyio
async def test_over_http_on_a_devnet_node(make_node: Callable[..., Any]) -> None:
    node = make_node(
        installed=[*PLUGINS, "jsonrpc"],
        sets=["chain.initial_difficulty=1", "rpc.bind=127.0.0.1:0", "randomx.threads=1"],
    )
    services = node.registry("service")
    chain_service, rpc_service = services.get("chain"), services.get("rpc")
    async with anyio.create_task_group() as tg:
        await tg.start(chain_service.run)
        await tg.start(rpc_service.run)
        template = chain_service.chain.template(ALICE.spend.public_key, ALICE.view.public_key)
        await anyio.to_thread.run_sync(chain_service.submit_block, template.block)
        url = f"http://127.0.0.1:{rpc_service.port}/json_rpc"
        async with httpx.AsyncClient(timeout=30) as client:

            async def call(method: str, params: Any) -> dict[str, Any]:
                body = {"jsonrpc": "2.0", "id": "0", "method": method, "params": params}
                response = await client.post(url, json=body)
                assert response.status_code == 200
                answer: dict[str, Any] = response.json()
                return answer

            answer = await call("get_address_balance", {"address": address(ALICE)})
            balance = checked(answer["result"], "balance")
            assert balance["balance"] == balance["locked_balance"] == template.reward
            assert balance["height"] == 2
            assert balance["next_unlock_height"] == 1 + DEVNET.coinbase_maturity
            outputs = checked(
                (await call("get_address_outputs", {"address": address(ALICE)}))["result"],
                "outputs",
            )
            assert outputs["outputs"][0]["txid"] == template.block.miner_tx.hash.hex()
            history = await call("get_address_history", {"address": address(ALICE), "limit": 10})
            assert checked(history["result"], "history")["entries"][0]["coinbase"] is True
            wrong = await call("get_address_balance", {"address": address(ALICE, "mainnet")})
            assert wrong["error"]["code"] == -32602
            assert wrong["error"]["data"] == "this is a mainnet address; this node runs devnet"
        with anyio.fail_after(10):
            await rpc_service.drain()
        tg.cancel_scope.cancel()
