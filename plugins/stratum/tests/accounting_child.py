"""Test helpers for the pool's accounting, and the process the kill -9 test kills.

- :class:`DictStorage`: an in-memory :class:`~zion_hookspecs.Storage` with atomic batches.
- :class:`FakeWallet`: the wallet RPC's ``transfer`` / ``get_transfers`` with the wallet's
  idempotency semantics, kept in SQLite (``":memory:"`` or a file, ``synchronous=FULL``):
  a key is journaled before the transfer counts as made, the same key with the same
  destinations returns the first transaction, with others it is refused. Faults can be
  injected: no answer before or after the transfer is journaled, refusals.
- ``python accounting_child.py DB WALLET DATA_DIR SEED``: opens the ledger on the sqlite
  backend through the kernel's storage registry and runs rounds of shares, found blocks
  (some orphaned, some reported twice), tip updates and payouts until killed, printing
  ``ready`` and then ``block <id hex>`` once each block is recorded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import sqlite3
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from zion_hookspecs import ShareRecord
from zion_plugin_stratum.ledger import PoolLedger
from zion_plugin_stratum.payouts import (
    Destination,
    PayoutConfig,
    PayoutEngine,
    TransferRefusedError,
)
from zion_plugin_stratum.policies import PplnsPolicy

ADDRESSES = [f"Zminer{i}" for i in range(6)]
MATURITY = 3
THRESHOLD = 50_000
REWARD = 1_000_000
NETWORK_DIFFICULTY = 1_000


class DictStorage:
    """An in-memory Storage: puts then deletes, all at once."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.batches = 0

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def iter_prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        for key in sorted(k for k in self.data if k.startswith(prefix)):
            yield key, self.data[key]

    def write_batch(self, puts: Mapping[bytes, bytes], deletes: Iterable[bytes] = ()) -> None:
        self.batches += 1
        self.data.update(puts)
        for key in deletes:
            self.data.pop(key, None)

    def close(self) -> None:
        pass


class NoAnswerError(ConnectionError):
    """The fake wallet 'did not answer' (the outcome is unknown to the caller)."""


class FakeWallet:
    """A wallet with the wallet RPC's idempotency semantics, in SQLite."""

    def __init__(
        self,
        path: str = ":memory:",
        *,
        fault_rate: float = 0.0,
        refuse_rate: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS transfers (n INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL,"
            " destinations TEXT NOT NULL, txid TEXT NOT NULL, failed TEXT)"
        )
        self.fault_rate = fault_rate
        self.refuse_rate = refuse_rate
        self.rng = random.Random(seed)
        self.fail_before = 0
        self.fail_after = 0
        self.calls = 0

    def _refuses(self, key: str) -> bool:
        return hashlib.sha256(key.encode()).digest()[0] < 256 * self.refuse_rate

    def transfer(self, destinations: Sequence[Destination], idempotency_key: str) -> str:
        self.calls += 1
        wanted = json.dumps([[d["address"], d["amount"]] for d in destinations])
        if self.fail_before > 0 or self.rng.random() < self.fault_rate:
            self.fail_before = max(0, self.fail_before - 1)
            raise NoAnswerError("no answer from the wallet")
        row = self.db.execute(
            "SELECT destinations, txid FROM transfers WHERE key = ?", (idempotency_key,)
        ).fetchone()
        if row is not None:
            if row[0] != wanted:
                raise TransferRefusedError(
                    f"the idempotency key {idempotency_key!r} was used for other destinations"
                )
            return str(row[1])
        if self._refuses(idempotency_key):
            raise TransferRefusedError("not enough unlocked money")
        txid = hashlib.sha256(f"tx:{idempotency_key}".encode()).hexdigest()
        self.db.execute(
            "INSERT INTO transfers (key, destinations, txid) VALUES (?, ?, ?)",
            (idempotency_key, wanted, txid),
        )
        if self.fail_after > 0 or self.rng.random() < self.fault_rate:
            self.fail_after = max(0, self.fail_after - 1)
            raise NoAnswerError("the wallet's answer was lost")
        return txid

    def fail(self, key: str, reason: str) -> None:
        """Mark the transfer of ``key`` failed (its transaction was dropped)."""
        self.db.execute("UPDATE transfers SET failed = ? WHERE key = ?", (reason, key))

    def get_transfers(self) -> Mapping[str, Sequence[Mapping[str, Any]]]:
        rows = self.db.execute(
            "SELECT n, key, destinations, txid, failed FROM transfers ORDER BY n"
        ).fetchall()
        last = rows[-1][0] if rows else 0
        out: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for n, key, destinations, txid, reason in rows:
            entry: dict[str, Any] = {
                "txid": txid,
                "idempotency_key": key,
                "destinations": [{"address": a, "amount": v} for a, v in json.loads(destinations)],
            }
            if reason is None:
                out.append(entry | {"type": "out", "confirmations": last - n})
            else:
                failed.append(entry | {"type": "failed", "reason": reason})
        return {"out": out, "failed": failed}

    def paid(self) -> dict[str, int]:
        """What the wallet paid (transfers not failed), by address."""
        totals: dict[str, int] = {}
        for entry in self.get_transfers()["out"]:
            for dest in entry["destinations"]:
                totals[dest["address"]] = totals.get(dest["address"], 0) + dest["amount"]
        return totals

    def close(self) -> None:
        self.db.close()


def block_id(seed: int, height: int) -> bytes:
    """The id of the child's block at ``height``."""
    return hashlib.sha256(f"block:{seed}:{height}".encode()).digest()


def is_main(block: bytes) -> bool:
    """About one block in five is orphaned."""
    return hashlib.sha256(block).digest()[0] % 5 != 0


def make_ledger(storage: Any) -> PoolLedger:
    """The ledger the child and the test use."""
    return PoolLedger(storage, PplnsPolicy(factor=2, fee_bps=100), maturity=MATURITY)


def payout_config() -> PayoutConfig:
    """Small batches so that a run makes many of them."""
    return PayoutConfig(threshold=THRESHOLD, max_destinations=3, settle_confirmations=2)


def open_sqlite_storage(db: Path, data_dir: Path) -> Any:
    """The ``sqlite`` storage backend, found through a kernel node's storage registry."""
    from zion_core.testing import make_node

    node = make_node(installed=["consensus", "sqlite"], data_dir=data_dir)
    return node.registry("storage").select("sqlite").open(db, create=True)


def main(argv: list[str]) -> None:
    db, wallet_path, data_dir, seed = Path(argv[1]), argv[2], Path(argv[3]), int(argv[4])
    logging.disable(logging.WARNING)
    rng = random.Random(seed)
    storage = open_sqlite_storage(db, data_dir)
    ledger = make_ledger(storage)
    wallet = FakeWallet(wallet_path, fault_rate=0.2, refuse_rate=0.1, seed=seed)
    engine = PayoutEngine(ledger, wallet, payout_config())
    engine.reconcile()
    height = max((b.height for b in ledger.blocks()), default=0)
    print("ready", height, flush=True)
    while True:
        shares = [
            ShareRecord(rng.choice(ADDRESSES), rng.randint(50, 400), float(height), "w")
            for _ in range(rng.randint(1, 8))
        ]
        ledger.record_shares(shares, network_difficulty=NETWORK_DIFFICULTY, block_reward=REWARD)
        height += 1
        found = block_id(seed, height)
        ledger.record_block(found, height, REWARD, network_difficulty=NETWORK_DIFFICULTY)
        print("block", found.hex(), flush=True)
        if rng.random() < 0.3:  # the same block reported again
            ledger.record_block(found, height, REWARD, network_difficulty=NETWORK_DIFFICULTY)
        ledger.on_tip(height, is_main)
        engine.run_once()


if __name__ == "__main__":
    main(sys.argv)
