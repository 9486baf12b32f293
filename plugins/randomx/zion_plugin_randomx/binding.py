"""Pythonic wrappers over librandomx (RandomX v1) and ZION's C helpers.

Every C call goes through cffi in API mode, which releases the GIL: several threads
hash in parallel, each with its own :class:`VM` over one shared :class:`Cache` (light
mode) or :class:`Dataset` (fast mode). A VM must only be used by one thread at a time.
Memory is released when the wrapper is closed or garbage-collected; a VM keeps the
cache or dataset it uses alive.
"""

from __future__ import annotations

import enum
import importlib
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from zion_core import ZionError

HASH_SIZE = 32
MAX_KEY_SIZE = 60
"""RandomX accepts keys of 1 to 60 bytes (a ZION or Monero seed hash has 32)."""
MAX_INPUT_SIZE = 65536
"""Largest input hashed; a hashing blob is about 80 bytes."""
NONCE_SIZE = 4
DATASET_ITEM_SIZE = 64
CACHE_SIZE = 256 * 1024 * 1024
"""Bytes of cache memory (RandomX v1: 262144 KiB of Argon2 memory)."""


class RandomXError(ZionError):
    """Root of the RandomX plugin's errors."""


class LibraryMissingError(RandomXError):
    """librandomx (or the compiled binding) is not available."""


class AllocationError(RandomXError):
    """librandomx could not allocate a cache, dataset or VM."""


class InvalidKeyError(RandomXError, ValueError):
    """A RandomX key (seed) of the wrong type or length."""


class InvalidInputError(RandomXError, ValueError):
    """A blob of the wrong type or size, or a nonce range that does not fit."""


class BuildCancelledError(RandomXError):
    """A dataset build was cancelled (the backend was closed while building)."""


_native: Any = None
_native_lock = threading.Lock()


def native() -> Any:
    """The compiled module (``ffi``, ``lib``); a clear error when it cannot load."""
    global _native
    if _native is None:
        with _native_lock:
            if _native is None:
                try:
                    module = importlib.import_module(f"{__package__}._native")
                except ImportError as exc:
                    raise LibraryMissingError(
                        "the RandomX library is not available "
                        f"({exc}); on Debian/Ubuntu: apt-get install librandomx0 "
                        "(and librandomx-dev to build the plugin)"
                    ) from exc
                _native = module
    return _native


class Flags(enum.IntFlag):
    """librandomx's ``randomx_flags``."""

    DEFAULT = 0
    LARGE_PAGES = 1
    HARD_AES = 2
    FULL_MEM = 4
    JIT = 8
    SECURE = 16
    ARGON2_SSSE3 = 32
    ARGON2_AVX2 = 64


def recommended_flags() -> Flags:
    """What ``randomx_get_flags()`` recommends for this CPU (hard AES, JIT, Argon2 SIMD)."""
    return Flags(int(native().lib.randomx_get_flags()))


def _anonymous_mapping_covers(address: int, size: int) -> bool:
    """Whether one private anonymous mapping of this process holds ``address .. +size``."""
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split()
                begin, end = (int(x, 16) for x in fields[0].split("-"))
                if begin <= address and address + size <= end:
                    return len(fields) < 6 and fields[1].endswith("p")
    except OSError:
        return False
    return False


def advise_huge_pages(address: int, size: int) -> bool:
    """Ask for transparent huge pages for fresh, not yet written memory; True when the
    kernel took the advice (it is a hint: where THP is off, nothing changes)."""
    if not _anonymous_mapping_covers(address, size):
        return False
    ffi, lib = native().ffi, native().lib
    return int(lib.zrx_advise_huge_pages(ffi.cast("void *", address), size)) == 0


def transparent_huge_pages_mode() -> str:
    """The system's THP setting (``always``, ``madvise``, ``never``; ``unavailable``)."""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            text = f.read()
    except OSError:
        return "unavailable"
    start, end = text.find("["), text.find("]")
    return text[start + 1 : end] if 0 <= start < end else "unavailable"


def check_key(key: object) -> bytes:
    if not isinstance(key, bytes | bytearray | memoryview):
        raise InvalidKeyError(f"a RandomX key must be bytes, not {type(key).__name__}")
    key = bytes(key)
    if not 1 <= len(key) <= MAX_KEY_SIZE:
        raise InvalidKeyError(
            f"a RandomX key must be 1 to {MAX_KEY_SIZE} bytes long, got {len(key)}"
        )
    return key


def check_input(data: object) -> bytes:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidInputError(f"RandomX input must be bytes, not {type(data).__name__}")
    data = bytes(data)
    if len(data) > MAX_INPUT_SIZE:
        raise InvalidInputError(
            f"RandomX input is {len(data)} bytes; at most {MAX_INPUT_SIZE} are accepted"
        )
    return data


class Cache:
    """The 256 MiB RandomX cache for one key (enough to verify, in light mode)."""

    def __init__(self, key: bytes, flags: Flags, *, huge_pages: bool = False) -> None:
        """Allocate and initialise the cache for ``key``; ``huge_pages`` asks for
        transparent huge pages (about 18 % faster light-mode hashing where available)."""
        self.key = check_key(key)
        ffi, lib = native().ffi, native().lib
        cache_flags = flags & (
            Flags.LARGE_PAGES | Flags.JIT | Flags.ARGON2_SSSE3 | Flags.ARGON2_AVX2
        )
        ptr = lib.randomx_alloc_cache(int(cache_flags))
        if ptr == ffi.NULL:
            raise AllocationError(
                f"cannot allocate the RandomX cache (256 MiB) with flags {cache_flags!r}"
                + ("; try without large pages" if cache_flags & Flags.LARGE_PAGES else "")
            )
        self._ptr: Any = ffi.gc(ptr, lib.randomx_release_cache)
        self.huge_pages = False
        if huge_pages and not cache_flags & Flags.LARGE_PAGES:
            memory = int(ffi.cast("uintptr_t", lib.zrx_cache_memory(self._ptr)))
            self.huge_pages = advise_huge_pages(memory, CACHE_SIZE)
        lib.randomx_init_cache(self._ptr, self.key, len(self.key))

    def reinit(self, key: bytes) -> None:
        """Re-initialise this cache with another key, in place (no VM may use it
        meanwhile; VMs bound to it must be rebound or dropped afterwards)."""
        key = check_key(key)
        native().lib.randomx_init_cache(self._ptr, key, len(key))
        self.key = key

    @property
    def ptr(self) -> Any:
        return self._ptr


ProgressCallback = Callable[[int, int], None]
"""``progress(done, total)``, called from worker threads as work completes."""


class Dataset:
    """The 2 GiB RandomX dataset for one key (fast mode), built from its cache."""

    CHUNK_ITEMS = 1 << 16

    def __init__(self, flags: Flags, *, huge_pages: bool = False) -> None:
        """Allocate a dataset, to be filled by :meth:`build`; ``huge_pages`` asks for
        transparent huge pages (about 50 % faster fast-mode hashing where available)."""
        ffi, lib = native().ffi, native().lib
        self.key = b""
        self.cache: Cache | None = None
        ptr = lib.randomx_alloc_dataset(int(flags & Flags.LARGE_PAGES))
        if ptr == ffi.NULL:
            raise AllocationError(
                "cannot allocate the RandomX dataset (2080 MiB); "
                'use light mode (randomx.mode = "light") on this machine'
            )
        self._ptr: Any = ffi.gc(ptr, lib.randomx_release_dataset)
        self.huge_pages = False
        if huge_pages and not flags & Flags.LARGE_PAGES:
            memory = int(ffi.cast("uintptr_t", lib.randomx_get_dataset_memory(self._ptr)))
            size = int(lib.randomx_dataset_item_count()) * DATASET_ITEM_SIZE
            self.huge_pages = advise_huge_pages(memory, size)

    def build(
        self,
        cache: Cache,
        *,
        threads: int = 0,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        """(Re)build the dataset from ``cache`` on ``threads`` threads, in place (no VM
        may use it meanwhile); setting ``cancel`` stops the build within one chunk (a
        fraction of a second) with :class:`BuildCancelledError`."""
        lib = native().lib
        self.key = b""  # not usable until the build completes
        total = int(lib.randomx_dataset_item_count())
        threads = threads or os.cpu_count() or 1
        done = 0
        lock = threading.Lock()

        def init(start: int) -> None:
            nonlocal done
            if cancel is not None and cancel.is_set():
                raise BuildCancelledError("the RandomX dataset build was cancelled")
            count = min(self.CHUNK_ITEMS, total - start)
            lib.randomx_init_dataset(self._ptr, cache.ptr, start, count)
            if progress is not None:
                with lock:
                    done += count
                    progress(done, total)

        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="rx-dataset") as pool:
            for future in [pool.submit(init, s) for s in range(0, total, self.CHUNK_ITEMS)]:
                future.result()
        self.key = cache.key
        self.cache = cache

    @property
    def ptr(self) -> Any:
        return self._ptr


class VM:
    """A RandomX virtual machine: one per thread, bound to a cache or a dataset."""

    def __init__(self, flags: Flags, *, cache: Cache | None = None, dataset: Dataset | None = None):
        ffi, lib = native().ffi, native().lib
        if (dataset is None) == (cache is None):
            raise ValueError("a VM needs either a cache (light mode) or a dataset (fast mode)")
        vm_flags = flags & ~Flags.FULL_MEM
        if dataset is not None:
            vm_flags |= Flags.FULL_MEM
        ptr = lib.randomx_create_vm(
            int(vm_flags),
            cache.ptr if cache is not None else ffi.NULL,
            dataset.ptr if dataset is not None else ffi.NULL,
        )
        if ptr == ffi.NULL:
            raise AllocationError(f"cannot create a RandomX VM with flags {vm_flags!r}")
        self.flags = vm_flags
        self._ptr: Any = ffi.gc(ptr, lib.randomx_destroy_vm)
        self._memory: Cache | Dataset = dataset if dataset is not None else cache  # type: ignore[assignment]
        self._out = ffi.new("uint8_t[]", HASH_SIZE * 64)

    @property
    def key(self) -> bytes:
        return self._memory.key

    @property
    def memory(self) -> Cache | Dataset:
        return self._memory

    def rebind(self, memory: Cache | Dataset) -> None:
        """Switch to another key's cache (light VM) or dataset (fast VM); cheap."""
        lib = native().lib
        if isinstance(memory, Dataset):
            if not self.flags & Flags.FULL_MEM:
                raise ValueError("a light-mode VM cannot use a dataset")
            lib.randomx_vm_set_dataset(self._ptr, memory.ptr)
        else:
            if self.flags & Flags.FULL_MEM:
                raise ValueError("a fast-mode VM cannot use a cache")
            lib.randomx_vm_set_cache(self._ptr, memory.ptr)
        self._memory = memory

    def hash(self, data: bytes) -> bytes:
        data = check_input(data)
        native().lib.randomx_calculate_hash(self._ptr, data, len(data), self._out)
        return bytes(native().ffi.buffer(self._out, HASH_SIZE))

    def hash_batch(self, inputs: Sequence[bytes]) -> list[bytes]:
        if not inputs:
            return []
        ffi, lib = native().ffi, native().lib
        checked = [check_input(b) for b in inputs]
        sizes = ffi.new("size_t[]", [len(b) for b in checked])
        out = ffi.new("uint8_t[]", HASH_SIZE * len(checked))
        lib.zrx_hash_batch(self._ptr, b"".join(checked), sizes, len(checked), out)
        raw = ffi.buffer(out)[:]
        return [raw[i : i + HASH_SIZE] for i in range(0, len(raw), HASH_SIZE)]

    def search(
        self,
        blob: bytes,
        *,
        nonce_offset: int,
        start: int,
        count: int,
        target: int,
        stop: Any = None,
    ) -> tuple[list[tuple[int, bytes]], int]:
        """Hash nonces ``start .. start+count-1``; returns (hits, nonces hashed).

        ``target`` is a 256-bit integer: a hash qualifies when, read little-endian, it
        is at most ``target``. ``stop`` is an ``int32_t *`` from :func:`stop_flag`;
        setting it to 1 ends the search early.
        """
        blob = check_input(blob)
        check_range(blob, nonce_offset, start, count)
        if not 0 <= target < 1 << 256:
            raise InvalidInputError("the target must be a 256-bit unsigned integer")
        ffi, lib = native().ffi, native().lib
        target_bytes = target.to_bytes(32, "little")
        capacity = max(1, min(count, 256))
        nonces = ffi.new("uint32_t[]", capacity)
        hashes = ffi.new("uint8_t[]", HASH_SIZE * capacity)
        n_hits = ffi.new("size_t *")
        hits: list[tuple[int, bytes]] = []
        hashed = 0
        while hashed < count:
            done = int(
                lib.zrx_search(
                    self._ptr,
                    blob,
                    len(blob),
                    nonce_offset,
                    start + hashed,
                    count - hashed,
                    target_bytes,
                    nonces,
                    hashes,
                    capacity,
                    n_hits,
                    stop if stop is not None else ffi.NULL,
                )
            )
            raw = ffi.buffer(hashes, HASH_SIZE * n_hits[0])[:]
            hits.extend(
                (int(nonces[i]), raw[i * HASH_SIZE : (i + 1) * HASH_SIZE]) for i in range(n_hits[0])
            )
            hashed += done
            if stop is not None and stop[0]:
                break
        return hits, hashed


def check_range(blob: bytes, nonce_offset: int, start: int, count: int) -> None:
    if not 0 <= nonce_offset <= len(blob) - NONCE_SIZE:
        raise InvalidInputError(
            f"nonce offset {nonce_offset} does not fit a {len(blob)}-byte blob "
            f"(the nonce takes {NONCE_SIZE} bytes)"
        )
    if count < 0 or not 0 <= start <= 0xFFFFFFFF or start + count > 1 << 32:
        raise InvalidInputError(f"nonce range {start}+{count} does not fit a 32-bit nonce")


def stop_flag() -> Any:
    """A C ``int32_t`` that :meth:`VM.search` polls; set ``flag[0] = 1`` to stop it."""
    return native().ffi.new("int32_t *", 0)


def set_nonce(blob: bytes, nonce_offset: int, nonce: int) -> bytes:
    """``blob`` with ``nonce`` written as a little-endian uint32 at ``nonce_offset``."""
    return blob[:nonce_offset] + nonce.to_bytes(4, "little") + blob[nonce_offset + 4 :]
