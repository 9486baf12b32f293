"""Bridge hooks: links between ZION and other chains."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._markers import hookspec

if TYPE_CHECKING:
    from .types import Bridge, Node, Register


@hookspec
def zion_register_bridges(register: Register[Bridge], node: Node) -> None:
    """Register :class:`~zion_hookspecs.Bridge` objects, one per linked chain.

    A bridge that needs to run continuously also registers a service.
    """
