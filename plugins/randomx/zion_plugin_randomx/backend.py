"""The ``randomx-cpu`` hashing backend.

Synchronous methods (the :class:`zion_hookspecs.HashBackend` contract) run in the
calling thread with that thread's VM; the ``*_async`` methods run them on worker
threads, at most ``randomx.threads`` at a time, so the event loop is never blocked.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

import anyio
import anyio.lowlevel

from zion_hookspecs import HashCapabilities

from .binding import VM, Flags, ProgressCallback, recommended_flags
from .config import RandomXConfig
from .keys import KeyManager, KeyState

logger = logging.getLogger(__name__)


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
        self._keys: KeyManager | None = None
        self._current: bytes | None = None
        self._local = threading.local()
        self._vms: list[VM] = []
        self._vms_lock = threading.Lock()
        self._limiter: anyio.CapacityLimiter | None = None
        self._limiter_token: object = None

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
                keep=2 if self.config.prepare_next else 1,
                progress=self._progress,
            )
        return self._keys

    def set_key(self, key: bytes) -> None:
        """Make ``key`` current, building its cache/dataset now if it is not ready."""
        self.keys.set_current(key)
        self._current = bytes(key)

    def prepare_key(self, key: bytes) -> None:
        """Build ``key`` in the background (the next seed, during the lag window)."""
        if self.config.prepare_next:
            self.keys.prepare(key)

    # -- hashing ------------------------------------------------------------------------

    def _state(self, key: bytes | None) -> KeyState:
        if key is None:
            if self._current is None:
                raise RuntimeError("no RandomX key is set: call set_key() first")
            key = self._current
        return self.keys.get(key)

    def _vm(self, state: KeyState) -> VM:
        vm: VM | None = getattr(self._local, "vm", None)
        if vm is None:
            if state.dataset is not None:
                vm = VM(self.flags, dataset=state.dataset)
            else:
                vm = VM(self.flags, cache=state.cache)
            self._local.vm = vm
            with self._vms_lock:
                self._vms.append(vm)
        elif vm.memory is not state.memory:
            vm.rebind(state.memory)
        return vm

    def hash(self, blob: bytes, *, key: bytes | None = None) -> bytes:
        """The hash of ``blob`` under ``key`` (default: the current key)."""
        return self._vm(self._state(key)).hash(blob)

    def hash_batch(self, blobs: Sequence[bytes], *, key: bytes | None = None) -> list[bytes]:
        """The hashes of ``blobs``, in order, in one pipelined C call."""
        return self._vm(self._state(key)).hash_batch(blobs)

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
        return self._vm(self._state(key)).search(
            blob, nonce_offset=nonce_offset, start=start, count=count, target=target, stop=stop
        )

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
        with self._vms_lock:
            self._vms.clear()
        self._local = threading.local()
        if self._keys is not None:
            self._keys.close()
            self._keys = None
        self._current = None
