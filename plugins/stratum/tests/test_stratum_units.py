"""Pure parts of the pool: target encoding, login names, configuration, and vardiff
convergence for simulated miners from 50 H/s to 50 kH/s."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from stratum_testkit import INSTALLED, MAINNET_ADDRESS, POOL_ADDRESS

from zion_core import ConfigError
from zion_plugin_stratum.config import StratumConfig
from zion_plugin_stratum.protocol import (
    difficulty_of_target,
    hash_difficulty,
    meets,
    parse_login,
    password_difficulty,
    target_hex,
)
from zion_plugin_stratum.vardiff import Vardiff


@pytest.mark.parametrize(
    ("difficulty", "target", "read_back"),
    [
        (1, "ffffffff", 1),
        (1000, "37894100", 1000),
        (10_000, "b88d0600", 10_000),
        (120_000, "cf8b0000", 120_001),
        (4_000_000, "31040000", 4_002_765),
        (4_000_001, None, 4_000_001),
        (2**32, "ffffffff00000000", 2**32 + 1),
    ],
)
def test_target_encoding_at_the_four_and_eight_byte_boundary(
    difficulty: int, target: str | None, read_back: int
) -> None:
    encoded = target_hex(difficulty)
    if target is not None:
        assert encoded == target
    assert len(encoded) == (8 if difficulty <= 4_000_000 else 16)
    assert difficulty_of_target(encoded) == read_back
    with pytest.raises(ValueError, match="at least 1"):
        target_hex(0)


def test_hash_difficulty_and_meets() -> None:
    easy = bytes(31) + b"\x80"  # LE: 2^255
    assert hash_difficulty(easy) == 1 and meets(easy, 1) and not meets(easy, 2)
    hard = bytes(32)
    assert meets(hard, 2**64)


def test_login_names_and_passwords() -> None:
    name = parse_login("ZiD123.rig-1+5000")
    assert (name.address, name.worker, name.difficulty) == ("ZiD123", "rig-1", 5000)
    assert parse_login("ZiD123").worker == "" and parse_login("ZiD123").difficulty is None
    assert parse_login("ZiD123+7").difficulty == 7
    for bad in ("ZiD+abc", "ZiD+0", "ZiD.+5", "ZiD.a b", "ZiD+" + "9" * 25):
        with pytest.raises(ValueError, match="bad"):
            parse_login(bad)
    assert password_difficulty("d=5000") == 5000
    assert password_difficulty("rig1;d=42") == 42
    assert password_difficulty("x") is None
    assert password_difficulty(5) is None
    assert password_difficulty("d=0") is None


def test_config_checks(make_node: Callable[..., Any]) -> None:
    assert StratumConfig().address("devnet") == "127.0.0.1:3333"
    assert StratumConfig().address("mainnet") == "127.0.0.1:13333"
    with pytest.raises(ValueError, match="start_difficulty"):
        StratumConfig(start_difficulty=10, min_difficulty=100)
    with pytest.raises(ValueError, match="pool_address"):
        StratumConfig(pool_address="nonsense")
    with pytest.raises(ValueError, match="jobs_per_miner"):
        StratumConfig(jobs_per_miner=2)
    with pytest.raises(ConfigError, match="pool_address"):
        StratumConfig().parsed_address("devnet")
    node = make_node(installed=INSTALLED)
    assert "stratum" not in node.registry("service").names()
    node = make_node(installed=INSTALLED, sets=[f"stratum.pool_address={POOL_ADDRESS}"])
    assert "stratum" in node.registry("service").names()
    with pytest.raises(ConfigError, match="pool_address"):
        make_node(installed=INSTALLED, sets=[f"stratum.pool_address={MAINNET_ADDRESS}"])


def simulate(policy: Vardiff, hashrate: float, start: int, shares: int) -> list[float]:
    """Share intervals of a miner finding shares exactly at its expected rate."""
    state = policy.new_state(start, 0.0)
    now, intervals = 0.0, []
    for _ in range(shares):
        interval = state.difficulty / hashrate
        now += interval
        intervals.append(interval)
        policy.on_share(state, now, state.difficulty)
    return intervals


@pytest.mark.parametrize("hashrate", [50.0, 500.0, 5_000.0, 50_000.0])
@pytest.mark.parametrize("start", [100, 5_000, 100_000])
def test_vardiff_converges_within_ten_shares(hashrate: float, start: int) -> None:
    policy = Vardiff(min_difficulty=100, max_difficulty=10**9, target_seconds=30.0)
    intervals = simulate(policy, hashrate, start, 20)
    for interval in intervals[10:]:
        assert 21.0 <= interval <= 39.0, (hashrate, start, intervals)


def test_vardiff_clamps_and_lowers_idle_miners() -> None:
    policy = Vardiff(min_difficulty=1000, max_difficulty=20_000, target_seconds=30.0)
    assert simulate(policy, 10.0, 5000, 20)[-1] == pytest.approx(100.0)
    assert simulate(policy, 10**6, 5000, 20)[-1] == pytest.approx(0.02)
    state = policy.new_state(16_000, 0.0)
    assert policy.on_idle(state, 60.0) is None
    assert policy.on_idle(state, 121.0) == 8_000
    assert state.difficulty == 8_000


def test_vardiff_ignores_small_deviations() -> None:
    policy = Vardiff(min_difficulty=1, max_difficulty=10**9, target_seconds=30.0)
    state = policy.new_state(3000, 0.0)
    assert policy.on_share(state, 33.0, 3000) is None
    assert policy.on_share(state, 60.0, 3000) is None
    assert state.difficulty == 3000
