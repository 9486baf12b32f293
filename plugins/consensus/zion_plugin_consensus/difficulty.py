"""LWMA-1 difficulty (linearly weighted moving average), integer-only.

LWMA-1 is zawy12's difficulty algorithm for small proof-of-work coins. It estimates the network
hash rate from the last N solvetimes, weighting the most recent ones most, so it follows hash
rate that arrives and leaves (profit switching) within about N/2 blocks instead of stalling.

Inputs are the timestamps and cumulative difficulties of the last N+1 blocks, oldest first, *as
recorded* (not sorted). With ``t`` the timestamps, ``c`` the cumulative difficulties, ``T`` the
target block time and ``N`` the window, the next difficulty is computed in these steps:

1. **Warm-up.** With fewer than N+1 blocks (the first N blocks after genesis) there are not yet N
   solvetimes: return ``guess``.
2. **Solvetimes, out-of-sequence timestamps.** Walk ``i = 1..N`` keeping ``prev``, the previous
   *adjusted* timestamp, which starts at ``t[0]``. If ``t[i] > prev`` the adjusted timestamp is
   ``t[i]``, otherwise it is ``prev + 1``. The solvetime is ``adjusted - prev``, so it is always
   at least 1. The adjusted timestamps strictly increase and each solvetime is measured from
   the previous *adjusted* one, so before clamping the solvetimes still sum to the adjusted
   time span: an early timestamp shortens one solvetime and lengthens the next.
3. **Clamp.** Each solvetime is limited to ``6·T``: one very late timestamp cannot drop the
   difficulty by much.
4. **Weighted sum.** ``L = Σ i · solvetime_i`` for i = 1..N (the newest solvetime has weight N).
5. **Floor.** ``L`` is at least ``N²·T // 20``: a burst of fast or forged timestamps can at most
   raise the difficulty about tenfold per block.
6. **Average difficulty.** ``avg_D = (c[N] - c[0]) // N``.
7. **Next difficulty.** ``next_D = avg_D · N·(N+1)·T · 99 // (200·L)``: the numerator is one
   product computed exactly and divided once, so the only rounding is the final floor. At
   constant solvetimes T, ``L = T·N(N+1)/2`` and ``next_D = 0.99·avg_D``; the 0.99 offsets the
   bias of the exponentially distributed solvetimes so that the average block time is T.
8. **Never zero.** The result is at least 1.

Differences from the usual C++ rendering, all of which leave the value unchanged or are
documented choices: Python integers do not overflow, so there is no separate
"divide first for a large D" branch (a fixed-width port must compute step 7 with a 128-bit
product); and the optional cosmetic rounding of insignificant digits is not applied.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["SOLVETIME_CLAMP", "next_difficulty"]

SOLVETIME_CLAMP = 6
"""A solvetime counts for at most ``SOLVETIME_CLAMP · T`` seconds."""


def next_difficulty(
    timestamps: Sequence[int],
    cumulative_difficulties: Sequence[int],
    *,
    target: int,
    window: int,
    guess: int,
) -> int:
    """The difficulty of the next block under LWMA-1 (see the module docstring for each step).

    ``timestamps`` and ``cumulative_difficulties`` are those of the last ``window + 1`` blocks,
    oldest first, unsorted; near genesis there may be fewer, and then ``guess`` is returned.
    The caller passes the chain's most recent blocks: ``blocks[max(0, h - window - 1):h]`` for
    the block at height ``h``, so heights 1 to ``window`` get ``guess``.

    Raises :class:`ValueError` when the sequences differ in length or hold more than
    ``window + 1`` entries, when ``target``, ``window`` or ``guess`` is below 1, or when the
    cumulative difficulty decreases over the window.
    """
    if target < 1 or window < 1 or guess < 1:
        raise ValueError(
            f"target, window and guess must be at least 1, got {target}, {window}, {guess}"
        )
    count = len(timestamps)
    if count != len(cumulative_difficulties):
        raise ValueError(
            f"{count} timestamps but {len(cumulative_difficulties)} cumulative difficulties"
        )
    if count > window + 1:
        raise ValueError(f"expected at most window + 1 = {window + 1} blocks, got {count}")

    # 1. Warm-up.
    if count < window + 1:
        return guess

    # 2-4. Adjusted, clamped, linearly weighted solvetimes.
    max_solvetime = SOLVETIME_CLAMP * target
    weighted = 0
    previous = timestamps[0]
    for i in range(1, window + 1):
        current = timestamps[i] if timestamps[i] > previous else previous + 1
        weighted += i * min(max_solvetime, current - previous)
        previous = current

    # 5. Floor.
    weighted = max(weighted, window * window * target // 20)

    # 6. Average difficulty over the window.
    work = cumulative_difficulties[window] - cumulative_difficulties[0]
    if work < 0:
        raise ValueError(f"cumulative difficulty decreases over the window: {work}")
    average = work // window

    # 7-8. One exact product, one floor division, at least 1.
    next_d = average * window * (window + 1) * target * 99 // (200 * weighted)
    return max(1, next_d)
