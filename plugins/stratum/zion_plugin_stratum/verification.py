"""The built-in share-verification policies ``all`` and ``sampled``.

``all`` (the default) has the pool hash every share with RandomX. ``sampled`` trades
some of that certainty for capacity:

- A new miner is untrusted: every share of an address, and every share from an IP
  address, is verified until that address and that IP address each have
  ``trust_shares`` verified shares.
- Once both are trusted, each share is verified with probability ``rate``: one draw
  per share from the operating system's random source, never below
  :data:`~.config.MIN_VERIFY_SAMPLE_RATE` (10 %).
- A block candidate (a claimed result that meets the network difficulty) is always
  verified; the pool also enforces that whatever the policy.
- A share that fails verification resets the trust of its address and of its IP
  address to zero (and the pool charges the IP a fault with the ban policy), so a
  cheater goes back to full verification at once.

So a miner submitting fake results that meet the share target has each one caught with
probability at least ``rate``; after the first catch, every share is checked again.
Both policies satisfy :class:`zion_hookspecs.ShareVerificationPolicy` and are selected
by ``[stratum] verification_policy``.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from .config import MIN_VERIFY_SAMPLE_RATE

MAX_TRACKED: Final = 65_536
"""Addresses, and IP addresses, whose trust is kept at most; the least recently seen are
forgotten first (and so start untrusted again)."""


class VerifyAll:
    """The ``all`` policy: every share is verified."""

    name = "all"

    def should_verify(self, address: str, ip: str, *, difficulty: int, candidate: bool) -> bool:
        return True

    def record(self, address: str, ip: str, *, valid: bool) -> None:
        """Nothing to learn: every share is verified anyway."""


class _Trust:
    """Verified shares per key, capped at ``cap``; the least recently updated go first."""

    def __init__(self, cap: int, max_tracked: int) -> None:
        self.cap = cap
        self.max_tracked = max_tracked
        self._counts: OrderedDict[str, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._counts)

    def trusted(self, key: str) -> bool:
        return self._counts.get(key, 0) >= self.cap

    def count(self, key: str) -> int:
        return self._counts.get(key, 0)

    def add(self, key: str) -> None:
        self._counts[key] = min(self.cap, self._counts.pop(key, 0) + 1)
        if len(self._counts) > self.max_tracked:
            self._counts.popitem(last=False)

    def reset(self, key: str) -> None:
        self._counts.pop(key, None)


class SampledVerification:
    """The ``sampled`` policy (see the module's description).

    ``rng`` returns floats in [0, 1) (default: :class:`random.SystemRandom`); it is
    called at most once per share, only for a trusted miner's share that is not a block
    candidate. Tests replace it with a seeded one.
    """

    name = "sampled"

    def __init__(
        self,
        rate: float,
        trust_shares: int,
        *,
        rng: Callable[[], float] | None = None,
        max_tracked: int = MAX_TRACKED,
    ) -> None:
        if not MIN_VERIFY_SAMPLE_RATE <= rate <= 1:
            raise ValueError(
                f"the sample rate must lie between {MIN_VERIFY_SAMPLE_RATE} and 1, not {rate!r}"
            )
        if trust_shares < 0:
            raise ValueError(f"trust_shares must not be negative, not {trust_shares!r}")
        self.rate = rate
        self.trust_shares = trust_shares
        self.rng: Callable[[], float] = rng if rng is not None else random.SystemRandom().random
        self._addresses = _Trust(trust_shares, max_tracked)
        self._ips = _Trust(trust_shares, max_tracked)

    def trusted(self, address: str, ip: str) -> bool:
        """Whether shares of ``address`` from ``ip`` are sampled (both earned trust)."""
        return self._addresses.trusted(address) and self._ips.trusted(ip)

    def trust(self, address: str, ip: str) -> tuple[int, int]:
        """The verified shares counted for ``address`` and for ``ip`` (capped)."""
        return self._addresses.count(address), self._ips.count(ip)

    def should_verify(self, address: str, ip: str, *, difficulty: int, candidate: bool) -> bool:
        if candidate or not self.trusted(address, ip):
            return True
        return self.rng() < self.rate

    def record(self, address: str, ip: str, *, valid: bool) -> None:
        if valid:
            self._addresses.add(address)
            self._ips.add(ip)
        else:
            self._addresses.reset(address)
            self._ips.reset(ip)


__all__ = ["MAX_TRACKED", "SampledVerification", "VerifyAll"]
