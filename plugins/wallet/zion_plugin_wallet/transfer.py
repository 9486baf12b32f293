"""Building and signing transfers: choose coins, pay the destinations, return the change.

The caller passes the outputs it may spend as :class:`SpendableCoin` values (the
node-backed wallet, :mod:`.session`, asks its node for them).

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
own address in a second output (:func:`plan_payments` pays several destinations, one
output each in the order given, then the change). Every input is then signed with the
spend key, over the transaction's
:attr:`~zion_core.chain.transaction.Transaction.signing_message` (its txid, which does
not cover the signatures).

The fee is the caller's: a wallet asks its node for the current fee estimate (every
built-in network's minimum is 0.0001 ZION, 10^8 atomic units).

Amounts typed by people are ZION in decimal (``1.5``); :func:`parse_amount` turns them
into atomic units exactly (no binary floating point) and :func:`format_amount` back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import attrs

from zion_core.chain.address import Address, WrongNetworkError
from zion_core.chain.codec import MAX_UINT64
from zion_core.chain.ed25519 import Ed25519Backend
from zion_core.chain.keys import WalletKeys
from zion_core.chain.transaction import (
    ATOMIC_UNITS_PER_ZION,
    MAX_INPUTS,
    MAX_OUTPUTS,
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


#: Decimal places of a ZION amount (1 atomic unit = 10^-12 ZION).
DECIMALS: Final = 12
_MAX_AMOUNT_TEXT: Final = 64


def parse_amount(text: str) -> int:
    """The atomic units of ``text``, an amount of ZION in decimal (``1.5``, ``0.0001``).

    Exact: read with :class:`~decimal.Decimal`, never a binary float. A trailing ``ZION``
    is allowed. Raises :class:`InvalidAmountError` for text that is not a number, for more
    than 12 decimal places, and for an amount that is not positive or exceeds 2^64-1
    atomic units.
    """
    raw = text.strip()
    if raw[-4:].upper() == "ZION":
        raw = raw[:-4].rstrip()
    try:
        if len(raw) > _MAX_AMOUNT_TEXT:
            raise InvalidOperation
        value = Decimal(raw)
    except InvalidOperation:
        raise InvalidAmountError(
            f"{text!r} is not an amount of ZION; write it in decimal, like 1.5 or 0.25"
        ) from None
    if not value.is_finite():
        raise InvalidAmountError(f"{text!r} is not an amount of ZION")
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite
    mantissa = int("".join(map(str, digits)) or "0")
    if mantissa == 0 or sign:
        raise InvalidAmountError(f"the amount must be more than 0 ZION, not {text.strip()!r}")
    shift = exponent + DECIMALS
    atomic: int
    if shift < 0:
        divisor: int = 10**-shift
        if mantissa % divisor:
            raise InvalidAmountError(
                f"{text.strip()!r} has more than {DECIMALS} decimal places; the smallest "
                f"amount is 0.{'0' * (DECIMALS - 1)}1 ZION"
            )
        atomic = mantissa // divisor
    elif shift > 30:  # far above any amount; also bounds the integer built below
        atomic = MAX_UINT64 + 1
    else:
        atomic = mantissa * 10**shift
    if atomic > MAX_UINT64:
        raise InvalidAmountError(f"{text.strip()!r} ZION is more than an amount can be")
    return atomic


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


def plan_payments(
    keys: WalletKeys,
    network: Network,
    coins: Sequence[SpendableCoin],
    payments: Sequence[tuple[Address | str, int]],
    fee: int,
) -> TransferPlan:
    """Choose the coins and outputs for paying each ``(destination, amount)``; no signing.

    One output per payment, in order, then the change. Destinations may be
    :class:`Address` values or their text, all of ``network`` (an
    :class:`~zion_core.chain.address.InvalidAddressError` otherwise).
    """
    if not payments:
        raise InvalidAmountError("a transfer needs at least one destination")
    if len(payments) > MAX_OUTPUTS - 1:
        raise InvalidAmountError(
            f"a transfer pays at most {MAX_OUTPUTS - 1} destinations (one output is kept "
            f"for the change), not {len(payments)}"
        )
    for _, amount in payments:
        if type(amount) is not int or not 0 < amount <= MAX_UINT64:
            raise InvalidAmountError(
                f"the amount must be a positive number of atomic units, not {amount!r}"
            )
    if type(fee) is not int or not 0 <= fee <= MAX_UINT64:
        raise InvalidAmountError(
            f"the fee must be a non-negative number of atomic units, not {fee!r}"
        )
    total = sum(amount for _, amount in payments)
    if total + fee > MAX_UINT64:
        raise InvalidAmountError("the amount plus the fee exceed 2^64-1 atomic units")
    outputs = []
    for destination, amount in payments:
        to = _check_destination(destination, network)
        outputs.append(TxOutput(amount, to.spend_key, to.view_key))
    chosen = select_coins(coins, total + fee)
    change = sum(coin.amount for coin in chosen) - total - fee
    if change:
        own = keys.address(network)
        outputs.append(TxOutput(change, own.spend_key, own.view_key))
    tx = Transaction(
        inputs=tuple(coin.outpoint for coin in chosen), outputs=tuple(outputs), fee=fee
    )
    return TransferPlan(chosen, total, fee, change, tx)


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
    return plan_payments(keys, network, coins, [(destination, amount)], fee)


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
    "DECIMALS",
    "SpendableCoin",
    "TransferPlan",
    "build_transfer",
    "format_amount",
    "parse_amount",
    "plan_payments",
    "plan_transfer",
    "select_coins",
    "sign_transaction",
]
