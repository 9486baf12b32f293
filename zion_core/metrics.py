"""Fixed-bucket histograms for metrics sources (``zion_register_metrics``).

A plugin keeps a :class:`Histogram` where the thing it measures happens (a block
connected, an RPC call answered, a share verified), calls :meth:`Histogram.observe` with
each value, and yields :meth:`Histogram.sample` from its source's ``collect()``. An
observation costs one bisection over the bounds and one lock; a sample copies a dozen
counts. The ``metrics`` plugin turns the samples into the Prometheus text format.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Final

from zion_hookspecs import HistogramSample

LATENCY_BUCKETS: Final = (
    0.0001,
    0.00025,
    0.0005,
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
)
"""Upper bounds, in seconds, for latencies from 100 µs to 10 s (the default)."""


class Histogram:
    """Counts of observed values in fixed buckets, with their sum (Prometheus semantics:
    a value falls in the first bucket whose upper bound is at least the value; values
    above the last bound count only towards the ``+Inf`` bucket).

    ``buckets`` are the finite upper bounds, strictly increasing. Safe to observe from
    several threads at once.
    """

    __slots__ = ("_counts", "_last", "_lock", "_observed", "_sum", "bounds")

    def __init__(self, buckets: Iterable[float] = LATENCY_BUCKETS) -> None:
        bounds = tuple(float(bound) for bound in buckets)
        if not bounds:
            raise ValueError("a histogram needs at least one bucket")
        if not all(math.isfinite(bound) for bound in bounds):
            raise ValueError("histogram buckets must be finite (+Inf is always there)")
        if any(b <= a for a, b in itertools.pairwise(bounds)):
            raise ValueError(f"histogram buckets must increase strictly: {bounds}")
        self.bounds = bounds
        self._counts = [0] * (len(bounds) + 1)  # the last one: above every bound
        self._sum = 0.0
        self._observed = 0
        self._last: tuple[int, tuple[tuple[tuple[float, int], ...], int, float]] | None = None
        """``cumulative()``'s last answer and ``_observed`` then (scrapes mostly find a
        histogram unchanged)."""
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        """Count one observation of ``value`` (a NaN is a ``ValueError``)."""
        if value != value:
            raise ValueError("cannot observe NaN")
        index = bisect_left(self.bounds, value)
        with self._lock:
            self._counts[index] += 1
            self._sum += value
            self._observed += 1

    @contextmanager
    def time(self) -> Iterator[None]:
        """Observe the seconds the ``with`` block takes (also when it raises)."""
        began = time.perf_counter()
        try:
            yield
        finally:
            self.observe(time.perf_counter() - began)

    @property
    def count(self) -> int:
        """The number of observations."""
        with self._lock:
            return self._observed

    @property
    def sum(self) -> float:
        """The total of the observed values."""
        with self._lock:
            return self._sum

    def cumulative(self) -> tuple[tuple[tuple[float, int], ...], int, float]:
        """``(buckets, count, sum)`` read at one instant: ``buckets`` pairs each bound with
        the number of observations at most that bound."""
        with self._lock:
            last = self._last
            if last is not None and last[0] == self._observed:
                return last[1]
            observed = self._observed
            counts = list(self._counts)
            total = self._sum
        pairs: list[tuple[float, int]] = []
        running = 0
        for bound, count in zip(self.bounds, counts, strict=False):
            running += count
            pairs.append((bound, running))
        result = tuple(pairs), running + counts[-1], total
        self._last = (observed, result)
        return result

    def sample(
        self, name: str, help: str, labels: Mapping[str, str] | None = None
    ) -> HistogramSample:
        """This histogram as a :class:`~zion_hookspecs.HistogramSample`."""
        buckets, count, total = self.cumulative()
        return HistogramSample(name, help, buckets, count, total, dict(labels or {}))


__all__ = ["LATENCY_BUCKETS", "Histogram"]
