"""The key manager: caches (and datasets) per RandomX key, with the next one prepared early.

RandomX keys (seeds) change every epoch; the next seed is known during a lag window
before the switch. There are two ways to switch:

- Prepared (:meth:`KeyManager.prepare`, then :meth:`KeyManager.set_current`): the next
  key's cache or dataset is built in the background during the lag window, so
  verification never stalls; a second cache or dataset is held meanwhile. Once the
  switch is done, the previous key is dropped.
- In place (``set_current(key, reuse=True)``): the current key's memory is
  re-initialised with the new key, so only one cache or dataset ever exists; hashing
  must pause meanwhile (about 0.3 s for a cache, the dataset build time in fast mode).

At most ``keep`` keys are held: a key asked for by :meth:`KeyManager.get` that is neither
current nor prepared is dropped, least recently used first, once more are held (its
memory is freed as soon as no VM uses it any more).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor

import attrs

from .binding import Cache, Dataset, Flags, ProgressCallback, check_key

logger = logging.getLogger(__name__)


@attrs.frozen(eq=False)
class KeyState:
    """The memory for one key: its cache, and its dataset in fast mode."""

    key: bytes
    cache: Cache
    dataset: Dataset | None
    build_seconds: float

    @property
    def memory(self) -> Cache | Dataset:
        return self.dataset if self.dataset is not None else self.cache


class KeyManager:
    """Builds and keeps :class:`KeyState` objects; safe to use from any thread."""

    def __init__(
        self,
        *,
        fast: bool,
        flags: Flags,
        init_threads: int = 0,
        keep: int = 2,
        progress: ProgressCallback | None = None,
        huge_pages: bool = False,
    ) -> None:
        self.fast = fast
        self.huge_pages = huge_pages
        self.flags = flags
        self.init_threads = init_threads
        self.keep = max(1, keep)
        self.progress = progress
        self._lock = threading.Lock()
        self._switching = threading.Lock()  # one set_current() at a time
        self._states: OrderedDict[bytes, Future[KeyState]] = OrderedDict()
        # "current", "next", and "incoming" (the key a switch is building)
        self._pinned: dict[str, bytes] = {}
        self._cancel = threading.Event()
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rx-prepare")

    @property
    def current(self) -> bytes | None:
        """The current key (None before the first :meth:`set_current`)."""
        with self._lock:
            return self._pinned.get("current")

    def get(self, key: bytes) -> KeyState:
        """The state for ``key``, built now (in this thread) if nobody has started it."""
        key = check_key(key)
        future, owner = self._claim(key)
        if owner:
            self._build(key, future)
        return future.result()

    def current_state(self) -> KeyState:
        """The state of the current key, which stays current until a switch is complete."""
        with self._lock:
            key = self._pinned.get("current")
            if key is None:
                raise RuntimeError("no RandomX key is set: call set_key() first")
            future = self._states.get(key)
            if future is not None:
                self._states.move_to_end(key)
        if future is None:  # only after a failed in-place switch
            return self.get(key)
        return future.result()

    def holds(self, memory: Cache | Dataset) -> bool:
        """Whether ``memory`` is the ready cache or dataset of a key this manager keeps
        (a VM bound to it is worth keeping for the next hash under that key)."""
        with self._lock:
            futures = list(self._states.values())
        for future in futures:
            if future.done() and future.exception() is None and future.result().memory is memory:
                return True
        return False

    def current_memory(self) -> Cache | Dataset | None:
        """The current key's cache or dataset if it is ready, without building anything."""
        with self._lock:
            key = self._pinned.get("current")
            future = self._states.get(key) if key is not None else None
        if future is None or not future.done() or future.exception() is not None:
            return None
        return future.result().memory

    def set_current(self, key: bytes, *, reuse: bool = False) -> KeyState:
        """Make ``key`` current once its state is built; the previous current key stays
        current until then, and is dropped afterwards.

        With ``reuse``, the previous key's cache (and dataset) are re-initialised in
        place instead of allocating new ones. The caller must make sure nothing uses
        the previous key's state meanwhile or afterwards (the backend takes every VM
        out of use for the switch).
        """
        key = check_key(key)
        with self._switching:
            with self._lock:
                self._pinned["incoming"] = key
                previous = self._pinned.get("current")
                recycled = self._take_for_reuse(previous, key) if reuse else None
            try:
                if recycled is not None:
                    old, future = recycled
                    self._build(key, future, reuse=old)
                    state = future.result()
                else:
                    state = self.get(key)
            finally:
                with self._lock:
                    self._pinned.pop("incoming", None)
            with self._lock:
                self._pinned["current"] = key
                if self._pinned.get("next") == key:
                    del self._pinned["next"]
                if (
                    previous is not None
                    and previous != key
                    and previous not in self._pinned.values()
                    and previous in self._states
                ):
                    del self._states[previous]
                    logger.debug("dropped the previous RandomX key %s", previous.hex()[:16])
                self._evict()
            return state

    def prepare(self, key: bytes) -> Future[KeyState]:
        """Start building ``key`` in the background (no-op if present or under way);
        it is kept until another key is prepared or it becomes current and is replaced."""
        key = check_key(key)
        with self._lock:
            self._pinned["next"] = key
        future, owner = self._claim(key)
        if owner:
            self._background.submit(self._build, key, future)
        return future

    def held(self) -> list[bytes]:
        """Keys held or being built, least recently used first."""
        with self._lock:
            return list(self._states)

    def close(self) -> None:
        """Stop building (a dataset build ends within a fraction of a second) and drop
        every key."""
        self._cancel.set()
        self._background.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            self._states.clear()
            self._pinned.clear()

    def _take_for_reuse(
        self, previous: bytes | None, key: bytes
    ) -> tuple[KeyState, Future[KeyState]] | None:
        """Under the lock: the previous key's state, taken out to be rebuilt as ``key``
        (None when ``key`` is held already or there is nothing to reuse)."""
        if previous is None or previous == key or key in self._states:
            return None
        if previous == self._pinned.get("next"):
            return None
        old = self._states.get(previous)
        if old is None or not old.done() or old.exception() is not None:
            return None
        del self._states[previous]
        future: Future[KeyState] = Future()
        self._states[key] = future
        return old.result(), future

    def _claim(self, key: bytes) -> tuple[Future[KeyState], bool]:
        with self._lock:
            future = self._states.get(key)
            if future is not None:
                self._states.move_to_end(key)
                return future, False
            future = Future()
            self._states[key] = future
            self._evict()
            return future, True

    def _evict(self) -> None:
        pinned = set(self._pinned.values())
        for old_key in list(self._states):
            if len(self._states) <= self.keep:
                return
            old = self._states[old_key]
            # never a pinned key, nor one being built (or just claimed)
            if old_key in pinned or not old.done():
                continue
            del self._states[old_key]
            logger.debug("dropped RandomX key %s", old_key.hex()[:16])

    def _build(
        self, key: bytes, future: Future[KeyState], *, reuse: KeyState | None = None
    ) -> None:
        if not future.set_running_or_notify_cancel():
            return
        started = time.perf_counter()
        what = "dataset" if self.fast else "cache"
        try:
            if reuse is not None:
                cache = reuse.cache
                cache.reinit(key)
            else:
                cache = Cache(key, self.flags, huge_pages=self.huge_pages)
            dataset = None
            if self.fast:
                logger.info("building the RandomX dataset for key %s (2 GiB)", key.hex()[:16])
                if reuse is not None and reuse.dataset is not None:
                    dataset = reuse.dataset
                else:
                    dataset = Dataset(self.flags, huge_pages=self.huge_pages)
                dataset.build(
                    cache, threads=self.init_threads, progress=self.progress, cancel=self._cancel
                )
        except BaseException as exc:
            with self._lock:
                if self._states.get(key) is future:
                    del self._states[key]  # a later call may try again
            future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        seconds = time.perf_counter() - started
        logger.info(
            "RandomX %s ready for key %s in %.1f s%s",
            what,
            key.hex()[:16],
            seconds,
            " (re-initialised in place)" if reuse is not None else "",
        )
        future.set_result(KeyState(key=key, cache=cache, dataset=dataset, build_seconds=seconds))
        with self._lock:
            self._evict()  # a key built for one look-up does not stay past the limit
