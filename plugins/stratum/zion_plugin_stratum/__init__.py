"""``zion-plugin-stratum``: the mining pool (XMRig-compatible Stratum over TCP).

Registers the ``[stratum]`` configuration section, the built-in pool policies (``pplns``,
``solo``, ``pps``), the built-in vardiff (``default``), ban (``score``) and
share-verification (``all``, ``sampled``) policies and, when ``pool_address`` is set, the
``stratum`` service: a Stratum server that hands out jobs on the node's chain, verifies
shares with RandomX (every one by default), adjusts each miner's difficulty and submits
the blocks found; the ``pool-accounting``
service, which keeps the pool's ledger and pays miners (:mod:`.accounting`); and the RPC
methods ``pool_stats`` and ``pool_miner_stats``, and the ``pool`` metrics source
(:mod:`.metrics`). See docs/pool.md.

Needs the node's chain (a storage backend and a hasher): ``zion run --plugin stratum``
loads the default ones when no other plugin provides them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zion_hookspecs import hookimpl

from .accounting import PoolAccounting, rpc_methods
from .bans import ScoreBan
from .config import SECTION, StratumConfig
from .metrics import PoolMetrics
from .policies import builtin_policies
from .server import StratumServer
from .vardiff import Vardiff, VardiffState, default_vardiff
from .verification import SampledVerification, VerifyAll

if TYPE_CHECKING:
    from zion_hookspecs import (
        BanPolicy,
        MetricsSource,
        Node,
        PoolPolicy,
        Register,
        RegisterConfigSection,
        RpcMethod,
        Service,
        ShareVerificationPolicy,
        VardiffPolicy,
    )

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
def zion_register_pool_policies(register: Register[PoolPolicy], node: Node) -> None:
    config: StratumConfig = node.config_section(SECTION)
    for policy in builtin_policies(fee_bps=config.fee_bps, pplns_factor=config.pplns_factor):
        register(policy)


@hookimpl
def zion_register_vardiff_policies(register: Register[VardiffPolicy], node: Node) -> None:
    register(default_vardiff(node.config_section(SECTION)))


@hookimpl
def zion_register_ban_policies(register: Register[BanPolicy], node: Node) -> None:
    config: StratumConfig = node.config_section(SECTION)
    register(ScoreBan(config.ban_score, config.ban_seconds))


@hookimpl
def zion_register_share_verification_policies(
    register: Register[ShareVerificationPolicy], node: Node
) -> None:
    config: StratumConfig = node.config_section(SECTION)
    register(VerifyAll())
    register(SampledVerification(config.verify_sample_rate, config.verify_trust_shares))


@hookimpl
def zion_register_services(register: Register[Service], node: Node) -> None:
    config: StratumConfig = node.config_section(SECTION)
    if config.pool_address:
        server = StratumServer(node, config)
        register(PoolAccounting(node, config, server))  # starts before the server, stops after
        register(server)


@hookimpl
def zion_register_rpc_methods(register: Register[RpcMethod], node: Node) -> None:
    config: StratumConfig = node.config_section(SECTION)
    if config.pool_address:
        for method in rpc_methods(node):
            register(method)


@hookimpl
def zion_register_metrics(register: Register[MetricsSource], node: Node) -> None:
    services = node.registry("service")
    if StratumServer.name in services.names():
        server = services.get(StratumServer.name)
        if isinstance(server, StratumServer):
            source = PoolMetrics(server)
            node.subscribe(source, name="pool-metrics")  # the ledger's numbers (pool_stats)
            register(source)


__all__ = [
    "PoolAccounting",
    "SampledVerification",
    "ScoreBan",
    "StratumConfig",
    "StratumServer",
    "Vardiff",
    "VardiffState",
    "VerifyAll",
]
