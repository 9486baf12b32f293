"""``zion-plugin-consensus``: ZION's chain rules (an essential plugin).

Registers the ``zion`` consensus rules (networks mainnet, testnet and devnet, LWMA-1
difficulty, smooth emission with a tail, the RandomX seed schedule, block and
transaction validation, the chain with reorganisations, and the mempool) and the
``[chain]`` configuration section, and the ``chain`` service that opens the node's chain
in the configured storage backend when the node starts, with its metrics source
(``chain``: the tip, block connection times, reorganisations, the mempool).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from zion_hookspecs import hookimpl

from .chain import AddResult, BatchResult, Chain, build_genesis, meets_difficulty
from .config import ChainConfig
from .mempool import Mempool
from .params import DEVNET, MAINNET, NETWORKS, TESTNET, NetworkParams, with_overrides
from .rules import ZionConsensus
from .service import ChainService

if TYPE_CHECKING:
    from zion_hookspecs import (
        ConsensusRules,
        MetricsSource,
        Node,
        Register,
        RegisterConfigSection,
        RpcMethod,
        Service,
    )

SECTION = "chain"

logger = logging.getLogger(__name__)


@hookimpl
def zion_register_config(register: RegisterConfigSection) -> None:
    register(SECTION, ChainConfig)


@hookimpl
def zion_register_consensus(register: Register[ConsensusRules], node: Node) -> None:
    register(ZionConsensus(node.config_section(SECTION)))


@hookimpl
def zion_register_services(register: Register[Service], node: Node) -> None:
    # The chain needs a store and a proof-of-work hasher; a node without them (one that
    # only runs, say, a bridge) keeps no chain.
    missing = [kind for kind in ("storage", "hasher") if not node.registry(kind).names()]
    if missing:
        logger.warning(
            "no %s plugin loaded: this node keeps no chain (add --plugin sqlite --plugin randomx)",
            " or ".join(missing),
        )
        return
    register(ChainService(node))


@hookimpl
def zion_register_metrics(register: Register[MetricsSource], node: Node) -> None:
    services = node.registry("service")
    if ChainService.name in services.names():
        service = services.get(ChainService.name)
        if isinstance(service, ChainService):
            register(service.metrics)


@hookimpl
def zion_register_rpc_methods(register: Register[RpcMethod], node: Node) -> None:
    # get_address_balance, get_address_outputs, get_address_history (see .rpc)
    from .rpc import register_rpc_methods

    register_rpc_methods(register, node)


__all__ = [
    "DEVNET",
    "MAINNET",
    "NETWORKS",
    "TESTNET",
    "AddResult",
    "BatchResult",
    "Chain",
    "ChainConfig",
    "ChainService",
    "Mempool",
    "NetworkParams",
    "ZionConsensus",
    "build_genesis",
    "meets_difficulty",
    "with_overrides",
]
