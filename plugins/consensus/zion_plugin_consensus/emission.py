"""ZION's block reward: integer-only smooth emission with a tail.

Amounts are atomic units; 1 ZION = 10^12 atomic units
(:data:`~zion_plugin_consensus.params.ATOMIC_UNITS_PER_ZION`).

With ``S`` the money supply, ``G`` the coins generated before the block (genesis included) and
``k`` the emission speed shift, the reward of the next block is::

    reward = max(tail, (S - G) >> k)          # (S - G) >> k is 0 once G >= S

Each block pays a ``2^-k`` share of what is left, so the remaining amount decays geometrically:
``S - G_h ≈ S·(1 - 2^-k)^h ≈ S·e^(-h/2^k)``, and half of the supply is emitted after about
``ln 2 · 2^k`` blocks. The right shift is the only rounding (a floor) and there is no floating
point, so every node computes the same value. Once ``(S - G) >> k`` drops to ``tail`` the
reward stays at ``tail`` for ever: a constant tail keeps miners paid after the curve has
flattened, and its relative inflation shrinks every year. Total emission therefore exceeds
``S`` eventually (after the tail has paid the remaining few percent); ``G`` is a Python
integer and is never stored in 64 bits by these rules.

ZION's parameters (see :mod:`.params`): ``S`` = 12 000 000 ZION, ``k`` = 20 at two-minute
blocks (half of the supply in ~727 000 blocks, about 2.8 years), tail = 0.3 ZION per block.
The genesis block pays ``block_reward(0)``; the tail takes over at height 3 818 332 (~14.5
years).

There is no block-weight penalty: a block larger than ``max_block_size`` (or holding more than
``max_block_txs`` transactions) is simply invalid, and below that limit the miner earns the full
reward plus fees. A dynamic block size with a quadratic penalty can be added later by a fork
if demand ever approaches the limit.
"""

from __future__ import annotations

from .params import NetworkParams

__all__ = ["block_reward"]


def block_reward(already_generated: int, params: NetworkParams) -> int:
    """The base reward (fees excluded) of a block mined after ``already_generated`` atomic
    units have been emitted: ``max(tail_reward, (money_supply - already_generated) >>
    emission_speed_shift)``. Raises :class:`ValueError` if ``already_generated`` is negative.
    """
    if already_generated < 0:
        raise ValueError(f"already_generated must not be negative, got {already_generated}")
    remaining = max(0, params.money_supply - already_generated)
    return max(params.tail_reward, remaining >> params.emission_speed_shift)
