"""``zion-plugin-jsonrpc``: the node API over HTTP (Monero-compatible JSON-RPC and REST).

Registers the ``[rpc]`` configuration section and the ``rpc`` service, which serves
``POST /json_rpc`` (monerod's method and field names, squashed aliases too) and the
REST-like endpoints ``/get_height``, ``/get_info``, ``/send_raw_transaction``,
``/get_transactions`` and ``/get_transaction_pool`` over the node's ``chain`` service.
Methods registered by other plugins through ``zion_register_rpc_methods`` are served by
the same endpoint. See docs/rpc.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zion_hookspecs import hookimpl

from .config import RpcConfig
from .service import SECTION, RpcService

if TYPE_CHECKING:
    from zion_hookspecs import Node, Register, RegisterConfigSection, Service


ZION_NEEDS = ("storage", "hasher")
"""The API serves the chain, which needs a storage backend and a hasher: ``zion run``
loads the default ones (sqlite, randomx) when no other plugin provides them."""


@hookimpl
def zion_register_config(register: RegisterConfigSection) -> None:
    register(SECTION, RpcConfig)


@hookimpl
def zion_register_services(register: Register[Service], node: Node) -> None:
    register(RpcService(node))


__all__ = ["RpcConfig", "RpcService"]
