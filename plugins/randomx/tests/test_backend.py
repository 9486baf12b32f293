"""The randomx-cpu backend against RandomX v1's reference vectors and itself."""

from __future__ import annotations

import gc
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import ClassVar

import anyio
import pytest
from rx_vectors import BLOB, KEY_A, KEY_B, MODES, VECTORS
from zion_plugin_randomx import binding
from zion_plugin_randomx import keys as keys_module
from zion_plugin_randomx.backend import RandomXCpu, VmPool
from zion_plugin_randomx.binding import (
    InvalidInputError,
    InvalidKeyError,
    LibraryMissingError,
    set_nonce,
    stop_flag,
)
from zion_plugin_randomx.config import RandomXConfig
from zion_plugin_randomx.diagnose import report_lines
from zion_plugin_randomx.keys import KeyManager


@pytest.mark.parametrize(("key", "data", "expected"), VECTORS, ids=[f"v{i}" for i in range(5)])
def test_reference_vectors(backend: RandomXCpu, key: bytes, data: bytes, expected: str) -> None:
    assert backend.hash(data, key=key).hex() == expected


def test_vectors_through_set_key(backend: RandomXCpu) -> None:
    backend.set_key(KEY_B)
    assert backend.hash(VECTORS[3][1]).hex() == VECTORS[3][2]
    backend.set_key(KEY_A)
    assert backend.hash(VECTORS[0][1]).hex() == VECTORS[0][2]


def test_batch_equals_single_hashes(backend: RandomXCpu) -> None:
    blobs = [set_nonce(BLOB, 39, n) for n in range(6)] + [b"x", VECTORS[1][1]]
    assert backend.hash_batch(blobs) == [backend.hash(b) for b in blobs]
    assert backend.hash_batch([]) == []


def test_hashing_leaves_the_threads_floating_point_environment_alone(
    light: RandomXCpu,
) -> None:
    # RandomX programs change the rounding mode and flush denormals to zero; a thread
    # that hashed must compute as before (Python floats, other libraries)
    import sys

    tiny = sys.float_info.min
    light.hash_batch([b"a", b"b", b"c"])
    light.search(BLOB, nonce_offset=39, start=0, count=3, target=0)
    light.hash(b"d")
    assert tiny / 2 != 0.0  # subnormals still exist
    # round to nearest: 1.5 half-ulps round away from 1.0, upwards and downwards
    assert 1.0 + 1.5 * 2.0**-53 == 1.0 + 2.0**-52
    assert -1.0 - 1.5 * 2.0**-53 == -1.0 - 2.0**-52


def test_search_equals_single_hashes(light: RandomXCpu) -> None:
    start, count = 1000, 24
    singles = {n: light.hash(set_nonce(BLOB, 39, n)) for n in range(start, start + count)}
    values = sorted(int.from_bytes(h, "little") for h in singles.values())
    target = values[count // 3]  # about a third of the range qualifies, boundary included
    hits = light.search(BLOB, nonce_offset=39, start=start, count=count, target=target)
    expected = [(n, h) for n, h in singles.items() if int.from_bytes(h, "little") <= target]
    assert hits == expected
    assert len(hits) == count // 3 + 1


def test_search_keeps_every_hit_past_the_buffer(light: RandomXCpu) -> None:
    count = 260  # more hits than the C helper's 256-entry buffer
    hits = light.search(BLOB, nonce_offset=39, start=7, count=count, target=(1 << 256) - 1)
    assert [n for n, _ in hits] == list(range(7, 7 + count))
    for nonce, digest in hits[250:]:
        assert light.hash(set_nonce(BLOB, 39, nonce)) == digest


def test_search_with_an_impossible_target_finds_nothing(light: RandomXCpu) -> None:
    hits, hashed = light.scan(BLOB, nonce_offset=39, start=0, count=5, target=0)
    assert (hits, hashed) == ([], 5)


def test_stop_flag_ends_a_search_early(light: RandomXCpu) -> None:
    flag = stop_flag()
    result: list[tuple[list[tuple[int, bytes]], int]] = []
    worker = threading.Thread(
        target=lambda: result.append(
            light.scan(BLOB, nonce_offset=39, start=0, count=1 << 20, target=0, stop=flag)
        )
    )
    worker.start()
    time.sleep(0.3)
    began = time.perf_counter()
    flag[0] = 1
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert time.perf_counter() - began < 1.0  # within a hash or two
    hits, hashed = result[0]
    assert hits == [] and 0 < hashed < 1 << 20


def test_the_nonce_is_little_endian_at_the_offset() -> None:
    blob = set_nonce(bytes(76), 39, 0x01020304)
    assert blob[39:43] == b"\x04\x03\x02\x01" and len(blob) == 76


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"nonce_offset": 73}, "nonce offset 73 does not fit a 76-byte blob"),
        ({"nonce_offset": -1}, "nonce offset -1"),
        ({"start": 0xFFFFFFFF, "count": 2}, "does not fit a 32-bit nonce"),
        ({"start": -1}, "does not fit a 32-bit nonce"),
        ({"target": 1 << 256}, "256-bit unsigned integer"),
        ({"target": -1}, "256-bit unsigned integer"),
    ],
)
def test_bad_search_arguments(light: RandomXCpu, kwargs: dict[str, int], message: str) -> None:
    args = {"nonce_offset": 39, "start": 0, "count": 1, "target": 0, **kwargs}
    with pytest.raises(InvalidInputError, match=message):
        light.search(bytes(76), **args)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("text", "must be bytes, not str"),
        (None, "must be bytes, not NoneType"),
        (bytes(65537), "65537 bytes; at most 65536"),
    ],
)
def test_bad_inputs(light: RandomXCpu, data: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        light.hash(data)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=message):
        light.hash_batch([b"ok", data])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("key", "message"),
    [(b"", "1 to 60 bytes long, got 0"), (bytes(61), "got 61"), ("seed", "must be bytes")],
)
def test_bad_keys(key: object, message: str) -> None:
    rx = RandomXCpu()
    with pytest.raises(InvalidKeyError, match=message):
        rx.set_key(key)  # type: ignore[arg-type]
    with pytest.raises(InvalidKeyError, match=message):
        rx.hash(b"x", key=key)  # type: ignore[arg-type]
    rx.close()


def test_hashing_before_a_key_is_set_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="no RandomX key is set"):
        RandomXCpu().hash(b"x")


def test_a_missing_library_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import zion_plugin_randomx

    monkeypatch.setattr(binding, "_native", None)
    monkeypatch.delattr(zion_plugin_randomx, "_native", raising=False)
    monkeypatch.setitem(sys.modules, "zion_plugin_randomx._native", None)
    with pytest.raises(LibraryMissingError, match="apt-get install librandomx0"):
        RandomXCpu().set_key(KEY_A)


class CountingCache(binding.Cache):
    """A cache that counts how many were allocated."""

    built: ClassVar[list[bytes]] = []

    def __init__(self, key: bytes, flags: binding.Flags, *, huge_pages: bool = False) -> None:
        super().__init__(key, flags, huge_pages=huge_pages)
        CountingCache.built.append(key)


@pytest.fixture
def counting_caches(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    CountingCache.built = []
    monkeypatch.setattr(keys_module, "Cache", CountingCache)
    return CountingCache.built


def switch_under_load(rx: RandomXCpu, switch: Callable[[], None]) -> list[tuple[float, bytes]]:
    """Two threads hash with the current key while ``switch()`` runs; every result is
    the old key's or the new key's, and every call begun after the switch returned
    gets the new key's. Returns (start time, hash) pairs."""
    data = VECTORS[2][1]  # the same input under KEY_A and KEY_B
    expected = {bytes.fromhex(VECTORS[2][2]), bytes.fromhex(VECTORS[3][2])}
    results: list[tuple[float, bytes]] = []
    done = threading.Event()

    def hammer() -> None:
        while not done.is_set():
            began = time.perf_counter()
            results.append((began, rx.hash(data)))

    workers = [threading.Thread(target=hammer) for _ in range(2)]
    for w in workers:
        w.start()
    try:
        time.sleep(0.1)
        switch()
        switched = time.perf_counter()
        time.sleep(0.2)
    finally:
        done.set()
        for w in workers:
            w.join()
    assert {h for _, h in results} <= expected
    after = [h.hex() for began, h in results if began > switched]
    assert after and set(after) == {VECTORS[3][2]}
    return results


def test_prepared_seed_switch_under_load(counting_caches: list[bytes]) -> None:
    """Hashing goes on with key A while B is prepared and becomes current; A's cache is
    freed after the switch (no VM keeps it), and no cache is built twice."""
    rx = RandomXCpu(RandomXConfig(mode="light", threads=2, prepare_next=True))
    rx.set_key(KEY_A)
    old_cache = weakref.ref(rx.keys.current_state().cache)

    def switch() -> None:
        rx.prepare_key(KEY_B)
        rx.set_key(KEY_B)  # waits for the prepared cache

    results = switch_under_load(rx, switch)
    assert bytes.fromhex(VECTORS[2][2]) in {h for _, h in results}  # A served meanwhile
    assert counting_caches == [KEY_A, KEY_B]
    assert rx.keys.held() == [KEY_B]
    gc.collect()
    assert old_cache() is None, "something still holds the previous key's cache"
    assert rx._pool.created <= 2
    rx.close()


def test_in_place_seed_switch_under_load(counting_caches: list[bytes]) -> None:
    """Without prepare_next the one cache is re-initialised in place: hashing pauses,
    never sees a half-built cache, and no second cache is ever allocated."""
    rx = RandomXCpu(RandomXConfig(mode="light", threads=2))
    assert rx.prepare_next is False  # the light-mode default
    rx.set_key(KEY_A)
    cache = rx.keys.current_state().cache
    rx.prepare_key(KEY_B)  # no-op: nothing is built in advance
    switch_under_load(rx, lambda: rx.set_key(KEY_B))
    assert counting_caches == [KEY_A]
    assert rx.keys.current_state().cache is cache
    assert rx.keys.held() == [KEY_B]
    rx.close()


def test_hashing_with_an_old_key_after_a_switch(light: RandomXCpu) -> None:
    """A key that is not current is built for the call and dropped afterwards (light
    mode keeps one cache), and the current key is untouched."""
    assert light.hash(VECTORS[3][1], key=KEY_B).hex() == VECTORS[3][2]
    assert light.keys.held() == [KEY_A]
    assert light.hash(VECTORS[0][1]).hex() == VECTORS[0][2]


def test_hashing_by_key_without_a_current_key_reuses_the_vm(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A caller that always names the key (a pool verifying shares under a job's seed)
    keeps its VM while that key's memory is held: no VM is made per hash."""
    made: list[object] = []
    real_vm = binding.VM

    def counting_vm(*args: object, **kwargs: object) -> binding.VM:
        vm = real_vm(*args, **kwargs)  # type: ignore[arg-type]
        made.append(vm)
        return vm

    monkeypatch.setattr("zion_plugin_randomx.backend.VM", counting_vm)
    rx = RandomXCpu(RandomXConfig(mode="light", threads=1))
    try:
        for _ in range(3):
            assert rx.hash(VECTORS[0][1], key=KEY_A).hex() == VECTORS[0][2]
        assert len(made) == 1
        assert rx.hash(VECTORS[3][1], key=KEY_B).hex() == VECTORS[3][2]  # rebound, not new
        assert len(made) == 1
    finally:
        rx.close()


def test_the_vm_pool_is_bounded_and_lends_each_vm_once() -> None:
    pool = VmPool(2)
    assert pool.borrow() is None and pool.borrow() is None  # two slots to create VMs
    taken = threading.Event()

    def third() -> None:
        pool.borrow()
        taken.set()

    waiter = threading.Thread(target=third)
    waiter.start()
    assert not taken.wait(0.2)  # a third borrower waits
    pool.give_back(None, keep=False)
    assert taken.wait(5)
    waiter.join()
    pool.give_back(None, keep=False)
    pool.give_back(None, keep=False)
    assert pool.created == 0


def test_the_vm_pool_exclusive_waits_for_every_vm() -> None:
    """A switch waits for every lent VM, even with borrowers queued behind it."""
    pool = VmPool(2)
    pool.borrow()
    pool.borrow()
    entered = threading.Event()
    order: list[str] = []

    def switch() -> None:
        with pool.exclusive():
            order.append("switch")
            entered.set()
            time.sleep(0.05)

    def borrower() -> None:
        pool.borrow()
        order.append("borrow")
        pool.give_back(None, keep=False)

    queued = [threading.Thread(target=borrower) for _ in range(2)]
    for t in queued:
        t.start()
    switcher = threading.Thread(target=switch)
    switcher.start()
    assert not entered.wait(0.2)  # two VMs are still lent
    pool.give_back(None, keep=False)
    assert not entered.wait(0.1)
    pool.give_back(None, keep=False)
    assert entered.wait(5)
    switcher.join()
    for t in queued:
        t.join(5)
    assert order == ["switch", "borrow", "borrow"]  # the queued borrowers waited
    assert pool.created == 0


@pytest.mark.parametrize("mode", MODES)
def test_in_place_switch_gives_exact_hashes(mode: str) -> None:
    """``set_key(in_place=True)`` re-initialises the cache (and dataset) in place."""
    rx = RandomXCpu(RandomXConfig(mode=mode, threads=2))
    rx.set_key(KEY_A)
    memory = rx.keys.current_state().memory
    rx.set_key(KEY_B, in_place=True)
    assert rx.keys.current_state().memory is memory
    assert rx.hash(VECTORS[3][1]).hex() == VECTORS[3][2]
    assert rx.hash_batch([VECTORS[4][1]])[0].hex() == VECTORS[4][2]
    rx.close()


def test_key_manager_keeps_two_keys_and_rebuilds_evicted_ones() -> None:
    manager = KeyManager(fast=False, flags=binding.recommended_flags(), keep=2)
    a = manager.get(KEY_A)
    assert manager.get(KEY_A) is a  # built once
    manager.prepare(KEY_B).result(timeout=60)
    manager.get(b"third key")
    assert manager.held() == [KEY_B, b"third key"]
    again = manager.get(KEY_A)
    assert again is not a and again.key == KEY_A
    manager.close()


def test_the_current_and_prepared_keys_are_never_evicted() -> None:
    manager = KeyManager(fast=False, flags=binding.recommended_flags(), keep=2)
    manager.set_current(KEY_A)
    manager.prepare(KEY_B).result(timeout=60)
    old = manager.get(b"an old seed")  # e.g. verifying a block of the previous epoch
    assert old.key == b"an old seed"
    assert manager.held() == [KEY_A, KEY_B]  # the old key did not push out A or B
    manager.set_current(KEY_B)  # the switch: A is no longer needed
    manager.prepare(b"the seed after")
    manager.get(KEY_B)
    assert KEY_B in manager.held()
    manager.close()
    assert manager.held() == []


def test_closing_cancels_a_dataset_build() -> None:
    manager = KeyManager(fast=True, flags=binding.recommended_flags(), init_threads=1)
    future = manager.prepare(KEY_A)
    time.sleep(0.5)  # the cache is built; the dataset build is under way
    began = time.perf_counter()
    manager.close()
    assert time.perf_counter() - began < 5
    with pytest.raises(binding.BuildCancelledError):
        future.result(timeout=1)


def test_concurrent_requests_build_a_key_once() -> None:
    manager = KeyManager(fast=False, flags=binding.recommended_flags())
    states = []
    threads = [threading.Thread(target=lambda: states.append(manager.get(KEY_B))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(s) for s in states}) == 1
    manager.close()


@pytest.mark.anyio
async def test_thread_pool_keeps_the_event_loop_free(light: RandomXCpu) -> None:
    blobs = [set_nonce(BLOB, 39, n) for n in range(8)]
    expected = light.hash_batch(blobs)
    gaps: list[float] = []
    results: dict[int, bytes] = {}

    async def ticker() -> None:
        last = time.perf_counter()
        while True:
            await anyio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    async def verify(i: int) -> None:
        results[i] = await light.hash_async(blobs[i])

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        async with anyio.create_task_group() as hashing:
            for i in range(len(blobs)):
                hashing.start_soon(verify, i)
        tg.cancel_scope.cancel()
    assert [results[i] for i in range(len(blobs))] == expected
    assert light.limiter is light.limiter  # one limiter per event loop
    assert light.limiter.total_tokens == 2
    assert max(gaps) < 0.2, f"the event loop stalled for {max(gaps):.3f} s"
    assert await light.hash_batch_async(blobs[:2]) == expected[:2]


@pytest.mark.anyio
async def test_async_key_switch(light: RandomXCpu) -> None:
    await light.set_key_async(KEY_B)
    assert (await light.hash_async(VECTORS[3][1])).hex() == VECTORS[3][2]
    await light.set_key_async(KEY_A)


def test_modes_agree(backend: RandomXCpu, light: RandomXCpu) -> None:
    blobs = [set_nonce(BLOB, 39, n) for n in range(4)]
    assert backend.hash_batch(blobs, key=KEY_B) == light.hash_batch(blobs, key=KEY_B)


def test_transparent_huge_pages_give_the_same_hashes() -> None:
    flags = binding.recommended_flags()
    cache = binding.Cache(KEY_A, flags, huge_pages=True)
    if binding.transparent_huge_pages_mode() in ("always", "madvise"):
        assert cache.huge_pages
    vm = binding.VM(flags, cache=cache)
    assert vm.hash(VECTORS[0][1]).hex() == VECTORS[0][2]


def test_huge_page_advice_only_for_anonymous_memory() -> None:
    assert not binding.advise_huge_pages(4096, binding.CACHE_SIZE)  # nothing mapped there
    assert "transparent huge pages" in dict(report_lines())
