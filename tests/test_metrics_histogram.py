"""``zion_core.metrics.Histogram``: Prometheus bucket semantics, sums, threads."""

from __future__ import annotations

import math
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zion_core import Histogram as PublicHistogram
from zion_core.metrics import LATENCY_BUCKETS, Histogram
from zion_hookspecs import HistogramSample

finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9)
bounds = st.lists(finite, min_size=1, max_size=20, unique=True).map(sorted)


@given(bounds, st.lists(st.one_of(finite, st.sampled_from([math.inf, -math.inf])), max_size=200))
def test_buckets_count_the_values_at_most_their_bound(
    upper: list[float], values: list[float]
) -> None:
    histogram = Histogram(upper)
    for value in values:
        histogram.observe(value)
    buckets, count, total = histogram.cumulative()
    assert [bound for bound, _ in buckets] == upper
    assert [seen for _, seen in buckets] == [sum(v <= bound for v in values) for bound in upper]
    assert count == len(values) == histogram.count
    finite_values = [v for v in values if math.isfinite(v)]
    if len(finite_values) == len(values):
        assert total == pytest.approx(math.fsum(values), rel=1e-9, abs=1e-3)
        assert histogram.sum == total


@given(bounds, st.lists(finite, max_size=50))
def test_cumulative_counts_never_decrease(upper: list[float], values: list[float]) -> None:
    histogram = Histogram(upper)
    for value in values:
        histogram.observe(value)
    sample = histogram.sample("zion_x_seconds", "x", {"a": "b"})
    assert isinstance(sample, HistogramSample) and sample.kind == "histogram"
    counts = [seen for _, seen in sample.buckets]
    assert counts == sorted(counts)
    assert not counts or counts[-1] <= sample.count
    assert sample.labels == {"a": "b"} and sample.name == "zion_x_seconds"


def test_a_value_on_a_bound_belongs_to_that_bucket() -> None:
    histogram = Histogram((1.0, 2.0))
    for value in (1.0, 2.0, 2.5):
        histogram.observe(value)
    assert histogram.cumulative() == (((1.0, 1), (2.0, 2)), 3, 5.5)


def test_defaults_and_public_name() -> None:
    assert PublicHistogram is Histogram
    histogram = Histogram()
    assert histogram.bounds == LATENCY_BUCKETS
    assert histogram.sample("zion_y_seconds", "y").buckets[0] == (0.0001, 0)


@pytest.mark.parametrize(
    ("buckets", "message"),
    [
        ((), "at least one"),
        ((1.0, math.inf), "finite"),
        ((math.nan,), "finite"),
        ((2.0, 1.0), "increase strictly"),
        ((1.0, 1.0), "increase strictly"),
    ],
)
def test_bad_buckets_are_refused(buckets: tuple[float, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Histogram(buckets)


def test_nan_is_refused() -> None:
    histogram = Histogram((1.0,))
    with pytest.raises(ValueError, match="NaN"):
        histogram.observe(math.nan)
    assert histogram.count == 0


def test_time_observes_the_block_even_when_it_raises() -> None:
    histogram = Histogram((10.0,))
    with histogram.time():
        pass
    with pytest.raises(RuntimeError), histogram.time():
        raise RuntimeError("boom")
    buckets, count, total = histogram.cumulative()
    assert count == 2 and buckets == ((10.0, 2),) and 0 <= total < 10


def test_observations_from_several_threads_are_all_counted() -> None:
    histogram = Histogram((0.5, 1.5))
    per_thread, threads = 5_000, 4
    start = threading.Barrier(threads)

    def work(value: float) -> None:
        start.wait()
        for _ in range(per_thread):
            histogram.observe(value)

    workers = [threading.Thread(target=work, args=(i % 2 + 0.25,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    buckets, count, total = histogram.cumulative()
    assert count == per_thread * threads
    assert buckets == ((0.5, per_thread * 2), (1.5, per_thread * 4))
    assert total == pytest.approx(per_thread * 2 * (0.25 + 1.25))
