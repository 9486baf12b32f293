"""Event hooks: notifications that the node emits as the chain and the pool change.

Handlers are synchronous and run on the event loop: they must return quickly (hand
work to a service through a memory channel). A handler that raises is logged and does
not prevent the other plugins from receiving the event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._markers import hookspec

if TYPE_CHECKING:
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
