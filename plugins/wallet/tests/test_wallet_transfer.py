"""Transfers: coin selection, change, fees, errors, balances and signatures."""

from __future__ import annotations

import hashlib

import pytest

from zion_core.chain.address import InvalidAddressError, WrongNetworkError
from zion_core.chain.ed25519 import consensus_backend
from zion_core.chain.keys import WalletKeys
from zion_core.chain.transaction import MAX_INPUTS, OutPoint, Transaction
from zion_plugin_wallet.errors import (
    DuplicateCoinError,
    InsufficientFundsError,
    InvalidAmountError,
    TooManyInputsError,
)
from zion_plugin_wallet.transfer import (
    ATOMIC_UNITS_PER_ZION,
    SpendableCoin,
    build_transfer,
    format_amount,
    parse_amount,
    plan_payments,
    plan_transfer,
    select_coins,
)
from zion_plugin_wallet.wallet import Wallet

ZION = ATOMIC_UNITS_PER_ZION
FEE = 1_000
OWN = WalletKeys.from_seed(b"\x01" * 32)
PEER = WalletKeys.from_seed(b"\x02" * 32)
DEST = PEER.address("devnet")


def coin(amount: int, n: int = 0) -> SpendableCoin:
    txid = hashlib.sha256(f"{amount}/{n}".encode()).digest()
    return SpendableCoin(OutPoint(txid, n), amount)


def amounts(coins: tuple[SpendableCoin, ...]) -> list[int]:
    return [c.amount for c in coins]


def test_selection_strategy() -> None:
    pool = [coin(a) for a in (5, 20, 7, 100, 3)]
    assert amounts(select_coins(pool, 7)) == [7]  # exact match
    assert amounts(select_coins(pool, 8)) == [20]  # smallest single coin that covers it
    assert amounts(select_coins(pool, 101)) == [100, 20]  # largest first: fewest inputs
    assert amounts(select_coins(pool, 125)) == [100, 20, 7]
    assert amounts(select_coins(pool, 135)) == [100, 20, 7, 5, 3]


def test_selection_errors() -> None:
    with pytest.raises(InsufficientFundsError, match=r"available in 2 coin\(s\)") as caught:
        select_coins([coin(ZION), coin(ZION // 2)], 2 * ZION)
    assert (caught.value.available, caught.value.needed) == (3 * ZION // 2, 2 * ZION)
    assert "1.5 ZION available" in str(caught.value) and "2 ZION needed" in str(caught.value)
    with pytest.raises(DuplicateCoinError, match="offered twice"):
        select_coins([coin(5), coin(5)], 5)
    many = [coin(1, n) for n in range(MAX_INPUTS + 1)]
    assert len(select_coins(many, MAX_INPUTS)) == MAX_INPUTS
    with pytest.raises(TooManyInputsError, match=f"needs {MAX_INPUTS + 1} inputs"):
        select_coins(many, MAX_INPUTS + 1)


def verify(tx: Transaction, keys: WalletKeys) -> bool:
    backend = consensus_backend()
    return all(
        backend.verify(keys.spend.public_key, tx.signing_message, signature)
        for signature in tx.signatures
    )


def test_built_transfer_balances_and_verifies() -> None:
    pool = [coin(3 * ZION), coin(2 * ZION), coin(ZION // 10)]
    tx = build_transfer(OWN, "devnet", pool, DEST, 4 * ZION, FEE)
    assert tx.is_signed and len(tx.inputs) == 2
    spent = sum(c.amount for c in pool if c.outpoint in tx.inputs)
    assert spent == tx.total_output + tx.fee
    assert tx.fee == FEE
    pay, change = tx.outputs
    assert (pay.amount, pay.spend_key, pay.view_key) == (4 * ZION, DEST.spend_key, DEST.view_key)
    own = OWN.address("devnet")
    assert (change.amount, change.spend_key, change.view_key) == (
        ZION - FEE,
        own.spend_key,
        own.view_key,
    )
    assert verify(tx, OWN)
    assert not verify(tx, PEER)
    assert Transaction.from_bytes(tx.to_bytes()) == tx  # a valid wire form


def test_no_change_output_on_exact_match() -> None:
    plan = plan_transfer(OWN, "devnet", [coin(ZION + FEE), coin(7 * ZION)], DEST, ZION, FEE)
    assert plan.change == 0 and len(plan.transaction.outputs) == 1
    assert plan.total_input == plan.amount + plan.fee


def test_amount_and_fee_checks() -> None:
    for bad in (0, -1):
        with pytest.raises(InvalidAmountError, match="positive"):
            build_transfer(OWN, "devnet", [coin(ZION)], DEST, bad, FEE)
    with pytest.raises(InvalidAmountError, match="non-negative"):
        build_transfer(OWN, "devnet", [coin(ZION)], DEST, 1, -1)
    with pytest.raises(InvalidAmountError, match="exceed"):
        build_transfer(OWN, "devnet", [coin(ZION)], DEST, 2**64 - 1, 1)
    with pytest.raises(InvalidAmountError):
        coin(0)


def test_insufficient_funds_counts_the_fee() -> None:
    with pytest.raises(InsufficientFundsError, match="amount plus fee"):
        build_transfer(OWN, "devnet", [coin(ZION)], DEST, ZION, FEE)


def test_destination_network() -> None:
    with pytest.raises(WrongNetworkError, match="mainnet address; this wallet is on devnet"):
        build_transfer(OWN, "devnet", [coin(ZION)], PEER.address("mainnet"), 1, FEE)
    with pytest.raises(WrongNetworkError):
        build_transfer(OWN, "devnet", [coin(ZION)], str(PEER.address("testnet")), 1, FEE)
    with pytest.raises(InvalidAddressError):
        build_transfer(OWN, "devnet", [coin(ZION)], "4" + "1" * 94, 1, FEE)


def test_wallet_build_transfer_and_format_amount() -> None:
    tx = Wallet(OWN, "devnet").build_transfer([coin(ZION)], DEST, 1, 0)
    assert verify(tx, OWN) and tx.outputs[1].amount == ZION - 1
    assert format_amount(0) == "0 ZION"
    assert format_amount(1) == "0.000000000001 ZION"
    assert format_amount(12 * ZION + ZION // 4) == "12.25 ZION"


@pytest.mark.parametrize(
    ("text", "atomic"),
    [
        ("1", ZION),
        ("1.5", 3 * ZION // 2),
        (" 0.0001 ", 10**8),
        ("0.000000000001", 1),
        ("2.50 ZION", 5 * ZION // 2),
        ("1e3", 1000 * ZION),
        (".25", ZION // 4),
        ("18446744.073709551615", 2**64 - 1),
        ("12345678.123456789012", 12_345_678_123_456_789_012),
    ],
)
def test_parse_amount_is_exact(text: str, atomic: int) -> None:
    assert parse_amount(text) == atomic
    assert parse_amount(format_amount(atomic)) == atomic


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is not an amount of ZION"),
        ("one", "is not an amount of ZION"),
        ("1,5", "is not an amount of ZION"),
        ("inf", "is not an amount of ZION"),
        ("0", "more than 0 ZION"),
        ("-2", "more than 0 ZION"),
        ("0.0000000000001", "more than 12 decimal places"),
        ("18446744.073709551616", "more than an amount can be"),
        ("1e40", "more than an amount can be"),
        ("9" * 80, "is not an amount of ZION"),
    ],
)
def test_parse_amount_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidAmountError, match=message):
        parse_amount(text)


def test_plan_payments_pays_each_destination_in_order() -> None:
    other = WalletKeys.from_seed(b"\x03" * 32).address("devnet")
    plan = plan_payments(
        OWN, "devnet", [coin(10 * ZION)], [(DEST, ZION), (str(other), 2 * ZION)], FEE
    )
    first, second, change = plan.transaction.outputs
    assert (first.amount, first.spend_key) == (ZION, DEST.spend_key)
    assert (second.amount, second.spend_key) == (2 * ZION, other.spend_key)
    assert change.amount == 7 * ZION - FEE and plan.amount == 3 * ZION
    with pytest.raises(InvalidAmountError, match="at least one destination"):
        plan_payments(OWN, "devnet", [coin(ZION)], [], FEE)
    with pytest.raises(InvalidAmountError, match="at most 255 destinations"):
        plan_payments(OWN, "devnet", [coin(ZION)], [(DEST, 1)] * 256, FEE)
