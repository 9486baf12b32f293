"""The ``chain`` service: the node's chain on disk, opened at start and closed at stop."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import anyio

from zion_core.chain.block import Block
from zion_core.chain.transaction import Transaction
from zion_hookspecs import Node, ReadySignal

from .chain import AddResult, BatchResult, Chain, Hasher
from .errors import ConsensusError
from .mempool import Mempool
from .metrics import ChainMetrics

logger = logging.getLogger(__name__)

MEMPOOL_FLUSH_SECONDS = 5.0
"""How often the pooled transactions are saved (and at shutdown)."""


class ChainService:
    """Opens the chain of the node's network in the configured storage backend (file
    ``chain.<backend>`` in the data directory), verified by the configured hasher.

    Thread-safe: ``submit_block``, ``submit_transaction`` and the mempool's saving run
    one at a time under ``lock`` (a re-entrant lock). A reader that needs several reads
    to agree with each other (a template and the tip it builds on, a balance at a height)
    holds ``lock`` around them; single reads need not. ``submit_blocks`` hashes without
    holding ``lock`` and takes it only to add the blocks.
    """

    name = "chain"

    def __init__(self, node: Node) -> None:
        self.node = node
        self.chain: Chain | None = None
        self.mempool: Mempool | None = None
        self._store: Any = None
        self.lock = threading.RLock()
        self.metrics = ChainMetrics()
        """The tip, block connection times and the mempool (the ``chain`` metrics source)."""
        self._executor: ThreadPoolExecutor | None = None  # hashes batches; made when needed
        self._executor_lock = threading.Lock()
        self._turns = threading.Condition()  # guards the four fields below
        self._next_ticket = 0  # handed to each batch as it is planned
        self._serving = 0  # the ticket of the batch whose blocks are added next
        self._pending: dict[bytes, tuple[int, bytes]] = {}
        """id -> (height, parent id) of planned blocks of batches not yet done."""
        self._pending_by: dict[int, list[bytes]] = {}  # ticket -> its ids in ``_pending``

    def _open(self) -> None:
        backends = self.node.config_section("backends")
        rules = self.node.registry("consensus").select(backends.consensus)
        storage = self.node.registry("storage").select(backends.storage)
        hasher = self.node.registry("hasher").select(backends.hasher)
        path = self.node.data_dir / f"chain.{storage.name}"
        self._store = storage.open(path, create=True)
        try:
            self.chain = rules.open_chain(self.node.network, self._store, hasher)
            self.mempool = Mempool(self.chain)
            self.metrics.mempool = self.mempool
            self.metrics.tip(self.chain.tip)
        except BaseException:
            self._store.close()
            raise
        tip = self.chain.tip
        logger.info(
            "%s chain at height %d, tip %s, in %s (%d pooled transactions)",
            self.node.network,
            tip.height,
            self.chain.tip_id.hex()[:16],
            path,
            len(self.mempool),
        )

    def _ready(self) -> tuple[Chain, Mempool]:
        if self.chain is None or self.mempool is None:
            raise RuntimeError("the chain service has not started")
        return self.chain, self.mempool

    def submit_block(self, block: Block, txs: Mapping[bytes, Transaction] = {}) -> AddResult:
        """Add a block (mined here, by a pool or received from a peer); the mempool and
        the ``block_connected`` / ``block_disconnected`` events follow the chain. Raises a
        :class:`~.errors.ConsensusError` subclass when the block is invalid.

        Blocking (it verifies proof of work): call it from a worker thread."""
        with self.lock:
            return self._submit_block(block, txs)

    def submit_blocks(
        self, entries: Sequence[tuple[Block, Mapping[bytes, Transaction]]]
    ) -> BatchResult:
        """Add blocks (a peer's, in chain order) as :meth:`submit_block` does, one by one,
        stopping at the first invalid block (named in the result with its error; the
        blocks before it stay added). A block already stored gives ``known``.

        Their proofs of work are computed first, in parallel on the hasher's threads,
        without holding ``lock``: for each block whose parent is stored, an earlier block
        of the batch or a block of an earlier batch still on its way in; an orphan is left
        to the normal path, which refuses it. Batches are added in the order their calls
        began, so consecutive batches handed over from several threads overlap: one
        hashes while the one before it is added.

        Blocking: call it from a worker thread, not while holding ``lock``."""
        chain, _ = self._ready()
        blocks = [block for block, _ in entries]
        with self._turns:  # the plan and the ticket together: batches see their elders
            plan = chain.pow_seeds(blocks, self._pending)
            ticket = self._next_ticket
            self._next_ticket += 1
            planned = {
                block.id: (seeds[0], block.header.prev_id)
                for block, seeds in zip(blocks, plan, strict=True)
                if seeds is not None
            }
            self._pending.update(planned)
            self._pending_by[ticket] = list(planned)
        try:
            work: dict[bytes, tuple[bytes, bytes]] = {}  # id -> (hashing blob, seed)
            for block, seeds in zip(blocks, plan, strict=True):
                if seeds is not None and block.id not in work:
                    work[block.id] = (block.hashing_blob(), seeds[1])
            hashes = self._hash_all(chain.hasher, work)
            with self._turns:
                while self._serving != ticket:
                    self._turns.wait()
            results: list[AddResult] = []
            with self.lock:
                for block, txs in entries:
                    try:
                        results.append(self._submit_block(block, txs, hashes.get(block.id)))
                    except ConsensusError as exc:
                        return BatchResult(tuple(results), block.id, exc)
            return BatchResult(tuple(results))
        finally:
            with self._turns:
                while self._serving != ticket:  # after an error while hashing
                    self._turns.wait()
                self._serving += 1
                for block_id in self._pending_by.pop(ticket):
                    self._pending.pop(block_id, None)
                self._turns.notify_all()

    def _hash_all(
        self, hasher: Hasher, work: Mapping[bytes, tuple[bytes, bytes]]
    ) -> dict[bytes, tuple[bytes, bytes]]:
        """id -> (seed, RandomX hash) for each (hashing blob, seed) of ``work``, hashed in
        parallel; a block whose hashing failed is left out (the normal path hashes it)."""
        workers = getattr(hasher, "threads", None) or os.cpu_count() or 1
        futures: dict[bytes, Future[bytes]] = {}
        if len(work) > 1 and workers > 1:
            with self._executor_lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(workers, thread_name_prefix="chain-pow")
                executor = self._executor
            for block_id, (blob, seed) in work.items():
                futures[block_id] = executor.submit(hasher.hash, blob, key=seed)
        hashes: dict[bytes, tuple[bytes, bytes]] = {}
        for block_id, (blob, seed) in work.items():
            future = futures.get(block_id)
            try:
                digest = future.result() if future is not None else hasher.hash(blob, key=seed)
            except Exception:
                logger.warning(
                    "could not hash block %s ahead of adding it", block_id.hex()[:16], exc_info=True
                )
                continue
            hashes[block_id] = (seed, digest)
        return hashes

    def _submit_block(
        self,
        block: Block,
        txs: Mapping[bytes, Transaction],
        hashed: tuple[bytes, bytes] | None = None,
    ) -> AddResult:
        chain, mempool = self._ready()
        pow_hash = None
        parent = chain.store.meta(block.header.prev_id) if hashed is not None else None
        if hashed is not None and parent is not None:
            # trusted only if hashed under the key the chain derives for the block now
            if hashed[0] == chain.seed_hash(parent.height + 1, block.header.prev_id):
                pow_hash = hashed[1]
            else:
                logger.warning("block %s was hashed under another key", block.id.hex()[:16])
        pooled = {tx.txid: tx for tx in mempool.transactions()}
        began = time.perf_counter()
        try:
            result = chain.add_block(block, {**pooled, **txs}, pow_hash=pow_hash)
        except ConsensusError:
            self.metrics.added("invalid", time.perf_counter() - began)
            raise
        self.metrics.added(
            result.status, time.perf_counter() - began, disconnected=len(result.disconnected)
        )
        if result.connected:
            self.metrics.tip(chain.tip)
        for block_id in result.disconnected:  # tip first
            old = chain.block(block_id)
            meta = chain.store.meta(block_id)
            if old is not None and meta is not None:
                self.node.emit("block_disconnected", block=old, height=meta.height)
        for block_id in result.connected:
            new = chain.block(block_id)
            meta = chain.store.meta(block_id)
            if new is None or meta is None:
                continue
            mined = [t for t in (chain.transaction(h) for h in new.tx_hashes) if t is not None]
            mempool.remove_mined(mined)
            self.node.emit("block_connected", block=new, height=meta.height)
        if result.returned_txs:
            mempool.return_transactions(result.returned_txs)
            for tx in result.returned_txs:  # back in the pool: announced like new ones
                if tx.txid in mempool:
                    self.node.emit("tx_accepted", tx=tx)
        return result

    def submit_transaction(self, tx: Transaction) -> bool:
        """Add a transaction to the mempool (True: pooled; False: kept as an orphan until
        its parent arrives); emits ``tx_accepted`` when pooled."""
        with self.lock:
            _, mempool = self._ready()
            pooled = mempool.add(tx)
            if pooled:
                self.node.emit("tx_accepted", tx=tx)
            return pooled

    def _flush(self) -> None:
        with self.lock:
            if self.mempool is not None:
                self.mempool.flush()

    async def run(self, *, task_status: ReadySignal) -> None:
        await anyio.to_thread.run_sync(self._open)
        task_status.started()
        try:
            while True:
                await anyio.sleep(MEMPOOL_FLUSH_SECONDS)
                await anyio.to_thread.run_sync(self._flush)
        finally:
            # quick and synchronous: no checkpoint, so cancellation cannot cut it short
            with self._executor_lock:
                executor, self._executor = self._executor, None
            if executor is not None:
                executor.shutdown(wait=False, cancel_futures=True)
            if self.mempool is not None:
                try:
                    self._flush()
                except Exception:
                    logger.exception("could not save the mempool")
            if self._store is not None:
                self._store.close()
                logger.info("chain store closed")
