"""The built-in miner behind ``zion mine``: Stratum jobs in, RandomX shares out.

Layout (one anyio event loop, N hashing threads):

- :class:`~.stratum.StratumConnector` keeps the pool session alive and calls back
  :class:`Miner` with jobs and share results.
- A job applier task makes a job's ``seed_hash`` the RandomX key (in a worker thread,
  never on the event loop), asks the backend to prepare ``next_seed_hash``, then
  publishes the job on the :class:`WorkBoard`.
- :class:`HashingThreads`: each hashing thread scans its own slice of the job's nonce
  space in short chunks with ``backend.scan`` and its own stop flag; publishing a job
  sets every stop flag, so the threads switch within one hash. Shares go to the event
  loop through ``anyio.from_thread`` and are submitted there; hash counts feed a
  :class:`HashrateMeter` (10 s and 60 s windows).

The board and the threads work on anything shaped like :class:`Work` (a Stratum
:class:`~.stratum.Job` here, a block template in the node's solo miner, :mod:`.solo`).
"""

from __future__ import annotations

import collections
import functools
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

import anyio
import attrs

from .binding import RandomXError, stop_flag
from .stratum import (
    BACKOFF_FIRST_SECONDS,
    BACKOFF_MAX_SECONDS,
    CONNECT_TIMEOUT_SECONDS,
    KEEPALIVE_SECONDS,
    NONCE_OFFSET,
    RESPONSE_TIMEOUT_SECONDS,
    Job,
    PoolAddress,
    Share,
    ShareAccepted,
    ShareRejected,
    StratumConnector,
    agent_string,
    meets_target64,
)

logger = logging.getLogger(__name__)

CHUNK_SECONDS = 0.25
"""How long one ``scan`` call should take: shares found in it are sent at its end."""
MAX_CHUNK = 1 << 16
STATUS_SECONDS = 1.0


class MiningBackend(Protocol):
    """What the miner needs from a hashing backend (:class:`~.backend.RandomXCpu`)."""

    def set_key(self, key: bytes, *, in_place: bool | None = None) -> None: ...

    def prepare_key(self, key: bytes) -> None: ...

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
    ) -> tuple[list[tuple[int, bytes]], int]: ...

    def close(self) -> None: ...


class MinerError(RandomXError):
    """The miner cannot go on (the hashing backend failed)."""


class Work(Protocol):
    """What the hashing threads mine: a hashing blob with its nonce at
    :data:`~.stratum.NONCE_OFFSET`, its RandomX key, a 256-bit target and a nonce space."""

    @property
    def blob(self) -> bytes: ...

    @property
    def seed_hash(self) -> bytes: ...

    @property
    def target256(self) -> int: ...

    def nonce_range(self, index: int, parts: int) -> tuple[int, int]:
        """The ``index``-th of ``parts`` nonce ranges: ``(start, stop)``."""
        ...

    def label(self) -> str:
        """How log lines name this work."""
        ...


W = TypeVar("W", bound=Work)


def available_cpus() -> int:
    """The CPUs this process may run on (what ``threads = 0`` means)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


# --- hash rate -------------------------------------------------------------------------


class HashrateMeter:
    """Hashes per second over sliding windows; thread-safe."""

    HORIZON = 60.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._samples: collections.deque[tuple[float, int]] = collections.deque()
        self.total = 0
        self.started: float | None = None

    def start(self, now: float | None = None) -> None:
        """Mark when hashing began (the first call wins)."""
        with self._lock:
            if self.started is None:
                self.started = self._clock() if now is None else now

    def add(self, hashes: int, now: float | None = None) -> None:
        now = self._clock() if now is None else now
        with self._lock:
            if self.started is None:
                self.started = now
            self.total += hashes
            self._samples.append((now, hashes))
            while self._samples and self._samples[0][0] <= now - self.HORIZON:
                self._samples.popleft()

    def rate(self, window: float, now: float | None = None) -> float:
        """Hashes per second over the last ``window`` seconds (or since the start)."""
        now = self._clock() if now is None else now
        with self._lock:
            if self.started is None:
                return 0.0
            span = min(window, now - self.started)
            if span <= 0:
                return 0.0
            hashes = sum(n for t, n in self._samples if t > now - window)
        return hashes / span

    def elapsed(self, now: float | None = None) -> float:
        now = self._clock() if now is None else now
        return 0.0 if self.started is None else max(0.0, now - self.started)


# --- the threads' job board --------------------------------------------------------------


class WorkBoard(Generic[W]):
    """The job the hashing threads work on, with one stop flag per thread."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.stops = [stop_flag() for _ in range(threads)]
        self._cond = threading.Condition()
        self._job: W | None = None
        self._generation = 0
        self._quit = False

    @property
    def job(self) -> W | None:
        return self._job

    def publish(self, job: W | None) -> None:
        """Switch every thread to ``job`` (None: pause) within one hash."""
        with self._cond:
            self._job = job
            self._generation += 1
            for flag in self.stops:
                flag[0] = 1
            self._cond.notify_all()

    def shutdown(self) -> None:
        with self._cond:
            self._quit = True
            for flag in self.stops:
                flag[0] = 1
            self._cond.notify_all()

    def next_work(self, index: int, seen: int) -> tuple[W, int] | None:
        """Block until a job newer than generation ``seen`` (None: shut down)."""
        with self._cond:
            while not self._quit and (self._job is None or self._generation == seen):
                self._cond.wait()
            if self._quit:
                return None
            assert self._job is not None
            # Cleared under the lock: a later publish() sets it again after this.
            self.stops[index][0] = 0
            return self._job, self._generation


class HashingThreads(Generic[W]):
    """The hashing threads: each scans its slice of the board's work with ``backend.scan``.

    :meth:`run` runs one thread per board slot (anyio worker threads) until it is
    cancelled or a thread fails; either way it shuts the board down, so every thread
    returns within one hash, and it returns only once they all have. Hits (nonces whose
    hash is at most the work's ``target256``) go to ``on_hit(work, nonce, hash)``, called
    in the hashing thread that found them.
    """

    def __init__(
        self,
        backend: MiningBackend,
        board: WorkBoard[W],
        meter: HashrateMeter,
        on_hit: Callable[[W, int, bytes], None],
    ) -> None:
        self.backend = backend
        self.board = board
        self.meter = meter
        self.on_hit = on_hit
        self._lock = threading.Lock()
        self._running = 0

    @property
    def running(self) -> int:
        """How many hashing threads are in :meth:`work` now."""
        with self._lock:
            return self._running

    async def run(self) -> None:
        """Hash until cancelled; the threads are joined on return."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._guard)
            limiter = anyio.CapacityLimiter(self.board.threads)
            for index in range(self.board.threads):
                tg.start_soon(self._run_worker, index, limiter)

    async def _guard(self) -> None:
        """Stops the hashing threads whenever the task group ends (else it waits on them)."""
        try:
            await anyio.sleep_forever()
        finally:
            self.board.shutdown()

    async def _run_worker(self, index: int, limiter: anyio.CapacityLimiter) -> None:
        try:
            await anyio.to_thread.run_sync(self.work, index, limiter=limiter)
        finally:
            self.board.shutdown()  # one thread failing stops the others

    def work(self, index: int) -> None:
        """The body of hashing thread ``index``: scan until the board shuts down."""
        with self._lock:
            self._running += 1
        try:
            self._work(index)
        finally:
            with self._lock:
                self._running -= 1

    def _work(self, index: int) -> None:
        board = self.board
        stop = board.stops[index]
        seen = -1
        per_hash = 0.0  # measured seconds per hash, to size the chunks
        while True:
            next_work = board.next_work(index, seen)
            if next_work is None:
                return
            work, seen = next_work
            position, end = work.nonce_range(index, board.threads)
            target = work.target256
            self.meter.start()
            while position < end and not stop[0]:
                count = min(end - position, _chunk_size(per_hash))
                began = time.perf_counter()
                hits, hashed = self.backend.scan(
                    work.blob,
                    nonce_offset=NONCE_OFFSET,
                    start=position,
                    count=count,
                    target=target,
                    key=work.seed_hash,
                    stop=stop,
                )
                if hashed:
                    spent = (time.perf_counter() - began) / hashed
                    per_hash = spent if per_hash == 0 else 0.8 * per_hash + 0.2 * spent
                    self.meter.add(hashed)
                position += hashed
                for nonce, hash_ in hits:
                    self.on_hit(work, nonce, hash_)
            if position >= end and not stop[0]:
                logger.warning(
                    "thread %d went through its nonces of %s; waiting for new work",
                    index,
                    work.label(),
                )


# --- status output -----------------------------------------------------------------------


@attrs.define
class MinerStatus:
    """What the status line shows."""

    pool: str
    threads: int
    connected: bool = False
    hashrate_10s: float = 0.0
    hashrate_60s: float = 0.0
    hashes: int = 0
    accepted: int = 0
    rejected: int = 0
    difficulty: int | None = None
    height: int | None = None
    job_id: str | None = None
    note: str = ""

    def line(self) -> str:
        if self.note:
            state = self.note
        elif self.connected:
            height = self.height if self.height is not None else "-"
            state = f"diff {self.difficulty}, height {height}"
        else:
            state = "not connected"
        return (
            f"speed 10s/60s {self.hashrate_10s:.1f}/{self.hashrate_60s:.1f} H/s, "
            f"accepted {self.accepted}, rejected {self.rejected}, {state}, "
            f"pool {self.pool}, {self.threads} thread(s)"
        )


class StatusOutput(Protocol):
    def update(self, status: MinerStatus) -> None: ...

    def close(self) -> None: ...


class LogStatus:
    """A plain log line every ``interval`` seconds (services, pipes, CI)."""

    def __init__(self, interval: float = 10.0, clock: Callable[[], float] = time.monotonic):
        self.interval = interval
        self._clock = clock
        self._last = clock()

    def update(self, status: MinerStatus) -> None:
        now = self._clock()
        if now - self._last >= self.interval:
            self._last = now
            logger.info("%s", status.line())

    def close(self) -> None:
        pass


class LiveStatus:
    """A live status line at the bottom of a terminal (log lines scroll above it)."""

    def __init__(self, console: Any) -> None:
        from rich.live import Live
        from rich.text import Text

        self._text = Text
        self._live = Live(Text("connecting..."), console=console, auto_refresh=False)
        self._started = False

    def update(self, status: MinerStatus) -> None:
        if not self._started:
            self._live.start()
            self._started = True
        text = self._text.assemble(
            ("speed ", "dim"),
            (f"{status.hashrate_10s:.1f}", "bold cyan"),
            "/",
            (f"{status.hashrate_60s:.1f} H/s", "cyan"),
            ("  accepted ", "dim"),
            (str(status.accepted), "bold green"),
            ("  rejected ", "dim"),
            (str(status.rejected), "bold red" if status.rejected else ""),
            ("  diff ", "dim"),
            str(status.difficulty if status.difficulty is not None else "-"),
            ("  height ", "dim"),
            str(status.height if status.height is not None else "-"),
            ("  pool ", "dim"),
            status.pool if status.connected else f"{status.pool} (not connected)",
            (f"  {status.note}", "yellow") if status.note else "",
        )
        self._live.update(text, refresh=True)

    def close(self) -> None:
        if self._started:
            self._live.stop()
            self._started = False


# --- the miner ---------------------------------------------------------------------------


@attrs.define
class MinerOptions:
    pool: PoolAddress
    login: str
    password: str = "x"
    rig_id: str | None = None
    threads: int = 1
    keepalive_seconds: float = KEEPALIVE_SECONDS
    response_timeout: float = RESPONSE_TIMEOUT_SECONDS
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS
    backoff: tuple[float, float] = (BACKOFF_FIRST_SECONDS, BACKOFF_MAX_SECONDS)
    agent: str = attrs.field(factory=agent_string)


class Miner:
    """Mines on a Stratum pool with ``backend`` on ``options.threads`` threads."""

    def __init__(
        self,
        options: MinerOptions,
        backend: MiningBackend,
        *,
        status: StatusOutput | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if options.threads < 1:
            raise ValueError("the miner needs at least one thread")
        self.options = options
        self.backend = backend
        self.clock = clock
        self.meter = HashrateMeter(clock)
        self.board: WorkBoard[Job] = WorkBoard(options.threads)
        self.hashers = HashingThreads(backend, self.board, self.meter, self._on_hit)
        self.status = MinerStatus(pool=str(options.pool), threads=options.threads)
        self.connector = StratumConnector(
            options.pool,
            self,
            login=options.login,
            password=options.password,
            agent=options.agent,
            rig_id=options.rig_id,
            keepalive_seconds=options.keepalive_seconds,
            response_timeout=options.response_timeout,
            connect_timeout=options.connect_timeout,
            backoff=options.backoff,
            clock=clock,
        )
        self.shares_found = 0
        self.key_setup_seconds: float | None = None
        self.key_build_pending = False
        """True when stopped while a key's cache/dataset was still being built (the
        build goes on in its thread: librandomx cannot interrupt it)."""
        self._output = status or LogStatus()
        self._wanted: Job | None = None
        # Events are made in run(), inside the event loop.
        self._changed: anyio.Event | None = None
        self._stop: anyio.Event | None = None
        self._stop_requested = False
        self._key: bytes | None = None
        self._prepared: bytes | None = None
        self._started = clock()
        self._finished: float | None = None
        self._progress_tenth = -1

    # -- control ------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask :meth:`run` to return (event loop only)."""
        self._stop_requested = True
        if self._stop is not None:
            self._stop.set()

    async def run(self, *, duration: float | None = None, handle_signals: bool = False) -> None:
        """Mine until :meth:`stop`, ``duration`` seconds, or (with ``handle_signals``)
        SIGINT/SIGTERM; the hashing threads are stopped and the socket closed on return."""
        self._started = self.clock()
        self._changed = anyio.Event()
        self._stop = anyio.Event()
        if self._stop_requested:
            self._stop.set()
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self.hashers.run)
                tg.start_soon(self._apply_jobs)
                tg.start_soon(self.connector.run)
                tg.start_soon(self._report)
                if handle_signals:
                    tg.start_soon(self._watch_signals)
                with anyio.move_on_after(math.inf if duration is None else duration):
                    await self._stop.wait()
                tg.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            errors = _leaves(group)
            if len(errors) == 1 and isinstance(errors[0], Exception):
                raise errors[0] from None
            raise
        finally:
            self._finished = self.clock()
            self.board.shutdown()
            self._output.close()

    def summary(self) -> dict[str, Any]:
        """The run's numbers (what ``zion mine --json`` prints)."""
        end = self._finished if self._finished is not None else self.clock()
        seconds = self.meter.elapsed(end)
        hashes = self.meter.total
        return {
            "pool": str(self.options.pool),
            "threads": self.options.threads,
            "hashes": hashes,
            "seconds": round(seconds, 3),
            "hashes_per_second": round(hashes / seconds, 2) if seconds > 0 else 0.0,
            "hashrate_10s": round(self.meter.rate(10.0, end), 2),
            "hashrate_60s": round(self.meter.rate(60.0, end), 2),
            "accepted": self.status.accepted,
            "rejected": self.status.rejected,
            "shares_found": self.shares_found,
            "difficulty": self.status.difficulty,
            "height": self.status.height,
            "job_id": self.status.job_id,
            "connections": self.connector.connections,
            "logins": self.connector.logins,
            "elapsed_seconds": round(end - self._started, 3),
            "key_setup_seconds": (
                round(self.key_setup_seconds, 3) if self.key_setup_seconds is not None else None
            ),
        }

    def dataset_progress(self, done: int, total: int) -> None:
        """Progress of a fast-mode dataset build (called from the building threads)."""
        tenth = done * 10 // max(1, total)
        self.status.note = f"building the RandomX dataset: {tenth * 10} %"
        if tenth > self._progress_tenth or done == total:
            self._progress_tenth = -1 if done >= total else tenth
            logger.info("RandomX dataset: %d %% (%d of %d items)", tenth * 10, done, total)

    # -- connector callbacks (event loop) ------------------------------------------------

    def on_connected(self, pool: PoolAddress, session_id: str) -> None:
        self.status.connected = True

    def on_disconnected(self, reason: str) -> None:
        if self.status.connected:
            logger.warning("disconnected from %s (%s); mining paused", self.options.pool, reason)
        self.status.connected = False
        self._want(None)

    def on_job(self, job: Job) -> None:
        self.status.difficulty = job.difficulty
        self.status.height = job.height
        self.status.job_id = job.job_id
        logger.info(
            "new job %s from %s: diff %d, height %s%s",
            job.job_id,
            self.options.pool,
            job.difficulty,
            job.height if job.height is not None else "-",
            ", nicehash" if job.nicehash else "",
        )
        self._want(job)

    def on_share_result(self, event: ShareAccepted | ShareRejected) -> None:
        share = event.share
        if isinstance(event, ShareAccepted):
            self.status.accepted += 1
            log, word = logger.info, "accepted"
        else:
            self.status.rejected += 1
            log, word = logger.warning, "rejected"
        log(
            '%s (%d/%d) diff %d "%s" (%d ms), job %s nonce %s',
            word,
            self.status.accepted,
            self.status.rejected,
            share.job.difficulty,
            event.message,
            round(event.seconds * 1000),
            share.job.job_id,
            share.nonce_hex,
        )

    # -- tasks ----------------------------------------------------------------------------

    def _want(self, job: Job | None) -> None:
        self._wanted = job
        if self._changed is not None:
            self._changed.set()

    async def _apply_jobs(self) -> None:
        while True:
            assert self._changed is not None
            await self._changed.wait()
            self._changed = anyio.Event()
            job = self._wanted
            if job is None:
                self.board.publish(None)
                continue
            if job.seed_hash != self._key:
                self.board.publish(None)  # the old key's work is stale
                self.status.note = f"RandomX key {job.seed_hash.hex()[:16]}..."
                started = self.clock()
                self.key_build_pending = True
                try:
                    # the threads are paused: a key that was not prepared is built
                    # in place of the old one (one dataset in memory, not two)
                    await anyio.to_thread.run_sync(
                        functools.partial(self.backend.set_key, job.seed_hash, in_place=True),
                        abandon_on_cancel=True,
                    )
                except Exception as exc:
                    self.key_build_pending = False
                    raise MinerError(f"cannot set the RandomX key: {exc}") from exc
                finally:
                    self.status.note = ""
                self.key_build_pending = False  # stays True only when cancelled meanwhile
                if self.key_setup_seconds is None:
                    self.key_setup_seconds = self.clock() - started
                self._key = job.seed_hash
                if self._wanted is not job:
                    continue  # a newer job (or a disconnect) came meanwhile
            if job.next_seed_hash is not None and job.next_seed_hash not in (
                self._prepared,
                self._key,
            ):
                self._prepared = job.next_seed_hash
                await anyio.to_thread.run_sync(
                    self.backend.prepare_key, job.next_seed_hash, abandon_on_cancel=True
                )
            self.board.publish(job)

    async def _report(self) -> None:
        while True:
            await anyio.sleep(STATUS_SECONDS)
            self._refresh_status()
            self._output.update(self.status)

    def _refresh_status(self) -> None:
        now = self.clock()
        self.status.hashrate_10s = self.meter.rate(10.0, now)
        self.status.hashrate_60s = self.meter.rate(60.0, now)
        self.status.hashes = self.meter.total

    async def _watch_signals(self) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                logger.info("%s received; stopping", signal.Signals(signum).name)
                self.stop()

    def _on_found(self, share: Share) -> None:
        """A thread found a share (runs on the event loop)."""
        if not meets_target64(share.hash, share.job.target64):
            logger.error(
                "the backend returned nonce %s above the target of job %s; dropped",
                share.nonce_hex,
                share.job.job_id,
            )
            return
        self.shares_found += 1
        self.connector.submit(share)

    # -- hashing threads ------------------------------------------------------------------

    def _on_hit(self, job: Job, nonce: int, hash_: bytes) -> None:
        self._deliver(Share(job, nonce, hash_))

    def _deliver(self, share: Share) -> None:
        try:
            anyio.from_thread.run_sync(self._on_found, share)
        except (RuntimeError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            logger.debug("share %s found while stopping; dropped", share.nonce_hex)


def _chunk_size(per_hash: float) -> int:
    if per_hash <= 0:
        return 4
    return max(1, min(MAX_CHUNK, int(CHUNK_SECONDS / per_hash)))


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    """The exceptions in ``group`` (nested groups flattened), cancellations left out."""
    cancelled = anyio.get_cancelled_exc_class()
    out: list[BaseException] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            out.extend(_leaves(exc))
        elif not isinstance(exc, cancelled):
            out.append(exc)
    return out
