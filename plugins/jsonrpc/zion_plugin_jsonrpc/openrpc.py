"""The node's machine-readable API description (OpenRPC 1.3), served at
``GET /openrpc.json`` and by the JSON-RPC method ``rpc.discover``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zion_hookspecs import RpcMethod

from .api import ZION_VERSION


def document(builtin: Mapping[str, Any], extra: Mapping[str, RpcMethod]) -> dict[str, Any]:
    """The OpenRPC document of the built-in methods (by name) and the plugins' methods."""
    methods = [
        {"name": name, "params": [], "result": {"name": "result", "schema": {}}}
        for name in sorted(builtin)
    ]
    methods += [
        {
            "name": name,
            "description": method.description,
            "params": [],
            "result": {"name": "result", "schema": dict(method.result_schema or {})},
        }
        for name, method in sorted(extra.items())
    ]
    return {
        "openrpc": "1.3.2",
        "info": {"title": "ZION node API", "version": ZION_VERSION},
        "methods": methods,
    }
