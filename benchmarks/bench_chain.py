"""Chain core: transaction validation, block connection, reorganisation, node start-up.

Four measurements, each against an anchor taken in the same run (see
``benchmarks/README.md``, section ``bench_chain.py``):

1. ``validate``: ``Mempool.add`` of freshly decoded 1-input/2-output transactions on a
   fresh pool over a SQLite chain (decode, context-free checks, UTXO lookups, balance,
   signature), against ``consensus_backend().verify`` of the same signatures.
   Goal: validation rate / verify rate >= 0.7.
2. ``connect``: ``Chain.add_block`` of one block of ``--txs`` such transactions on SQLite
   (WAL, ``synchronous=FULL``), against the same block on the in-memory ``DictStorage``
   and against the raw verification of its signatures.
3. ``reorg``: the ``add_block`` that makes a ``--reorg-depth + 1``-block side branch
   heavier than the main chain (disconnect ``depth`` blocks, connect ``depth + 1``), on
   SQLite and on ``DictStorage``.
4. ``startup``: a fresh process that opens a SQLite chain of ``--blocks`` blocks
   (``SqliteBackend().open`` + ``Chain`` + ``Mempool`` + the tip), against the same
   process that only starts Python and imports the modules.

Proof of work uses the test-only Keccak hasher of the consensus tests
(``plugins/consensus/tests/consensus_helpers.py``) at difficulty 1, so every figure leaves
out RandomX: light-mode verification adds about 25 ms per block header.

Usage::

    .venv/bin/python benchmarks/bench_chain.py --quick
    .venv/bin/python benchmarks/bench_chain.py --json-out /tmp/bench_chain.json
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins" / "consensus" / "tests"))

import provenance  # noqa: E402  (benchmarks/provenance.py)
from consensus_helpers import (  # noqa: E402  (test helpers: the Keccak hasher, DictStorage)
    Clock,
    DictStorage,
    TestOnlyKeccakHasher,
    solve,
)

from zion_core.chain.block import Block  # noqa: E402
from zion_core.chain.ed25519 import consensus_backend  # noqa: E402
from zion_core.chain.keys import WalletKeys  # noqa: E402
from zion_core.chain.transaction import (  # noqa: E402
    MAX_OUTPUTS,
    OutPoint,
    Transaction,
    TxOutput,
)
from zion_plugin_consensus.chain import Chain, check_spendable  # noqa: E402
from zion_plugin_consensus.mempool import POOL, Mempool  # noqa: E402
from zion_plugin_consensus.params import DEVNET, with_overrides  # noqa: E402
from zion_plugin_consensus.validation import check_transaction, verify_signatures  # noqa: E402
from zion_plugin_sqlite import SqliteBackend  # noqa: E402

GOAL_VALIDATE = 0.7

# Fast set-up: coins spendable one block later, difficulty 1 (every nonce is a solution).
OVERRIDES: dict[str, int] = {"spendable_age": 1, "coinbase_maturity": 1, "initial_difficulty": 1}
PARAMS = with_overrides(DEVNET, **OVERRIDES)

ALICE = WalletKeys.from_seed(bytes([7]) * 32)
BOB = WalletKeys.from_seed(bytes([8]) * 32)
CAROL = WalletKeys.from_seed(bytes([9]) * 32)
MINER = WalletKeys.from_seed(bytes([10]) * 32)

Coins = list[tuple[OutPoint, int]]
Blocks = list[tuple[Block, tuple[Transaction, ...]]]


# -- machine load ---------------------------------------------------------------------------


def busy_cpu_seconds() -> float:
    """CPU time all cores spent busy since boot, from /proc/stat (0 when unknown)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    values = [int(v) for v in fields[:8]]
    busy = sum(values) - values[3] - values[4]  # less idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class Load:
    """The CPU that other processes used while a section ran, in cores."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.busy = busy_cpu_seconds()
        self.own = own_cpu_seconds()

    def other_cores(self) -> float:
        wall = time.perf_counter() - self.wall
        other = (busy_cpu_seconds() - self.busy) - (own_cpu_seconds() - self.own)
        return max(0.0, other / wall) if wall > 0 else 0.0


# -- building chains with the test hasher ------------------------------------------------------


class Builder:
    """A chain on ``storage`` (in memory by default) that mines with the test hasher and
    records every block it adds, with its transactions, for replaying elsewhere."""

    def __init__(self, storage: Any = None, clock: Clock | None = None) -> None:
        self.storage = storage if storage is not None else DictStorage()
        self.hasher = TestOnlyKeccakHasher()
        self.clock = clock if clock is not None else Clock(PARAMS.genesis_timestamp)
        self.chain = Chain(PARAMS, self.storage, self.hasher, clock=self.clock)
        self.blocks: Blocks = []

    def mine(self, keys: WalletKeys, txs: Sequence[Transaction] = ()) -> Block:
        self.clock.now += PARAMS.target_seconds
        template = self.chain.template(keys.spend.public_key, keys.view.public_key, txs)
        block = solve(template, self.hasher)
        self.chain.add_block(block, {tx.txid: tx for tx in txs})
        self.blocks.append((block, tuple(txs)))
        return block

    def fork(self) -> Builder:
        """A second builder on a copy of this one's (in-memory) store and clock."""
        storage = DictStorage()
        storage.data = dict(self.storage.data)
        other = Builder(storage, Clock(self.clock.now))
        other.blocks = list(self.blocks)
        return other


def signed(
    keys: WalletKeys, coins: Coins, outputs: Sequence[tuple[WalletKeys, int]], fee: int
) -> Transaction:
    """A transaction from ``keys``' ``coins`` to ``outputs``, signed."""
    tx = Transaction(
        inputs=tuple(o for o, _ in coins),
        outputs=tuple(
            TxOutput(amount=a, spend_key=k.spend.public_key, view_key=k.view.public_key)
            for k, a in outputs
        ),
        fee=fee,
    )
    return tx.with_signatures(tuple(keys.spend.sign(tx.signing_message) for _ in coins))


def fan_out(keys: WalletKeys, coin: tuple[OutPoint, int], count: int) -> Transaction:
    """``coin`` split into ``count`` outputs to ``keys``."""
    _, amount = coin
    spend = amount - PARAMS.min_fee
    share = spend // count
    amounts = [share + spend - share * count] + [share] * (count - 1)
    return signed(keys, [coin], [(keys, a) for a in amounts], PARAMS.min_fee)


def outputs_of(tx: Transaction) -> Coins:
    return [(OutPoint(txid=tx.txid, index=i), o.amount) for i, o in enumerate(tx.outputs)]


def make_coins(builder: Builder, keys: WalletKeys, count: int) -> Coins:
    """At least ``count`` spendable coins of ``keys``, in three blocks: a coinbase, its
    split into 256, and a split of some of those into 256 each; then one empty block, so
    that all are spendable from the next height on."""
    first = builder.mine(keys)
    coinbase = (OutPoint(txid=first.miner_tx.hash, index=0), first.miner_tx.amount)
    level0 = fan_out(keys, coinbase, MAX_OUTPUTS)
    builder.mine(MINER, [level0])
    coins = outputs_of(level0)
    splits = max(0, -(-(count - len(coins)) // (MAX_OUTPUTS - 1)))
    if splits > len(coins):
        raise SystemExit(f"at most {MAX_OUTPUTS * MAX_OUTPUTS} coins; asked for {count}")
    level1 = [fan_out(keys, coin, MAX_OUTPUTS) for coin in coins[:splits]]
    coins = coins[splits:]
    builder.mine(MINER, level1)
    for tx in level1:
        coins += outputs_of(tx)
    builder.mine(MINER)
    return coins


def payments(keys: WalletKeys, coins: Coins, to: WalletKeys, amount: int) -> list[Transaction]:
    """One 1-input/2-output transaction per coin: ``amount`` to ``to``, the change back."""
    fee = PARAMS.min_fee
    return [
        signed(keys, [(outpoint, value)], [(to, amount), (keys, value - amount - fee)], fee)
        for outpoint, value in coins
    ]


def fresh(tx: Transaction) -> Transaction:
    """The transaction decoded again from its bytes (nothing cached: no txid yet)."""
    return Transaction.from_bytes(tx.to_bytes())


def fresh_block(block: Block) -> Block:
    return Block.from_bytes(block.to_bytes())


def replay(chain: Chain, blocks: Iterable[tuple[Block, tuple[Transaction, ...]]]) -> None:
    for block, txs in blocks:
        result = chain.add_block(block, {tx.txid: tx for tx in txs})
        assert result.status in ("connected", "side"), result


class FarClock:
    """A clock far enough ahead that no block of this benchmark is in its future."""

    def __call__(self) -> float:
        return float(PARAMS.genesis_timestamp + 10**8)


def sqlite_chain(directory: Path, name: str) -> tuple[Chain, Any]:
    path = directory / f"{name}.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = SqliteBackend().open(path)
    return Chain(PARAMS, store, TestOnlyKeccakHasher(), clock=FarClock()), store


def dict_chain() -> tuple[Chain, Any]:
    store = DictStorage()
    return Chain(PARAMS, store, TestOnlyKeccakHasher(), clock=FarClock()), store


class TimedStorage:
    """A Storage wrapper that adds up the time spent in ``get`` and ``write_batch``."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.get_s = 0.0
        self.gets = 0
        self.write_s = 0.0
        self.writes = 0

    def get(self, key: bytes) -> bytes | None:
        t = time.perf_counter()
        try:
            return self.inner.get(key)
        finally:
            self.get_s += time.perf_counter() - t
            self.gets += 1

    def iter_prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        return self.inner.iter_prefix(prefix)

    def write_batch(self, puts: Mapping[bytes, bytes], deletes: Iterable[bytes] = ()) -> None:
        t = time.perf_counter()
        try:
            self.inner.write_batch(puts, deletes)
        finally:
            self.write_s += time.perf_counter() - t
            self.writes += 1

    def close(self) -> None:
        self.inner.close()


@contextmanager
def quiet_gc() -> Iterator[None]:
    """Collect before a timed section (the collector stays on, as in a node)."""
    gc.collect()
    yield


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    with quiet_gc():
        t = time.perf_counter()
        result = fn()
        return time.perf_counter() - t, result


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


# -- 1. transaction validation against raw verification ---------------------------------------


def bench_validate(
    setup: Blocks, txs: list[Transaction], rounds: int, workdir: Path
) -> dict[str, Any]:
    chain, store = sqlite_chain(workdir, "validate")
    replay(chain, setup)
    raws = [tx.to_bytes() for tx in txs]
    owners = [ALICE.spend.public_key] * len(txs)
    triples = [(ALICE.spend.public_key, tx.txid, tx.signatures[0]) for tx in txs]
    backend = consensus_backend()
    n = len(txs)

    def verify_all() -> None:
        verify = backend.verify
        for pk, message, signature in triples:
            if not verify(pk, message, signature):
                raise AssertionError("a signature failed")

    def validate_all(pool: Mempool, persist: bool) -> None:
        add = pool.add
        for raw in raws:
            if not add(Transaction.from_bytes(raw), persist=persist):
                raise AssertionError("a transaction was not pooled")

    def clear_pool() -> None:
        store.write_batch({}, [POOL + tx.txid for tx in txs])

    per_round = []
    for r in range(rounds):
        load = Load()
        order = ["verify", "validate"] if r % 2 == 0 else ["validate", "verify"]
        times: dict[str, float] = {}
        for what in order:
            if what == "verify":
                times["verify"], _ = timed(verify_all)
            else:
                pool = Mempool(chain)
                times["validate"], _ = timed(lambda pool=pool: validate_all(pool, False))
                assert len(pool) == n
        row = {
            "round": r + 1,
            "order": order,
            "verify_per_s": n / times["verify"],
            "validate_per_s": n / times["validate"],
            "ratio": times["verify"] / times["validate"],
            "other_load_cores": round(load.other_cores(), 2),
        }
        per_round.append(row)
        print(
            f"  validate round {r + 1}: verify {row['verify_per_s']:,.0f}/s, "
            f"validate {row['validate_per_s']:,.0f} tx/s, ratio {row['ratio']:.3f} "
            f"(other load {row['other_load_cores']:.2f} core)",
            flush=True,
        )

    # Variants, once each: the pool persisting every transaction (one fsynced batch per
    # transaction on SQLite), the in-memory store, and the bare nacl binding.
    from nacl.bindings import crypto_sign_open

    def nacl_all() -> None:
        for pk, message, signature in triples:
            crypto_sign_open(signature + message, pk)

    nacl_s, _ = timed(nacl_all)
    pool = Mempool(chain)
    persist_s, _ = timed(lambda: validate_all(pool, True))
    clear_pool()
    dchain, _dstore = dict_chain()
    replay(dchain, setup)
    dpool = Mempool(dchain)
    dict_s, _ = timed(lambda: validate_all(dpool, False))

    # Where the time goes: each step of Mempool.add on its own, over all transactions.
    steps: dict[str, float] = {}
    decoded: list[Transaction] = []
    steps["decode (from_bytes)"], _ = timed(
        lambda: decoded.extend(Transaction.from_bytes(raw) for raw in raws)
    )
    steps["txid (keccak of the prefix)"], _ = timed(lambda: [tx.txid for tx in decoded])
    steps["check_transaction"], _ = timed(lambda: [check_transaction(tx, PARAMS) for tx in decoded])
    steps["lookup: tx_block(txid)"], _ = timed(
        lambda: [chain.store.tx_block(tx.txid) for tx in decoded]
    )
    steps["lookup: chain.height (tip)"], _ = timed(lambda: [chain.height for _ in decoded])
    height = chain.height + 1

    def coins() -> None:
        for tx in decoded:
            total = 0
            for outpoint in tx.inputs:
                coin = chain.coin(outpoint)
                assert coin is not None
                check_spendable(coin, height, PARAMS, outpoint)
                total += coin.amount
            assert total == sum(o.amount for o in tx.outputs) + tx.fee

    steps["lookup: coin + spendable + balance"], _ = timed(coins)
    steps["to_bytes (Mempool.add re-encodes for the entry size)"], _ = timed(
        lambda: [tx.to_bytes() for tx in decoded]
    )
    steps["verify_signatures"], _ = timed(
        lambda: [verify_signatures(tx, [o]) for tx, o in zip(decoded, owners, strict=True)]
    )
    chain.storage.close()

    ratios = [row["ratio"] for row in per_round]
    validate_s = n / median([row["validate_per_s"] for row in per_round])
    steps_sum = sum(steps.values())
    return {
        "transactions": n,
        "store": "sqlite (WAL, synchronous=FULL)",
        "rounds": per_round,
        "verify_per_s": median([row["verify_per_s"] for row in per_round]),
        "validate_per_s": median([row["validate_per_s"] for row in per_round]),
        "ratio_median": median(ratios),
        "ratio_range": [min(ratios), max(ratios)],
        "goal": GOAL_VALIDATE,
        "goal_met": median(ratios) >= GOAL_VALIDATE,
        "variants_per_s": {
            "nacl crypto_sign_open (no wrapper)": n / nacl_s,
            "Mempool.add persist=True on sqlite (one fsynced batch per tx)": n / persist_s,
            "Mempool.add persist=False on DictStorage": n / dict_s,
        },
        "breakdown_us_per_tx": {k: v / n * 1e6 for k, v in steps.items()},
        "breakdown_sum_us": steps_sum / n * 1e6,
        "validate_us_per_tx": validate_s / n * 1e6,
    }


# -- 2. connecting a block of many transactions ------------------------------------------------


def bench_connect(
    setup: Blocks, block: Block, txs: list[Transaction], rounds: int, workdir: Path
) -> dict[str, Any]:
    n = len(txs)
    triples = [(ALICE.spend.public_key, tx.txid, tx.signatures[0]) for tx in txs]
    backend = consensus_backend()

    def one(kind: str) -> float:
        chain, store = sqlite_chain(workdir, "connect") if kind == "sqlite" else dict_chain()
        replay(chain, setup)
        b = fresh_block(block)
        txmap = {}
        for tx in txs:
            f = fresh(tx)
            txmap[tx.txid] = f  # the mapping's keys are known; the objects' txids are not
        seconds, result = timed(lambda: chain.add_block(b, txmap))
        assert result.status == "connected", result
        store.close()
        return seconds

    def verify_all() -> float:
        def run() -> None:
            for pk, message, signature in triples:
                backend.verify(pk, message, signature)

        return timed(run)[0]

    per_round = []
    for r in range(rounds):
        load = Load()
        order = ["sqlite", "dict", "verify"] if r % 2 == 0 else ["verify", "dict", "sqlite"]
        times = {k: (verify_all() if k == "verify" else one(k)) for k in order}
        row = {
            "round": r + 1,
            "sqlite_ms": times["sqlite"] * 1e3,
            "dict_ms": times["dict"] * 1e3,
            "verify_ms": times["verify"] * 1e3,
            "sqlite_over_dict": times["sqlite"] / times["dict"],
            "verify_over_sqlite": times["verify"] / times["sqlite"],
            "other_load_cores": round(load.other_cores(), 2),
        }
        per_round.append(row)
        print(
            f"  connect round {r + 1}: sqlite {row['sqlite_ms']:.0f} ms, dict "
            f"{row['dict_ms']:.0f} ms, verify {row['verify_ms']:.0f} ms "
            f"(other load {row['other_load_cores']:.2f} core)",
            flush=True,
        )

    # Where the time goes on SQLite: store reads and the one write batch, timed apart.
    chain, store = sqlite_chain(workdir, "connect-breakdown")
    replay(chain, setup)
    timer = TimedStorage(store)
    chain = Chain(PARAMS, timer, TestOnlyKeccakHasher(), clock=FarClock())
    b = fresh_block(block)
    txmap = {tx.txid: fresh(tx) for tx in txs}
    total, _ = timed(lambda: chain.add_block(b, txmap))
    store.close()
    sqlite_ms = median([row["sqlite_ms"] for row in per_round])
    return {
        "transactions": n,
        "block_bytes": len(block.to_bytes()),
        "rounds": per_round,
        "sqlite_ms": sqlite_ms,
        "dict_ms": median([row["dict_ms"] for row in per_round]),
        "verify_ms": median([row["verify_ms"] for row in per_round]),
        "sqlite_tx_per_s": n / sqlite_ms * 1e3,
        "sqlite_over_dict": median([row["sqlite_over_dict"] for row in per_round]),
        "verify_over_sqlite": median([row["verify_over_sqlite"] for row in per_round]),
        "breakdown_sqlite": {
            "total_ms": total * 1e3,
            "store_gets": timer.gets,
            "store_get_ms": timer.get_s * 1e3,
            "write_batches": timer.writes,
            "write_batch_ms": timer.write_s * 1e3,
            "rest_ms": (total - timer.get_s - timer.write_s) * 1e3,
        },
    }


# -- 3. a reorganisation ----------------------------------------------------------------------


def bench_reorg(
    setup_builder: Builder, coins: Coins, depth: int, per_block: int, rounds: int, workdir: Path
) -> dict[str, Any]:
    fork = setup_builder.fork()  # the side branch starts from the same state
    setup = list(setup_builder.blocks)
    main_b = setup_builder
    needed = depth * per_block
    if len(coins) < needed:
        raise SystemExit(f"reorg needs {needed} coins, have {len(coins)}")
    use = coins[:needed]
    main_txs = payments(ALICE, use, BOB, 10**6)
    side_txs = payments(ALICE, use, CAROL, 2 * 10**6)  # the same coins, spent differently
    for i in range(depth):
        main_b.mine(MINER, main_txs[i * per_block : (i + 1) * per_block])
    for i in range(depth + 1):
        fork.mine(CAROL, side_txs[i * per_block : (i + 1) * per_block] if i < depth else ())
    main_blocks = main_b.blocks[len(setup) :]
    side_blocks = fork.blocks[len(setup) :]
    assert len(main_blocks) == depth
    assert len(side_blocks) == depth + 1

    def one(kind: str) -> tuple[float, Any]:
        chain, store = sqlite_chain(workdir, "reorg") if kind == "sqlite" else dict_chain()
        replay(chain, setup + main_blocks + side_blocks[:-1])
        last, last_txs = side_blocks[-1]
        b = fresh_block(last)
        seconds, result = timed(lambda: chain.add_block(b, {tx.txid: tx for tx in last_txs}))
        assert result.status == "connected"
        assert len(result.disconnected) == depth
        assert len(result.connected) == depth + 1
        store.close()
        return seconds, result

    per_round = []
    for r in range(rounds):
        load = Load()
        order = ["sqlite", "dict"] if r % 2 == 0 else ["dict", "sqlite"]
        times = {k: one(k)[0] for k in order}
        row = {
            "round": r + 1,
            "sqlite_s": times["sqlite"],
            "dict_s": times["dict"],
            "sqlite_over_dict": times["sqlite"] / times["dict"],
            "other_load_cores": round(load.other_cores(), 2),
        }
        per_round.append(row)
        print(
            f"  reorg round {r + 1}: sqlite {row['sqlite_s']:.3f} s, dict {row['dict_s']:.3f} s "
            f"(other load {row['other_load_cores']:.2f} core)",
            flush=True,
        )
    # Where the time goes on SQLite: store reads and write batches, timed apart.
    chain, store = sqlite_chain(workdir, "reorg-breakdown")
    replay(chain, setup + main_blocks + side_blocks[:-1])
    timer = TimedStorage(store)
    chain = Chain(PARAMS, timer, TestOnlyKeccakHasher(), clock=FarClock())
    b = fresh_block(side_blocks[-1][0])
    total, _ = timed(lambda: chain.add_block(b))
    store.close()
    sqlite_s = median([row["sqlite_s"] for row in per_round])
    ops = 2 * depth + 1
    return {
        "depth": depth,
        "transactions_per_block": per_block,
        "disconnected": depth,
        "connected": depth + 1,
        "rounds": per_round,
        "sqlite_s": sqlite_s,
        "dict_s": median([row["dict_s"] for row in per_round]),
        "sqlite_block_ops_per_s": ops / sqlite_s,
        "sqlite_over_dict": median([row["sqlite_over_dict"] for row in per_round]),
        "breakdown_sqlite": {
            "total_s": total,
            "store_gets": timer.gets,
            "store_get_s": timer.get_s,
            "write_batches": timer.writes,
            "write_batch_s": timer.write_s,
            "rest_s": total - timer.get_s - timer.write_s,
        },
    }


# -- 4. start-up with a long chain on disk ----------------------------------------------------

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from pathlib import Path
from zion_plugin_consensus.chain import Chain
from zion_plugin_consensus.mempool import Mempool
from zion_plugin_consensus.params import DEVNET, with_overrides
from zion_plugin_sqlite import SqliteBackend
t1 = time.perf_counter()
out = {"imports_s": t1 - t0}
if sys.argv[1] == "open":
    class NoHasher:
        def hash(self, blob, *, key=None):
            raise AssertionError("opening a chain hashes nothing")
    params = with_overrides(DEVNET, **json.loads(sys.argv[3]))
    store = SqliteBackend().open(Path(sys.argv[2]), create=False)
    t2 = time.perf_counter()
    chain = Chain(params, store, NoHasher())
    t3 = time.perf_counter()
    pool = Mempool(chain)
    t4 = time.perf_counter()
    tip = chain.tip
    t5 = time.perf_counter()
    out.update(open_s=t2 - t1, chain_s=t3 - t2, mempool_s=t4 - t3, tip_s=t5 - t4,
               in_process_s=t5 - t1, height=tip.height, pooled=len(pool))
    store.close()
print(json.dumps(out))
"""


def chain_height(path: Path) -> int | None:
    """The height of the chain in ``path`` (None if it is not a usable store)."""
    if not path.exists():
        return None
    try:
        store = SqliteBackend().open(path, create=False)
    except Exception:
        return None
    try:
        return Chain(PARAMS, store, TestOnlyKeccakHasher()).height
    except Exception:
        return None
    finally:
        store.close()


def build_chain(path: Path, blocks: int) -> dict[str, Any]:
    """``blocks`` empty blocks on a SQLite store at ``path`` (built in ``path.tmp``, then
    renamed, so an interrupted build leaves no half chain behind)."""
    partial = path.with_name(path.name + ".partial")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{partial}{suffix}").unlink(missing_ok=True)
    store = SqliteBackend().open(partial)
    builder = Builder(store)
    start = time.perf_counter()
    last = start
    add_s = 0.0
    samples: list[tuple[int, float]] = []  # (height, ms per add_block over the last stretch)
    stretch_add = 0.0
    step = max(1, min(10_000, blocks // 10))
    chain = builder.chain
    for height in range(1, blocks + 1):
        builder.clock.now += PARAMS.target_seconds
        template = chain.template(MINER.spend.public_key, MINER.view.public_key)
        block = solve(template, builder.hasher)
        t = time.perf_counter()
        chain.add_block(block)
        dt = time.perf_counter() - t
        add_s += dt
        stretch_add += dt
        if height % step == 0 or height == blocks:
            now = time.perf_counter()
            samples.append((height, stretch_add / step * 1e3))
            print(
                f"  built {height:,}/{blocks:,} blocks, {step / (now - last):,.0f} blocks/s, "
                f"add_block {stretch_add / step * 1e3:.2f} ms",
                flush=True,
            )
            last = now
            stretch_add = 0.0
    total = time.perf_counter() - start
    store.close()
    os.replace(partial, path)
    return {
        "blocks": blocks,
        "seconds": total,
        "blocks_per_s": blocks / total,
        "add_block_ms_mean": add_s / blocks * 1e3,
        "add_block_ms_by_height": samples,
        "file_bytes": path.stat().st_size,
    }


def run_child(args: list[str]) -> tuple[float, dict[str, Any]]:
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, check=True, cwd=ROOT
    )
    wall = time.perf_counter() - t
    out = json.loads(proc.stdout.strip().splitlines()[-1]) if CHILD in args else {}
    return wall, out


def bench_startup(
    db: Path, blocks: int, repeats: int, workdir: Path, rebuild: bool = False
) -> dict[str, Any]:
    build = None
    height = None if rebuild else chain_height(db)
    if height != blocks:
        print(f"  building a {blocks:,}-block chain in {db} (cached for later runs)", flush=True)
        build = build_chain(db, blocks)
    else:
        print(f"  reusing the {blocks:,}-block chain in {db}", flush=True)
    small = workdir / "genesis-only.sqlite3"
    _chain, store = sqlite_chain(workdir, "genesis-only")
    store.close()
    overrides = json.dumps(OVERRIDES)
    rows: dict[str, list[tuple[float, dict[str, Any]]]] = {
        "bare": [],
        "imports": [],
        "open_long": [],
        "open_genesis": [],
    }
    commands = {
        "bare": ["-c", "pass"],
        "imports": ["-c", CHILD, "imports"],
        "open_long": ["-c", CHILD, "open", str(db), overrides],
        "open_genesis": ["-c", CHILD, "open", str(small), overrides],
    }
    load = Load()
    for _ in range(repeats + 1):  # the first pass warms the OS file cache and is dropped
        for name, command in commands.items():
            rows[name].append(run_child(command))
    for name in rows:
        rows[name] = rows[name][1:]
    other = load.other_cores()

    def wall(name: str) -> float:
        return median([w for w, _ in rows[name]])

    def fastest(name: str) -> float:
        return min(w for w, _ in rows[name])

    def inner(name: str, key: str) -> float:
        return median([o[key] for _, o in rows[name]])

    heights = {o["height"] for _, o in rows["open_long"]}
    assert heights == {blocks}, heights
    return {
        "blocks": blocks,
        "db": str(db),
        "db_bytes": db.stat().st_size,
        "build": build,
        "repeats": repeats,
        "other_load_cores": round(other, 2),
        "bare_python_s": wall("bare"),
        "python_and_imports_s": wall("imports"),
        "startup_s": wall("open_long"),
        "startup_genesis_only_s": wall("open_genesis"),
        "fastest_s": {k: fastest(k) for k in rows},
        "startup_over_imports": wall("open_long") / wall("imports"),
        "startup_over_genesis_only": wall("open_long") / wall("open_genesis"),
        "in_process_s": inner("open_long", "in_process_s"),
        "in_process_genesis_only_s": inner("open_genesis", "in_process_s"),
        "in_process_steps_s": {
            k: inner("open_long", k) for k in ("open_s", "chain_s", "mempool_s", "tip_s")
        },
        "imports_in_child_s": inner("imports", "imports_s"),
        "all_walls_s": {k: [round(w, 4) for w, _ in v] for k, v in rows.items()},
    }


# -- the run -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--txs", type=int, help="transactions validated and in the block (1000)")
    parser.add_argument("--rounds", type=int, help="rounds of each comparison (5; quick: 2)")
    parser.add_argument("--reorg-depth", type=int, help="blocks disconnected (100; quick: 20)")
    parser.add_argument("--reorg-txs", type=int, default=5, help="transactions per reorg block")
    parser.add_argument("--blocks", type=int, help="chain length for start-up (100000; quick 2000)")
    parser.add_argument("--db", type=Path, help="the start-up chain's file (built if missing)")
    parser.add_argument(
        "--rebuild", action="store_true", help="build the start-up chain even if cached"
    )
    parser.add_argument("--startup-repeats", type=int, default=9, help="start-up runs per case")
    parser.add_argument(
        "--only",
        default="validate,connect,reorg,startup",
        help="comma-separated subset of validate,connect,reorg,startup",
    )
    parser.add_argument("--json-out", type=Path, help="also write every result here")
    args = parser.parse_args(argv)
    quick = args.quick
    args.txs = args.txs or (200 if quick else 1000)
    args.rounds = args.rounds or (2 if quick else 5)
    args.reorg_depth = args.reorg_depth or (20 if quick else 100)
    args.blocks = args.blocks or (2000 if quick else 100_000)
    if args.db is None:
        args.db = Path(tempfile.gettempdir()) / f"zion-bench-chain-{args.blocks}.sqlite3"
    return args


CODE = [
    "plugins/consensus/zion_plugin_consensus/chain.py",
    "plugins/consensus/zion_plugin_consensus/mempool.py",
    "plugins/consensus/zion_plugin_consensus/store.py",
    "plugins/consensus/zion_plugin_consensus/validation.py",
    "plugins/sqlite/zion_plugin_sqlite/store.py",
    "zion_core/chain/transaction.py",
    "zion_core/chain/block.py",
]


def code_version() -> dict[str, Any]:
    """The commit and the hashes of the files measured."""
    return provenance.code_version(CODE)


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "loadavg_start": os.getloadavg(),
        "utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    }


def summary(results: dict[str, Any]) -> None:
    lines = [("measure", "value", "anchor", "ratio", "goal")]
    v = results.get("validate")
    if v:
        lines.append(
            (
                f"validate 1-in/2-out tx (Mempool.add, sqlite), {v['transactions']} tx",
                f"{v['validate_per_s']:,.0f} tx/s",
                f"{v['verify_per_s']:,.0f} verify/s",
                f"{v['ratio_median']:.3f} ({v['ratio_range'][0]:.3f}-{v['ratio_range'][1]:.3f})",
                f">= {GOAL_VALIDATE}: {'met' if v['goal_met'] else 'NOT met'}",
            )
        )
    c = results.get("connect")
    if c:
        lines.append(
            (
                f"connect a {c['transactions']}-tx block (sqlite)",
                f"{c['sqlite_ms']:.0f} ms ({c['sqlite_tx_per_s']:,.0f} tx/s)",
                f"dict {c['dict_ms']:.0f} ms; verify {c['verify_ms']:.0f} ms",
                f"{c['sqlite_over_dict']:.2f}x dict; verify = {c['verify_over_sqlite']:.2f}",
                "-",
            )
        )
    g = results.get("reorg")
    if g:
        lines.append(
            (
                f"reorg -{g['disconnected']}/+{g['connected']} blocks, "
                f"{g['transactions_per_block']} tx each (sqlite)",
                f"{g['sqlite_s']:.3f} s ({g['sqlite_block_ops_per_s']:,.0f} blocks/s)",
                f"dict {g['dict_s']:.3f} s",
                f"{g['sqlite_over_dict']:.2f}x dict",
                "-",
            )
        )
    s = results.get("startup")
    if s:
        lines.append(
            (
                f"start-up, {s['blocks']:,} blocks (fresh process)",
                f"{s['startup_s']:.3f} s (in process {s['in_process_s'] * 1e3:.1f} ms)",
                f"python+imports {s['python_and_imports_s']:.3f} s; "
                f"genesis-only {s['startup_genesis_only_s']:.3f} s",
                f"{s['startup_over_imports']:.2f}x imports; "
                f"{s['startup_over_genesis_only']:.2f}x genesis-only",
                "-",
            )
        )
        if s["build"]:
            b = s["build"]
            lines.append(
                (
                    f"build {b['blocks']:,} empty blocks (template+solve+add_block)",
                    f"{b['seconds']:.0f} s ({b['blocks_per_s']:,.0f} blocks/s)",
                    f"add_block {b['add_block_ms_mean']:.2f} ms",
                    "-",
                    "-",
                )
            )
    widths = [max(len(row[i]) for row in lines) for i in range(5)]
    print()
    for i, row in enumerate(lines):
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        if i == 0:
            print("-+-".join("-" * w for w in widths))
    if v:
        print("\nvalidation, per transaction (each step timed on its own over all transactions):")
        for step, us in v["breakdown_us_per_tx"].items():
            print(f"  {step:54s} {us:7.1f} us")
        print(
            f"  {'sum of the steps':54s} {v['breakdown_sum_us']:7.1f} us; "
            f"Mempool.add measured {v['validate_us_per_tx']:.1f} us"
        )
        for name, rate in v["variants_per_s"].items():
            print(f"  {name}: {rate:,.0f}/s")
    if c:
        b = c["breakdown_sqlite"]
        print(
            f"\nconnect on sqlite, one instrumented run: {b['total_ms']:.0f} ms = "
            f"{b['store_gets']} gets {b['store_get_ms']:.0f} ms + {b['write_batches']} write "
            f"batch {b['write_batch_ms']:.0f} ms + the rest {b['rest_ms']:.0f} ms"
        )
    if g:
        b = g["breakdown_sqlite"]
        print(
            f"reorg on sqlite, one instrumented run: {b['total_s'] * 1e3:.0f} ms = "
            f"{b['store_gets']} gets {b['store_get_s'] * 1e3:.0f} ms + {b['write_batches']} "
            f"write batches {b['write_batch_s'] * 1e3:.0f} ms + the rest "
            f"{b['rest_s'] * 1e3:.0f} ms"
        )
    if s:
        f = s["fastest_s"]
        print(
            f"start-up, fastest of {s['repeats']}: bare python {f['bare']:.3f} s, python+imports "
            f"{f['imports']:.3f} s, open {s['blocks']:,} blocks {f['open_long']:.3f} s, "
            f"open genesis-only {f['open_genesis']:.3f} s"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # the chain logs a warning per reorganisation; keep it off the report
    logging.getLogger("zion_plugin_consensus").addHandler(logging.NullHandler())
    only = set(args.only.split(","))
    results: dict[str, Any] = {
        "command": " ".join([".venv/bin/python", "benchmarks/bench_chain.py", *sys.argv[1:]]),
        "machine": machine(),
        "params": {"network": "devnet", **OVERRIDES},
        "pow": "test-only Keccak hasher, difficulty 1 (RandomX left out)",
        "code": code_version(),
    }
    workdir = Path(tempfile.mkdtemp(prefix="zion-bench-chain-"))
    try:
        if only & {"validate", "connect", "reorg"}:
            t = time.perf_counter()
            builder = Builder()
            need = max(args.txs, args.reorg_depth * args.reorg_txs)
            coins = make_coins(builder, ALICE, need)
            setup = list(builder.blocks)
            txs = payments(ALICE, coins[: args.txs], BOB, 10**6)
            print(
                f"set-up: {len(coins)} coins in {len(setup)} blocks, {len(txs)} transactions "
                f"signed ({time.perf_counter() - t:.1f} s)",
                flush=True,
            )
            if "validate" in only:
                print("1. transaction validation", flush=True)
                results["validate"] = bench_validate(setup, txs, args.rounds, workdir)
            if "connect" in only:
                print("2. connecting a block", flush=True)
                big = builder.fork()
                block = big.mine(MINER, txs)
                results["connect"] = bench_connect(
                    setup, block, txs, max(1, args.rounds - 2), workdir
                )
            if "reorg" in only:
                print("3. reorganisation", flush=True)
                results["reorg"] = bench_reorg(
                    builder,
                    coins,
                    args.reorg_depth,
                    args.reorg_txs,
                    max(1, args.rounds - 2),
                    workdir,
                )
        if "startup" in only:
            print("4. start-up", flush=True)
            results["startup"] = bench_startup(
                args.db, args.blocks, args.startup_repeats, workdir, args.rebuild
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["machine"]["loadavg_end"] = os.getloadavg()
    summary(results)
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nwrote {args.json_out}")
    v = results.get("validate")
    return 0 if v is None or v["goal_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
