"""The block reward: golden vectors from a plain-Python spec, the tail, Monero's published values."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zion_plugin_consensus.emission import block_reward
from zion_plugin_consensus.params import (
    ATOMIC_UNITS_PER_ZION,
    DEVNET,
    MAINNET,
    NETWORKS,
    TESTNET,
    with_overrides,
)

COIN = 10**12
SUPPLY = 12_000_000 * COIN
SHIFT = 20
TAIL = 3 * COIN // 10


def spec_schedule(supply: int, shift: int, tail: int, stop: int | None = None) -> tuple[int, int]:
    """The spec, spelled out: the block at height h pays max(tail, (supply - G_h) >> shift),
    G_0 = 0 and G_{h+1} = G_h + reward_h. Returns (the first height paying the tail, G there),
    or stops early at height ``stop``."""
    generated = 0
    height = 0
    while height != stop:
        remaining = supply - generated
        reward = remaining >> shift
        if reward <= tail:
            break
        generated += reward
        height += 1
    return height, generated


# Pinned from spec_schedule with ZION's parameters.
FIRST_REWARDS = [
    (0, 0, 11_444_091_796_875),
    (1, 11_444_091_796_875, 11_444_080_882_938),
    (2, 22_888_172_679_813, 11_444_069_969_012),
    (3, 34_332_242_648_825, 11_444_059_055_096),
    (4, 45_776_301_703_921, 11_444_048_141_191),
    (5, 57_220_349_845_112, 11_444_037_227_296),
]
TAIL_HEIGHT = 3_818_332
GENERATED_AT_TAIL = 11_685_427_355_842_047_133
LAST_CURVE_REWARD = 300_000_137_479  # paid at TAIL_HEIGHT - 1


def test_parameters_are_zions() -> None:
    assert ATOMIC_UNITS_PER_ZION == COIN
    for params in NETWORKS.values():
        assert (params.money_supply, params.emission_speed_shift, params.tail_reward) == (
            SUPPLY,
            SHIFT,
            TAIL,
        )
        assert params.genesis_reward == block_reward(0, params) == FIRST_REWARDS[0][2]


@pytest.mark.parametrize(("height", "generated", "reward"), FIRST_REWARDS)
def test_first_rewards(height: int, generated: int, reward: int) -> None:
    assert spec_schedule(SUPPLY, SHIFT, TAIL, stop=height) == (height, generated)
    assert block_reward(generated, MAINNET) == reward


def test_tail_takes_over() -> None:
    # The spec walk is ~3.8 million integer steps (under a second).
    assert spec_schedule(SUPPLY, SHIFT, TAIL) == (TAIL_HEIGHT, GENERATED_AT_TAIL)
    before = GENERATED_AT_TAIL - LAST_CURVE_REWARD
    assert block_reward(before, MAINNET) == LAST_CURVE_REWARD > TAIL
    assert (SUPPLY - GENERATED_AT_TAIL) >> SHIFT < TAIL
    assert block_reward(GENERATED_AT_TAIL, MAINNET) == TAIL
    # ~14.5 years of two-minute blocks, 97.4 % of the supply emitted.
    assert 14.4 < TAIL_HEIGHT * 120 / (365.25 * 86400) < 14.6
    assert 0.973 < GENERATED_AT_TAIL / SUPPLY < 0.975


@pytest.mark.parametrize("generated", [SUPPLY - 1, SUPPLY, SUPPLY + 1, 2**64, 10**30])
def test_tail_for_ever(generated: int) -> None:
    assert block_reward(generated, MAINNET) == TAIL


def test_the_same_on_every_network() -> None:
    for generated in (0, 10**18, 11 * 10**18):
        rewards = {block_reward(generated, p) for p in (MAINNET, TESTNET, DEVNET)}
        assert len(rewards) == 1


def test_monero_published_values() -> None:
    # Monero's regtest (MONEY_SUPPLY = 2^64 - 1): genesis (2^64 - 1) >> 20, height 1 at >> 19.
    monero = with_overrides(MAINNET, money_supply=2**64 - 1, tail_reward=6 * COIN // 10)
    assert block_reward(0, monero) == 17_592_186_044_415
    faster = with_overrides(monero, emission_speed_shift=19)
    assert block_reward(17_592_186_044_415, faster) == 35_184_338_534_400


def test_rejects_negative_generated() -> None:
    with pytest.raises(ValueError, match="negative"):
        block_reward(-1, MAINNET)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2 * SUPPLY), st.integers(0, 10**17))
def test_reward_properties(generated: int, more: int) -> None:
    reward = block_reward(generated, MAINNET)
    assert reward >= TAIL
    assert block_reward(generated + more, MAINNET) <= reward  # non-increasing
    if generated < SUPPLY:
        assert reward == max(TAIL, (SUPPLY - generated) // 2**SHIFT)
    assert reward < 2**64
