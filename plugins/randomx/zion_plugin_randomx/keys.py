"""The key manager: caches (and datasets) per RandomX key, with the next one prepared early.

RandomX keys (seeds) change every epoch; the next seed is known during a lag window
before the switch. :meth:`KeyManager.prepare` builds its cache or dataset in the
background then, so verification never stalls at the switch. At most ``keep`` keys
are held, besides one that is being used only briefly: the least recently used one is
dropped (its memory is freed once no VM uses it any more), but never the current key
(:meth:`KeyManager.set_current`) nor the one prepared as the next.
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
    ) -> None:
        self.fast = fast
        self.flags = flags
        self.init_threads = init_threads
        self.keep = max(1, keep)
        self.progress = progress
        self._lock = threading.Lock()
        self._states: OrderedDict[bytes, Future[KeyState]] = OrderedDict()
        self._pinned: dict[str, bytes] = {}
        self._cancel = threading.Event()
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rx-prepare")

    def get(self, key: bytes) -> KeyState:
        """The state for ``key``, built now (in this thread) if nobody has started it."""
        key = check_key(key)
        future, owner = self._claim(key)
        if owner:
            self._build(key, future)
        return future.result()

    def set_current(self, key: bytes) -> KeyState:
        """:meth:`get`, and keep ``key`` until another key becomes current."""
        key = check_key(key)
        with self._lock:
            self._pinned["current"] = key
            self._evict()
        return self.get(key)

    def prepare(self, key: bytes) -> Future[KeyState]:
        """Start building ``key`` in the background (no-op if present or under way);
        it is kept until another key is prepared."""
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
            # never the current or next key, nor one being built (or just claimed)
            if old_key in pinned or not old.done():
                continue
            del self._states[old_key]
            logger.debug("dropped RandomX key %s", old_key.hex()[:16])

    def _build(self, key: bytes, future: Future[KeyState]) -> None:
        if not future.set_running_or_notify_cancel():
            return
        started = time.perf_counter()
        try:
            cache = Cache(key, self.flags)
            dataset = None
            if self.fast:
                logger.info("building the RandomX dataset for key %s (2 GiB)", key.hex()[:16])
                dataset = Dataset(
                    cache,
                    self.flags,
                    threads=self.init_threads,
                    progress=self.progress,
                    cancel=self._cancel,
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
            "RandomX %s ready for key %s in %.1f s",
            "dataset" if self.fast else "cache",
            key.hex()[:16],
            seconds,
        )
        future.set_result(KeyState(key=key, cache=cache, dataset=dataset, build_seconds=seconds))
        with self._lock:
            self._evict()  # a key built for one look-up does not stay past the limit
