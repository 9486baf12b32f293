"""Event hooks: notifications that the node emits as the chain and the pool change.

Handlers are synchronous and run on the event loop: they must return quickly (hand
work to a service through a memory channel). A handler that raises is logged and does
not prevent the other plugins from receiving the event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._markers import hookspec

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .types import ShareRecord


@hookspec
def zion_block_connected(block: Any, height: int) -> None:
    """A block became part of the main chain at ``height``."""


@hookspec
def zion_block_disconnected(block: Any, height: int) -> None:
    """A block at ``height`` left the main chain (reorganisation)."""


@hookspec
def zion_tx_accepted(tx: Any) -> None:
    """A transaction entered the memory pool."""


@hookspec
def zion_share_accepted(share: ShareRecord) -> None:
    """The pool accepted a share."""


@hookspec
def zion_block_found(block: Any, height: int) -> None:
    """This node's pool or miner found a block that the node accepted."""


@hookspec
def zion_pool_stats(stats: Mapping[str, Any], miners: Mapping[str, Mapping[str, Any]]) -> None:
    """A periodic snapshot of the pool's statistics, JSON-shaped and read-only.

    ``stats`` is the pool as a whole (what the ``pool_stats`` RPC method returns, plus
    ``connected``, ``time``, when the snapshot was taken, and ``interval_seconds``);
    ``miners`` maps each address the pool knows (logged in, with shares accepted since the
    pool started, or with a balance) to its snapshot: ``hashrate``, ``shares``,
    ``workers``, ``balance``, ``blocks_found``, ``last_share_at``, ``time``. Emitted every
    ``[stratum] stats_interval_seconds`` and soon after a block is found; handlers must
    not change either mapping.
    """
