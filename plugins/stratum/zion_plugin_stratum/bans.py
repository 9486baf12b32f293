"""The built-in ban policy ``score``: misbehaviour points per IP address, then a timed ban.

Every fault (an invalid share, a malformed request line...) adds one point to the IP
address it came from; at ``ban_score`` points the address is banned for ``ban_seconds``
and its points start again from zero. ``ban_score = 0`` turns banning off. The policy
satisfies :class:`zion_hookspecs.BanPolicy` and is selected by ``[stratum] ban_policy``.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Final

logger = logging.getLogger(__name__)

MAX_TRACKED: Final = 65_536
"""IP addresses with points, and bans, kept at most; the oldest are forgotten first."""


class ScoreBan:
    """Misbehaviour points and timed bans (see the module's description)."""

    name = "score"

    def __init__(self, score: int, seconds: float, *, max_tracked: int = MAX_TRACKED) -> None:
        self.score = score
        self.seconds = seconds
        self.max_tracked = max_tracked
        self._scores: OrderedDict[str, int] = OrderedDict()
        self._banned: OrderedDict[str, float] = OrderedDict()

    def admit(self, ip: str, now: float) -> bool:
        until = self._banned.get(ip)
        if until is None:
            return True
        if until > now:
            return False
        del self._banned[ip]
        return True

    def fault(self, ip: str, now: float, reason: str) -> bool:
        if self.score <= 0:
            return False
        points = self._scores.pop(ip, 0) + 1
        if points < self.score:
            self._scores[ip] = points
            if len(self._scores) > self.max_tracked:
                self._scores.popitem(last=False)
            return False
        self._banned.pop(ip, None)
        self._banned[ip] = now + self.seconds
        if len(self._banned) > self.max_tracked:
            self._forget_bans(now)
        logger.warning(
            "pool: banned %s for %.0f s (misbehaviour, last: %s)", ip, self.seconds, reason
        )
        return True

    def accepted(self, ip: str, now: float) -> None:
        """Good shares do not forgive faults under this policy."""

    def banned_count(self, now: float) -> int:
        return sum(1 for until in self._banned.values() if until > now)

    def _forget_bans(self, now: float) -> None:
        for ip in [ip for ip, until in self._banned.items() if until <= now]:
            del self._banned[ip]
        while len(self._banned) > self.max_tracked:
            self._banned.popitem(last=False)


__all__ = ["MAX_TRACKED", "ScoreBan"]
