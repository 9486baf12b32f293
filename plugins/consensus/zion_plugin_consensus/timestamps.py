"""Block timestamp rules: median time past (MTP) and the future time limit (FTL).

A block's timestamp ``t`` is accepted when::

    median_time_past(previous, timestamp_window) < t <= now + future_time_limit

The lower bound keeps timestamps moving forward while allowing honest clock skew: the median of
the last 11 timestamps (MTP-11) can only be pushed back by a majority of those blocks. The upper
bound is checked against the validating node's own clock (there is no network-adjusted time);
with LWMA-1 it is N·T/20 (540 s on mainnet), small enough that a forged future timestamp lowers
the next difficulty only a little. A block rejected for being too far in the future becomes
acceptable once the clock catches up; one rejected for being too old never does.

The functions here are pure: the caller passes the previous timestamps and the current time.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import TimestampTooFarInFutureError, TimestampTooOldError
from .params import NetworkParams

__all__ = [
    "check_timestamp",
    "median_time_past",
    "minimum_timestamp",
]


def median_time_past(timestamps: Sequence[int], window: int) -> int:
    """The median of the last ``window`` entries of ``timestamps`` (all of them when fewer).

    The timestamps are those of the chain, oldest first, unsorted. For an odd count the median
    is the middle value; for an even count (only near genesis, or with an even ``window``) it is
    the floor of the mean of the two middle values. Raises :class:`ValueError` for an empty
    sequence or a ``window`` below 1.
    """
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    if not timestamps:
        raise ValueError("median time past of no timestamps")
    recent = sorted(timestamps[-window:])
    middle = len(recent) // 2
    if len(recent) % 2:
        return recent[middle]
    return (recent[middle - 1] + recent[middle]) // 2


def minimum_timestamp(previous_timestamps: Sequence[int], params: NetworkParams) -> int:
    """The smallest timestamp a block after ``previous_timestamps`` may carry: MTP + 1.

    A block template should use ``max(now, minimum_timestamp(...))``: with blocks found faster
    than one a second (devnet), ``now`` alone may not be above the median.
    """
    return median_time_past(previous_timestamps, params.timestamp_window) + 1


def check_timestamp(
    timestamp: int, previous_timestamps: Sequence[int], now: int, params: NetworkParams
) -> None:
    """Check a block's timestamp against the chain before it and the local clock.

    ``previous_timestamps`` are the timestamps of the blocks before this one, oldest first (at
    least the last ``params.timestamp_window``; fewer only near genesis, never none). ``now`` is the
    validating node's time in whole seconds.

    Raises :class:`~.errors.TimestampTooOldError` if ``timestamp`` is not above the median time
    past and :class:`~.errors.TimestampTooFarInFutureError` if it is more than
    ``params.future_time_limit`` seconds after ``now``.
    """
    mtp = median_time_past(previous_timestamps, params.timestamp_window)
    if timestamp <= mtp:
        raise TimestampTooOldError(timestamp, mtp)
    limit = now + params.future_time_limit
    if timestamp > limit:
        raise TimestampTooFarInFutureError(timestamp, limit)
