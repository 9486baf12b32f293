"""``zion wallet balance | send | history`` through the real command line, against a node
faked behind httpx's mock transport (and, for the unreachable case, a closed port)."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path
from typing import Any

import pytest
from wallet_fakes import FEE, ZION, FakeNode, fake_http_node, serve

from zion_core.chain.keys import WalletKeys
from zion_core.cli import main
from zion_plugin_wallet import cli
from zion_plugin_wallet.node import HttpNode, default_node_url
from zion_plugin_wallet.wallet import Wallet
from zion_plugin_wallet.walletfile import ScryptParams

KEYS = WalletKeys.from_seed(bytes([51]) * 32)
PEER = str(WalletKeys.from_seed(bytes([52]) * 32).address("devnet"))
PASSWORD = "pass phrase"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ZION_WALLET_PASSWORD", "ZION_WALLET_NODE", "ZION_DISABLED_PLUGINS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def wallet(tmp_path: Path) -> Path:
    path = tmp_path / "a.wallet"
    Wallet(KEYS, "devnet").save(path, PASSWORD, kdf=ScryptParams.new(n=16))
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    (tmp_path / "bad-pw").write_text("not it\n")
    return path


@pytest.fixture
def node(monkeypatch: pytest.MonkeyPatch) -> FakeNode:
    fake = FakeNode(KEYS.address("devnet"))
    fake.add_output(1, 10 * ZION, height=1)
    fake.add_output(2, 7 * ZION, height=95, unlock=105)
    fake.add_output(3, 5 * ZION, height=3)
    fake.urls = []  # type: ignore[attr-defined]

    def connect(url: str, network: str) -> HttpNode:
        fake.urls.append(url)  # type: ignore[attr-defined]
        return fake_http_node(fake, url)

    monkeypatch.setattr(cli, "_node", connect)
    return fake


def zion(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def send(capsys: pytest.CaptureFixture[str], wallet: Path, *args: str) -> tuple[int, str, str]:
    pw = str(wallet.parent / "pw")
    return zion(capsys, "wallet", "send", str(wallet), *args, "--password-file", pw, "--yes")


def test_balance_needs_no_password(
    wallet: Path, node: FakeNode, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = zion(capsys, "wallet", "balance", str(wallet))
    assert code == 0, err
    assert node.urls == [default_node_url("devnet")] == ["http://127.0.0.1:39181"]  # type: ignore[attr-defined]
    assert "balance: 22 ZION" in out and "unlocked: 15 ZION" in out
    assert "locked: 7 ZION in 1 output(s), spendable from height 105" in out
    code, out, _ = zion(capsys, "wallet", "balance", str(wallet), "--json", "--node", "http://h:1/")
    report = json.loads(out)
    assert report["balance"] == 22 * ZION and report["unlocked_balance"] == 15 * ZION
    assert report["next_unlock_height"] == 105 and report["node"] == "http://h:1"
    assert not (wallet.parent / "a.wallet.journal").exists()  # reading creates nothing


def test_send_then_history(
    wallet: Path, node: FakeNode, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = send(capsys, wallet, PEER, "1.5")
    assert code == 0, err
    [tx] = node.submitted
    assert f"sent 1.5 ZION to {PEER} (fee 0.0001 ZION)" in out
    assert f"transaction: {tx.txid.hex()}" in out
    assert tx.outputs[0].amount == 3 * ZION // 2 and tx.fee == FEE
    journal = wallet.parent / "a.wallet.journal"
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    code, out, err = send(capsys, wallet, PEER, "1.5", "--idempotency-key", "rent", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["replayed"] is False and report["idempotency_key"] == "rent"
    code, out, err = send(capsys, wallet, PEER, "1.5", "--idempotency-key", "rent", "--json")
    assert json.loads(out)["tx_hash"] == report["tx_hash"] and json.loads(out)["replayed"]
    code, out, err = send(capsys, wallet, PEER, "2", "--idempotency-key", "rent")
    assert code == 2 and "'rent' was used for a transfer to other" in one_error(err)

    code, out, err = zion(capsys, "wallet", "history", str(wallet))
    assert code == 0, err
    lines = out.splitlines()
    assert "block" in lines[0] and "+10 ZION" in lines[0]
    assert any("pending" in line and "-1.5 ZION" in line and PEER in line for line in lines)
    code, out, _ = zion(capsys, "wallet", "history", str(wallet), "--json")
    types = [t["type"] for t in json.loads(out)["transfers"]]
    assert types.count("pending") == 2 and types.count("block") == 3


def test_send_asks_first(
    wallet: Path,
    node: FakeNode,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pw = str(wallet.parent / "pw")
    code, _, err = zion(capsys, "wallet", "send", str(wallet), PEER, "1", "--password-file", pw)
    assert code == 2 and "stdin is not a terminal, so add --yes" in one_error(err)
    asked: list[str] = []

    def answer(question: str, **_: Any) -> bool:
        asked.append(question)
        return False

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("typer.confirm", answer)
    code, _, err = zion(capsys, "wallet", "send", str(wallet), PEER, "1", "--password-file", pw)
    assert code == 1 and "cancelled: nothing was sent" in one_error(err)
    assert asked == [f"send 1 ZION to {PEER} with a fee of 0.0001 ZION (1.0001 ZION in all)?"]
    assert node.submitted == []


def test_each_error_is_one_clear_line(
    wallet: Path, node: FakeNode, capsys: pytest.CaptureFixture[str]
) -> None:
    bad_pw = str(wallet.parent / "bad-pw")
    code, _, err = zion(
        capsys, "wallet", "send", str(wallet), PEER, "1", "--password-file", bad_pw, "--yes"
    )
    assert code == 2 and "wrong password" in one_error(err)

    code, _, err = send(capsys, wallet, PEER, "100")
    assert code == 1 and one_error(err).startswith(
        "error: insufficient funds: sending needs 100.0001 ZION"
    )

    code, _, err = send(capsys, wallet, PEER, "20")
    message = one_error(err)
    assert code == 1 and message.startswith("error: funds are locked")
    assert "7 ZION of the balance is still locked" in message and "unlocks at height 105" in message

    code, _, err = send(capsys, wallet, "ZDe1nonsense", "1")
    assert code == 2 and "bad destination address" in one_error(err)
    testnet = str(KEYS.address("testnet"))
    code, _, err = send(capsys, wallet, testnet, "1")
    assert code == 2 and "is a testnet address; this wallet is on devnet" in one_error(err)

    for amount, expected in [
        ("1.2.3", "is not an amount of ZION"),
        ("0", "must be more than 0 ZION"),
        ("0.0000000000001", "more than 12 decimal places"),
        ("nan", "is not an amount of ZION"),
    ]:
        code, _, err = send(capsys, wallet, PEER, amount)
        assert code == 2 and expected in one_error(err), (amount, err)

    node.refuse = "output ab:0 is already spent by pooled transaction cd"
    code, _, err = send(capsys, wallet, PEER, "1")
    assert code == 1
    assert one_error(err) == f"error: the node refused the transaction: {node.refuse}"

    node.net = "testnet"
    code, _, err = send(capsys, wallet, PEER, "1")
    assert code == 2 and "runs testnet; this wallet is a devnet wallet" in one_error(err)

    code, _, err = zion(capsys, "wallet", "balance", str(wallet), "--node", "127.0.0.1:39181")
    assert code == 2 and "--node must be an http:// URL" in one_error(err)
    assert node.submitted and all(tx.fee == FEE for tx in node.submitted)


def test_an_unreachable_node_is_named(wallet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    code, _, err = zion(capsys, "wallet", "balance", str(wallet), "--node", url)
    message = one_error(err)
    assert code == 1 and f"cannot reach the node at {url}" in message
    assert "zion run --network devnet --plugin sqlite --plugin randomx --plugin jsonrpc" in message
    code, _, err = send(capsys, wallet, PEER, "1", "--node", url)
    assert code == 1 and f"cannot reach the node at {url}" in one_error(err)


def test_a_node_without_the_address_methods(
    wallet: Path,
    node: FakeNode,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import httpx

    def old_node(request: httpx.Request) -> httpx.Response:
        if b"get_address_outputs" in request.content:
            error = {"code": -32601, "message": "Method not found"}
            return httpx.Response(200, json={"jsonrpc": "2.0", "id": "0", "error": error})
        return serve(node, request)

    monkeypatch.setattr(
        cli, "_node", lambda url, net: HttpNode(url, net, transport=httpx.MockTransport(old_node))
    )
    code, _, err = zion(capsys, "wallet", "balance", str(wallet))
    assert code == 1 and "does not serve get_address_outputs" in one_error(err)
