"""The RandomX seed schedule: published mainnet vectors, devnet vectors, properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zion_plugin_consensus.params import DEVNET, MAINNET
from zion_plugin_consensus.seeds import next_seed_height, seed_height

EPOCH, LAG = MAINNET.seed_epoch, MAINNET.seed_lag


def spec_seed_height(height: int, epoch: int, lag: int) -> int:
    """The largest multiple of ``epoch`` at least ``lag + 1`` blocks below ``height``, else 0."""
    best = 0
    multiple = 0
    while multiple + lag + 1 <= height:
        best = multiple
        multiple += epoch
    return best


@pytest.mark.parametrize(
    ("height", "seed"),
    [
        (0, 0),
        (1, 0),
        (2048, 0),
        (2048 + 64, 0),
        (2048 + 65, 2048),
        (4096, 2048),
        (4096 + 64, 2048),
        (4096 + 65, 4096),
        (3_000_000, 2_998_272),
    ],
)
def test_mainnet_seed_heights(height: int, seed: int) -> None:
    assert (EPOCH, LAG) == (2048, 64)
    assert seed_height(height, EPOCH, LAG) == seed


@pytest.mark.parametrize(
    ("height", "upcoming"),
    [
        (0, None),
        (2048, None),
        (2049, 2048),  # the lag window opens the block after 2048 exists
        (2112, 2048),  # ... and lasts 64 heights
        (2113, None),  # 2048 is now the key
        (4096, None),
        (4097, 4096),
        (4160, 4096),
        (4161, None),
    ],
)
def test_mainnet_next_seed_heights(height: int, upcoming: int | None) -> None:
    assert next_seed_height(height, EPOCH, LAG) == upcoming


def test_devnet_schedule() -> None:
    epoch, lag = DEVNET.seed_epoch, DEVNET.seed_lag
    assert (epoch, lag) == (32, 4)
    seeds = [seed_height(h, epoch, lag) for h in range(0, 110)]
    assert seeds[:37] == [0] * 37
    assert seeds[37:69] == [32] * 32
    assert seeds[69:101] == [64] * 32
    assert seeds[101] == 96
    window = [h for h in range(110) if next_seed_height(h, epoch, lag) is not None]
    assert window == [33, 34, 35, 36, 65, 66, 67, 68, 97, 98, 99, 100]


@pytest.mark.parametrize(
    ("height", "epoch", "lag", "message"),
    [
        (-1, 2048, 64, "height"),
        (0, 48, 4, "power of two"),
        (0, 0, 4, "power of two"),
        (0, 32, -1, "lag"),
    ],
)
def test_rejects_bad_arguments(height: int, epoch: int, lag: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        seed_height(height, epoch, lag)


schedules = (
    st.tuples(st.integers(1, 12), st.integers(0, 11))
    .filter(lambda p: p[1] < p[0])
    .map(lambda p: (2 ** p[0], 2 ** p[1]))
)


@settings(max_examples=200, deadline=None)
@given(schedules, st.integers(0, 100_000))
def test_seed_height_properties(schedule: tuple[int, int], height: int) -> None:
    epoch, lag = schedule
    seed = seed_height(height, epoch, lag)
    assert seed == spec_seed_height(height, epoch, lag)
    assert seed % epoch == 0
    assert seed == 0 or seed <= height - lag - 1
    assert seed_height(height + 1, epoch, lag) >= seed
    # The key changes only on heights congruent to lag + 1 modulo epoch.
    if seed_height(height + 1, epoch, lag) != seed:
        assert (height + 1) % epoch == (lag + 1) % epoch


@settings(max_examples=200, deadline=None)
@given(schedules, st.integers(0, 100_000))
def test_next_seed_height_properties(schedule: tuple[int, int], height: int) -> None:
    epoch, lag = schedule
    upcoming = next_seed_height(height, epoch, lag)
    current = seed_height(height, epoch, lag)
    if upcoming is None:
        assert seed_height(height + lag, epoch, lag) == current
    else:
        # Known (below the height being built), the next multiple of the epoch, and in use
        # within lag blocks.
        assert upcoming < height
        assert upcoming == current + epoch
        switch = next(
            h for h in range(height, height + lag + 1) if seed_height(h, epoch, lag) == upcoming
        )
        assert 0 < switch - height <= lag
