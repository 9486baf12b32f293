"""Pool-policy hooks: payout schemes for the mining pool, selected by name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._markers import hookspec

if TYPE_CHECKING:
    from .types import Node, PoolPolicy, Register


@hookspec
def zion_register_pool_policies(register: Register[PoolPolicy], node: Node) -> None:
    """Register :class:`~zion_hookspecs.PoolPolicy` payout schemes (``pplns``, ``solo``...).

    The pool uses the one named by ``backends.pool_policy``.
    """
