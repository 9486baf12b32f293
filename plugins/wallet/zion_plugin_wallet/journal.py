"""The transfer journal: every signed transaction, written down before it is broadcast.

A SQLite file next to the wallet file (``<wallet file>.journal``, mode 0600) with one row
per transfer the wallet made, keyed by the transfer's *idempotency key* (the client's, or
a random one)::

    transfers(key TEXT PRIMARY KEY, request TEXT, txid TEXT UNIQUE, tx TEXT,
              amount TEXT, fee TEXT, destinations TEXT, created INTEGER,
              state TEXT, reason TEXT)

``request`` is the canonical JSON of the destinations (``[{"address", "amount"}]``, in
order): a key reused with other destinations is refused. ``tx`` is the signed
transaction's hex, ``amount`` and ``fee`` are decimal text (sums of atomic units may
exceed SQLite's 63-bit integers), ``state`` is ``pending`` (journaled, and sent or to be
sent) or ``failed`` (the node refused it; ``reason`` says why). Whether a pending
transaction is mined is the node's to say, not the journal's.

Durability: ``PRAGMA synchronous = FULL`` with the rollback journal, so a committed row is
on disk (fsync) when :meth:`Journal.add` returns; the wallet broadcasts only then. The
write that chooses coins and adds the row runs in one ``BEGIN IMMEDIATE`` transaction
(:meth:`Journal.writing`), so two processes sharing a wallet (``zion wallet send`` and a
node's wallet RPC) cannot both spend the same coins. A ``wallet`` table records the
wallet's address: a journal is never used for another wallet.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

import attrs

from zion_core.chain.transaction import OutPoint, Transaction

from .errors import IdempotencyKeyError, WalletFileError

SUFFIX: Final = ".journal"
SCHEMA_VERSION: Final = 1
BUSY_TIMEOUT_SECONDS: Final = 30.0
MAX_KEY_LENGTH: Final = 200
FILE_MODE: Final = 0o600

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS wallet (
    address TEXT NOT NULL,
    network TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS transfers (
    key TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    txid TEXT NOT NULL UNIQUE,
    tx TEXT NOT NULL,
    amount TEXT NOT NULL,
    fee TEXT NOT NULL,
    destinations TEXT NOT NULL,
    created INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'failed')),
    reason TEXT NOT NULL DEFAULT ''
);
"""


def journal_path(wallet_path: Path) -> Path:
    """Where the journal of the wallet file ``wallet_path`` lives."""
    return wallet_path.with_name(wallet_path.name + SUFFIX)


def check_key(key: object) -> str:
    """``key`` if it is a valid idempotency key (1-200 printable characters)."""
    if not isinstance(key, str):
        raise IdempotencyKeyError(f"idempotency_key must be a string, not {type(key).__name__}")
    if not 0 < len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise IdempotencyKeyError(
            f"an idempotency key is 1 to {MAX_KEY_LENGTH} printable characters"
        )
    return key


def request_fingerprint(destinations: Sequence[tuple[str, int]]) -> str:
    """The canonical JSON of a transfer's destinations (what a key is bound to)."""
    return json.dumps(
        [{"address": address, "amount": amount} for address, amount in destinations],
        separators=(",", ":"),
    )


@attrs.frozen
class JournalEntry:
    """One journaled transfer."""

    key: str
    request: str
    tx: Transaction
    amount: int
    fee: int
    destinations: tuple[tuple[str, int], ...]
    created: int
    state: str
    reason: str = ""

    @property
    def txid(self) -> str:
        return self.tx.txid.hex()

    @property
    def inputs(self) -> tuple[OutPoint, ...]:
        return self.tx.inputs


def _entry(row: sqlite3.Row) -> JournalEntry:
    destinations = tuple((d["address"], int(d["amount"])) for d in json.loads(row["destinations"]))
    return JournalEntry(
        key=row["key"],
        request=row["request"],
        tx=Transaction.from_bytes(bytes.fromhex(row["tx"])),
        amount=int(row["amount"]),
        fee=int(row["fee"]),
        destinations=destinations,
        created=row["created"],
        state=row["state"],
        reason=row["reason"],
    )


class Journal:
    """The journal file at ``path``; open it with :meth:`open`.

    Thread-safe: every operation opens a connection (closed when it ends) under a lock;
    operations inside :meth:`writing` share that block's connection and transaction.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None

    @classmethod
    def open(cls, path: Path, address: str, network: str) -> Journal:
        """Open (creating, mode 0600) the journal at ``path`` for the wallet with
        ``address`` on ``network``; a journal of another wallet is refused."""
        journal = cls(Path(path))
        try:
            fd = os.open(journal.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
            os.close(fd)
        except OSError as exc:
            raise WalletFileError(
                f"cannot open the transfer journal {journal.path}: {exc.strerror}"
            ) from None
        journal._initialise(address, network)
        return journal

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._db is not None:
                yield self._db
                return
            try:
                db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
                db.row_factory = sqlite3.Row
                db.execute("PRAGMA synchronous = FULL")
            except sqlite3.Error as exc:
                raise WalletFileError(
                    f"cannot open the transfer journal {self.path}: {exc}"
                ) from None
            self._db = db
            try:
                yield db
            except sqlite3.DatabaseError as exc:
                raise WalletFileError(
                    f"the transfer journal {self.path} cannot be used: {exc}"
                ) from None
            finally:
                self._db = None
                db.close()

    def _initialise(self, address: str, network: str) -> None:
        with self._connection() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise WalletFileError(
                    f"the transfer journal {self.path} has format {version}; this zion reads "
                    f"format {SCHEMA_VERSION}"
                )
            db.execute("PRAGMA journal_mode = DELETE")
            with self.writing():
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                row = db.execute("SELECT address, network FROM wallet").fetchone()
                if row is None:
                    db.execute("INSERT INTO wallet VALUES (?, ?)", (address, network))
                elif (row["address"], row["network"]) != (address, network):
                    raise WalletFileError(
                        f"the transfer journal {self.path} belongs to the {row['network']} "
                        f"wallet {row['address']}, not to this one; move it away or use the "
                        "wallet file it was made with"
                    )

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """One write transaction (``BEGIN IMMEDIATE``), committed durably, or rolled back;
        a nested call is part of the enclosing transaction."""
        with self._connection() as db:
            if db.in_transaction:
                yield
                return
            db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # -- reading -------------------------------------------------------------------------

    def get(self, key: str) -> JournalEntry | None:
        """The transfer journaled under ``key``."""
        with self._connection() as db:
            row = db.execute("SELECT * FROM transfers WHERE key = ?", (key,)).fetchone()
        return _entry(row) if row is not None else None

    def by_txid(self, txid: str) -> JournalEntry | None:
        """The transfer whose transaction is ``txid``."""
        with self._connection() as db:
            row = db.execute("SELECT * FROM transfers WHERE txid = ?", (txid,)).fetchone()
        return _entry(row) if row is not None else None

    def entries(self, state: str | None = None) -> list[JournalEntry]:
        """Every transfer (or those in ``state``), oldest first."""
        with self._connection() as db:
            if state is None:
                rows = db.execute("SELECT * FROM transfers ORDER BY created, rowid")
            else:
                rows = db.execute(
                    "SELECT * FROM transfers WHERE state = ? ORDER BY created, rowid", (state,)
                )
            return [_entry(row) for row in rows.fetchall()]

    # -- writing -------------------------------------------------------------------------

    def add(
        self,
        key: str,
        request: str,
        tx: Transaction,
        destinations: Sequence[tuple[str, int]],
    ) -> JournalEntry:
        """Journal the signed ``tx`` under ``key`` (durable once the write commits)."""
        entry = JournalEntry(
            key=check_key(key),
            request=request,
            tx=tx,
            amount=sum(amount for _, amount in destinations),
            fee=tx.fee,
            destinations=tuple(destinations),
            created=int(time.time()),
            state="pending",
        )
        with self._connection() as db, self.writing():
            try:
                db.execute(
                    "INSERT INTO transfers (key, request, txid, tx, amount, fee, destinations, "
                    "created, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
                    (
                        entry.key,
                        request,
                        entry.txid,
                        tx.to_bytes().hex(),
                        str(entry.amount),
                        str(entry.fee),
                        json.dumps(
                            [{"address": a, "amount": str(n)} for a, n in destinations],
                            separators=(",", ":"),
                        ),
                        entry.created,
                    ),
                )
            except sqlite3.IntegrityError:
                raise IdempotencyKeyError(
                    f"the idempotency key {key!r} is already used by another transfer"
                ) from None
        return entry

    def set_state(self, key: str, state: str, reason: str = "") -> None:
        """Mark the transfer under ``key`` ``pending`` or ``failed`` (with ``reason``)."""
        with self._connection() as db, self.writing():
            db.execute(
                "UPDATE transfers SET state = ?, reason = ? WHERE key = ?", (state, reason, key)
            )


__all__ = [
    "MAX_KEY_LENGTH",
    "SUFFIX",
    "Journal",
    "JournalEntry",
    "check_key",
    "journal_path",
    "request_fingerprint",
]
