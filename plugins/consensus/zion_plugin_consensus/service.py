"""The ``chain`` service: the node's chain on disk, opened at start and closed at stop."""

from __future__ import annotations

import logging
from typing import Any

import anyio

from zion_hookspecs import Node, ReadySignal

from .chain import Chain
from .mempool import Mempool

logger = logging.getLogger(__name__)


class ChainService:
    """Opens the chain of the node's network in the configured storage backend (file
    ``chain.<backend>`` in the data directory), verified by the configured hasher."""

    name = "chain"

    def __init__(self, node: Node) -> None:
        self.node = node
        self.chain: Chain | None = None
        self.mempool: Mempool | None = None
        self._store: Any = None

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

    async def run(self, *, task_status: ReadySignal) -> None:
        await anyio.to_thread.run_sync(self._open)
        task_status.started()
        try:
            await anyio.sleep_forever()
        finally:
            if self._store is not None:  # quick and synchronous: no checkpoint needed
                self._store.close()
                logger.info("chain store closed")
