"""Payout policies of the pool: how a found block's reward, or an accepted share, becomes credits.

Every amount is an integer in atomic units and every division is exact integer arithmetic:

- The pool fee (``fee_bps``, basis points: 100 = 1 %) is taken first, rounded down:
  ``fee = reward * fee_bps // 10_000``. What is left is distributed.
- A distribution by weights uses the *largest remainder* rule: each address first gets
  ``floor(amount * weight / total)``; the few atomic units left over go one each to the
  addresses with the largest fractional remainders, ties broken by the address in
  ascending order. So the parts sum exactly to the distributed amount, each part is
  within one atomic unit of its exact proportional value, and the result depends only on
  the inputs (never on their order, on hashing or on the clock).
- The parts of a block therefore sum to ``reward - fee`` (or less when there is nobody to
  pay, see each policy); what the parts do not cover stays in the pool's wallet.

Three built-in policies:

``pplns``
    Pay-per-last-N-shares. The window is ``N * network difficulty`` of share difficulty,
    counted from the newest share backwards; the share straddling the window's edge counts
    only for its part inside the window. The block reward is split by the difficulty each
    address has in the window.
``solo``
    The finder of the block gets the whole reward, less the fee.
``pps``
    Pay-per-share: each accepted share is worth its expected value,
    ``reward * share_difficulty / network_difficulty``, less the fee, paid when the share
    is accepted (:meth:`AccountingPolicy.share_value`); found blocks credit nobody, their
    reward goes to the pool, which carries the luck.

:meth:`split_reward` is the :class:`~zion_hookspecs.PoolPolicy` hook's interface, which
sees only the reward and the shares; the ledger uses the richer
:meth:`AccountingPolicy.split_block`, which also receives the network difficulty and the
finder (:class:`BlockContext`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol, runtime_checkable

from zion_core.errors import ZionError
from zion_hookspecs import ShareRecord

BASIS_POINTS = 10_000
"""``fee_bps`` is in hundredths of a percent: 10 000 basis points are the whole reward."""

DEFAULT_FEE_BPS = 100
"""The default pool fee: 1 %."""

DEFAULT_PPLNS_FACTOR = 2
"""The default PPLNS window: twice the network difficulty of share difficulty."""


class PolicyError(ZionError, ValueError):
    """A policy was configured or called with invalid values (the message says which)."""


@dataclass(frozen=True, slots=True)
class BlockContext:
    """What a policy may need to know about a found block besides its reward and shares.

    ``network_difficulty`` is the difficulty of the found block; ``finder`` the address
    whose share solved it (``None`` when unknown: the newest share is then taken as the
    finder's).
    """

    network_difficulty: int
    finder: str | None = None


@runtime_checkable
class AccountingPolicy(Protocol):
    """A :class:`~zion_hookspecs.PoolPolicy` with what the ledger needs besides ``split_reward``."""

    @property
    def name(self) -> str: ...

    @property
    def fee_bps(self) -> int:
        """The pool fee in basis points (100 = 1 %)."""
        ...

    def split_reward(self, reward: int, shares: Sequence[ShareRecord]) -> Mapping[str, int]:
        """Divide ``reward`` among addresses; the parts sum to at most ``reward``."""
        ...

    def window_difficulty(self, network_difficulty: int) -> int:
        """How much recent share difficulty :meth:`split_block` needs (0: no shares at all)."""
        ...

    def split_block(
        self, reward: int, shares: Sequence[ShareRecord], context: BlockContext
    ) -> Mapping[str, int]:
        """The credits of a found block; ``shares`` are the recent shares, newest first."""
        ...

    def share_value(self, share: ShareRecord, *, block_reward: int, network_difficulty: int) -> int:
        """What an accepted share is credited when accepted (0 unless the policy pays per share)."""
        ...


# ------------------------------------------------------------------------------ helpers


def _check_amount(what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PolicyError(f"{what} must be a non-negative integer (atomic units), not {value!r}")
    return value


def _check_difficulty(what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PolicyError(f"{what} must be a positive integer, not {value!r}")
    return value


def _check_fee(fee_bps: object) -> int:
    if (
        isinstance(fee_bps, bool)
        or not isinstance(fee_bps, int)
        or not 0 <= fee_bps <= BASIS_POINTS
    ):
        raise PolicyError(f"fee_bps must be an integer from 0 to {BASIS_POINTS}, not {fee_bps!r}")
    return fee_bps


def _check_shares(shares: Iterable[ShareRecord]) -> list[ShareRecord]:
    checked = list(shares)
    for share in checked:
        if not isinstance(share.address, str) or not share.address:
            raise PolicyError(
                f"a share's address must be a non-empty string, not {share.address!r}"
            )
        _check_difficulty("a share's difficulty", share.difficulty)
    return checked


def pool_fee(amount: int, fee_bps: int) -> int:
    """The pool's fee on ``amount``: ``amount * fee_bps // 10_000`` (rounded down)."""
    return _check_amount("amount", amount) * _check_fee(fee_bps) // BASIS_POINTS


def split_proportionally(amount: int, weights: Mapping[str, int]) -> dict[str, int]:
    """Split ``amount`` by ``weights`` with the largest-remainder rule (see the module).

    The parts sum to exactly ``amount`` when some weight is positive (to 0 otherwise);
    addresses whose part is 0 are left out. Weights must be non-negative integers.
    """
    _check_amount("amount", amount)
    positive = {a: w for a, w in weights.items() if _check_amount("a weight", w) > 0}
    total = sum(positive.values())
    if total == 0 or amount == 0:
        return {}
    parts: dict[str, int] = {}
    remainders: list[tuple[int, str]] = []
    for address, weight in positive.items():
        part, remainder = divmod(amount * weight, total)
        parts[address] = part
        remainders.append((remainder, address))
    left = amount - sum(parts.values())
    remainders.sort(key=lambda item: (-item[0], item[1]))
    for _, address in remainders[:left]:
        parts[address] += 1
    return {a: p for a, p in parts.items() if p > 0}


def newest_share(shares: Sequence[ShareRecord]) -> ShareRecord | None:
    """The share with the latest timestamp; among equal timestamps the last one given."""
    newest: ShareRecord | None = None
    for share in shares:
        if newest is None or share.timestamp >= newest.timestamp:
            newest = share
    return newest


# ----------------------------------------------------------------------------- policies


class PplnsPolicy:
    """Pay-per-last-N-shares: the reward less the fee, split by difficulty in the window.

    ``factor`` is N: the window holds ``floor(N * network difficulty)`` (at least 1) of
    share difficulty. N may be a :class:`~fractions.Fraction` (``Fraction(5, 2)``).
    """

    name = "pplns"

    def __init__(
        self, *, factor: int | Fraction = DEFAULT_PPLNS_FACTOR, fee_bps: int = DEFAULT_FEE_BPS
    ) -> None:
        if isinstance(factor, bool) or not isinstance(factor, int | Fraction) or factor <= 0:
            raise PolicyError(
                f"the PPLNS factor N must be a positive integer or fraction, not {factor!r}"
            )
        self.factor = Fraction(factor)
        self._fee_bps = _check_fee(fee_bps)

    @property
    def fee_bps(self) -> int:
        """The pool fee in basis points."""
        return self._fee_bps

    def window_difficulty(self, network_difficulty: int) -> int:
        """``floor(N * network_difficulty)``, at least 1."""
        _check_difficulty("the network difficulty", network_difficulty)
        return max(1, math.floor(self.factor * network_difficulty))

    def window(self, shares: Sequence[ShareRecord], network_difficulty: int) -> dict[str, int]:
        """The difficulty each address has in the window, ``shares`` given newest first.

        The share straddling the window's edge counts only for the part inside it.
        """
        left = self.window_difficulty(network_difficulty)
        weights: dict[str, int] = {}
        for share in _check_shares(shares):
            if left == 0:
                break
            counted = min(share.difficulty, left)
            weights[share.address] = weights.get(share.address, 0) + counted
            left -= counted
        return weights

    def split_reward(self, reward: int, shares: Sequence[ShareRecord]) -> Mapping[str, int]:
        """Split ``reward`` less the fee by difficulty over *all* ``shares``.

        The hook's interface knows no network difficulty, so the caller passes the window
        (:meth:`window`); :meth:`split_block` cuts it itself.
        """
        reward = _check_amount("reward", reward)
        weights: dict[str, int] = {}
        for share in _check_shares(shares):
            weights[share.address] = weights.get(share.address, 0) + share.difficulty
        return split_proportionally(reward - pool_fee(reward, self._fee_bps), weights)

    def split_block(
        self, reward: int, shares: Sequence[ShareRecord], context: BlockContext
    ) -> Mapping[str, int]:
        """Split ``reward`` less the fee over the window of ``shares`` (newest first)."""
        reward = _check_amount("reward", reward)
        weights = self.window(shares, context.network_difficulty)
        return split_proportionally(reward - pool_fee(reward, self._fee_bps), weights)

    def share_value(self, share: ShareRecord, *, block_reward: int, network_difficulty: int) -> int:
        """0: PPLNS pays only found blocks."""
        return 0


class SoloPolicy:
    """Solo mining through the pool: the block's finder gets the reward less the fee.

    With the hook's ``split_reward(reward, shares)``, the finder is the address of the
    newest share (the one that solved the block is the last accepted). With no finder and
    no share, nobody is credited and the reward stays with the pool.
    """

    name = "solo"

    def __init__(self, *, fee_bps: int = DEFAULT_FEE_BPS) -> None:
        self._fee_bps = _check_fee(fee_bps)

    @property
    def fee_bps(self) -> int:
        """The pool fee in basis points."""
        return self._fee_bps

    def window_difficulty(self, network_difficulty: int) -> int:
        """0: solo needs no share history."""
        return 0

    def _pay(self, reward: int, finder: str | None) -> dict[str, int]:
        reward = _check_amount("reward", reward)
        if finder is None:
            return {}
        if not isinstance(finder, str) or not finder:
            raise PolicyError(f"the finder must be a non-empty address, not {finder!r}")
        part = reward - pool_fee(reward, self._fee_bps)
        return {finder: part} if part > 0 else {}

    def split_reward(self, reward: int, shares: Sequence[ShareRecord]) -> Mapping[str, int]:
        """Everything less the fee to the newest share's address."""
        newest = newest_share(_check_shares(shares))
        return self._pay(reward, None if newest is None else newest.address)

    def split_block(
        self, reward: int, shares: Sequence[ShareRecord], context: BlockContext
    ) -> Mapping[str, int]:
        """Everything less the fee to ``context.finder`` (else to the newest share's address)."""
        if context.finder is not None:
            return self._pay(reward, context.finder)
        return self.split_reward(reward, shares)

    def share_value(self, share: ShareRecord, *, block_reward: int, network_difficulty: int) -> int:
        """0: solo pays only found blocks."""
        return 0


class PpsPolicy:
    """Pay-per-share: each accepted share earns its expected value less the fee.

    ``share_value = floor(reward * min(d, D) * (10 000 - fee_bps) / (D * 10 000))`` with
    ``d`` the share's difficulty and ``D`` the network difficulty: a share is never worth
    more than a block. Found blocks credit nobody (:meth:`split_block` returns nothing).
    """

    name = "pps"

    def __init__(self, *, fee_bps: int = DEFAULT_FEE_BPS) -> None:
        self._fee_bps = _check_fee(fee_bps)

    @property
    def fee_bps(self) -> int:
        """The pool fee in basis points."""
        return self._fee_bps

    def window_difficulty(self, network_difficulty: int) -> int:
        """0: PPS pays at acceptance and keeps no share history."""
        return 0

    def split_reward(self, reward: int, shares: Sequence[ShareRecord]) -> Mapping[str, int]:
        """Nothing: the miners were paid when their shares were accepted."""
        _check_amount("reward", reward)
        _check_shares(shares)
        return {}

    def split_block(
        self, reward: int, shares: Sequence[ShareRecord], context: BlockContext
    ) -> Mapping[str, int]:
        """Nothing: the block's reward goes to the pool."""
        return self.split_reward(reward, shares)

    def share_value(self, share: ShareRecord, *, block_reward: int, network_difficulty: int) -> int:
        """The share's expected value less the fee, rounded down."""
        reward = _check_amount("block_reward", block_reward)
        network = _check_difficulty("the network difficulty", network_difficulty)
        (share,) = _check_shares([share])
        counted = min(share.difficulty, network)
        return reward * counted * (BASIS_POINTS - self._fee_bps) // (network * BASIS_POINTS)


def builtin_policies(
    *,
    fee_bps: int = DEFAULT_FEE_BPS,
    pplns_factor: int | Fraction = DEFAULT_PPLNS_FACTOR,
    solo_fee_bps: int | None = None,
    pps_fee_bps: int | None = None,
) -> list[AccountingPolicy]:
    """The built-in policies ``pplns``, ``solo`` and ``pps``, for ``zion_register_pool_policies``.

    ``fee_bps`` is the fee of all three unless ``solo_fee_bps`` or ``pps_fee_bps`` is given.
    """
    return [
        PplnsPolicy(factor=pplns_factor, fee_bps=fee_bps),
        SoloPolicy(fee_bps=fee_bps if solo_fee_bps is None else solo_fee_bps),
        PpsPolicy(fee_bps=fee_bps if pps_fee_bps is None else pps_fee_bps),
    ]


__all__ = [
    "BASIS_POINTS",
    "DEFAULT_FEE_BPS",
    "DEFAULT_PPLNS_FACTOR",
    "AccountingPolicy",
    "BlockContext",
    "PolicyError",
    "PplnsPolicy",
    "PpsPolicy",
    "SoloPolicy",
    "builtin_policies",
    "newest_share",
    "pool_fee",
    "split_proportionally",
]
