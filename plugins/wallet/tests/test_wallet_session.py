"""The node-backed wallet (balance, history, transfers, the journal) over a fake node."""

from __future__ import annotations

import sqlite3
import stat
import threading
from pathlib import Path

import pytest
from wallet_fakes import FEE, ZION, FakeNode, fake_http_node

from zion_core.chain.address import WrongNetworkError
from zion_core.chain.keys import WalletKeys
from zion_core.chain.transaction import Transaction
from zion_plugin_wallet.errors import (
    FundsLockedError,
    IdempotencyKeyError,
    InsufficientFundsError,
    NodeUnreachableError,
    TransactionRefusedError,
    WalletFileError,
    WrongNodeNetworkError,
)
from zion_plugin_wallet.journal import Journal, journal_path
from zion_plugin_wallet.session import WalletSession

KEYS = WalletKeys.from_seed(bytes([41]) * 32)
ADDRESS = KEYS.address("devnet")
PEER = str(WalletKeys.from_seed(bytes([42]) * 32).address("devnet"))
OTHER = str(WalletKeys.from_seed(bytes([43]) * 32).address("devnet"))


@pytest.fixture
def node() -> FakeNode:
    fake = FakeNode(ADDRESS)
    fake.add_output(1, 10 * ZION, height=1)  # spendable (unlock 11 <= 100)
    fake.add_output(2, 5 * ZION, height=2)
    fake.add_output(3, 7 * ZION, height=95, unlock=105)  # locked until 105
    return fake


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal.open(journal_path(tmp_path / "w.wallet"), str(ADDRESS), "devnet")


@pytest.fixture
def session(node: FakeNode, journal: Journal) -> WalletSession:
    return WalletSession(ADDRESS, node, keys=KEYS, journal=journal)


def test_balance_counts_locked_and_pending(session: WalletSession, node: FakeNode) -> None:
    balance = session.balance()
    assert (balance.balance, balance.unlocked_balance) == (22 * ZION, 15 * ZION)
    assert (balance.locked_balance, balance.locked_outputs) == (7 * ZION, 1)
    assert balance.next_unlock_height == balance.unlocked_height == 105
    assert balance.height == 100 and balance.blocks_to_unlock == 5

    result = session.transfer([(PEER, 2 * ZION)])
    assert result.replayed is False and len(node.submitted) == 1
    tx = node.submitted[0]
    assert [o.amount for o in tx.outputs] == [2 * ZION, 5 * ZION - 2 * ZION - FEE]
    pending = session.balance()
    assert pending.balance == 22 * ZION - 2 * ZION - FEE  # the change counts
    assert pending.unlocked_balance == 10 * ZION  # the 5 ZION coin is held
    assert (pending.held, pending.pending_transfers) == (5 * ZION, 1)
    node.mine()
    mined = session.balance()
    assert mined.balance == 22 * ZION - 2 * ZION - FEE and mined.pending_transfers == 0


def test_the_journal_is_written_before_the_broadcast(
    session: WalletSession, node: FakeNode, journal: Journal
) -> None:
    seen: list[str] = []

    def check(tx: Transaction) -> None:  # another connection sees the committed row
        with sqlite3.connect(journal.path) as db:
            rows = db.execute("SELECT txid, state FROM transfers").fetchall()
        seen.extend(txid for txid, state in rows if state == "pending")
        assert tx.txid.hex() in seen

    node.before_submit = check
    result = session.transfer([(PEER, ZION)], idempotency_key="k")
    assert seen == [result.txid]
    assert stat.S_IMODE(journal.path.stat().st_mode) == 0o600
    with journal._connection() as db:  # every write is fsync-ed: synchronous = FULL
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_an_idempotency_key_returns_the_same_transaction(
    session: WalletSession, node: FakeNode, journal: Journal
) -> None:
    first = session.transfer([(PEER, 3 * ZION)], idempotency_key="invoice-7")
    again = session.transfer([(PEER, 3 * ZION)], idempotency_key="invoice-7")
    assert again.txid == first.txid and again.replayed and not first.replayed
    assert len(node.submitted) == 1  # in the pool: not sent again
    assert len(journal.entries()) == 1
    with pytest.raises(IdempotencyKeyError, match="'invoice-7' was used for a transfer to other"):
        session.transfer([(PEER, 4 * ZION)], idempotency_key="invoice-7")
    with pytest.raises(IdempotencyKeyError, match="'invoice-7' was used"):
        session.transfer([(OTHER, 3 * ZION)], idempotency_key="invoice-7")
    # the node lost it: a retry sends the very same transaction again
    node.pool.clear()
    retried = session.transfer([(PEER, 3 * ZION)], idempotency_key="invoice-7")
    assert retried.txid == first.txid and node.submitted[-1].txid.hex() == first.txid
    node.mine()
    mined = session.transfer([(PEER, 3 * ZION)], idempotency_key="invoice-7")
    assert mined.txid == first.txid and mined.status is not None and not mined.status.in_pool
    assert len(node.submitted) == 2 and len(journal.entries()) == 1
    with pytest.raises(IdempotencyKeyError, match="1 to 200 printable"):
        session.transfer([(PEER, ZION)], idempotency_key="")


def test_pending_coins_are_not_spent_twice(session: WalletSession, node: FakeNode) -> None:
    first = session.transfer([(PEER, ZION)])  # takes the 5 ZION coin (smallest that covers)
    node.pool.clear()  # the node forgets it; only the journal knows the coin is taken
    node.down = True
    with pytest.raises(NodeUnreachableError):
        session.transfer([(PEER, ZION)])
    node.down = False
    second = session.transfer([(PEER, ZION)])  # first sent again, then a new one
    assert node.submitted[1].txid.hex() == first.txid
    inputs = [set(tx.inputs) for tx in node.submitted]
    assert inputs[0] == inputs[1] and not inputs[0] & inputs[2]
    assert node.submitted[2].txid.hex() == second.txid
    with pytest.raises(FundsLockedError, match="is held by pending transactions"):
        session.transfer([(PEER, 9 * ZION)])  # both spendable coins are held now


def test_a_refused_transaction_frees_its_coins(session: WalletSession, node: FakeNode) -> None:
    node.refuse = "output a:0 is locked until height 200"
    with pytest.raises(TransactionRefusedError, match="locked until height 200") as caught:
        session.transfer([(PEER, ZION)], idempotency_key="r")
    assert caught.value.reason == "output a:0 is locked until height 200"
    [entry] = session.journal.entries()  # type: ignore[union-attr]
    assert entry.state == "failed" and entry.reason == node.refuse
    assert session.balance().unlocked_balance == 15 * ZION  # nothing held
    [failed] = [r for r in session.history() if r.type == "failed"]
    assert failed.reason == node.refuse and failed.idempotency_key == "r"
    # the same key again: the same transaction, refused again (never a second one)
    with pytest.raises(TransactionRefusedError):
        session.transfer([(PEER, ZION)], idempotency_key="r")
    assert len({tx.txid for tx in node.submitted}) == 1
    node.refuse = ""
    assert session.transfer([(PEER, ZION)], idempotency_key="r").txid == entry.txid
    assert session.journal.entries()[0].state == "pending"  # type: ignore[union-attr]


def test_unreachable_while_sending_keeps_the_transaction(
    session: WalletSession, node: FakeNode
) -> None:
    def cut(tx: Transaction) -> None:
        node.down = True
        raise NodeUnreachableError("cannot reach the node at http://fake.node (refused)")

    node.before_submit = cut
    with pytest.raises(NodeUnreachableError, match="retry with the idempotency key 'x'") as err:
        session.transfer([(PEER, ZION)], idempotency_key="x")
    assert "saved in the wallet's journal" in str(err.value)
    assert "cannot be paid twice" in str(err.value)
    node.before_submit = None
    node.down = False
    result = session.transfer([(PEER, ZION)], idempotency_key="x")
    assert result.replayed and node.pool == {result.txid: node.submitted[-1]}


def test_funds_errors_say_what_is_missing(session: WalletSession, node: FakeNode) -> None:
    with pytest.raises(FundsLockedError) as locked:
        session.transfer([(PEER, 20 * ZION)])
    message = str(locked.value)
    assert message.startswith("funds are locked: sending needs 20.0001 ZION")
    assert "only 15 ZION is spendable now" in message
    assert "7 ZION of the balance is still locked" in message
    assert "unlocks at height 105 (the chain's tip is at height 99)" in message
    assert (locked.value.locked, locked.value.spendable_from) == (7 * ZION, 105)
    with pytest.raises(InsufficientFundsError, match="insufficient funds") as poor:
        session.quote([(PEER, 30 * ZION)])
    assert "whole balance is 22 ZION" in str(poor.value)
    assert not isinstance(poor.value, FundsLockedError)
    session.transfer([(PEER, 4 * ZION)])  # holds the 5 ZION coin
    with pytest.raises(FundsLockedError, match="held by pending transactions"):
        session.transfer([(PEER, 21 * ZION)])
    assert session.quote([(PEER, ZION)]) == (ZION, FEE)


def test_addresses_and_networks(session: WalletSession, node: FakeNode, tmp_path: Path) -> None:
    with pytest.raises(WrongNetworkError, match="is a testnet address; this wallet is on devnet"):
        session.transfer([(str(KEYS.address("testnet")), ZION)])
    with pytest.raises(ValueError, match="bad destination address"):
        session.transfer([("ZDe123", ZION)])
    node.net = "testnet"
    fresh = WalletSession(ADDRESS, node, keys=KEYS, journal=session.journal)
    with pytest.raises(WrongNodeNetworkError, match="runs testnet; this wallet is a devnet"):
        fresh.balance()
    with pytest.raises(WalletFileError, match="belongs to the devnet wallet"):
        Journal.open(session.journal.path, PEER, "devnet")  # type: ignore[union-attr]


def test_history_groups_by_transaction(session: WalletSession, node: FakeNode) -> None:
    records = session.history()
    assert [(r.type, r.amount) for r in records] == [
        ("block", 10 * ZION),
        ("block", 5 * ZION),
        ("block", 7 * ZION),
    ]
    assert [r.locked for r in records] == [False, False, True]
    result = session.transfer([(PEER, ZION)], idempotency_key="h")
    node.pool.clear()  # unknown to the node: pending, with a note
    [pending] = [r for r in session.history() if r.type == "pending"]
    assert pending.txid == result.txid and pending.reason == "not known to the node yet"
    assert pending.destinations == ((PEER, ZION),) and pending.fee == FEE
    entry = pending.to_json(str(ADDRESS))
    assert entry["destinations"] == [{"address": PEER, "amount": ZION}]
    assert entry["idempotency_key"] == "h" and entry["payment_id"] == "0" * 16


def test_concurrent_transfers_use_different_coins(session: WalletSession, node: FakeNode) -> None:
    results = []

    def send() -> None:
        results.append(session.transfer([(PEER, ZION)]))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2
    assert not set(node.submitted[0].inputs) & set(node.submitted[1].inputs)


def test_over_http(node: FakeNode, journal: Journal) -> None:
    with fake_http_node(node) as http:
        session = WalletSession(ADDRESS, http, keys=KEYS, journal=journal)
        assert session.balance().unlocked_balance == 15 * ZION
        result = session.transfer([(PEER, ZION)], idempotency_key="web")
        assert node.pool[result.txid].txid.hex() == result.txid
        assert session.transfer([(PEER, ZION)], idempotency_key="web").replayed
        assert [r.type for r in session.history()].count("block") == 3
        node.refuse = "fee too low"
        with pytest.raises(TransactionRefusedError, match="the node refused the transaction: fee"):
            session.transfer([(PEER, 2 * ZION)])


def test_bad_input_changes_nothing(session: WalletSession, node: FakeNode) -> None:
    cases = [
        ([], "at least one destination"),
        ([(PEER, 0)], "positive number of atomic units"),
        ([(PEER, 2**63), (PEER, 2**63)], "add up to more than"),
        ([(PEER, 1)] * 256, "at most 255 destinations"),
        ([(PEER, 1), ("nope", 1)], "bad destination address"),
    ]
    for bad, message in cases:
        with pytest.raises(ValueError, match=message):
            session.transfer(bad)
    assert node.calls == [] and session.journal.entries() == []  # type: ignore[union-attr]
