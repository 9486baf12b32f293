"""The ``status_panels`` method: every status panel of the node, for views that run in
another process (``zion status``).

Panels are what plugins register with ``zion_register_status_panels``: a name, a title
and a ``snapshot()`` of key/value rows. Snapshots are taken on the event loop, where the
services that own the numbers run; a snapshot that raises is answered with its error
instead of its rows, and the other panels are not affected. Values that JSON cannot hold
(paths, bytes, sets, objects) are turned into strings and lists.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any, Final

from zion_hookspecs import Node, RpcMethod

logger = logging.getLogger(__name__)

MAX_DEPTH: Final = 6
"""Nesting kept in a panel's values; deeper values are shown as strings."""

STATUS_PANELS_SCHEMA: Final = {
    "type": "object",
    "required": ["panels", "status", "untrusted"],
    "properties": {
        "panels": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "title", "plugin", "rows", "error"],
                "properties": {
                    "name": {"type": "string"},
                    "title": {"type": "string"},
                    "plugin": {"type": "string"},
                    "rows": {"type": "object"},
                    "error": {"type": ["string", "null"]},
                },
            },
        },
        "status": {"const": "OK"},
        "untrusted": {"const": False},
    },
}


def json_value(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON can hold it (bytes as hex, other objects as their ``str``)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if depth >= MAX_DEPTH:
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): json_value(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [json_value(v, depth + 1) for v in items]
    return str(value)


def panel_snapshots(node: Node) -> list[dict[str, Any]]:
    """Every registered panel's title and rows (or error), by name."""
    registry = node.registry("status_panel")
    owner = getattr(registry, "owner", None)
    panels = []
    for name in registry.names():
        panel = registry.get(name)
        rows: dict[str, Any] = {}
        error = None
        try:
            snapshot = panel.snapshot()
            rows = json_value(dict(snapshot))
        except Exception as exc:  # one broken panel must not hide the others
            logger.debug("status panel %r failed", name, exc_info=True)
            error = f"{type(exc).__name__}: {exc}"
        panels.append(
            {
                "name": name,
                "title": str(getattr(panel, "title", name)),
                "plugin": str(owner(name)) if owner is not None else "",
                "rows": rows,
                "error": error,
            }
        )
    return panels


def status_panels_method(node: Node) -> RpcMethod:
    """The ``status_panels`` RPC method of ``node``."""

    async def status_panels(params: Any) -> dict[str, Any]:
        # on the event loop: panels read the state of services that run there
        return {"panels": panel_snapshots(node), "status": "OK", "untrusted": False}

    return RpcMethod(
        "status_panels",
        status_panels,
        description="The node's status panels (zion_register_status_panels): for each, "
        "name, title, the plugin that registered it, and its rows (a JSON object), or "
        "the error its snapshot raised.",
        params_schema={},
        result_schema=STATUS_PANELS_SCHEMA,
    )


__all__ = ["STATUS_PANELS_SCHEMA", "json_value", "panel_snapshots", "status_panels_method"]
