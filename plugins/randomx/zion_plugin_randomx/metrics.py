"""The ``randomx`` metrics source: hashes computed, verification latency, mode and memory.

Each backend counts as it hashes (:class:`HashCounters`, updated from the threads that
hash); a scrape reads the counters and each backend's
:meth:`~.backend.RandomXCpu.status`, which builds nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from zion_core.metrics import Histogram
from zion_hookspecs import HistogramSample, MetricSample

if TYPE_CHECKING:
    from zion_hookspecs import Node

    from .backend import RandomXCpu


class HashCounters:
    """Hashes computed to verify (``hash``, ``hash_batch``) and to mine (``search``), and
    the time of each verification call; safe to update from several threads."""

    def __init__(self) -> None:
        self.verify_seconds = Histogram()
        """Seconds per ``hash`` call (one hash under a key: a share, a block)."""
        self._lock = threading.Lock()
        self._verified = 0
        self._mined = 0

    def verified(self, count: int, seconds: float | None = None) -> None:
        """``count`` hashes computed to verify; ``seconds``: the time of a one-hash call."""
        with self._lock:
            self._verified += count
        if seconds is not None:
            self.verify_seconds.observe(seconds)

    def mined(self, count: int) -> None:
        """``count`` nonces tried while mining."""
        with self._lock:
            self._mined += count

    def totals(self) -> tuple[int, int]:
        """``(verified, mined)`` hash counts."""
        with self._lock:
            return self._verified, self._mined


class RandomXMetrics:
    """The metrics source of the plugin's backends: the node's verifier (the registered
    ``randomx-cpu`` hasher) and, when it runs, the solo miner's own backend."""

    name = "randomx"

    def __init__(self, node: Node) -> None:
        self.node = node

    def backends(self) -> list[tuple[str, RandomXCpu]]:
        """``(role, backend)`` pairs: ``verifier``, then ``miner`` once it has started."""
        from .backend import RandomXCpu

        found: list[tuple[str, RandomXCpu]] = []
        hashers = self.node.registry("hasher")
        if RandomXCpu.name in hashers.names():
            verifier = hashers.get(RandomXCpu.name)
            if isinstance(verifier, RandomXCpu):
                found.append(("verifier", verifier))
        services = self.node.registry("service")
        if "miner" in services.names():
            miner = getattr(services.get("miner"), "backend", None)
            if isinstance(miner, RandomXCpu):
                found.append(("miner", miner))
        return found

    def collect(self) -> Iterable[MetricSample | HistogramSample]:
        return self._samples()

    def _samples(self) -> Iterator[MetricSample | HistogramSample]:
        backends = self.backends()
        verified = mined = 0
        for _, backend in backends:
            done = backend.counters.totals()
            verified, mined = verified + done[0], mined + done[1]
        for purpose, count in (("verify", verified), ("mine", mined)):
            yield MetricSample(
                "zion_randomx_hashes_total",
                "counter",
                "RandomX hashes computed, to verify (blocks, shares) or to mine",
                float(count),
                {"purpose": purpose},
            )
        for role, backend in backends:
            if role == "verifier":
                yield backend.counters.verify_seconds.sample(
                    "zion_randomx_verify_seconds",
                    "Time of one RandomX verification hash, waiting for a VM and the key included",
                )
            status = backend.status()
            yield MetricSample(
                "zion_randomx_info",
                "gauge",
                "The RandomX backends and their modes (light: 256 MiB cache; fast: 2 GiB dataset)",
                1.0,
                {"role": role, "backend": str(status["backend"]), "mode": str(status["mode"])},
            )
            labels = {"role": role}
            yield MetricSample(
                "zion_randomx_threads", "gauge", "Hashing threads", status["threads"], labels
            )
            yield MetricSample(
                "zion_randomx_keys",
                "gauge",
                "RandomX keys (seeds) held in memory or being prepared",
                status["keys"],
                labels,
            )
            yield MetricSample(
                "zion_randomx_memory_bytes",
                "gauge",
                "Memory held by RandomX caches and datasets",
                float(status["memory_bytes"]),
                labels,
            )


__all__ = ["HashCounters", "RandomXMetrics"]
