"""The wallet RPC: the [wallet] section, registration, and the handlers over a fake node
(the end-to-end test with a real node is test_wallet_node.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from wallet_fakes import FEE, ZION, FakeNode, serve

from zion_core import ConfigError
from zion_core.chain.keys import WalletKeys
from zion_plugin_wallet.errors import (
    FundsLockedError,
    IdempotencyKeyError,
    NodeError,
    WrongPasswordError,
)
from zion_plugin_wallet.journal import Journal, journal_path
from zion_plugin_wallet.node import HttpNode
from zion_plugin_wallet.rpc import WalletRpc, rpc_methods
from zion_plugin_wallet.session import WalletSession
from zion_plugin_wallet.wallet import Wallet
from zion_plugin_wallet.walletfile import ScryptParams

KEYS = WalletKeys.from_seed(bytes([61]) * 32)
ADDRESS = KEYS.address("devnet")
PEER = str(WalletKeys.from_seed(bytes([62]) * 32).address("devnet"))
PASSWORD = "wallet rpc"
NAMES = ["get_balance", "get_address", "transfer", "get_transfers", "get_transfer_by_txid"]


@pytest.fixture
def node() -> FakeNode:
    fake = FakeNode(ADDRESS)
    fake.add_output(1, 10 * ZION, height=1)
    fake.add_output(2, 4 * ZION, height=99, unlock=110)
    return fake


@pytest.fixture
def api(node: FakeNode, tmp_path: Path) -> WalletRpc:
    journal = Journal.open(journal_path(tmp_path / "w.wallet"), str(ADDRESS), "devnet")
    return WalletRpc(WalletSession(ADDRESS, node, keys=KEYS, journal=journal))


def valid(result: dict[str, Any], name: str) -> dict[str, Any]:
    jsonschema = pytest.importorskip("jsonschema")
    [method] = [m for m in rpc_methods(WalletRpc(None)) if m.name == name]  # type: ignore[arg-type]
    jsonschema.validate(result, method.result_schema, cls=jsonschema.Draft202012Validator)
    return result


def test_balance_and_address(api: WalletRpc) -> None:
    balance = valid(api.get_balance({}), "get_balance")
    assert (balance["balance"], balance["unlocked_balance"]) == (14 * ZION, 10 * ZION)
    assert balance["blocks_to_unlock"] == 10 and balance["locked_balance"] == 4 * ZION
    [sub] = balance["per_subaddress"]
    assert sub["address"] == str(ADDRESS) and sub["num_unspent_outputs"] == 2
    address = valid(api.get_address(None), "get_address")
    assert address["address"] == str(ADDRESS)
    assert address["addresses"] == [
        {"address": str(ADDRESS), "address_index": 0, "label": "", "used": True}
    ]
    with pytest.raises(ValueError, match="one account, index 0"):
        api.get_balance({"account_index": 1})


def test_transfer_is_idempotent(api: WalletRpc, node: FakeNode) -> None:
    params = {"destinations": [{"amount": 2 * ZION, "address": PEER}], "idempotency_key": "a1"}
    first = valid(api.transfer(params), "transfer")
    assert (first["amount"], first["fee"], first["replayed"]) == (2 * ZION, FEE, False)
    assert first["tx_blob"] == "" and first["idempotency_key"] == "a1"
    again = valid(api.transfer({**params, "get_tx_hex": True}), "transfer")
    assert again["tx_hash"] == first["tx_hash"] and again["replayed"] is True
    assert bytes.fromhex(again["tx_blob"]) == node.submitted[0].to_bytes()
    assert len(node.submitted) == 1
    with pytest.raises(IdempotencyKeyError, match="'a1' was used for a transfer to other"):
        api.transfer({**params, "destinations": [{"amount": 3 * ZION, "address": PEER}]})
    with pytest.raises(FundsLockedError, match="funds are"):
        api.transfer({"destinations": [{"amount": 9 * ZION, "address": PEER}]})


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        ([], ValueError, "destinations must be a non-empty list"),
        ({"destinations": []}, ValueError, "non-empty list"),
        ({"destinations": [PEER]}, TypeError, "each destination is an object"),
        ({"destinations": [{"address": PEER, "amount": "1"}]}, TypeError, "must be an integer"),
        ({"destinations": [{"address": PEER, "amount": 0}]}, ValueError, "must be in 1"),
        ({"destinations": [{"address": 5, "amount": 1}]}, TypeError, "address must be a string"),
        ({"destinations": [{"address": "Zx", "amount": 1}]}, ValueError, "bad destination"),
        (
            {"destinations": [{"address": PEER, "amount": 1}], "idempotency_key": 7},
            TypeError,
            "idempotency_key must be a string",
        ),
        ({"destinations": [{"address": PEER, "amount": 1}], "get_tx_hex": 1}, TypeError, "true"),
        ("x", TypeError, "params must be an object"),
    ],
)
def test_bad_transfer_params(api: WalletRpc, params: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        api.transfer(params)


def test_transfers_by_category(api: WalletRpc, node: FakeNode) -> None:
    every = valid(api.get_transfers({}), "get_transfers")
    assert set(every) == {"in", "out", "pending", "failed", "pool"}
    assert [t["type"] for t in every["in"]] == ["block", "block"]
    sent = api.transfer({"destinations": [{"amount": ZION, "address": PEER}]})
    pending = valid(api.get_transfers({"pending": True}), "get_transfers")
    assert list(pending) == ["pending"]
    [entry] = pending["pending"]
    assert entry["txid"] == sent["tx_hash"] and entry["fee"] == FEE
    assert entry["destinations"] == [{"address": PEER, "amount": ZION}]
    found = valid(api.get_transfer_by_txid({"txid": sent["tx_hash"]}), "get_transfer_by_txid")
    assert found["transfer"] == entry and found["transfers"] == [entry]
    recent = api.get_transfers({"in": True, "filter_by_height": True, "min_height": 50})
    assert [t["height"] for t in recent["in"]] == [99]
    with pytest.raises(ValueError, match="no transfer of this wallet"):
        api.get_transfer_by_txid({"txid": "ab" * 32})
    with pytest.raises(ValueError, match="64 hex digits"):
        api.get_transfer_by_txid({"txid": "xyz"})
    with pytest.raises(TypeError, match="in must be true or false"):
        api.get_transfers({"in": "yes"})


def test_schemas_are_valid_and_methods_restricted() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    methods = rpc_methods(WalletRpc(None))  # type: ignore[arg-type]
    assert [m.name for m in methods] == NAMES
    for method in methods:
        assert method.restricted and method.description
        jsonschema.Draft202012Validator.check_schema(method.params_schema)
        jsonschema.Draft202012Validator.check_schema(method.result_schema)


# ----------------------------------------------------------------------------- the node


def wallet_file(tmp_path: Path, network: str = "devnet") -> Path:
    path = tmp_path / f"{network}.wallet"
    Wallet(KEYS, network).save(path, PASSWORD, kdf=ScryptParams.new(n=16))  # type: ignore[arg-type]
    return path


def test_off_by_default(make_node: Any) -> None:
    node = make_node(installed=["consensus", "wallet"])
    assert node.config_section("wallet").file is None
    assert not set(NAMES) & set(node.registry("rpc_method").names())


def test_configured_wallet_registers_the_methods(
    make_node: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = wallet_file(tmp_path)
    monkeypatch.setenv("ZION_WALLET_PASSWORD", PASSWORD)
    node = make_node(installed=["consensus", "wallet"], sets=[f"wallet.file='{path}'"])
    registry = node.registry("rpc_method")
    for name in NAMES:
        assert registry.owner(name) == "wallet" and registry.get(name).restricted
    assert journal_path(path).exists()
    for name in ("get_balance", "get_address"):  # this node keeps no chain
        with pytest.raises(NodeError, match="keeps no chain"):
            registry.get(name).handler({})


def test_configuration_errors_are_clear(
    make_node: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ZION_WALLET_PASSWORD", raising=False)
    path = wallet_file(tmp_path)
    setting = f"wallet.file='{path}'"
    with pytest.raises(ConfigError, match="no password: set \\[wallet\\] password_file"):
        make_node(installed=["consensus", "wallet"], sets=[setting])
    wrong = tmp_path / "wrong"
    wrong.write_text("nope\n")
    with pytest.raises(WrongPasswordError):
        make_node(
            installed=["consensus", "wallet"],
            sets=[setting, f"wallet.password_file='{wrong}'"],
        )
    monkeypatch.setenv("MY_PASS", PASSWORD)
    testnet = wallet_file(tmp_path, "testnet")
    with pytest.raises(ConfigError, match="is a testnet wallet; this node runs devnet"):
        make_node(
            installed=["consensus", "wallet"],
            sets=[f"wallet.file='{testnet}'", "wallet.password_env=MY_PASS"],
        )
    with pytest.raises(ConfigError, match="password_env"):
        make_node(installed=["consensus", "wallet"], sets=["wallet.password_env='a b'"])


# ----------------------------------------------------------------------------- HTTP answers


def test_http_node_explains_bad_answers(node: FakeNode) -> None:
    def answer(status: int, content: bytes) -> HttpNode:
        transport = httpx.MockTransport(lambda _: httpx.Response(status, content=content))
        return HttpNode("http://127.0.0.1:39181", "devnet", transport=transport)

    with pytest.raises(NodeError, match="answered HTTP 500 to /json_rpc"):
        answer(500, b"").fee_estimate()
    with pytest.raises(NodeError, match="did not answer JSON"):
        answer(200, b"<html>").network()
    with pytest.raises(NodeError, match=r"unexpected answer .* to get_address_outputs"):
        answer(200, b'{"result": {"outputs": 3}}').address_outputs(str(ADDRESS))
    busy = b'{"status": "BUSY", "reason": "Core is busy"}'
    tx_node = HttpNode(
        "http://x",
        "devnet",
        transport=httpx.MockTransport(lambda r: serve(node, r)),
    )
    assert tx_node.fee_estimate() == FEE and tx_node.network() == "devnet"
    with pytest.raises(NodeError, match="could not take the transaction now: Core is busy"):
        answer(200, busy).submit(_signed())
    error = b'{"error": {"code": -1, "message": "the node is starting", "data": {"error": "S"}}}'
    with pytest.raises(NodeError, match="answered get_fee_estimate: the node is starting"):
        answer(200, error).fee_estimate()


def _signed() -> Any:
    from zion_core.chain.transaction import OutPoint, Transaction, TxOutput

    out = TxOutput(ZION, KEYS.spend.public_key, KEYS.view.public_key)
    tx = Transaction(inputs=(OutPoint(txid=bytes(32), index=0),), outputs=(out,), fee=FEE)
    return tx.with_signatures((KEYS.spend.sign(tx.signing_message),))
