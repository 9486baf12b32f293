"""Crash safety: a writer killed with SIGKILL at random moments never loses or tears a batch.

Each round starts ``sqlite_crash_writer.py`` on the same database, lets it apply batches
for a random short while (or kills it while it is still starting, opening or recovering
the store), kills it with SIGKILL, then checks the file:

- ``PRAGMA integrity_check`` is ``ok``;
- the store holds exactly the state after some batch ``M`` (the ``last`` key), compared
  key by key with the writer's own model: never a partial batch;
- ``M`` is at least the last batch the writer acknowledged (printed after
  ``write_batch`` returned), and at most one more (the one in flight may have committed
  just before the kill);
- the next writer resumes from ``M``, and its acknowledgements are consecutive.

SIGKILL ends the process, not the machine: this proves atomicity and the recovery of the
write-ahead log after a process crash. Surviving a power loss rests, in addition, on the
fsync that ``synchronous = FULL`` makes at each commit (see docs/storage.md).
"""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlite_crash_writer import LAST, expected_state, replayed_state

from zion_plugin_sqlite import SqliteBackend

WRITER = Path(__file__).with_name("sqlite_crash_writer.py")
KILLS = 25
SEED = 0x5A10
BUDGET_S = 20.0  # stop killing after this long (the rounds normally take far less)


def test_expected_state_matches_replaying_the_batches() -> None:
    for m in range(7):
        assert expected_state(m) == replayed_state(m)


class Writer:
    """One writer process; a thread collects its output lines."""

    def __init__(self, db: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(WRITER), str(db)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
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

    def kill(self) -> tuple[int | None, list[int], str]:
        """SIGKILL it; return (the batch it resumed from, its acked batches, stderr)."""
        self.proc.kill()
        self.proc.wait(timeout=10)
        self._reader.join(timeout=10)
        assert self.proc.stderr is not None
        stderr = self.proc.stderr.read()
        self.proc.stdout.close()  # type: ignore[union-attr]
        self.proc.stderr.close()
        resumed = [int(line.split()[1]) for line in self.lines if line.startswith("ready ")]
        acked = [int(line.split()[1]) for line in self.lines if line.startswith("acked ")]
        return (resumed[0] if resumed else None), acked, stderr


def recovered_batch(db: Path) -> int:
    """Check the killed writer's database; return the number of its last batch."""
    if db.exists():
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        conn.close()
    with SqliteBackend().open(db) as store:
        raw = store.get(LAST)
        m = 0 if raw is None else int.from_bytes(raw, "big")
        contents = dict(store.iter_prefix(b""))
    assert contents == expected_state(m), f"the store is not the state after batch {m}"
    return m


@pytest.mark.slow
def test_kill_9_never_loses_or_tears_a_batch(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    db = tmp_path / "data" / "chain.sqlite3"
    started = time.monotonic()
    recovered = 0  # the last batch in the store, checked after the previous kill
    kills = in_flight = early = acked_total = 0
    while kills < KILLS and time.monotonic() - started < BUDGET_S:
        writer = Writer(db)
        if rng.random() < 0.2:  # while starting, opening or recovering the store
            time.sleep(rng.uniform(0.0, 0.3))
        else:
            assert writer.ready.wait(timeout=15), "the writer did not start"
            time.sleep(rng.uniform(0.0, 0.08))
        resumed, acked, stderr = writer.kill()
        kills += 1
        assert "Traceback" not in stderr, stderr
        if resumed is None:
            early += 1
        else:
            assert resumed == recovered, "the writer did not resume from the recovered batch"
        assert acked == list(range(recovered + 1, recovered + 1 + len(acked)))
        base = acked[-1] if acked else recovered  # acknowledged, or there before the round
        m = recovered_batch(db)
        assert m in (base, base + 1), f"batch {m} recovered, {base} acknowledged"
        in_flight += m == base + 1
        acked_total += len(acked)
        recovered = m
    elapsed = time.monotonic() - started
    print(
        f"\n{kills} kills in {elapsed:.1f} s: {recovered} batches committed "
        f"({acked_total} acknowledged), "
        f"{in_flight} committed but not yet acknowledged when killed, "
        f"{early} kills before the store was ready"
    )
    assert kills >= 10, f"only {kills} kills in {BUDGET_S} s"
    assert recovered >= kills, "too few batches to mean anything"
