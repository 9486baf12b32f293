"""The node-backed wallet: balance, history and transfers, over any :class:`NodeAccess`.

:class:`WalletSession` is the wallet logic that ``zion wallet balance | send | history``
(over :class:`~.node.HttpNode`) and the wallet RPC (over :class:`~.node.LocalNode`)
share. It holds the wallet's address and network, its keys when it may spend (a session
opened without the password can read but not send), and its transfer journal
(:mod:`.journal`).

Balance (Monero's meaning):

- an output is *held* when a pending transaction spends it: one in the node's pool, or
  one this wallet journaled that is not mined yet;
- ``balance`` is every unspent output that is not held, plus what pending transactions
  pay the wallet (their change included);
- ``unlocked_balance`` is what a transfer may spend now: the spendable outputs (coinbase
  maturity, spendable age and unlock heights, as the node applies them) that are not held.

Transfers (:meth:`WalletSession.transfer`), under the journal's write lock: a retried
idempotency key finds its journaled transaction and sends that again (never a second
one); a new key gets a transaction built from the spendable outputs that no pending
transaction holds, signed, journaled durably, and only then given to the node. If the
node refuses it, the journal marks it failed (its coins are free again) and the error
gives the node's reason. If the node cannot be reached while sending, the transaction
stays journaled and pending: the next transfer (or a retry with the same key) sends it
first. A journaled transaction is sent as it is or not at all, so nothing is paid twice.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Final

import attrs

from zion_core.chain.address import Address, InvalidAddressError, WrongNetworkError
from zion_core.chain.codec import MAX_UINT64
from zion_core.chain.keys import WalletKeys
from zion_core.chain.transaction import MAX_OUTPUTS, OutPoint

from .errors import (
    FundsLockedError,
    IdempotencyKeyError,
    InsufficientFundsError,
    InvalidAmountError,
    NodeError,
    TransactionRefusedError,
    WalletUsageError,
    WrongNodeNetworkError,
)
from .journal import Journal, JournalEntry, check_key, request_fingerprint
from .node import AddressOutput, AddressOutputs, HistoryEntry, NodeAccess, TxStatus
from .transfer import (
    SpendableCoin,
    TransferPlan,
    format_amount,
    plan_payments,
    sign_transaction,
)

NO_PAYMENT_ID: Final = "0000000000000000"


@attrs.frozen
class Balance:
    """The wallet's balance at the node's tip (atomic units; see the module docstring).

    ``height`` is the node's number of blocks, so the next block has height ``height``;
    ``next_unlock_height`` and ``unlocked_height`` (0 when nothing is locked) are the
    heights from which the first and the last locked output may be spent.
    """

    address: str
    height: int
    balance: int
    unlocked_balance: int
    locked_balance: int
    locked_outputs: int
    next_unlock_height: int
    unlocked_height: int
    outputs: int
    held: int
    pending_in: int
    pending_transfers: int

    @property
    def blocks_to_unlock(self) -> int:
        """Blocks until every locked output is spendable."""
        return max(0, self.unlocked_height - self.height)


@attrs.frozen
class TransferRecord:
    """One transaction of the wallet, as ``get_transfers`` and ``zion wallet history`` show it.

    ``type`` is ``in`` (received, mined), ``block`` (a mined coinbase), ``out`` (sent,
    mined), ``pending`` (sent, not mined yet), ``pool`` (received, in the pool) or
    ``failed`` (refused by the node). ``amount`` is what was received, or what was sent
    to the destinations (without the fee).
    """

    txid: str
    type: str
    amount: int
    fee: int = 0
    height: int = 0
    timestamp: int = 0
    confirmations: int = 0
    locked: bool = False
    destinations: tuple[tuple[str, int], ...] = ()
    idempotency_key: str = ""
    reason: str = ""

    @property
    def incoming(self) -> bool:
        return self.type in ("in", "block", "pool")

    def to_json(self, address: str) -> dict[str, Any]:
        """Monero wallet RPC's transfer entry (single account, single address)."""
        entry: dict[str, Any] = {
            "txid": self.txid,
            "type": self.type,
            "amount": self.amount,
            "amounts": [self.amount],
            "fee": self.fee,
            "height": self.height,
            "timestamp": self.timestamp,
            "confirmations": self.confirmations,
            "suggested_confirmations_threshold": 1,
            "unlock_time": 0,
            "locked": self.locked,
            "address": address,
            "payment_id": NO_PAYMENT_ID,
            "note": "",
            "double_spend_seen": False,
            "subaddr_index": {"major": 0, "minor": 0},
            "subaddr_indices": [{"major": 0, "minor": 0}],
        }
        if not self.incoming:
            entry["destinations"] = [{"address": a, "amount": n} for a, n in self.destinations]
        if self.idempotency_key:
            entry["idempotency_key"] = self.idempotency_key
        if self.reason:
            entry["reason"] = self.reason
        return entry


@attrs.frozen
class TransferResult:
    """A transfer made or found again: its journal entry and where the node has it."""

    entry: JournalEntry
    replayed: bool
    status: TxStatus | None

    @property
    def txid(self) -> str:
        return self.entry.txid


def parse_destination(text: str, network: str) -> Address:
    """``text`` as an address of ``network``, or an error saying what is wrong with it."""
    try:
        return Address.parse(text.strip(), network)
    except WrongNetworkError as exc:
        raise WrongNetworkError(
            f"{text.strip()} is a {exc.actual} address; this wallet is on {network} and can "
            f"only pay {network} addresses",
            actual=exc.actual,
            expected=exc.expected,
        ) from None
    except InvalidAddressError as exc:
        raise type(exc)(f"bad destination address: {exc}") from None


class WalletSession:
    """The wallet with ``address`` on ``network`` over ``node`` (see the module docstring).

    ``keys`` (needed to send) must be the address's; ``journal`` is needed to send and
    lets reads count the wallet's own pending transactions. Thread-safe: transfers run
    one at a time.
    """

    def __init__(
        self,
        address: Address,
        node: NodeAccess,
        *,
        keys: WalletKeys | None = None,
        journal: Journal | None = None,
    ) -> None:
        if keys is not None and keys.address(address.network) != address:
            raise WalletUsageError("the keys do not belong to this wallet's address")
        self.address = address
        self.network = address.network
        self.node = node
        self.keys = keys
        self.journal = journal
        self._lock = threading.RLock()
        self._network_checked = False

    # -- plumbing ------------------------------------------------------------------------

    def check_node(self) -> None:
        """Fail with :class:`WrongNodeNetworkError` if the node runs another network."""
        if self._network_checked:
            return
        theirs = self.node.network()
        if theirs != self.network:
            raise WrongNodeNetworkError(
                f"the node at {self.node.location} runs {theirs}; this wallet is a "
                f"{self.network} wallet (give --node URL of a {self.network} node)"
            )
        self._network_checked = True

    def parse_destination(self, text: str) -> Address:
        """``text`` as an address of the wallet's network (:func:`parse_destination`)."""
        return parse_destination(text, self.network)

    def _live(self, snapshot: AddressOutputs) -> list[JournalEntry]:
        """The journal's pending transfers that are not mined: those spending an output the
        chain still has unspent (a mined one, or one beaten by a conflicting transaction,
        spends none)."""
        if self.journal is None:
            return []
        unspent = {o.outpoint for o in snapshot.outputs}
        return [e for e in self.journal.entries("pending") if any(i in unspent for i in e.inputs)]

    @staticmethod
    def _held(outputs: AddressOutputs, live: Iterable[JournalEntry]) -> set[OutPoint]:
        held = {o.outpoint for o in outputs.outputs if o.spent_in_pool}
        for entry in live:
            held.update(entry.inputs)
        return held

    # -- balance -------------------------------------------------------------------------

    def balance(self) -> Balance:
        """The balance (see :class:`Balance`)."""
        self.check_node()
        snapshot = self.node.address_outputs(str(self.address))
        live = self._live(snapshot)
        statuses = self.node.transactions([e.txid for e in live]) if live else {}
        held = self._held(snapshot, live)
        free = [o for o in snapshot.outputs if o.outpoint not in held]
        locked = [o for o in free if not o.spendable]
        pending_in = sum(o.amount for o in snapshot.pool_outputs)
        own = (self.address.spend_key, self.address.view_key)
        for entry in live:
            if entry.txid not in statuses:  # journaled, not known to the node yet
                pending_in += sum(
                    out.amount for out in entry.tx.outputs if (out.spend_key, out.view_key) == own
                )
        unlocks = [o.unlock_height for o in locked]
        return Balance(
            address=str(self.address),
            height=snapshot.height,
            balance=sum(o.amount for o in free) + pending_in,
            unlocked_balance=sum(o.amount for o in free if o.spendable),
            locked_balance=sum(o.amount for o in locked),
            locked_outputs=len(locked),
            next_unlock_height=min(unlocks, default=0),
            unlocked_height=max(unlocks, default=0),
            outputs=len(free),
            held=sum(o.amount for o in snapshot.outputs if o.outpoint in held),
            pending_in=pending_in,
            pending_transfers=len(live),
        )

    # -- history -------------------------------------------------------------------------

    def history(self) -> list[TransferRecord]:
        """Every transaction of the wallet: mined ones by height, then pending, then failed."""
        self.check_node()
        history = self.node.address_history(str(self.address))
        snapshot = self.node.address_outputs(str(self.address))
        journal = {e.txid: e for e in self.journal.entries()} if self.journal is not None else {}
        locked_txids = {o.outpoint.txid.hex() for o in snapshot.outputs if not o.spendable}
        records = [
            self._record(txid, rows, journal.get(txid), locked_txids)
            for txid, rows in _group(history.entries).items()
        ]
        known = {r.txid for r in records}
        pooled = _group(history.pool)
        records += [self._record(t, rows, journal.get(t), set()) for t, rows in pooled.items()]
        known.update(pooled)
        live = {e.txid for e in self._live(snapshot)}
        waiting = [e for e in journal.values() if e.txid not in known and e.state == "pending"]
        statuses = self.node.transactions([e.txid for e in waiting if e.txid in live])
        for entry in waiting:
            if entry.txid not in live:
                reason = "its coins were spent by another transaction"
                records.append(_journal_record(entry, "failed", reason=reason))
            else:
                reason = "" if entry.txid in statuses else "not known to the node yet"
                records.append(_journal_record(entry, "pending", reason=reason))
        records += [
            _journal_record(e, "failed", reason=e.reason)
            for e in journal.values()
            if e.txid not in known and e.state == "failed"
        ]
        return records

    def _record(
        self,
        txid: str,
        rows: list[HistoryEntry],
        journaled: JournalEntry | None,
        locked_txids: set[str],
    ) -> TransferRecord:
        received = sum(r.amount for r in rows if r.type == "in")
        spent = sum(r.amount for r in rows if r.type == "out")
        fee = max((r.fee for r in rows if r.type == "out"), default=0)
        first = rows[0]
        in_pool = first.in_pool
        if spent:
            amount = journaled.amount if journaled is not None else max(0, spent - received - fee)
            return TransferRecord(
                txid=txid,
                type="pending" if in_pool else "out",
                amount=amount,
                fee=fee,
                height=first.height,
                timestamp=first.timestamp,
                confirmations=first.confirmations,
                destinations=journaled.destinations if journaled is not None else (),
                idempotency_key=journaled.key if journaled is not None else "",
            )
        return TransferRecord(
            txid=txid,
            type="pool" if in_pool else ("block" if any(r.coinbase for r in rows) else "in"),
            amount=received,
            height=first.height,
            timestamp=first.timestamp,
            confirmations=first.confirmations,
            locked=in_pool or txid in locked_txids,
        )

    # -- transfers -----------------------------------------------------------------------

    def transfer(
        self, destinations: Sequence[tuple[str, int]], *, idempotency_key: str | None = None
    ) -> TransferResult:
        """Pay each ``(address, atomic units)``; see the module docstring.

        With ``idempotency_key``, a retry returns the first call's transaction (sent again
        if the node lost it); the same key with other destinations is an
        :class:`IdempotencyKeyError`.
        """
        if self.keys is None or self.journal is None:
            raise WalletUsageError("this wallet session cannot send (no keys or no journal)")
        payments = self.parse_payments(destinations)
        request = request_fingerprint([(str(a), n) for a, n in payments])
        key = check_key(idempotency_key) if idempotency_key is not None else uuid.uuid4().hex
        journal = self.journal
        with self._lock:
            self.check_node()
            with journal.writing():
                entry = journal.get(key)
                if entry is not None:
                    self._same_request(entry, destinations)
                    fresh = False
                else:
                    self._resend_pending()
                    plan = self._plan(payments)
                    tx = sign_transaction(plan.transaction, self.keys)
                    entry = journal.add(key, request, tx, [(str(a), n) for a, n in payments])
                    fresh = True
            status = self._send(entry) if fresh else self._ensure_sent(entry)
        return TransferResult(entry, replayed=not fresh, status=status)

    def parse_payments(self, destinations: Sequence[tuple[str, int]]) -> list[tuple[Address, int]]:
        """The destinations as addresses of this network, amounts checked."""
        if not destinations:
            raise InvalidAmountError("a transfer needs at least one destination")
        payments = []
        for text, amount in destinations:
            if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
                raise InvalidAmountError(
                    f"an amount is a positive number of atomic units, not {amount!r}"
                )
            payments.append((self.parse_destination(text), amount))
        if len(payments) > MAX_OUTPUTS - 1:
            raise InvalidAmountError(
                f"a transfer pays at most {MAX_OUTPUTS - 1} destinations, not {len(payments)}"
            )
        if sum(amount for _, amount in payments) > MAX_UINT64:
            raise InvalidAmountError("the amounts add up to more than 2^64-1 atomic units")
        return payments

    def journaled(
        self, idempotency_key: str, destinations: Sequence[tuple[str, int]]
    ) -> JournalEntry | None:
        """The transfer already journaled under ``idempotency_key`` (a retry), if any; an
        :class:`IdempotencyKeyError` if it went to other destinations."""
        if self.journal is None:
            return None
        entry = self.journal.get(check_key(idempotency_key))
        if entry is not None:
            self._same_request(entry, destinations)
        return entry

    def _same_request(self, entry: JournalEntry, destinations: Sequence[tuple[str, int]]) -> None:
        payments = self.parse_payments(destinations)
        if entry.request != request_fingerprint([(str(a), n) for a, n in payments]):
            raise IdempotencyKeyError(
                f"the idempotency key {entry.key!r} was used for a transfer to other "
                f"destinations or amounts (transaction {entry.txid}); use a new key"
            )

    def quote(self, destinations: Sequence[tuple[str, int]]) -> tuple[int, int]:
        """``(amount, fee)`` of a transfer to ``destinations`` if the wallet can pay it now
        (else the error :meth:`transfer` would raise); nothing is signed or sent."""
        if self.keys is None:
            raise WalletUsageError("this wallet session cannot send (no keys)")
        payments = self.parse_payments(destinations)
        with self._lock:
            self.check_node()
            plan = self._plan(payments)
        return plan.amount, plan.fee

    def _plan(self, payments: Sequence[tuple[Address, int]]) -> TransferPlan:
        assert self.keys is not None
        fee = self.node.fee_estimate()
        snapshot = self.node.address_outputs(str(self.address))
        held = self._held(snapshot, self._live(snapshot))
        free = [o for o in snapshot.outputs if o.outpoint not in held]
        coins = [SpendableCoin(o.outpoint, o.amount) for o in free if o.spendable]
        needed = sum(amount for _, amount in payments) + fee
        spendable = sum(c.amount for c in coins)
        if spendable < needed:
            raise self._shortfall(snapshot, free, held, spendable, needed)
        return plan_payments(self.keys, self.network, coins, list(payments), fee)

    @staticmethod
    def _shortfall(
        snapshot: AddressOutputs,
        free: list[AddressOutput],
        held: set[OutPoint],
        spendable: int,
        needed: int,
    ) -> InsufficientFundsError:
        locked = sorted((o for o in free if not o.spendable), key=lambda o: o.unlock_height)
        locked_sum = sum(o.amount for o in locked)
        held_sum = sum(o.amount for o in snapshot.outputs if o.outpoint in held)
        tip = snapshot.height - 1
        short = (
            f"sending needs {format_amount(needed)} (amount plus fee), but only "
            f"{format_amount(spendable)} is spendable now"
        )
        if spendable + locked_sum >= needed:
            total = spendable
            until = 0
            for output in locked:
                total += output.amount
                if total >= needed:
                    until = output.unlock_height
                    break
            return FundsLockedError(
                f"funds are locked: {short}; {format_amount(locked_sum)} of the balance is "
                f"still locked (recently mined or received), and enough of it unlocks at "
                f"height {until} (the chain's tip is at height {tip})",
                available=spendable,
                needed=needed,
                locked=locked_sum,
                spendable_from=until,
            )
        if spendable + locked_sum + held_sum >= needed:
            return FundsLockedError(
                f"funds are held: {short}; {format_amount(held_sum)} is held by pending "
                "transactions until they are mined (their change then comes back)",
                available=spendable,
                needed=needed,
                locked=locked_sum + held_sum,
                spendable_from=0,
            )
        return InsufficientFundsError(
            f"insufficient funds: {short}, and the whole balance is "
            f"{format_amount(spendable + locked_sum + held_sum)}",
            available=spendable + locked_sum + held_sum,
            needed=needed,
        )

    def _resend_pending(self) -> None:
        """Send again the journal's live pending transactions that the node does not know
        (a refused one is marked failed, freeing its coins), before building a new one."""
        live = self._live(self.node.address_outputs(str(self.address)))
        statuses = self.node.transactions([e.txid for e in live]) if live else {}
        for entry in live:
            if entry.txid not in statuses:
                with contextlib.suppress(TransactionRefusedError):
                    self._send(entry)

    def _ensure_sent(self, entry: JournalEntry) -> TxStatus:
        """The node's status of ``entry``'s transaction, sending it first if it lacks it."""
        status = self.node.transactions([entry.txid]).get(entry.txid)
        if status is None:
            return self._send(entry)
        if entry.state != "pending":
            self._mark(entry, "pending")
        return status

    def _send(self, entry: JournalEntry) -> TxStatus:
        """Give ``entry``'s transaction to the node (see the module docstring)."""
        try:
            self.node.submit(entry.tx)
        except TransactionRefusedError as exc:
            status = self.node.transactions([entry.txid]).get(entry.txid)
            if status is not None:  # sent meanwhile by another process: not a refusal
                return status
            self._mark(entry, "failed", exc.reason)
            raise
        except NodeError as exc:
            raise type(exc)(
                f"{exc}. The signed transaction {entry.txid} is saved in the wallet's journal "
                f"and not known to be sent: retry with the idempotency key {entry.key!r} (or "
                "make any other transfer) to send it; it cannot be paid twice"
            ) from None
        if entry.state != "pending":
            self._mark(entry, "pending")
        return TxStatus(in_pool=True)

    def _mark(self, entry: JournalEntry, state: str, reason: str = "") -> None:
        assert self.journal is not None
        self.journal.set_state(entry.key, state, reason)


def _group(entries: Iterable[HistoryEntry]) -> dict[str, list[HistoryEntry]]:
    groups: dict[str, list[HistoryEntry]] = {}
    for entry in entries:
        groups.setdefault(entry.txid, []).append(entry)
    return groups


def _journal_record(entry: JournalEntry, kind: str, *, reason: str = "") -> TransferRecord:
    return TransferRecord(
        txid=entry.txid,
        type=kind,
        amount=entry.amount,
        fee=entry.fee,
        timestamp=entry.created,
        destinations=entry.destinations,
        idempotency_key=entry.key,
        reason=reason,
    )


__all__ = ["Balance", "TransferRecord", "TransferResult", "WalletSession", "parse_destination"]
