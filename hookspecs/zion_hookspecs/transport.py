"""Transport hooks: byte-stream transports for networking plugins, selected by name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._markers import hookspec

if TYPE_CHECKING:
    from .types import Node, Register, Transport


@hookspec
def zion_register_transports(register: Register[Transport], node: Node) -> None:
    """Register :class:`~zion_hookspecs.Transport` implementations (``tcp``...).

    Networking plugins use the one named by ``backends.transport``.
    """
