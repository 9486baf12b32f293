"""The ``chain`` service: the node's chain on disk, opened at start and closed at stop."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import anyio

from zion_core.chain.block import Block
from zion_core.chain.transaction import Transaction
from zion_hookspecs import Node, ReadySignal

from .chain import AddResult, Chain
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
    holds ``lock`` around them; single reads need not.
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

    def _submit_block(self, block: Block, txs: Mapping[bytes, Transaction]) -> AddResult:
        chain, mempool = self._ready()
        pooled = {tx.txid: tx for tx in mempool.transactions()}
        began = time.perf_counter()
        try:
            result = chain.add_block(block, {**pooled, **txs})
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
            if self.mempool is not None:
                try:
                    self._flush()
                except Exception:
                    logger.exception("could not save the mempool")
            if self._store is not None:
                self._store.close()
                logger.info("chain store closed")
