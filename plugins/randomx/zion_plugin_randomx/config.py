"""The ``[randomx]`` and ``[miner]`` configuration sections."""

from __future__ import annotations

from typing import Literal

import attrs

from zion_core import ConfigError
from zion_core.chain.address import Address, InvalidAddressError


@attrs.frozen
class RandomXConfig:
    """``[randomx]``: how proof-of-work hashes are computed.

    - ``mode``: ``light`` (256 MiB cache per key; what a node needs to verify) or
      ``fast`` (a 2 GiB dataset per key; about 8 times the hash rate, for pools and miners).
    - ``threads``: verification threads (0: one per CPU core).
    - ``init_threads``: threads that build a fast-mode dataset (0: one per CPU core).
    - ``large_pages``: allocate in huge pages (needs them reserved by the system).
    - ``transparent_huge_pages``: ask the kernel for transparent huge pages for the
      cache and dataset (``madvise``; no system setting changes, no reserved pages
      needed): fewer TLB misses, about 50 % faster in fast mode. No effect where the
      system's THP setting is ``never``.
    - ``jit``: compile RandomX programs to machine code (much faster; off only to debug).
    - ``prepare_next``: build the next seed's cache/dataset in the background during the
      lag window, so verification never pauses at a seed switch (memory: a second cache
      or dataset meanwhile). Off, the one cache/dataset is re-initialised in place at the
      switch and hashing pauses meanwhile (about 0.3 s for a cache). Unset: on in fast
      mode, off in light mode.
    """

    mode: Literal["light", "fast"] = "light"
    threads: int = attrs.field(default=0, validator=attrs.validators.ge(0))
    init_threads: int = attrs.field(default=0, validator=attrs.validators.ge(0))
    large_pages: bool = False
    transparent_huge_pages: bool = True
    jit: bool = True
    prepare_next: bool | None = None


def _check_address(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value:
        return
    try:
        Address.parse(value)
    except InvalidAddressError as exc:
        raise ValueError(f"{attribute.name}: {exc}") from None


@attrs.frozen
class SoloMinerConfig:
    """``[miner]``: the node's built-in solo miner (service ``miner``).

    - ``address``: the ZION address that mined blocks pay, an address of the node's
      network. Empty (the default): no miner runs.
    - ``threads``: hashing threads (0: one per CPU the node may use).
    - ``mode``: ``light`` or ``fast`` RandomX for the miner's own cache or dataset;
      unset: ``[randomx] mode``. The miner keeps its own memory next to the node's
      verifier: 256 MiB more in light mode, about 2.3 GiB more in fast mode. The other
      ``[randomx]`` settings (``jit``, ``large_pages``, ``transparent_huge_pages``,
      ``init_threads``, ``prepare_next``) apply to it as well.
    """

    address: str = attrs.field(default="", validator=_check_address)
    threads: int = attrs.field(default=0, validator=attrs.validators.ge(0))
    mode: Literal["light", "fast"] | None = None

    def parsed_address(self, network: str) -> Address:
        """``address`` as an address of ``network``; ConfigError naming the key if it is not."""
        try:
            return Address.parse(self.address, network)
        except InvalidAddressError as exc:
            raise ConfigError(f"bad value in [miner]: address: {exc}") from None
