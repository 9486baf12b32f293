"""Crash safety of the chain: a node killed with SIGKILL never loses or corrupts blocks.

Each round starts ``consensus_crash_writer.py`` on the same sqlite store, lets it mine
(blocks with transactions, and short reorganisations) for a random short while, or kills
it while it is still starting, or right as it begins a reorganisation, with SIGKILL.
Then the store is reopened and checked:

- the chain opens (the genesis matches, nothing raises);
- every block the writer acknowledged (``accepted``, printed after ``add_block``
  returned) is on the main chain at its height, except above the fork point of a
  reorganisation that was in flight when the writer died (see below);
- the stored chain is valid: its main-chain blocks, replayed from height 1 into a fresh
  chain over an in-memory store with the same rules, all connect, and the replayed
  coins (the UTXO set), address history, height index, transaction index, undo data
  and tip equal the reopened store's, key for key;
- the next writer resumes from the reopened tip.

A reorganisation is several batches (one per block disconnected or connected), so a
kill in the middle of one leaves the chain on the fork point, lighter than both the
old tip and the new branch, which stay stored as known side blocks. The test allows
that, counts it, and checks that the chain is still valid; the writer then mines on.
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from consensus_crash_writer import open_chain
from consensus_helpers import Clock, DictStorage

from zion_plugin_consensus.chain import Chain
from zion_plugin_consensus.store import ADDRESS, COIN, HEIGHT, TIP, TX_BLOCK, UNDO
from zion_plugin_sqlite import SqliteBackend

WRITER = Path(__file__).with_name("consensus_crash_writer.py")
KILLS = 20
SEED = 0xC4A5
BUDGET_S = 25.0  # stop killing after this long (the rounds normally take less)
COMPARED = (COIN, ADDRESS, HEIGHT, TX_BLOCK, UNDO, TIP)
"""The tables that depend only on the main chain (blocks, metas and transactions of side
branches stay stored, so ``B``, ``M`` and ``X`` may hold more than a replay)."""


class Writer:
    """One writer process; a thread collects its output lines."""

    def __init__(self, db: Path, seed: int, *, kill_at_reorg: float | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(WRITER), str(db), str(seed)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=WRITER.parent,
        )
        self.kill_at_reorg = kill_at_reorg
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.reorging = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if self.kill_at_reorg is not None and line.startswith("reorging"):
                # a few milliseconds into the reorganising add_block (it takes about 4 ms:
                # checks, then a batch for the new block, one to disconnect the tip, one
                # per block connected)
                time.sleep(self.kill_at_reorg)
                self.proc.kill()
                self.reorging.set()
            self.lines.append(line.strip())
            if line.startswith("ready"):
                self.ready.set()

    def kill(self) -> str:
        """SIGKILL it (if still alive); return its stderr."""
        self.proc.kill()
        self.proc.wait(timeout=10)
        self._reader.join(timeout=10)
        assert self.proc.stderr is not None and self.proc.stdout is not None
        stderr = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return stderr


def tables(storage: object) -> dict[bytes, bytes]:
    """The main-chain-only tables of a store, key by key."""
    out: dict[bytes, bytes] = {}
    for prefix in COMPARED:
        out.update(storage.iter_prefix(prefix))  # type: ignore[attr-defined]
    return out


def replay(chain: Chain) -> Chain:
    """A fresh chain over memory with ``chain``'s main-chain blocks, each of which must
    connect; the blocks' transactions come from ``chain``'s store."""
    clock = Clock(0)
    fresh = open_chain(DictStorage(), clock)
    assert fresh.genesis.id == chain.store.id_at(0)
    for height in range(1, chain.height + 1):
        block = chain.block_at(height)
        assert block is not None, f"no main-chain block at height {height}"
        txs = {}
        for txid in block.tx_hashes:
            tx = chain.transaction(txid)
            assert tx is not None, f"transaction {txid.hex()} of block {height} is missing"
            txs[txid] = tx
        clock.now = block.header.timestamp
        result = fresh.add_block(block, txs)
        assert result.status == "connected", f"block {height} replayed as {result.status}"
    return fresh


@pytest.mark.slow
def test_kill_9_never_loses_an_acknowledged_block_or_corrupts_the_chain(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    db = tmp_path / "data" / "chain.sqlite3"
    started = time.monotonic()
    acked: dict[int, bytes] = {}  # height -> acknowledged main-chain block id
    tip_height = 0
    stats = dict.fromkeys(
        (
            "kills",
            "early",
            "at_reorg",
            "mid_reorg",
            "reorg_done",
            "in_flight",
            "committed_unacked",
            "known",
            "heavier_ignored",
        ),
        0,
    )
    acked_total = reorgs = 0
    while stats["kills"] < KILLS and time.monotonic() - started < BUDGET_S:
        mode = rng.random()
        delay = rng.uniform(0.0, 0.004)
        writer = Writer(db, SEED, kill_at_reorg=delay if 0.15 <= mode < 0.5 else None)
        if mode < 0.15:  # while starting, or opening the store and chain
            time.sleep(rng.uniform(0.0, 0.4))
        else:
            assert writer.ready.wait(timeout=15), "the writer did not start"
            if writer.kill_at_reorg is not None:
                writer.reorging.wait(timeout=1.0)
            else:
                time.sleep(rng.uniform(0.0, 0.2))
        stderr = writer.kill()
        stats["kills"] += 1
        assert "Traceback" not in stderr, stderr

        # follow the writer's acknowledgements
        ready = [line for line in writer.lines if line.startswith("ready ")]
        if not ready:
            stats["early"] += 1
        else:
            assert int(ready[0].split()[1]) == tip_height, "not resumed from the reopened tip"
        reorging: int | None = None  # the fork height of a reorganisation in flight
        in_flight: int | None = None  # the height of a block being added
        for line in writer.lines:
            word, *rest = line.split()
            if word == "accepted":
                height, block_id = int(rest[0]), bytes.fromhex(rest[1])
                for above in [h for h in acked if h >= height]:
                    del acked[above]
                acked[height] = block_id
                acked_total += 1
                reorging = in_flight = None
            elif word == "reorging":
                reorging = int(rest[0])
                reorgs += 1
            elif word == "adding":
                in_flight = int(rest[0])
            elif word == "known":
                stats["known"] += 1
                # the branch's last block was stored, yet the chain did not switch to it
                stats["heavier_ignored"] += reorging is not None
        stats["at_reorg"] += writer.kill_at_reorg is not None and reorging is not None

        # reopen: nothing acknowledged is lost, and the chain is valid
        with SqliteBackend().open(db) as store:
            chain = open_chain(store, Clock(0))
            for height, block_id in sorted(acked.items()):
                if reorging is not None and height > reorging:
                    continue  # may be disconnected by the reorganisation in flight
                assert chain.store.id_at(height) == block_id, f"acknowledged block {height} lost"
            if reorging is not None:
                assert chain.height >= reorging
                if chain.height == reorging:  # old tip off, new branch not yet on
                    stats["mid_reorg"] += 1
                stats["reorg_done"] += chain.height == reorging + 2
            if in_flight is not None:
                stats["in_flight"] += 1
                stats["committed_unacked"] += chain.height == in_flight
            fresh = replay(chain)
            assert fresh.tip_id == chain.tip_id
            assert tables(fresh.storage) == tables(store), "the stored state is not the replay's"
            tip_height = chain.height
            # what the next writer builds on (differs above a reorganisation's fork)
            acked = {h: chain.store.id_at(h) or b"" for h in acked if h <= chain.height}
    elapsed = time.monotonic() - started
    print(
        f"\n{stats['kills']} kills in {elapsed:.1f} s: chain at height {tip_height} "
        f"({acked_total} blocks acknowledged, {reorgs} reorganisations begun); "
        f"{stats['early']} kills before the chain was open, "
        f"{stats['in_flight']} with a block being added "
        f"({stats['committed_unacked']} of them committed but not acknowledged), "
        f"{stats['at_reorg']} as a reorganisation began "
        f"({stats['mid_reorg']} left the chain on the fork point, "
        f"{stats['reorg_done']} completed it), "
        f"{stats['known']} blocks rebuilt that a killed writer had left stored "
        f"({stats['heavier_ignored']} of them the tip of a heavier branch, not adopted)"
    )
    assert stats["kills"] >= 10, f"only {stats['kills']} kills in {BUDGET_S} s"
    assert tip_height >= 2 * stats["kills"], "too few blocks to mean anything"
