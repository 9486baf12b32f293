"""LWMA-1 under hash-rate swings: seeded, deterministic simulations (zawy12's methodology).

Each simulation starts from a chain in equilibrium (N+1 blocks at solvetime T and difficulty
D0 = baseline hash rate · T). Every block, the miners present are decided from the difficulty
the algorithm just computed, and the solvetime is drawn from the exponential distribution with
mean difficulty / hash rate, using a seeded :class:`random.Random`. Timestamps are whole seconds,
as on the chain.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import attrs
import pytest

from zion_plugin_consensus.difficulty import next_difficulty
from zion_plugin_consensus.params import MAINNET

N = MAINNET.difficulty_window
T = MAINNET.target_seconds
BASELINE = 1_000  # hashes per second
D0 = BASELINE * T


@attrs.frozen
class Run:
    solvetimes: list[int]
    difficulties: list[int]
    fleet_blocks: int

    @property
    def mean_solvetime(self) -> float:
        return sum(self.solvetimes) / len(self.solvetimes)


def simulate(seed: int, blocks: int, hash_rate: Callable[[int, int], tuple[int, bool]]) -> Run:
    """``hash_rate(height, difficulty) -> (hashes per second, fleet mining?)``."""
    rng = random.Random(seed)
    timestamps = [i * T for i in range(N + 1)]
    cumulative = [(i + 1) * D0 for i in range(N + 1)]
    now = float(timestamps[-1])
    solvetimes: list[int] = []
    difficulties: list[int] = []
    fleet_blocks = 0
    for height in range(blocks):
        difficulty = next_difficulty(
            timestamps[-N - 1 :], cumulative[-N - 1 :], target=T, window=N, guess=D0
        )
        rate, fleet = hash_rate(height, difficulty)
        fleet_blocks += fleet
        now += rng.expovariate(rate / difficulty)
        stamp = int(now)
        solvetimes.append(stamp - timestamps[-1])
        difficulties.append(difficulty)
        timestamps.append(stamp)
        cumulative.append(cumulative[-1] + difficulty)
    return Run(solvetimes, difficulties, fleet_blocks)


def profit_switcher(multiple: int, threshold: float) -> Callable[[int, int], tuple[int, bool]]:
    """The baseline plus a fleet of ``multiple``·baseline that mines only while the difficulty
    is below ``threshold``·D0 and leaves as soon as it is not."""

    def rate(_height: int, difficulty: int) -> tuple[int, bool]:
        cheap = difficulty < threshold * D0
        return BASELINE * (1 + multiple * cheap), cheap

    return rate


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_profit_switching_fleet_never_stalls_the_chain(seed: int) -> None:
    run = simulate(seed, 3000, profit_switcher(multiple=10, threshold=1.2))
    # No stall: the longest gap stays far below what a slow SMA shows (hours).
    assert max(run.solvetimes) < 15 * T
    # The average block time stays on target.
    assert 0.85 * T <= run.mean_solvetime <= 1.15 * T
    # The fleet is pushed out quickly: it mines well under half of the blocks, and the
    # difficulty it leaves behind stays within a small multiple of the baseline's.
    assert run.fleet_blocks < 0.5 * len(run.solvetimes)
    assert max(run.difficulties) < 2 * D0
    assert min(run.difficulties) >= 0.9 * D0


def test_step_changes_are_tracked_within_the_window() -> None:
    # Hash rate x10 at block 0, back to the baseline at block 600.
    def rate(height: int, _difficulty: int) -> tuple[int, bool]:
        return (BASELINE * 10, True) if height < 600 else (BASELINE, False)

    run = simulate(7, 1200, rate)
    # Within about N blocks after each step the difficulty has followed.
    assert 7 * D0 < sum(run.difficulties[150:600]) / 450 < 13 * D0
    assert 0.7 * D0 < sum(run.difficulties[750:]) / 450 < 1.3 * D0
    # After the drop, the slow blocks at the old difficulty do not stall the chain.
    assert sum(run.solvetimes[600:690]) < 90 * 4 * T
    assert 0.85 * T <= sum(run.solvetimes[750:]) / 450 <= 1.15 * T
