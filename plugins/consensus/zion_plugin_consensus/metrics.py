"""The ``chain`` metrics source: the tip, block connection times, reorganisations and the
mempool.

The chain service updates it as blocks are added (in the worker thread that adds them);
a scrape reads a few numbers and the mempool's sizes, with no store read.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Final

from zion_core.metrics import Histogram
from zion_hookspecs import HistogramSample, MetricSample

if TYPE_CHECKING:
    from .mempool import Mempool
    from .store import BlockMeta

CONNECT_BUCKETS: Final = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
"""Upper bounds, in seconds, of the block connection time histogram (a block's checks,
its proof of work and the store write; a reorganisation takes longer)."""


class ChainMetrics:
    """The chain's numbers as the chain service last saw them."""

    name = "chain"

    def __init__(self) -> None:
        self.connect_seconds = Histogram(CONNECT_BUCKETS)
        """Time to add a block that became the tip (validation, proof of work, store)."""
        self.mempool: Mempool | None = None
        self._lock = threading.Lock()
        self._height: int | None = None
        self._difficulty = 0
        self._timestamp = 0
        self._added: Counter[str] = Counter()
        self._reorgs = 0
        self._disconnected = 0

    def tip(self, meta: BlockMeta) -> None:
        """The main chain's tip is now the block described by ``meta``."""
        with self._lock:
            self._height, self._difficulty, self._timestamp = (
                meta.height,
                meta.difficulty,
                meta.timestamp,
            )

    def added(self, status: str, seconds: float, *, disconnected: int = 0) -> None:
        """A block given to the chain became ``status`` (``connected``, ``side``, ``known``
        or ``invalid``) after ``seconds``; ``disconnected``: main-chain blocks that a
        reorganisation removed for it."""
        if status == "connected":
            self.connect_seconds.observe(seconds)
        with self._lock:
            self._added[status] += 1
            if disconnected:
                self._reorgs += 1
                self._disconnected += disconnected

    def collect(self) -> Iterable[MetricSample | HistogramSample]:
        return self._samples()

    def _samples(self) -> Iterator[MetricSample | HistogramSample]:
        with self._lock:
            height, difficulty, timestamp = self._height, self._difficulty, self._timestamp
            added = dict(self._added)
            reorgs, disconnected = self._reorgs, self._disconnected
        if height is not None:
            yield MetricSample(
                "zion_chain_height", "gauge", "Height of the main chain's tip block", height
            )
            yield MetricSample(
                "zion_chain_difficulty",
                "gauge",
                "Proof-of-work difficulty of the main chain's tip block",
                float(difficulty),
            )
            yield MetricSample(
                "zion_chain_tip_timestamp_seconds",
                "gauge",
                "Timestamp of the main chain's tip block (Unix time)",
                float(timestamp),
            )
        for status in ("connected", "side", "known", "invalid"):
            yield MetricSample(
                "zion_chain_blocks_added_total",
                "counter",
                "Blocks given to the chain, by what became of them",
                float(added.get(status, 0)),
                {"status": status},
            )
        yield MetricSample(
            "zion_chain_reorganizations_total",
            "counter",
            "Reorganisations of the main chain",
            float(reorgs),
        )
        yield MetricSample(
            "zion_chain_blocks_disconnected_total",
            "counter",
            "Main-chain blocks removed by reorganisations",
            float(disconnected),
        )
        yield self.connect_seconds.sample(
            "zion_block_connect_seconds",
            "Time to add a block that became the tip: checks, proof of work, store write",
        )
        mempool = self.mempool
        if mempool is not None:
            yield MetricSample(
                "zion_mempool_transactions",
                "gauge",
                "Transactions in the mempool",
                float(len(mempool)),
            )
            yield MetricSample(
                "zion_mempool_bytes",
                "gauge",
                "Size of the transactions in the mempool",
                float(mempool.size_bytes),
            )


__all__ = ["CONNECT_BUCKETS", "ChainMetrics"]
