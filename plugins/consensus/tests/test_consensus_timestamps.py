"""Median time past and the timestamp rule."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zion_core import ValidationError
from zion_plugin_consensus.errors import (
    ConsensusError,
    TimestampTooFarInFutureError,
    TimestampTooOldError,
)
from zion_plugin_consensus.params import DEVNET, MAINNET
from zion_plugin_consensus.timestamps import check_timestamp, median_time_past, minimum_timestamp


@pytest.mark.parametrize(
    ("timestamps", "window", "median"),
    [
        ([5], 11, 5),
        ([3, 1, 2], 11, 2),
        ([10, 20], 11, 15),  # even count: floor of the mean of the two middle values
        ([10, 21], 11, 15),
        ([7, 1, 9, 3], 11, 5),
        (list(range(100, 0, -1)), 11, 6),  # only the last 11 (11..1) count
        ([50, 40, 30, 20, 10, 0, 60, 70, 80, 90, 100, 1000, 2000], 11, 70),
        ([1, 2, 3, 4, 5], 1, 5),
    ],
)
def test_median_time_past(timestamps: list[int], window: int, median: int) -> None:
    assert median_time_past(timestamps, window) == median


def test_median_time_past_rejects_nothing() -> None:
    with pytest.raises(ValueError, match="no timestamps"):
        median_time_past([], 11)
    with pytest.raises(ValueError, match="window"):
        median_time_past([1], 0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 2**35), min_size=1, max_size=40), st.integers(1, 15))
def test_median_properties(timestamps: list[int], window: int) -> None:
    recent = timestamps[-window:]
    median = median_time_past(timestamps, window)
    assert min(recent) <= median <= max(recent)
    assert sum(t < median for t in recent) <= len(recent) // 2
    assert sum(t > median for t in recent) <= len(recent) // 2
    assert median_time_past(list(reversed(recent)), window) == median


PREVIOUS = [1000 + 120 * i for i in range(20)]  # MTP-11 of these is PREVIOUS[14] = 2680
NOW = PREVIOUS[-1] + 60


def test_timestamp_bounds() -> None:
    mtp = median_time_past(PREVIOUS, MAINNET.timestamp_window)
    assert mtp == 2680
    assert minimum_timestamp(PREVIOUS, MAINNET) == mtp + 1
    check_timestamp(mtp + 1, PREVIOUS, NOW, MAINNET)
    check_timestamp(NOW + 540, PREVIOUS, NOW, MAINNET)
    with pytest.raises(TimestampTooOldError) as old:
        check_timestamp(mtp, PREVIOUS, NOW, MAINNET)
    assert (old.value.timestamp, old.value.median_time_past) == (mtp, mtp)
    with pytest.raises(TimestampTooFarInFutureError) as future:
        check_timestamp(NOW + 541, PREVIOUS, NOW, MAINNET)
    assert (future.value.timestamp, future.value.limit) == (NOW + 541, NOW + 540)


def test_devnet_future_limit() -> None:
    check_timestamp(NOW + DEVNET.future_time_limit, PREVIOUS, NOW, DEVNET)
    with pytest.raises(TimestampTooFarInFutureError):
        check_timestamp(NOW + DEVNET.future_time_limit + 1, PREVIOUS, NOW, DEVNET)


def test_near_genesis() -> None:
    check_timestamp(MAINNET.genesis_timestamp + 1, [MAINNET.genesis_timestamp], 2**31, MAINNET)
    with pytest.raises(TimestampTooOldError):
        check_timestamp(MAINNET.genesis_timestamp, [MAINNET.genesis_timestamp], 2**31, MAINNET)


def test_error_hierarchy() -> None:
    for cls in (TimestampTooOldError, TimestampTooFarInFutureError):
        assert issubclass(cls, ConsensusError)
        assert issubclass(cls, ValidationError)
        assert cls.__doc__ is not None
        assert cls.__doc__.startswith("Rule:")
