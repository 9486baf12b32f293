"""``zion-plugin-jsonrpc``: the node API over HTTP (Monero-compatible JSON-RPC and REST).

Registers the ``[rpc]`` configuration section and the ``rpc`` service, which serves
``POST /json_rpc`` (monerod's method and field names, squashed aliases too) and the
REST-like endpoints ``/get_height``, ``/get_info``, ``/send_raw_transaction``,
``/get_transactions`` and ``/get_transaction_pool`` over the node's ``chain`` service.
Methods registered by other plugins through ``zion_register_rpc_methods`` are served by
the same endpoint, and routes registered through ``zion_register_http_routes`` by the
same server. ``status_panels`` serves the node's status panels
(``zion_register_status_panels``) to ``zion status``. The ``rpc`` metrics source counts
requests and their latency by method. See docs/rpc.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zion_hookspecs import hookimpl

from .config import RpcConfig
from .service import SECTION, RpcService

if TYPE_CHECKING:
    from zion_hookspecs import (
        MetricsSource,
        Node,
        Register,
        RegisterConfigSection,
        RpcMethod,
        Service,
    )


ZION_NEEDS = ("storage", "hasher")
"""The API serves the chain, which needs a storage backend and a hasher: ``zion run``
loads the default ones (sqlite, randomx) when no other plugin provides them."""


@hookimpl
def zion_register_config(register: RegisterConfigSection) -> None:
    register(SECTION, RpcConfig)


@hookimpl
def zion_register_services(register: Register[Service], node: Node) -> None:
    register(RpcService(node))


@hookimpl
def zion_register_rpc_methods(register: Register[RpcMethod], node: Node) -> None:
    from .panels import status_panels_method

    register(status_panels_method(node))


@hookimpl
def zion_register_metrics(register: Register[MetricsSource], node: Node) -> None:
    services = node.registry("service")
    if RpcService.name in services.names():
        service = services.get(RpcService.name)
        if isinstance(service, RpcService):
            register(service.metrics)


__all__ = ["RpcConfig", "RpcService"]
