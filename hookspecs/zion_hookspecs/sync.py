"""Sync hooks: what tells the node whether its chain has caught up with its network."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._markers import hookspec

if TYPE_CHECKING:
    from .types import Node, Register, SyncSource


@hookspec
def zion_register_sync_sources(register: Register[SyncSource], node: Node) -> None:
    """Register :class:`~zion_hookspecs.SyncSource` objects: whatever brings the node's
    chain up to date with its network (the ``p2p`` plugin's service).

    The kernel's :func:`zion_core.sync.node_sync_status` combines them: the node is
    synchronized only when every source says so, and with no source at all it is its own
    network and always synchronized. ``get_info`` reports the result; block templates
    (``get_block_template``, the built-in miner, the pool) wait for it outside devnet,
    unless ``[node] mine_before_sync`` is set. Called after
    :func:`~zion_hookspecs.lifecycle.zion_register_services`, so a plugin can register
    the service it registered there.
    """
