"""Variable share difficulty: a pure policy over share timestamps.

Each miner has a :class:`VardiffState`. Every accepted share is recorded with
:meth:`Vardiff.on_share`; the policy estimates the miner's hash rate from the work of the
recent shares (their difficulties) over the time they took, and returns a new difficulty
when the expected share interval strays from the target by more than the tolerance.
Steps are bounded (``max_step`` up or down per retarget) and the result is clamped to the
configured bounds. A miner whose shares stop arriving is lowered by :meth:`Vardiff.on_idle`.

:class:`Vardiff` is the ``default`` vardiff policy (``[stratum] vardiff_policy``); it
satisfies :class:`zion_hookspecs.VardiffPolicy`.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from .config import StratumConfig


@attrs.define
class VardiffState:
    """One miner's difficulty and recent shares since ``since``."""

    difficulty: int
    since: float
    """Start of the measured period: the last retarget (or the connection)."""
    shares: deque[tuple[float, int]] = attrs.field(factory=deque)
    """``(timestamp, difficulty)`` of the shares since :attr:`since`, oldest first."""


@attrs.frozen
class Vardiff:
    """The retargeting rule (all times in seconds).

    - ``target_seconds``: the share interval aimed at.
    - ``tolerance``: no retarget while the estimated interval is within this fraction of
      the target (0.2: 24 s to 36 s at a 30 s target).
    - ``min_shares``: shares needed for an estimate, unless ``target_seconds`` times
      ``min_shares`` have passed.
    - ``window``: shares kept for the estimate.
    - ``max_step``: the largest factor of one retarget, up or down.
    - ``idle_factor``: a miner without shares for this many targets is halved.
    - ``name``: the policy's registry name.
    """

    min_difficulty: int
    max_difficulty: int
    target_seconds: float = 30.0
    tolerance: float = 0.2
    min_shares: int = 2
    window: int = 16
    max_step: float = 8.0
    idle_factor: float = 4.0
    name: str = "default"

    def new_state(self, difficulty: int, now: float) -> VardiffState:
        """The state of a miner starting at ``difficulty`` (clamped) at ``now``."""
        return VardiffState(difficulty=self.clamp(difficulty), since=now)

    def clamp(self, difficulty: float) -> int:
        """``difficulty`` as an integer within the bounds."""
        return max(self.min_difficulty, min(self.max_difficulty, int(difficulty)))

    def on_share(self, state: VardiffState, now: float, difficulty: int) -> int | None:
        """Record a share of ``difficulty`` at ``now``; the new difficulty, or None to keep it."""
        state.shares.append((now, difficulty))
        while len(state.shares) > self.window:
            state.since, _ = state.shares.popleft()
        elapsed = now - state.since
        if elapsed <= 0:
            return None
        if len(state.shares) < self.min_shares and elapsed < self.min_shares * self.target_seconds:
            return None
        work = sum(diff for _, diff in state.shares)
        ideal = work / elapsed * self.target_seconds
        return self._retarget(state, ideal, now)

    def on_idle(self, state: VardiffState, now: float) -> int | None:
        """Lower the difficulty of a miner that found no share for a long time."""
        last = state.shares[-1][0] if state.shares else state.since
        if now - last < self.idle_factor * self.target_seconds:
            return None
        return self._retarget(state, state.difficulty / 2, now)

    def _retarget(self, state: VardiffState, ideal: float, now: float) -> int | None:
        current = state.difficulty
        ratio = ideal / current
        if 1 - self.tolerance <= ratio <= 1 + self.tolerance:
            return None
        ratio = max(1 / self.max_step, min(self.max_step, ratio))
        new = self.clamp(current * ratio)
        if new == current:
            return None
        state.difficulty = new
        state.since = now
        state.shares.clear()
        return new


def default_vardiff(config: StratumConfig) -> Vardiff:
    """The ``default`` policy with the bounds and target of ``[stratum]``."""
    return Vardiff(
        min_difficulty=config.min_difficulty,
        max_difficulty=config.max_difficulty,
        target_seconds=config.target_share_seconds,
    )


__all__ = ["Vardiff", "VardiffState", "default_vardiff"]
