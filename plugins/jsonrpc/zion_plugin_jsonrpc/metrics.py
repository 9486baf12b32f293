"""The ``rpc`` metrics source: requests answered by the node API, by method and outcome.

The application records every JSON-RPC call (each call of a batch on its own) and every
REST request as it is answered, on the event loop: one histogram observation and one
counter. A scrape reads the counters; it never walks the requests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Final, Literal

from zion_core.metrics import LATENCY_BUCKETS, Histogram
from zion_hookspecs import HistogramSample, MetricSample

Outcome = Literal["ok", "error", "internal_error"]
"""``ok``: a result; ``error``: a JSON-RPC error or a failed REST call answered to the
client (bad params, unknown method, unauthorized...); ``internal_error``: a bug."""

OTHER: Final = "other"
"""The method label of calls to a method the node does not serve (bounded labels)."""


class RpcMetrics:
    """Latency histograms and outcome counters by method.

    ``known`` is the set of method labels kept as they are (the served JSON-RPC methods
    and their aliases, the REST paths); any other name is counted as :data:`OTHER`.
    """

    name = "rpc"

    def __init__(self) -> None:
        self.known: frozenset[str] = frozenset()
        self._latency: dict[str, Histogram] = {}
        self._requests: Counter[tuple[str, str]] = Counter()

    def observe(self, method: str, outcome: Outcome, seconds: float) -> None:
        """One request to ``method`` answered with ``outcome`` after ``seconds``."""
        label = method if method in self.known else OTHER
        histogram = self._latency.get(label)
        if histogram is None:
            histogram = self._latency[label] = Histogram(LATENCY_BUCKETS)
        histogram.observe(seconds)
        self._requests[label, outcome] += 1

    def collect(self) -> Iterable[MetricSample | HistogramSample]:
        return self._samples()

    def _samples(self) -> Iterator[MetricSample | HistogramSample]:
        for (method, outcome), count in list(self._requests.items()):
            yield MetricSample(
                "zion_rpc_requests_total",
                "counter",
                "Node API requests answered, by method (REST paths start with /) and outcome",
                float(count),
                {"method": method, "outcome": outcome},
            )
        for method, histogram in list(self._latency.items()):
            yield histogram.sample(
                "zion_rpc_request_seconds",
                "Time to answer one node API request, by method",
                {"method": method},
            )


__all__ = ["OTHER", "Outcome", "RpcMetrics"]
