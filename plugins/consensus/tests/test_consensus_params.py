"""Network parameters: the values per network and the validation of overrides."""

from __future__ import annotations

import hashlib
from typing import Any

import attrs
import pytest

from zion_core import ConfigError
from zion_core.chain.codec import encode_varint
from zion_core.config import NETWORKS as CONFIG_NETWORKS
from zion_plugin_consensus.params import (
    DEVNET,
    MAINNET,
    NETWORKS,
    TESTNET,
    NetworkParams,
    NetworkParamsError,
    lwma_future_time_limit,
    with_overrides,
)


def test_networks() -> None:
    assert tuple(NETWORKS) == CONFIG_NETWORKS == ("mainnet", "testnet", "devnet")
    assert NETWORKS == {"mainnet": MAINNET, "testnet": TESTNET, "devnet": DEVNET}
    for name, params in NETWORKS.items():
        assert params.name == name


def test_mainnet_anchors() -> None:
    p = MAINNET
    assert (p.target_seconds, p.difficulty_window, p.future_time_limit) == (120, 90, 540)
    assert p.future_time_limit == lwma_future_time_limit(90, 120) == 90 * 120 // 20
    assert (p.timestamp_window, p.coinbase_maturity, p.spendable_age) == (11, 60, 10)
    assert (p.seed_epoch, p.seed_lag) == (2048, 64)
    assert (p.major_version, p.minor_version) == (1, 0)


def test_testnet_rehearses_mainnet() -> None:
    differing = {
        f.name
        for f in attrs.fields(NetworkParams)
        if getattr(MAINNET, f.name) != getattr(TESTNET, f.name)
    }
    assert differing == {
        "name",
        "initial_difficulty",
        "p2p_port",
        "rpc_port",
        "stratum_port",
        "genesis_nonce",
        "genesis_key",
    }


def test_devnet_is_quick() -> None:
    p = DEVNET
    assert p.target_seconds == 10
    assert p.future_time_limit == lwma_future_time_limit(p.difficulty_window, p.target_seconds)
    # One core in RandomX light mode hashes ~40 H/s: a block in ~2.5 s at the start.
    assert 1 <= p.initial_difficulty / 40 <= 5
    assert (p.seed_epoch, p.seed_lag) == (32, 4)
    assert (p.coinbase_maturity, p.spendable_age) == (60, 10)


def test_ports_distinct_across_networks() -> None:
    ports = [port for p in NETWORKS.values() for port in (p.p2p_port, p.rpc_port, p.stratum_port)]
    assert len(set(ports)) == len(ports) == 9


def test_genesis_parameters() -> None:
    nonces = {p.genesis_nonce for p in NETWORKS.values()}
    assert len(nonces) == 3
    assert MAINNET.genesis_nonce == int.from_bytes(b"ZION", "big")
    for name, p in NETWORKS.items():
        label = b"ZION genesis key placeholder: " + name.encode()
        assert p.genesis_key == hashlib.sha256(label).digest()
        assert p.genesis_timestamp == 1_767_225_600  # 2026-01-01T00:00:00Z
        assert len(encode_varint(p.genesis_timestamp)) == 5  # nonce at offset 39


def test_frozen() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        MAINNET.target_seconds = 60  # type: ignore[misc]


def test_with_overrides() -> None:
    fast = with_overrides(DEVNET, seed_epoch=8, seed_lag=2, initial_difficulty=1)
    assert (fast.seed_epoch, fast.seed_lag, fast.initial_difficulty) == (8, 2, 1)
    assert fast.name == "devnet"
    assert DEVNET.seed_epoch == 32  # unchanged
    assert with_overrides(DEVNET) == DEVNET
    keyed = with_overrides(MAINNET, genesis_key="ab" * 32)
    assert keyed.genesis_key == b"\xab" * 32


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"seed_epoch": 48}, "seed_epoch", "power of two"),
        ({"seed_epoch": 1, "seed_lag": 1}, "seed_epoch", "at least 2"),
        ({"seed_lag": 3}, "seed_lag", "power of two"),
        ({"seed_lag": 0}, "seed_lag", "at least 1"),
        ({"seed_lag": 32}, "seed_lag", "smaller than seed_epoch"),
        ({"seed_epoch": 4, "seed_lag": 8}, "seed_lag", "smaller than seed_epoch"),
        ({"target_seconds": 0}, "target_seconds", "at least 1"),
        ({"target_seconds": -10}, "target_seconds", "at least 1"),
        ({"target_seconds": 1.5}, "target_seconds", "integer"),
        ({"target_seconds": True}, "target_seconds", "integer"),
        ({"target_seconds": "10"}, "target_seconds", "integer"),
        ({"future_time_limit": 0}, "future_time_limit", "at least 1"),
        ({"difficulty_window": 0}, "difficulty_window", "at least 1"),
        ({"initial_difficulty": 0}, "initial_difficulty", "at least 1"),
        ({"timestamp_window": 10}, "timestamp_window", "odd"),
        ({"coinbase_maturity": -1}, "coinbase_maturity", "at least 0"),
        ({"money_supply": 2**64}, "money_supply", "at most"),
        ({"emission_speed_shift": 0}, "emission_speed_shift", "at least 1"),
        ({"tail_reward": 13 * 10**18}, "tail_reward", "money_supply"),
        ({"max_tx_size": 2_000_000}, "max_tx_size", "max_block_size"),
        ({"max_block_txs": 0}, "max_block_txs", "at least 1"),
        ({"min_fee": -1}, "min_fee", "at least 0"),
        ({"rpc_port": 39180}, "rpc_port", "p2p_port"),
        ({"stratum_port": 39181}, "stratum_port", "rpc_port"),
        ({"p2p_port": 0}, "p2p_port", "at least 1"),
        ({"p2p_port": 65536}, "p2p_port", "at most 65535"),
        ({"genesis_timestamp": 2**28 - 1}, "genesis_timestamp", "at least"),
        ({"genesis_timestamp": 2**35}, "genesis_timestamp", "at most"),
        ({"genesis_nonce": 2**32}, "genesis_nonce", "at most"),
        ({"genesis_reward": 2**64}, "genesis_reward", "at most"),
        ({"genesis_key": b"\x00" * 31}, "genesis_key", "32 bytes"),
        ({"genesis_key": "zz" * 32}, "genesis_key", "hex"),
        ({"major_version": 128}, "major_version", "at most 127"),
        ({"reorg_limit": 0}, "reorg_limit", "at least 1"),
        ({"name": "Dev Net"}, "name", "identifier"),
        ({"block_time": 10}, "block_time", "unknown"),
    ],
)
def test_invalid_overrides_name_the_field(
    changes: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(NetworkParamsError, match=message) as caught:
        with_overrides(DEVNET, **changes)
    assert caught.value.field == field
    assert repr(field) in str(caught.value)
    assert isinstance(caught.value, ConfigError)
    assert isinstance(caught.value, ValueError)


def test_direct_construction_is_validated() -> None:
    fields = attrs.asdict(DEVNET)
    fields["seed_lag"] = 6
    with pytest.raises(NetworkParamsError, match="seed_lag"):
        NetworkParams(**fields)
