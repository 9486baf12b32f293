"""The ``randomx-cpu`` hashing backend.

Synchronous methods (the :class:`zion_hookspecs.HashBackend` contract) run in the
calling thread with a VM taken from a pool of at most ``randomx.threads`` VMs; the
``*_async`` methods run them on worker threads, at most ``randomx.threads`` at a time,
so the event loop is never blocked.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import anyio
import anyio.lowlevel

from zion_hookspecs import HashCapabilities

from .binding import (
    CACHE_SIZE,
    DATASET_ITEM_SIZE,
    VM,
    Cache,
    Dataset,
    Flags,
    ProgressCallback,
    recommended_flags,
)
from .config import RandomXConfig
from .keys import KeyManager, KeyState
from .metrics import HashCounters

logger = logging.getLogger(__name__)

DATASET_SIZE = 34_078_719 * DATASET_ITEM_SIZE
"""Bytes of a RandomX v1 dataset (``randomx_dataset_item_count()`` items): 2080 MiB."""


class VmPool:
    """At most ``size`` VMs, lent to one caller at a time.

    A VM returned while bound to anything but the current key's memory is dropped (a
    VM is cheap to create: about 0.1 ms), so an idle VM never keeps a replaced cache or
    dataset alive. :meth:`exclusive` waits until every VM is back and holds off
    borrowers, for switching a key in place.
    """

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._cond = threading.Condition()
        self._idle: list[VM] = []
        self._lent = 0
        self._exclusive = False

    @property
    def created(self) -> int:
        with self._cond:
            return self._lent + len(self._idle)

    def borrow(self) -> VM | None:
        """An idle VM, or None when the caller should create one (its slot is taken)."""
        with self._cond:
            while self._exclusive or (not self._idle and self._lent >= self.size):
                self._cond.wait()
            self._lent += 1
            return self._idle.pop() if self._idle else None

    def give_back(self, vm: VM | None, *, keep: bool) -> None:
        with self._cond:
            self._lent -= 1
            if vm is not None and keep and not self._exclusive:
                self._idle.append(vm)
            # all: a switch waiting for the last VM must not miss its wake-up to a borrower
            self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Every VM back and dropped, and no borrowing until the block ends."""
        with self._cond:
            while self._exclusive:
                self._cond.wait()
            self._exclusive = True
            while self._lent:
                self._cond.wait()
            self._idle.clear()
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self._idle.clear()


class RandomXCpu:
    """RandomX v1 on the CPU through librandomx: exact, can verify and mine."""

    name = "randomx-cpu"
    capabilities = HashCapabilities(exact=True, can_mine=True, can_verify=True)

    def __init__(
        self, config: RandomXConfig | None = None, *, progress: ProgressCallback | None = None
    ):
        self.config = config or RandomXConfig()
        self.threads = self.config.threads or os.cpu_count() or 1
        self._progress = progress
        self._dataset_build: tuple[int, int] | None = None  # (done, total) while building
        # None: prepared in fast mode (a dataset takes long to build), in place in light
        # mode (a cache takes about 0.3 s, and the node must fit in 512 MB)
        self.prepare_next = (
            self.config.prepare_next if self.config.prepare_next is not None else self.fast
        )
        self._keys: KeyManager | None = None
        self._pool = VmPool(self.threads)
        self._limiter: anyio.CapacityLimiter | None = None
        self._limiter_token: object = None
        self.counters = HashCounters()
        """Hashes computed and verification times (the ``randomx`` metrics source)."""

    # -- set-up -------------------------------------------------------------------------

    @property
    def fast(self) -> bool:
        return self.config.mode == "fast"

    @property
    def flags(self) -> Flags:
        return self.keys.flags

    @property
    def keys(self) -> KeyManager:
        if self._keys is None:
            flags = recommended_flags()
            if not self.config.jit:
                flags &= ~Flags.JIT
            if self.config.large_pages:
                flags |= Flags.LARGE_PAGES
            self._keys = KeyManager(
                fast=self.fast,
                flags=flags,
                init_threads=self.config.init_threads,
                keep=2 if self.prepare_next else 1,
                progress=self._on_dataset_progress,
                huge_pages=self.config.transparent_huge_pages,
            )
        return self._keys

    def _on_dataset_progress(self, done: int, total: int) -> None:
        self._dataset_build = None if done >= total else (done, total)
        if self._progress is not None:
            self._progress(done, total)

    def status(self) -> dict[str, Any]:
        """Mode, threads, flags and the memory the keys hold (``randomx_status``); builds
        nothing."""
        keys = self._keys
        held = keys.held() if keys is not None else []
        per_key = CACHE_SIZE + (DATASET_SIZE if self.fast else 0)
        flags = keys.flags if keys is not None else None
        building = self._dataset_build
        return {
            "backend": self.name,
            "mode": self.config.mode,
            "threads": self.threads,
            "flags": [str(f.name).lower() for f in Flags if f and f in flags] if flags else [],
            "jit": self.config.jit,
            "large_pages": self.config.large_pages,
            "keys": len(held),
            "current_key": (self.current_key or b"").hex(),
            "memory_bytes": per_key * len(held),
            "dataset_progress": (
                {"done": building[0], "total": building[1]} if building is not None else None
            ),
        }

    def set_key(self, key: bytes, *, in_place: bool | None = None) -> None:
        """Make ``key`` current, building its cache/dataset now if it is not ready.

        Hashing with the previous key goes on until the new key is ready, unless the
        switch is made ``in_place`` (default: when ``prepare_next`` is off): then, unless
        ``key`` was prepared, the one cache (or dataset) is re-initialised and hashing
        pauses meanwhile. A miner, which stops hashing at a switch anyway, saves the
        memory of a second dataset that way.
        """
        if in_place is None:
            in_place = not self.prepare_next
        if not in_place:
            self.keys.set_current(key)
        else:
            with self._pool.exclusive():
                self.keys.set_current(key, reuse=True)

    def prepare_key(self, key: bytes) -> None:
        """Build ``key`` in the background (the next seed, during the lag window)."""
        if self.prepare_next:
            self.keys.prepare(key)

    @property
    def current_key(self) -> bytes | None:
        return self.keys.current if self._keys is not None else None

    # -- hashing ------------------------------------------------------------------------

    def _state(self, key: bytes | None) -> KeyState:
        if key is None:
            return self.keys.current_state()
        return self.keys.get(key)

    @contextmanager
    def _vm(self, key: bytes | None) -> Iterator[VM]:
        """A VM bound to ``key``'s memory (default: the current key's)."""
        vm = self._pool.borrow()
        try:
            state = self._state(key)
            memory: Cache | Dataset = state.memory
            if vm is None:
                if state.dataset is not None:
                    vm = VM(self.flags, dataset=state.dataset)
                else:
                    vm = VM(self.flags, cache=state.cache)
            elif vm.memory is not memory:
                vm.rebind(memory)
            yield vm
        finally:
            # a VM stays for the next hash while its key's memory is kept (the current key,
            # the next one, or one asked for by key such as a pool's seed)
            keep = vm is not None and (
                vm.memory is self.keys.current_memory() or self.keys.holds(vm.memory)
            )
            self._pool.give_back(vm, keep=keep)

    def hash(self, blob: bytes, *, key: bytes | None = None) -> bytes:
        """The hash of ``blob`` under ``key`` (default: the current key)."""
        began = time.perf_counter()
        with self._vm(key) as vm:
            digest = vm.hash(blob)
        self.counters.verified(1, time.perf_counter() - began)
        return digest

    def hash_batch(self, blobs: Sequence[bytes], *, key: bytes | None = None) -> list[bytes]:
        """The hashes of ``blobs``, in order, in one pipelined C call."""
        with self._vm(key) as vm:
            digests = vm.hash_batch(blobs)
        self.counters.verified(len(digests))
        return digests

    def search(
        self,
        blob: bytes,
        *,
        nonce_offset: int,
        start: int,
        count: int,
        target: int,
        key: bytes | None = None,
        stop: Any = None,
    ) -> list[tuple[int, bytes]]:
        """``(nonce, hash)`` pairs of ``start .. start+count-1`` whose hash is <= ``target``."""
        hits, _ = self.scan(
            blob,
            nonce_offset=nonce_offset,
            start=start,
            count=count,
            target=target,
            key=key,
            stop=stop,
        )
        return hits

    def scan(
        self,
        blob: bytes,
        *,
        nonce_offset: int,
        start: int,
        count: int,
        target: int,
        key: bytes | None = None,
        stop: Any = None,
    ) -> tuple[list[tuple[int, bytes]], int]:
        """:meth:`search` that also says how many nonces it hashed.

        ``stop`` (from :func:`~zion_plugin_randomx.binding.stop_flag`) ends the scan
        early when set to 1; the count then tells where to resume.
        """
        with self._vm(key) as vm:
            hits, tried = vm.search(
                blob, nonce_offset=nonce_offset, start=start, count=count, target=target, stop=stop
            )
        self.counters.mined(tried)
        return hits, tried

    # -- async --------------------------------------------------------------------------

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        """At most ``threads`` hashing calls in flight, per event loop (use inside one)."""
        token = anyio.lowlevel.current_token()
        if self._limiter is None or self._limiter_token != token:
            self._limiter = anyio.CapacityLimiter(self.threads)
            self._limiter_token = token
        return self._limiter

    async def hash_async(self, blob: bytes, *, key: bytes | None = None) -> bytes:
        return await anyio.to_thread.run_sync(
            lambda: self.hash(blob, key=key), limiter=self.limiter
        )

    async def hash_batch_async(
        self, blobs: Sequence[bytes], *, key: bytes | None = None
    ) -> list[bytes]:
        return await anyio.to_thread.run_sync(
            lambda: self.hash_batch(blobs, key=key), limiter=self.limiter
        )

    async def set_key_async(self, key: bytes) -> None:
        await anyio.to_thread.run_sync(self.set_key, key, limiter=self.limiter)

    # -- teardown -----------------------------------------------------------------------

    def close(self) -> None:
        """Free VMs, caches and datasets; no call may be in flight."""
        self._pool.clear()
        if self._keys is not None:
            self._keys.close()
            self._keys = None
        close_progress = getattr(self._progress, "close", None)
        if close_progress is not None:  # a dataset build cut short ends its progress
            close_progress()
