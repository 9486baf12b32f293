"""Crash safety of the pool's accounting: kill -9 never loses, duplicates or double-pays.

Each round starts ``accounting_child.py`` on the same sqlite ledger (opened through the
kernel's storage registry) and the same file-backed fake wallet, which answers with
faults (lost answers before and after a transfer is journaled, refusals). The child
records shares and blocks, settles blocks against a simulated chain with orphans, and
pays in batches; it is killed with SIGKILL at a random moment. Then the ledger is
reopened and checked, and finally reconciled against a wallet that always answers:

- every block the child acknowledged is recorded, once;
- ``immature`` of each address is the sum of its credits in pending blocks;
- ``balance + in_flight + paid`` over all addresses is the sum of credited blocks' credits;
- after reconciling, no batch is left as an intent, each address's ``paid`` equals what
  the wallet paid it, and each wallet transfer is one ledger batch with the same
  destinations (nothing paid twice).
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from accounting_child import FakeWallet, make_ledger, open_sqlite_storage, payout_config

from zion_plugin_stratum.ledger import PoolLedger
from zion_plugin_stratum.payouts import PayoutEngine

CHILD = Path(__file__).with_name("accounting_child.py")
KILLS = 15
SEED = 0x9A11
BUDGET_S = 40.0


class Child:
    """One child process; a thread collects its output lines."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(CHILD), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=CHILD.parent,
        )
        self.lines: list[str] = []
        self.ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.strip())
            if line.startswith("ready"):
                self.ready.set()

    def kill(self) -> str:
        """SIGKILL it; return its stderr."""
        self.proc.kill()
        self.proc.wait(timeout=10)
        self._reader.join(timeout=10)
        assert self.proc.stderr is not None and self.proc.stdout is not None
        stderr = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return stderr


def check_ledger(ledger: PoolLedger, acked: set[bytes]) -> None:
    """The invariants that hold at any instant."""
    blocks = {b.block_id: b for b in ledger.blocks()}
    assert acked <= set(blocks), "an acknowledged block was lost"
    immature: dict[str, int] = {}
    credited = 0
    for block in blocks.values():
        if block.status == "pending":
            for address, amount in block.credits.items():
                immature[address] = immature.get(address, 0) + amount
        elif block.status == "credited":
            credited += sum(block.credits.values())
    balances = ledger.balances()
    assert {b.address: b.immature for b in balances if b.immature} == immature
    assert all(min(b.immature, b.balance, b.in_flight, b.paid) >= 0 for b in balances)
    assert sum(b.balance + b.in_flight + b.paid for b in balances) == credited
    in_flight: dict[str, int] = {}
    paid: dict[str, int] = {}
    for payment in ledger.payments():
        target = {"intent": in_flight, "sent": paid, "settled": paid}.get(payment.status)
        if target is not None:
            for address, amount in payment.destinations:
                target[address] = target.get(address, 0) + amount
    assert {b.address: b.in_flight for b in balances if b.in_flight} == in_flight
    assert {b.address: b.paid for b in balances if b.paid} == paid


@pytest.mark.slow
def test_kill_9_never_loses_or_double_pays(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    db = tmp_path / "pool.sqlite3"
    wallet_path = tmp_path / "wallet.sqlite3"
    acked: set[bytes] = set()
    kills = early = 0
    started = time.monotonic()
    while kills < KILLS and time.monotonic() - started < BUDGET_S:
        child = Child([str(db), str(wallet_path), str(tmp_path / f"node{kills}"), str(kills)])
        if rng.random() < 0.15:
            time.sleep(rng.uniform(0.0, 0.5))
        else:
            assert child.ready.wait(timeout=30), "the child did not start"
            time.sleep(rng.uniform(0.05, 0.6))
        stderr = child.kill()
        kills += 1
        assert "Traceback" not in stderr, stderr
        early += not child.ready.is_set()
        acked |= {
            bytes.fromhex(line.split()[1]) for line in child.lines if line.startswith("block ")
        }
        with open_sqlite_storage(db, tmp_path / "check") as storage:
            check_ledger(make_ledger(storage), acked)

    assert kills == KILLS and len(acked) > 3 * KILLS, (kills, len(acked))
    with open_sqlite_storage(db, tmp_path / "check") as storage:
        ledger = make_ledger(storage)
        wallet = FakeWallet(str(wallet_path))
        engine = PayoutEngine(ledger, wallet, payout_config())
        engine.reconcile()
        check_ledger(ledger, acked)
        payments = {p.batch_id: p for p in ledger.payments()}
        assert not [p for p in payments.values() if p.status == "intent"]
        assert payments, "no payment was made"
        assert any(p.status == "failed" for p in payments.values())
        for entry in wallet.get_transfers()["out"]:
            payment = payments[entry["idempotency_key"]]
            assert payment.status in ("sent", "settled")
            assert [(d["address"], d["amount"]) for d in entry["destinations"]] == list(
                payment.destinations
            )
        assert {b.address: b.paid for b in ledger.balances() if b.paid} == wallet.paid()
        wallet.close()
