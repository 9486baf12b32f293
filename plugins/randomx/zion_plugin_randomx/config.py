"""The ``[randomx]`` configuration section."""

from __future__ import annotations

from typing import Literal

import attrs


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
