"""``zion-plugin-consensus``: ZION's chain rules (an essential plugin).

Registers the ``zion`` consensus rules (networks mainnet, testnet and devnet, LWMA-1
difficulty, smooth emission with a tail, the RandomX seed schedule, block and
transaction validation, the chain with reorganisations, and the mempool) and the
``[chain]`` configuration section.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zion_hookspecs import hookimpl

from .chain import AddResult, Chain, build_genesis, meets_difficulty
from .config import ChainConfig
from .mempool import Mempool
from .params import DEVNET, MAINNET, NETWORKS, TESTNET, NetworkParams, with_overrides
from .rules import ZionConsensus

if TYPE_CHECKING:
    from zion_hookspecs import ConsensusRules, Node, Register, RegisterConfigSection

SECTION = "chain"


@hookimpl
def zion_register_config(register: RegisterConfigSection) -> None:
    register(SECTION, ChainConfig)


@hookimpl
def zion_register_consensus(register: Register[ConsensusRules], node: Node) -> None:
    register(ZionConsensus(node.config_section(SECTION)))


__all__ = [
    "DEVNET",
    "MAINNET",
    "NETWORKS",
    "TESTNET",
    "AddResult",
    "Chain",
    "ChainConfig",
    "Mempool",
    "NetworkParams",
    "ZionConsensus",
    "build_genesis",
    "meets_difficulty",
    "with_overrides",
]
