"""Building and signing transfers: choose coins, pay the destination, return the change.

The wallet does not track coins yet (that comes with the wallet RPC against a node); the
caller passes the outputs it may spend as :class:`SpendableCoin` values.

Coin selection (:func:`select_coins`), for ``target = amount + fee``, deterministic:

1. a single coin worth exactly ``target``: one input and no change output;
2. else the smallest single coin worth more than ``target``: one input, and the large
   coins stay whole;
3. else the largest coins first, until they cover ``target``: the fewest inputs, so the
   smallest transaction (fee and size both stay low).

Ties are broken by txid then output index. Step 3 fails with
:class:`TooManyInputsError` if it needs more than
:data:`~zion_core.chain.transaction.MAX_INPUTS` coins (consolidate small coins first),
and :class:`InsufficientFundsError` says how much is available when all the coins
together do not cover ``target``.

The transaction (:func:`build_transfer`) pays ``amount`` to the destination in its first
output and, when the chosen coins exceed ``amount + fee``, the rest back to the wallet's
own address in a second output. Every input is then signed with the spend key, over the
transaction's :attr:`~zion_core.chain.transaction.Transaction.signing_message` (its txid,
which does not cover the signatures).

The fee is the caller's: a wallet asks its node for the current fee estimate (every
built-in network's minimum is 0.0001 ZION, 10^8 atomic units).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from zion_core.chain.address import Address, WrongNetworkError
from zion_core.chain.codec import MAX_UINT64
from zion_core.chain.ed25519 import Ed25519Backend
from zion_core.chain.keys import WalletKeys
from zion_core.chain.transaction import (
    ATOMIC_UNITS_PER_ZION,
    MAX_INPUTS,
    OutPoint,
    Transaction,
    TxOutput,
)
from zion_core.config import Network

from .errors import (
    DuplicateCoinError,
    InsufficientFundsError,
    InvalidAmountError,
    TooManyInputsError,
)


def format_amount(atomic: int) -> str:
    """``atomic`` units as ZION, exactly, without trailing zeros: ``1.5 ZION``."""
    whole, fraction = divmod(atomic, ATOMIC_UNITS_PER_ZION)
    digits = f"{fraction:012d}".rstrip("0")
    return f"{whole}.{digits} ZION" if digits else f"{whole} ZION"


def _positive_amount(_instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int or not 0 < value <= MAX_UINT64:
        raise InvalidAmountError(f"a coin's {attribute.name} must be in 1..2^64-1, not {value!r}")


@attrs.frozen
class SpendableCoin:
    """An output the wallet may spend: where it is and how many atomic units it holds."""

    outpoint: OutPoint
    amount: int = attrs.field(validator=_positive_amount)


@attrs.frozen
class TransferPlan:
    """The unsigned transfer :func:`plan_transfer` chose: the coins, change and transaction."""

    coins: tuple[SpendableCoin, ...]
    amount: int
    fee: int
    change: int
    transaction: Transaction

    @property
    def total_input(self) -> int:
        """The atomic units the chosen coins hold (= amount + fee + change)."""
        return sum(coin.amount for coin in self.coins)


def select_coins(coins: Iterable[SpendableCoin], target: int) -> tuple[SpendableCoin, ...]:
    """The coins to spend for ``target`` atomic units (strategy: the module docstring)."""
    pool = sorted(coins, key=lambda c: (c.amount, c.outpoint.txid, c.outpoint.index))
    seen: set[OutPoint] = set()
    for coin in pool:
        if coin.outpoint in seen:
            raise DuplicateCoinError(
                f"output {coin.outpoint.txid.hex()}:{coin.outpoint.index} is offered twice"
            )
        seen.add(coin.outpoint)
    available = sum(coin.amount for coin in pool)
    if available < target:
        raise InsufficientFundsError(
            f"insufficient funds: {format_amount(available)} available in {len(pool)} "
            f"coin(s), {format_amount(target)} needed (amount plus fee)",
            available=available,
            needed=target,
        )
    for coin in pool:  # ascending: the first coin that covers it is the smallest one
        if coin.amount >= target:
            return (coin,)
    chosen: list[SpendableCoin] = []
    total = 0
    for coin in sorted(pool, key=lambda c: (-c.amount, c.outpoint.txid, c.outpoint.index)):
        chosen.append(coin)
        total += coin.amount
        if total >= target:
            break
    if len(chosen) > MAX_INPUTS:
        best = sum(coin.amount for coin in chosen[:MAX_INPUTS])
        raise TooManyInputsError(
            f"paying {format_amount(target)} needs {len(chosen)} inputs, but a transaction "
            f"has at most {MAX_INPUTS} (the {MAX_INPUTS} largest coins hold "
            f"{format_amount(best)}); send to yourself in smaller steps to merge coins first"
        )
    return tuple(chosen)


def _check_destination(destination: Address | str, network: Network) -> Address:
    if isinstance(destination, str):
        return Address.parse(destination.strip(), network)
    if destination.network != network:
        raise WrongNetworkError(
            f"the destination is a {destination.network} address; this wallet is on {network}",
            actual=destination.network,
            expected=network,
        )
    return destination


def plan_transfer(
    keys: WalletKeys,
    network: Network,
    coins: Sequence[SpendableCoin],
    destination: Address | str,
    amount: int,
    fee: int,
) -> TransferPlan:
    """Choose the coins and outputs for paying ``amount`` to ``destination``; no signing.

    ``destination`` may be an :class:`Address` or its text; it must be of ``network``
    (an :class:`~zion_core.chain.address.InvalidAddressError` otherwise).
    """
    if type(amount) is not int or not 0 < amount <= MAX_UINT64:
        raise InvalidAmountError(
            f"the amount must be a positive number of atomic units, not {amount!r}"
        )
    if type(fee) is not int or not 0 <= fee <= MAX_UINT64:
        raise InvalidAmountError(
            f"the fee must be a non-negative number of atomic units, not {fee!r}"
        )
    if amount + fee > MAX_UINT64:
        raise InvalidAmountError("the amount plus the fee exceed 2^64-1 atomic units")
    to = _check_destination(destination, network)
    chosen = select_coins(coins, amount + fee)
    change = sum(coin.amount for coin in chosen) - amount - fee
    outputs = [TxOutput(amount, to.spend_key, to.view_key)]
    if change:
        own = keys.address(network)
        outputs.append(TxOutput(change, own.spend_key, own.view_key))
    tx = Transaction(
        inputs=tuple(coin.outpoint for coin in chosen), outputs=tuple(outputs), fee=fee
    )
    return TransferPlan(chosen, amount, fee, change, tx)


def sign_transaction(
    tx: Transaction, keys: WalletKeys, backend: Ed25519Backend | None = None
) -> Transaction:
    """``tx`` with one spend-key signature of its signing message per input."""
    signature = keys.spend.sign(tx.signing_message, backend)
    return tx.with_signatures(tuple(signature for _ in tx.inputs))


def build_transfer(
    keys: WalletKeys,
    network: Network,
    coins: Sequence[SpendableCoin],
    destination: Address | str,
    amount: int,
    fee: int,
    *,
    backend: Ed25519Backend | None = None,
) -> Transaction:
    """The signed transaction paying ``amount`` to ``destination`` (see :func:`plan_transfer`)."""
    plan = plan_transfer(keys, network, coins, destination, amount, fee)
    return sign_transaction(plan.transaction, keys, backend)


__all__ = [
    "ATOMIC_UNITS_PER_ZION",
    "SpendableCoin",
    "TransferPlan",
    "build_transfer",
    "format_amount",
    "plan_transfer",
    "select_coins",
    "sign_transaction",
]
