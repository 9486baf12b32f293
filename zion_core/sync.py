"""Whether the node's chain has caught up with its network, and whether it may mine.

The sync sources (``zion_register_sync_sources``, the ``p2p`` plugin's service) each
report a :class:`~zion_hookspecs.SyncStatus`; :func:`node_sync_status` combines them into
the node's, which ``get_info`` reports. :func:`mining_allowed` is what every producer of
block templates asks first (``get_block_template``, the built-in miner, the pool): a
block mined on a tip the network has already left behind is lost work.

Both functions are cheap (they read each source's status) and may be called on the event
loop or from a worker thread.
"""

from __future__ import annotations

import logging
from typing import Final

from zion_hookspecs import Node, SyncSource, SyncStatus

logger = logging.getLogger(__name__)

ALONE: Final = "no network plugin: this node is its own network"
"""The detail of a node without sync sources (always synchronized)."""


def _source_status(name: str, source: SyncSource) -> SyncStatus:
    """One source's status; a source that fails counts as not synchronized."""
    try:
        status: object = source.sync_status()
    except Exception as exc:
        logger.debug("sync source %r failed", name, exc_info=True)
        return SyncStatus(
            synchronized=False,
            height=0,
            target_height=0,
            busy=False,
            outgoing=0,
            incoming=0,
            detail=f"{name}: no sync status ({type(exc).__name__}: {exc})",
        )
    if not isinstance(status, SyncStatus):
        return SyncStatus(
            synchronized=False,
            height=0,
            target_height=0,
            busy=False,
            outgoing=0,
            incoming=0,
            detail=f"{name}: no sync status (got {type(status).__name__})",
        )
    return status


def node_sync_status(node: Node) -> SyncStatus:
    """The node's sync status: every registered source's, combined.

    Synchronized only if every source is; ``height`` is the lowest of the sources',
    ``target_height`` the highest, ``busy`` whether any source is downloading, the peer
    counts are summed and the details joined (``; ``). A node without sources is its own
    network: synchronized, with heights 0 (unknown) and the detail :data:`ALONE`.
    """
    registry = node.registry("sync_source")
    statuses = [_source_status(name, registry.get(name)) for name in registry.names()]
    if not statuses:
        return SyncStatus(
            synchronized=True,
            height=0,
            target_height=0,
            busy=False,
            outgoing=0,
            incoming=0,
            detail=ALONE,
        )
    if len(statuses) == 1:
        return statuses[0]
    return SyncStatus(
        synchronized=all(s.synchronized for s in statuses),
        height=min(s.height for s in statuses),
        target_height=max(s.target_height for s in statuses),
        busy=any(s.busy for s in statuses),
        outgoing=sum(s.outgoing for s in statuses),
        incoming=sum(s.incoming for s in statuses),
        detail="; ".join(s.detail for s in statuses if s.detail),
    )


def waiting_reason(status: SyncStatus) -> str:
    """Why templates wait for ``status``: ``synchronizing: height 120 of 500 (3 peers)``,
    followed by the sources' detail when there is one."""
    peers = f"{status.peers} peer" if status.peers == 1 else f"{status.peers} peers"
    target = max(status.height, status.target_height)
    reason = f"synchronizing: height {status.height} of {target} ({peers})"
    return f"{reason}; {status.detail}" if status.detail else reason


def mining_allowed(node: Node) -> tuple[bool, str]:
    """Whether block templates may be handed out now, and why (or why not).

    True when the node is synchronized (:func:`node_sync_status`), on devnet (a test
    network that never waits), or with ``[node] mine_before_sync = true``; otherwise
    False and a reason for people, such as ``synchronizing: height 120 of 500 (3 peers)``.
    """
    if node.network == "devnet":
        return True, "devnet: mining does not wait for synchronization"
    status = node_sync_status(node)
    if status.synchronized:
        return True, status.detail or "synchronized"
    if node.config_section("node").mine_before_sync:
        return True, "[node] mine_before_sync is set: mining while " + waiting_reason(status)
    return False, waiting_reason(status)


__all__ = ["ALONE", "mining_allowed", "node_sync_status", "waiting_reason"]
