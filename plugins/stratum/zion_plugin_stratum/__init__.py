"""``zion-plugin-stratum``: the mining pool (XMRig-compatible Stratum over TCP).

Registers the ``[stratum]`` configuration section and, when ``pool_address`` is set, the
``stratum`` service: a Stratum server that hands out jobs on the node's chain, verifies
every share with RandomX, adjusts each miner's difficulty and submits the blocks found.
See docs/pool.md.

Needs the node's chain (a storage backend and a hasher): ``zion run --plugin stratum``
loads the default ones when no other plugin provides them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zion_hookspecs import hookimpl

from .config import SECTION, StratumConfig
from .server import StratumServer
from .vardiff import Vardiff, VardiffState

if TYPE_CHECKING:
    from zion_hookspecs import Node, Register, RegisterConfigSection, Service

ZION_NEEDS = ("storage", "hasher")
"""The stratum plugin is discovered and needs the chain's backends."""


@hookimpl
def zion_register_config(register: RegisterConfigSection) -> None:
    register(SECTION, StratumConfig)


@hookimpl
def zion_configure(node: Node) -> None:
    config: StratumConfig = node.config_section(SECTION)
    if config.pool_address:
        config.parsed_address(node.network)


@hookimpl
def zion_register_services(register: Register[Service], node: Node) -> None:
    config: StratumConfig = node.config_section(SECTION)
    if config.pool_address:
        register(StratumServer(node, config))


__all__ = ["StratumConfig", "StratumServer", "Vardiff", "VardiffState"]
