"""``zion-plugin-p2p``: ZION's peer-to-peer network.

Registers the ``[p2p]`` configuration section, the ``tcp`` transport, and, on a node
that keeps a chain, the ``p2p`` service: it listens and dials peers (configured ones,
anchors, then the address book, spread over network groups), syncs headers first and
downloads blocks from several peers at once, relays new blocks as compact blocks and
transactions by inventory, and bans peers that break the protocol. The service is the
node's sync source (``synchronized`` in ``get_info``), with a ``peers`` status panel,
the ``p2p`` metrics and the RPC methods ``get_connections``, ``get_peer_list``,
``sync_info``, ``get_bans`` and ``set_bans``. See docs/p2p.md.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from zion_hookspecs import hookimpl

from .address import PeerAddress
from .config import P2PConfig
from .metrics import P2PPanel
from .rpc import rpc_methods
from .service import P2PService
from .transport import TcpTransport

if TYPE_CHECKING:
    from zion_hookspecs import (
        MetricsSource,
        Node,
        Register,
        RegisterConfigSection,
        RpcMethod,
        Service,
        StatusPanel,
        SyncSource,
        Transport,
    )

SECTION = "p2p"
ZION_NEEDS = ("storage", "hasher")
"""The p2p plugin serves a chain: it needs the chain's backends."""
CHAIN_SERVICE = "chain"

logger = logging.getLogger(__name__)


def _service(node: Node) -> P2PService | None:
    services = node.registry("service")
    if P2PService.name in services.names():
        service = services.get(P2PService.name)
        if isinstance(service, P2PService):
            return service
    return None


@hookimpl
def zion_register_config(register: RegisterConfigSection) -> None:
    register(SECTION, P2PConfig)


@hookimpl
def zion_register_transports(register: Register[Transport], node: Node) -> None:
    register(TcpTransport())


@hookimpl
def zion_register_services(register: Register[Service], node: Node) -> None:
    if CHAIN_SERVICE not in node.registry("service").names():
        logger.warning("the p2p plugin needs a chain (consensus, storage and hasher plugins)")
        return
    register(P2PService(node, node.config_section(SECTION)))


@hookimpl
def zion_register_sync_sources(register: Register[SyncSource], node: Node) -> None:
    service = _service(node)
    if service is not None:
        register(service)


@hookimpl
def zion_register_metrics(register: Register[MetricsSource], node: Node) -> None:
    service = _service(node)
    if service is not None:
        register(service.metrics)


@hookimpl
def zion_register_status_panels(register: Register[StatusPanel], node: Node) -> None:
    service = _service(node)
    if service is not None:
        register(P2PPanel(service))


@hookimpl
def zion_register_rpc_methods(register: Register[RpcMethod], node: Node) -> None:
    service = _service(node)
    if service is not None:
        for method in rpc_methods(service):
            register(method)


__all__ = ["P2PConfig", "P2PService", "PeerAddress", "TcpTransport"]
