"""Storage hooks: key-value engines for chain data, selected by name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._markers import hookspec

if TYPE_CHECKING:
    from .types import Node, Register, StorageBackend


@hookspec
def zion_register_storages(register: Register[StorageBackend], node: Node) -> None:
    """Register :class:`~zion_hookspecs.StorageBackend` engines (``sqlite``...).

    The node opens its stores with the engine named by ``backends.storage``.
    """
