"""Fixtures for the consensus plugin's chain tests (helpers in consensus_helpers.py)."""

from __future__ import annotations

import pytest
from consensus_helpers import ChainHarness

from zion_core.chain.keys import WalletKeys
from zion_plugin_consensus.params import DEVNET, NetworkParams, with_overrides


@pytest.fixture
def params() -> NetworkParams:
    # a small difficulty so the test hasher finds blocks in a few tries
    return with_overrides(DEVNET, initial_difficulty=4)


@pytest.fixture
def miner_keys() -> WalletKeys:
    return WalletKeys.from_seed(bytes(range(32)))


@pytest.fixture
def harness(params: NetworkParams) -> ChainHarness:
    return ChainHarness(params)
