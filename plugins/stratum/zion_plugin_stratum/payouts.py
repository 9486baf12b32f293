"""Batched, idempotent, crash-safe payouts from the ledger through the pool's wallet.

A payout goes through three steps, each durable before the next:

1. :meth:`~.ledger.PoolLedger.open_payment` writes a *payment intent* (batch id,
   destinations, amounts) and moves the amounts from ``balance`` to ``in_flight``, in
   one batch. The batch id is the wallet transfer's idempotency key.
2. :meth:`WalletClient.transfer` is called with that key. The wallet journals the
   transfer under the key before broadcasting it and never pays twice for one key: the
   same key again returns the first transaction.
3. The answer is written: a transaction hash marks the batch ``sent`` (``in_flight`` to
   ``paid``); a refusal (:class:`TransferRefusedError`) marks it ``failed`` and returns
   the amounts to ``balance``. Any other error leaves the intent as it is.

A crash between two steps leaves an intent without a transaction hash.
:meth:`PayoutEngine.reconcile`, run at start and before every payout, looks each one
up in the wallet's transfer list by its idempotency key: found, it is marked sent
(or failed, when the wallet lists it as failed); not found, the transfer is sent again
with the same key. Sent batches are watched until the wallet reports them
``settle_confirmations`` deep, or failed (their amounts then return to ``balance``).

Funds: a wallet that says what it can spend now (:class:`SpendableWallet`, the wallet
plugin's unlocked balance less the network fee) gets only batches it can pay: due
balances are taken largest first while they fit, and a round in which none fits opens no
batch (the balances wait, untouched, for the wallet's coins to unlock). A transfer the
wallet still refuses (locked or too little money, raced by another spend) is a refusal:
the batch fails and its amounts return to ``balance`` for a later round.

The engine is synchronous (the ledger fsyncs, the wallet is an RPC): from async code,
run it in a worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict, runtime_checkable

from zion_core.errors import ZionError

from .ledger import LedgerError, Payment, PoolLedger

log = logging.getLogger(__name__)

WALLET_MAX_DESTINATIONS = 255
"""The most destinations the wallet's ``transfer`` takes."""


class Destination(TypedDict):
    """One destination of a wallet transfer, as the wallet RPC's ``transfer`` takes it."""

    address: str
    amount: int


class TransferRefusedError(ZionError):
    """The wallet refused a transfer for good (bad destination, not enough money...).

    A :class:`WalletClient` raises it only when the wallet answered with a refusal; an
    error that leaves the outcome unknown (no answer) must be any other exception.
    """


class WalletClient(Protocol):
    """The part of the wallet RPC the payouts use (see docs/wallet.md)."""

    def transfer(self, destinations: Sequence[Destination], idempotency_key: str) -> str:
        """Pay ``destinations`` in one transaction; returns its hash.

        The same key with the same destinations returns the first transaction's hash and
        pays nothing more; raises :class:`TransferRefusedError` on a refusal.
        """
        ...

    def get_transfers(self) -> Mapping[str, Sequence[Mapping[str, Any]]]:
        """The wallet's transfers by category (``out``, ``pending``, ``pool``, ``failed``...).

        Each entry has at least ``txid``, ``type`` and ``idempotency_key``;
        ``confirmations`` for mined ones and ``reason`` for failed ones.
        """
        ...


@runtime_checkable
class SpendableWallet(Protocol):
    """A wallet that tells what one transfer may pay now."""

    def spendable(self) -> int | None:
        """The most one transfer may pay now, the network fee already deducted (atomic
        units); ``None`` when the wallet cannot say."""
        ...


@dataclass(frozen=True, slots=True)
class PayoutConfig:
    """How payouts are made.

    ``threshold``: the smallest balance paid (atomic units). ``max_destinations``: the
    most addresses in one transfer (the wallet takes up to 255). ``settle_confirmations``:
    how deep a payment's transaction must be before it is no longer watched.
    """

    threshold: int
    max_destinations: int = WALLET_MAX_DESTINATIONS
    settle_confirmations: int = 10

    def __post_init__(self) -> None:
        if (
            isinstance(self.threshold, bool)
            or not isinstance(self.threshold, int)
            or self.threshold < 1
        ):
            raise LedgerError(
                f"the payout threshold must be a positive integer, not {self.threshold!r}"
            )
        if not 1 <= self.max_destinations <= WALLET_MAX_DESTINATIONS:
            raise LedgerError(
                f"max_destinations must be from 1 to {WALLET_MAX_DESTINATIONS}, "
                f"not {self.max_destinations!r}"
            )
        if self.settle_confirmations < 0:
            raise LedgerError(
                f"settle_confirmations must be >= 0, not {self.settle_confirmations!r}"
            )


@dataclass(slots=True)
class PayoutReport:
    """What one :meth:`PayoutEngine.reconcile` or :meth:`PayoutEngine.run_once` did (batch ids)."""

    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    waiting: int = 0
    """What was due but not paid for want of spendable funds in the wallet (atomic units)."""

    def merge(self, other: PayoutReport) -> None:
        """Add ``other``'s batch ids to this report's."""
        self.sent += other.sent
        self.failed += other.failed
        self.settled += other.settled
        self.unresolved += other.unresolved


def destinations_of(payment: Payment) -> list[Destination]:
    """The wallet destinations of a payment batch."""
    return [Destination(address=address, amount=amount) for address, amount in payment.destinations]


def _index_by_key(
    transfers: Mapping[str, Sequence[Mapping[str, Any]]],
) -> dict[str, Mapping[str, Any]]:
    """The wallet's transfers by idempotency key; a failed entry yields to any other."""
    found: dict[str, Mapping[str, Any]] = {}
    for entries in transfers.values():
        for entry in entries:
            key = entry.get("idempotency_key")
            if not key:
                continue
            if key not in found or found[key].get("type") == "failed":
                found[key] = entry
    return found


class PayoutEngine:
    """Pays due balances in batches through ``wallet`` and reconciles unfinished batches."""

    def __init__(self, ledger: PoolLedger, wallet: WalletClient, config: PayoutConfig) -> None:
        self.ledger = ledger
        self.wallet = wallet
        self.config = config

    def _send(self, payment: Payment, report: PayoutReport) -> None:
        try:
            tx_hash = self.wallet.transfer(destinations_of(payment), payment.batch_id)
        except TransferRefusedError as refusal:
            log.warning("the wallet refused payment %s: %s", payment.batch_id, refusal)
            self.ledger.mark_failed(payment.batch_id, str(refusal))
            report.failed.append(payment.batch_id)
            return
        except Exception as error:  # no answer: the outcome is unknown until reconciled
            log.warning("payment %s is unresolved: %s", payment.batch_id, error)
            report.unresolved.append(payment.batch_id)
            return
        self.ledger.mark_sent(payment.batch_id, tx_hash)
        report.sent.append(payment.batch_id)

    def reconcile(self) -> PayoutReport:
        """Resolve every open batch against the wallet's transfer list (see the module).

        An error reading the list propagates and changes nothing.
        """
        report = PayoutReport()
        open_batches = self.ledger.open_payments()
        if not open_batches:
            return report
        by_key = _index_by_key(self.wallet.get_transfers())
        for payment in open_batches:
            entry = by_key.get(payment.batch_id)
            if payment.status == "intent":
                if entry is None:
                    self._send(payment, report)
                elif entry.get("type") == "failed":
                    self.ledger.mark_failed(payment.batch_id, str(entry.get("reason", "failed")))
                    report.failed.append(payment.batch_id)
                else:
                    payment = self.ledger.mark_sent(payment.batch_id, str(entry["txid"]))
                    report.sent.append(payment.batch_id)
            if payment.status == "sent" and entry is not None:
                if entry.get("type") == "failed":
                    self.ledger.mark_failed(payment.batch_id, str(entry.get("reason", "failed")))
                    report.failed.append(payment.batch_id)
                elif int(entry.get("confirmations", 0)) >= self.config.settle_confirmations:
                    self.ledger.mark_settled(payment.batch_id)
                    report.settled.append(payment.batch_id)
        return report

    def _budget(self) -> int | None:
        """What the wallet can pay now, if it says (see the module)."""
        if isinstance(self.wallet, SpendableWallet):
            return self.wallet.spendable()
        return None

    def _due(self) -> int:
        threshold = self.config.threshold
        return sum(b.balance for b in self.ledger.balances() if b.balance >= threshold)

    def run_once(self) -> PayoutReport:
        """Reconcile, then, if no batch is left unresolved, pay every due balance the
        wallet can pay now.

        Batches of up to ``max_destinations`` are opened and sent one after the other
        until nobody is due, nothing due fits in the wallet's spendable funds, or a
        transfer fails or goes unanswered. ``waiting`` in the report is what stays due.
        """
        report = self.reconcile()
        if report.unresolved or any(p.status == "intent" for p in self.ledger.open_payments()):
            return report
        while True:
            payment = self.ledger.open_payment(
                threshold=self.config.threshold,
                max_destinations=self.config.max_destinations,
                budget=self._budget(),
            )
            if payment is None:
                report.waiting = self._due()
                if report.waiting:
                    log.info(
                        "payouts: %d atomic units due wait for the wallet's funds to unlock",
                        report.waiting,
                    )
                return report
            step = PayoutReport()
            self._send(payment, step)
            report.merge(step)
            if not step.sent:
                return report


__all__ = [
    "WALLET_MAX_DESTINATIONS",
    "Destination",
    "PayoutConfig",
    "PayoutEngine",
    "PayoutReport",
    "SpendableWallet",
    "TransferRefusedError",
    "WalletClient",
    "destinations_of",
]
