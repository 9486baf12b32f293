"""Pool-policy hooks: the mining pool's payout, vardiff, ban and share-verification
policies, each registered by name and selected by configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._markers import hookspec

if TYPE_CHECKING:
    from .types import (
        BanPolicy,
        Node,
        PoolPolicy,
        Register,
        ShareVerificationPolicy,
        VardiffPolicy,
    )


@hookspec
def zion_register_pool_policies(register: Register[PoolPolicy], node: Node) -> None:
    """Register :class:`~zion_hookspecs.PoolPolicy` payout schemes (``pplns``, ``solo``...).

    The pool uses the one named by ``backends.pool_policy``.
    """


@hookspec
def zion_register_vardiff_policies(register: Register[VardiffPolicy], node: Node) -> None:
    """Register :class:`~zion_hookspecs.VardiffPolicy` variable-difficulty rules.

    The stratum pool uses the one named by ``[stratum] vardiff_policy`` (built in:
    ``default``). One object serves every miner of the node: per-miner state lives in
    what :meth:`~zion_hookspecs.VardiffPolicy.new_state` returns.
    """


@hookspec
def zion_register_ban_policies(register: Register[BanPolicy], node: Node) -> None:
    """Register :class:`~zion_hookspecs.BanPolicy` misbehaviour rules (which IP addresses
    the pool refuses, and for how long).

    The stratum pool uses the one named by ``[stratum] ban_policy`` (built in: ``score``).
    The object keeps the node's ban state, so register a new one for every node.
    """


@hookspec
def zion_register_share_verification_policies(
    register: Register[ShareVerificationPolicy], node: Node
) -> None:
    """Register :class:`~zion_hookspecs.ShareVerificationPolicy` rules deciding which
    shares the pool checks with RandomX.

    The stratum pool uses the one named by ``[stratum] verification_policy`` (built in:
    ``all``, the default, and ``sampled``). The pool verifies a block candidate whatever
    the policy answers. The object keeps the node's trust state, so register a new one
    for every node.
    """
