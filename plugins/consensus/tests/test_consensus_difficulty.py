"""LWMA-1 difficulty: exact vectors, an independent reference implementation, properties."""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zion_plugin_consensus.difficulty import next_difficulty
from zion_plugin_consensus.params import MAINNET


def reference_lwma1(
    timestamps: list[int], cumulative: list[int], target: int, window: int, guess: int
) -> int:
    """A straightforward, float-free LWMA-1 written from the published description.

    Built differently from the plugin on purpose: adjust all timestamps first, then list the
    clamped solvetimes, then take the weighted sum, and divide with exact fractions.
    """
    if len(timestamps) < window + 1:
        return guess
    adjusted = [timestamps[0]]
    for stamp in timestamps[1:]:
        adjusted.append(max(stamp, adjusted[-1] + 1))
    solvetimes = [min(6 * target, b - a) for a, b in itertools.pairwise(adjusted)]
    weighted = sum(weight * s for weight, s in enumerate(solvetimes, start=1))
    weighted = max(weighted, window * window * target // 20)
    average = (cumulative[-1] - cumulative[0]) // window
    exact = Fraction(average * window * (window + 1) * target * 99, 200 * weighted)
    return max(1, exact.numerator // exact.denominator)


def chain(
    solvetimes: list[int], difficulty: int, start: int = 1_767_225_600
) -> tuple[list[int], list[int]]:
    """Timestamps and cumulative difficulties of ``len(solvetimes) + 1`` blocks."""
    timestamps = [start]
    for solvetime in solvetimes:
        timestamps.append(timestamps[-1] + solvetime)
    cumulative = [difficulty * (i + 1) for i in range(len(timestamps))]
    return timestamps, cumulative


N = MAINNET.difficulty_window
T = MAINNET.target_seconds


def lwma(timestamps: list[int], cumulative: list[int], window: int = N, target: int = T) -> int:
    return next_difficulty(timestamps, cumulative, target=target, window=window, guess=12345)


# ----------------------------------------------------------------------------- vectors


@pytest.mark.parametrize("average", [1, 99, 100, 123_457, 1_000_000, 10**15 + 7, 2**64 - 1])
def test_constant_solvetime_gives_99_percent_of_average(average: int) -> None:
    # L = T·N(N+1)/2, so next_D = avg·N(N+1)T·99 / (100·N(N+1)T) = avg·99/100, floored (>= 1).
    timestamps, cumulative = chain([T] * N, average)
    assert lwma(timestamps, cumulative) == max(1, average * 99 // 100)


@pytest.mark.parametrize(
    ("solvetime", "expected"),
    [
        (T // 2, 1_980_000),  # hash rate doubled: 2 · 0.99
        (T * 2, 495_000),  # hash rate halved: 0.99 / 2
        (T * 4, 247_500),  # a quarter
        (T * 6, 165_000),  # the clamp: 0.99 / 6
        (T * 100, 165_000),  # clamped to 6T as well
        (T // 10, 9_900_000),  # ten times faster: 9.9x; still above the floor
        (1, 10_010_000),  # the floor N²T/20 caps the rise at 9.9·(N+1)/N = 10.01x
    ],
)
def test_constant_solvetime_vectors(solvetime: int, expected: int) -> None:
    timestamps, cumulative = chain([solvetime] * N, 1_000_000)
    assert lwma(timestamps, cumulative) == expected


# Small windows (N = 5, T = 10), computed by hand and by reference_lwma1.
SMALL_VECTORS = [
    # constant solvetime T: 0.99 · 100
    ([0, 10, 20, 30, 40, 50], [0, 100, 200, 300, 400, 500], 99),
    # twice as fast
    ([0, 5, 10, 15, 20, 25], [0, 100, 200, 300, 400, 500], 198),
    # out of sequence: 90 -> 101 (st 1), 130 (st 29), 131 (st 1), 400 (st 269 -> 60), 401 (st 1);
    # L = 1 + 2·29 + 3·1 + 4·60 + 5·1 = 307, avg = 1300 // 5 = 260, 260·29700 // 61400 = 125
    ([100, 90, 130, 131, 400, 401], [1000, 1200, 1450, 1700, 1900, 2300], 125),
    # one-second solvetimes: L = 15, above the floor 5²·10 // 20 = 12; 7·29700 // 3000 = 69
    ([0, 1, 2, 3, 4, 5], [0, 7, 14, 21, 28, 35], 69),
    # every timestamp going backwards: each becomes previous + 1
    ([50, 49, 48, 47, 46, 45], [10, 20, 30, 40, 50, 60], 99),
    # a long first solvetime (clamped at 60, weight 1) barely matters
    ([0, 200, 210, 220, 230, 240], [0, 500, 1000, 1500, 2000, 2500], 371),
    # a long last solvetime (clamped at 60, weight 5) matters most
    ([0, 10, 20, 30, 40, 1000], [0, 500, 1000, 1500, 2000, 2500], 185),
]


@pytest.mark.parametrize(("timestamps", "cumulative", "expected"), SMALL_VECTORS)
def test_small_window_vectors(timestamps: list[int], cumulative: list[int], expected: int) -> None:
    assert lwma(timestamps, cumulative, window=5, target=10) == expected
    assert reference_lwma1(timestamps, cumulative, 10, 5, 1) == expected


def test_mainnet_mixed_vector() -> None:
    # A deterministic irregular window at mainnet settings, cross-checked with the reference.
    solvetimes = [(i * 7919) % 500 + 1 for i in range(N)]
    solvetimes[40] = -300  # an out-of-sequence timestamp
    timestamps, cumulative = chain(solvetimes, 3_000_000_007)
    expected = reference_lwma1(timestamps, cumulative, T, N, 1)
    assert lwma(timestamps, cumulative) == expected == 1_463_746_781


def test_warm_up_returns_the_guess() -> None:
    for count in range(N + 1):
        timestamps, cumulative = chain([T] * count, 1000)
        timestamps, cumulative = timestamps[:count], cumulative[:count]
        assert lwma(timestamps, cumulative) == 12345
    timestamps, cumulative = chain([T] * N, 1000)
    assert lwma(timestamps, cumulative) == 990


def test_never_returns_zero() -> None:
    timestamps, cumulative = chain([6 * T] * N, 1)
    assert lwma(timestamps, cumulative) == 1
    assert lwma(timestamps, [0] * (N + 1)) == 1


@pytest.mark.parametrize(
    ("timestamps", "cumulative", "kwargs", "message"),
    [
        ([0, 1], [0], {}, "timestamps but"),
        ([0] * 7, [0] * 7, {}, "at most window"),
        ([0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0], {}, "decreases"),
        ([0], [0], {"target": 0}, "at least 1"),
        ([0], [0], {"window": 0}, "at least 1"),
        ([0], [0], {"guess": 0}, "at least 1"),
    ],
)
def test_rejects_bad_input(
    timestamps: list[int], cumulative: list[int], kwargs: dict[str, int], message: str
) -> None:
    arguments = {"target": 10, "window": 5, "guess": 1} | kwargs
    with pytest.raises(ValueError, match=message):
        next_difficulty(timestamps, cumulative, **arguments)


# ----------------------------------------------------------------------------- properties

windows = st.integers(min_value=1, max_value=30)
targets = st.integers(min_value=1, max_value=600)


@st.composite
def lwma_inputs(draw: st.DrawFn, ordered: bool = False) -> tuple[list[int], list[int], int, int]:
    window = draw(windows)
    target = draw(targets)
    low = 1 if ordered else -10 * target
    steps = draw(st.lists(st.integers(low, 10 * target), min_size=window, max_size=window))
    works = draw(st.lists(st.integers(0, 10**18), min_size=window, max_size=window))
    timestamps = [draw(st.integers(0, 2**35))]
    cumulative = [draw(st.integers(0, 10**20))]
    for step, work in zip(steps, works, strict=True):
        timestamps.append(timestamps[-1] + step)
        cumulative.append(cumulative[-1] + work)
    return timestamps, cumulative, target, window


@settings(max_examples=150, deadline=None)
@given(lwma_inputs())
def test_matches_reference(case: tuple[list[int], list[int], int, int]) -> None:
    timestamps, cumulative, target, window = case
    got = next_difficulty(timestamps, cumulative, target=target, window=window, guess=1)
    assert got == reference_lwma1(timestamps, cumulative, target, window, 1)


@settings(max_examples=100, deadline=None)
@given(lwma_inputs())
def test_bounded_and_deterministic(case: tuple[list[int], list[int], int, int]) -> None:
    timestamps, cumulative, target, window = case
    first = next_difficulty(
        tuple(timestamps), tuple(cumulative), target=target, window=window, guess=1
    )
    again = next_difficulty(timestamps, cumulative, target=target, window=window, guess=1)
    assert first == again >= 1
    average = (cumulative[-1] - cumulative[0]) // window
    # Upper bound: L >= max(1, N²T // 20); lower bound: every solvetime <= 6T.
    floor_l = max(1, window * window * target // 20)
    assert first <= max(1, average * window * (window + 1) * target * 99 // (200 * floor_l))
    assert first >= max(1, average * 99 // 600)


@settings(max_examples=100, deadline=None)
@given(lwma_inputs(ordered=True), st.data())
def test_monotone_in_solvetimes(
    case: tuple[list[int], list[int], int, int], data: st.DataObject
) -> None:
    """Lengthening any solvetime (later blocks shift with it) never raises the difficulty."""
    timestamps, cumulative, target, window = case
    index = data.draw(st.integers(1, window))
    extra = data.draw(st.integers(1, 10 * target))
    slower = timestamps[:index] + [t + extra for t in timestamps[index:]]
    before = next_difficulty(timestamps, cumulative, target=target, window=window, guess=1)
    after = next_difficulty(slower, cumulative, target=target, window=window, guess=1)
    assert after <= before


@settings(max_examples=100, deadline=None)
@given(lwma_inputs(), st.integers(0, 10**18), st.integers(-(2**30), 2**30))
def test_monotone_in_work_and_shift_invariant(
    case: tuple[list[int], list[int], int, int], more: int, shift: int
) -> None:
    timestamps, cumulative, target, window = case
    base = next_difficulty(timestamps, cumulative, target=target, window=window, guess=1)
    harder = [*cumulative[:-1], cumulative[-1] + more]
    assert next_difficulty(timestamps, harder, target=target, window=window, guess=1) >= base
    shifted = [t + shift for t in timestamps]
    assert next_difficulty(shifted, cumulative, target=target, window=window, guess=1) == base


@settings(max_examples=100, deadline=None)
@given(lwma_inputs(ordered=True), st.data())
def test_out_of_sequence_timestamp_counts_as_previous_plus_one(
    case: tuple[list[int], list[int], int, int], data: st.DataObject
) -> None:
    timestamps, cumulative, target, window = case
    index = data.draw(st.integers(1, window))
    back = data.draw(st.integers(0, 10**6))
    early = list(timestamps)
    early[index] = timestamps[index - 1] - back
    plus_one = list(timestamps)
    plus_one[index] = timestamps[index - 1] + 1
    assert next_difficulty(early, cumulative, target=target, window=window, guess=1) == (
        next_difficulty(plus_one, cumulative, target=target, window=window, guess=1)
    )
