"""Transactions waiting for a block: fee-rate priority, conflicts, orphans, a size cap.

The pool accepts a transaction when every input is a spendable coin of the main chain
or an output of another pooled transaction, no pooled transaction spends the same
input, and its signatures verify. A transaction whose inputs are unknown waits among a
bounded set of orphans until its parent arrives. When the pool is over its size, the
transactions with the lowest fee per byte go first (with whatever spends them). The
pool is kept in the chain's store (``P`` + txid) by :meth:`Mempool.flush`, which the
chain service calls every few seconds and at shutdown, so the pool survives a restart
(a crash loses at most the last few seconds of pooled transactions, which their
senders still hold).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable

import attrs

from zion_core.chain.transaction import OutPoint, Transaction

from . import errors
from .chain import Chain, check_spendable
from .validation import check_transaction, verify_signatures

logger = logging.getLogger(__name__)

POOL = b"P"


@attrs.frozen
class PoolEntry:
    tx: Transaction
    size: int

    @property
    def fee_rate(self) -> float:
        return self.tx.fee / self.size


class Mempool:
    """The pending transactions of one chain; thread-safe."""

    def __init__(self, chain: Chain, *, max_bytes: int = 32 << 20, max_orphans: int = 100) -> None:
        self.chain = chain
        self.params = chain.params
        self.max_bytes = max_bytes
        self.max_orphans = max_orphans
        self._lock = threading.RLock()
        self._entries: dict[bytes, PoolEntry] = {}
        self._spent_by: dict[OutPoint, bytes] = {}
        self._orphans: OrderedDict[bytes, Transaction] = OrderedDict()
        self._bytes = 0
        self._unsaved: dict[bytes, bytes | None] = {}  # txid -> bytes to store, or None
        for _, raw in chain.storage.iter_prefix(POOL):
            try:
                self.add(Transaction.from_bytes(raw), persist=False)
            except errors.ConsensusError as exc:
                logger.info("dropped a stored pool transaction: %s", exc)
                self._unsaved[Transaction.from_bytes(raw).txid] = None
        self.flush()

    # -- reading ------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, txid: object) -> bool:
        return txid in self._entries

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def get(self, txid: bytes) -> Transaction | None:
        entry = self._entries.get(txid)
        return entry.tx if entry is not None else None

    def transactions(self) -> list[Transaction]:
        with self._lock:
            return [e.tx for e in self._entries.values()]

    def orphans(self) -> list[Transaction]:
        with self._lock:
            return list(self._orphans.values())

    def select(self, max_bytes: int) -> list[Transaction]:
        """Transactions for a block template: highest fee rate first, parents before
        children, at most ``max_bytes`` in all."""
        with self._lock:
            chosen: list[Transaction] = []
            included: set[bytes] = set()
            used = 0
            pending = sorted(self._entries.values(), key=lambda e: e.fee_rate, reverse=True)
            progress = True
            while pending and progress:
                progress = False
                rest = []
                for entry in pending:
                    parents = {i.txid for i in entry.tx.inputs if i.txid in self._entries}
                    if not parents <= included:
                        rest.append(entry)
                        continue
                    if used + entry.size <= max_bytes:
                        chosen.append(entry.tx)
                        included.add(entry.tx.txid)
                        used += entry.size
                        progress = True
                pending = rest
            return chosen

    # -- changing -----------------------------------------------------------------------

    def add(self, tx: Transaction, *, persist: bool = True) -> bool:
        """Check and add ``tx``; True when pooled, False when kept as an orphan. Raises a
        :class:`~.errors.ConsensusError` subclass (and changes nothing) when invalid."""
        with self._lock:
            txid = tx.txid
            if txid in self._entries:
                raise errors.DuplicateTransactionError(f"transaction {txid.hex()} is pooled")
            check_transaction(tx, self.params)
            height = self.chain.height + 1  # (cached by the chain's store)
            owners: list[bytes] = []
            total_in = 0
            for outpoint in tx.inputs:
                holder = self._spent_by.get(outpoint)
                if holder is not None:
                    raise errors.DoubleSpendError(
                        f"output {outpoint.txid.hex()}:{outpoint.index} is already spent by "
                        f"pooled transaction {holder.hex()}"
                    )
                coin = self.chain.coin(outpoint)
                if coin is not None:
                    check_spendable(coin, height, self.params, outpoint)
                    owners.append(coin.spend_key)
                    total_in += coin.amount
                    continue
                # A transaction already in the chain has spent its inputs: say so
                # precisely (looked up only now, as coins are found far more often).
                if self.chain.store.tx_block(txid) is not None:
                    raise errors.DuplicateTransactionError(
                        f"transaction {txid.hex()} is already in the chain"
                    )
                parent = self._entries.get(outpoint.txid)
                if parent is None or outpoint.index >= len(parent.tx.outputs):
                    if self.chain.store.tx_block(outpoint.txid) is not None:
                        raise errors.UnknownInputError(
                            f"output {outpoint.txid.hex()}:{outpoint.index} is already spent"
                        )
                    self._add_orphan(tx)
                    return False
                output = parent.tx.outputs[outpoint.index]
                if self.params.spendable_age > 0:
                    raise errors.ImmatureSpendError(
                        f"output {outpoint.txid.hex()}:{outpoint.index} is not yet in a block"
                    )
                owners.append(output.spend_key)
                total_in += output.amount
            if total_in != sum(o.amount for o in tx.outputs) + tx.fee:
                raise errors.UnbalancedTransactionError(
                    f"transaction {txid.hex()} spends {total_in} but pays "
                    f"{sum(o.amount for o in tx.outputs)} plus a fee of {tx.fee}"
                )
            verify_signatures(tx, owners)
            entry = PoolEntry(tx=tx, size=tx.size)
            if self._bytes + entry.size > self.max_bytes:
                self._make_room(entry)
            self._entries[txid] = entry
            for outpoint in tx.inputs:
                self._spent_by[outpoint] = txid
            self._bytes += entry.size
            if persist:
                self._unsaved[txid] = tx.to_bytes()
            self._orphans.pop(txid, None)
            self._adopt_orphans(txid)
            return True

    def remove_mined(self, txs: Iterable[Transaction]) -> None:
        """Drop the transactions of a connected block, and those they conflict with."""
        with self._lock:
            gone: set[bytes] = set()
            for tx in txs:
                if tx.txid in self._entries:
                    gone.add(tx.txid)
                for outpoint in tx.inputs:
                    holder = self._spent_by.get(outpoint)
                    if holder is not None and holder != tx.txid:
                        gone |= self._descendants(holder)
            self._drop(gone)

    def return_transactions(self, txs: Iterable[Transaction]) -> None:
        """Re-add the transactions of disconnected blocks (a reorganisation); those that
        no longer fit the new chain are dropped."""
        for tx in txs:
            try:
                self.add(tx)
            except errors.ConsensusError as exc:
                logger.info("transaction %s not returned to the pool: %s", tx.txid.hex(), exc)

    # -- internals ------------------------------------------------------------------------

    def _descendants(self, txid: bytes) -> set[bytes]:
        out = {txid}
        frontier = [txid]
        while frontier:
            parent = frontier.pop()
            for child_id, entry in self._entries.items():
                if child_id not in out and any(i.txid == parent for i in entry.tx.inputs):
                    out.add(child_id)
                    frontier.append(child_id)
        return out

    def _drop(self, txids: set[bytes]) -> None:
        for txid in txids:
            entry = self._entries.pop(txid, None)
            if entry is None:
                continue
            self._bytes -= entry.size
            for outpoint in entry.tx.inputs:
                if self._spent_by.get(outpoint) == txid:
                    del self._spent_by[outpoint]
        for txid in txids:
            self._unsaved[txid] = None

    def flush(self) -> None:
        """Write the changes since the last flush to the store, in one batch."""
        with self._lock:
            if not self._unsaved:
                return
            puts = {POOL + t: raw for t, raw in self._unsaved.items() if raw is not None}
            deletes = [POOL + t for t, raw in self._unsaved.items() if raw is None]
            self.chain.storage.write_batch(puts, deletes)
            self._unsaved.clear()

    def _make_room(self, entry: PoolEntry) -> None:
        by_rate = sorted(self._entries.values(), key=lambda e: e.fee_rate)
        freed = 0
        victims: set[bytes] = set()
        need = self._bytes + entry.size - self.max_bytes
        for low in by_rate:
            if freed >= need:
                break
            if low.fee_rate >= entry.fee_rate:
                raise errors.PoolFullError(
                    f"the pool is full; transaction {entry.tx.txid.hex()} pays "
                    f"{entry.fee_rate:.3f} per byte, the lowest pooled pays {low.fee_rate:.3f}"
                )
            for txid in self._descendants(low.tx.txid) - victims:
                victims.add(txid)
                freed += self._entries[txid].size
        self._drop(victims)

    def _add_orphan(self, tx: Transaction) -> None:
        self._orphans[tx.txid] = tx
        self._orphans.move_to_end(tx.txid)
        while len(self._orphans) > self.max_orphans:
            self._orphans.popitem(last=False)

    def _adopt_orphans(self, parent: bytes) -> None:
        waiting = [t for t in self._orphans.values() if any(i.txid == parent for i in t.inputs)]
        for tx in waiting:
            self._orphans.pop(tx.txid, None)
            try:
                self.add(tx)
            except errors.ConsensusError as exc:
                logger.info("orphan %s dropped: %s", tx.txid.hex(), exc)
