"""Progress of long work: a bar on a terminal, log lines at a bounded rate elsewhere.

::

    from zion_core.progress import progress

    with progress("wallet scan", total=len(pages), unit="pages") as task:
        for page in pages:
            ...
            task.advance()

On a terminal (stderr is a TTY), each task is a rich progress bar; tasks running at the
same time share one display, and a bar disappears when its task ends. Elsewhere
(services, CI, pipes) a task logs ``<description>: 40 % (400 of 1000 items, 3.1 s)``
lines: one per 10 % step or every 5 seconds, whichever comes first, but never more than
one a second, and a last line when it ends. ``ZION_PROGRESS`` overrides the choice:
``bar``, ``log`` or ``off`` (nothing at all).

Work that reports through a ``progress(done, total)`` callback, called from worker
threads (the RandomX dataset build), uses :func:`progress_callback`.

Everything here is thread-safe: ``advance`` and ``update`` may be called from any thread.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, Final, Literal

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["ENV", "ProgressFeed", "ProgressTask", "progress", "progress_callback"]

ENV: Final = "ZION_PROGRESS"
"""The environment variable choosing the output: ``bar``, ``log`` or ``off``."""
LOG_INTERVAL_S: Final = 5.0
"""Without a new 10 % step, a log line at least this often."""
LOG_STEP_PERCENT: Final = 10.0
LOG_MIN_GAP_S: Final = 1.0
"""Never two log lines (but the last) closer than this."""
DEFAULT_LOGGER: Final = "zion.progress"

Mode = Literal["bar", "log", "off"]


def _mode(interactive: bool | None) -> Mode:
    if interactive is not None:
        return "bar" if interactive else "log"
    chosen = os.environ.get(ENV, "").strip().lower()
    if chosen in ("bar", "log", "off"):
        return chosen  # type: ignore[return-value]
    if os.environ.get("TERM") == "dumb":
        return "log"
    try:
        return "bar" if sys.stderr.isatty() else "log"
    except (AttributeError, ValueError):  # no stderr, or a closed one
        return "log"


def _log_console() -> Console:
    """The console the CLI's rich log handler writes to (bars and log lines then share
    one console and never garble each other), else a new one on stderr."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, RichHandler):
            return handler.console
    return Console(stderr=True)


class _Display:
    """The one rich display that every bar shares, started with the first task and
    stopped with the last."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._tasks = 0
        self._exit_hook = False

    def add(self, description: str, total: float | None, console: Console | None) -> TaskID:
        with self._lock:
            if self._progress is None:
                self._progress = Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    TaskProgressColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    TimeRemainingColumn(),
                    console=console or _log_console(),
                    transient=True,
                )
                self._progress.start()
                if not self._exit_hook:
                    atexit.register(self.stop)  # the cursor comes back even if a task leaks
                    self._exit_hook = True
            self._tasks += 1
            return self._progress.add_task(description, total=total)

    def update(self, task: TaskID, completed: float, total: float | None) -> None:
        with self._lock:
            if self._progress is not None:
                self._progress.update(task, completed=completed, total=total)

    def remove(self, task: TaskID) -> None:
        with self._lock:
            if self._progress is None:
                return
            self._progress.remove_task(task)
            self._tasks -= 1
            if self._tasks <= 0:
                self._stop_locked()

    def stop(self) -> None:
        with self._lock:
            self._stop_locked()

    def _stop_locked(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._tasks = 0

    @property
    def active(self) -> bool:
        with self._lock:
            return self._progress is not None


_display = _Display()


class ProgressTask:
    """One piece of long work; made by :func:`progress`."""

    def __init__(
        self,
        description: str,
        total: float | None,
        *,
        unit: str,
        mode: Mode,
        logger: logging.Logger,
        console: Console | None = None,
        log_interval: float = LOG_INTERVAL_S,
        log_step: float = LOG_STEP_PERCENT,
        clock: Any = time.monotonic,
    ) -> None:
        self.description = description
        self.unit = unit
        self.mode: Mode = mode
        self._total = total
        self._completed = 0.0
        self._lock = threading.Lock()
        self._logger = logger
        self._log_interval = log_interval
        self._log_step = log_step
        self._clock = clock
        self._started = clock()
        self._last_line = self._started
        self._logged_step = 0
        self._finished = False
        self._task: TaskID | None = None
        if mode == "bar":
            self._task = _display.add(description, total, console)

    @property
    def total(self) -> float | None:
        return self._total

    @property
    def completed(self) -> float:
        return self._completed

    @property
    def elapsed(self) -> float:
        return float(self._clock() - self._started)

    def advance(self, amount: float = 1) -> None:
        """``amount`` more units done."""
        with self._lock:
            self._completed += amount
            self._changed()

    def update(self, completed: float | None = None, *, total: float | None = None) -> None:
        """Set the units done (and the total, when it becomes known or changes)."""
        with self._lock:
            if total is not None:
                self._total = total
            if completed is not None:
                self._completed = completed
            self._changed()

    def finish(self, *, ok: bool = True) -> None:
        """End the task (what leaving :func:`progress`'s block does); idempotent."""
        with self._lock:
            if self._finished:
                return
            self._finished = True
            if self._task is not None:
                _display.remove(self._task)
            if self.mode == "log":
                self._log_end(ok)

    # -- under the lock ------------------------------------------------------------------

    def _changed(self) -> None:
        if self._finished:
            return
        if self._task is not None:
            _display.update(self._task, self._completed, self._total)
        elif self.mode == "log":
            self._maybe_log()

    def _count(self, value: float) -> str:
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"

    def _maybe_log(self) -> None:
        now = self._clock()
        if now - self._last_line < LOG_MIN_GAP_S:
            return
        step = 0
        if self._total:
            step = int(min(100.0, self._completed * 100.0 / self._total) // self._log_step)
        if step > self._logged_step or now - self._last_line >= self._log_interval:
            self._logged_step = max(step, self._logged_step)
            self._last_line = now
            seconds = now - self._started
            if self._total:
                percent = min(100.0, self._completed * 100.0 / self._total)
                self._logger.info(
                    "%s: %d %% (%s of %s %s, %.1f s)",
                    self.description,
                    percent,
                    self._count(self._completed),
                    self._count(self._total),
                    self.unit,
                    seconds,
                )
            else:
                self._logger.info(
                    "%s: %s %s (%.1f s)",
                    self.description,
                    self._count(self._completed),
                    self.unit,
                    seconds,
                )

    def _log_end(self, ok: bool) -> None:
        seconds = self._clock() - self._started
        done = self._count(self._completed)
        if ok:
            self._logger.info(
                "%s: done, %s %s in %.1f s", self.description, done, self.unit, seconds
            )
        else:
            of = f" of {self._count(self._total)}" if self._total else ""
            self._logger.info(
                "%s: stopped after %s%s %s (%.1f s)", self.description, done, of, self.unit, seconds
            )


@contextlib.contextmanager
def progress(
    description: str,
    total: float | None = None,
    *,
    unit: str = "items",
    logger: logging.Logger | str | None = None,
    interactive: bool | None = None,
    enabled: bool = True,
    console: Console | None = None,
    log_interval: float = LOG_INTERVAL_S,
    log_step: float = LOG_STEP_PERCENT,
) -> Iterator[ProgressTask]:
    """A :class:`ProgressTask` for the block: call ``advance()`` (or ``update()``) as
    work gets done; it ends with the block.

    ``total`` may be None (unknown) and set later with ``update(total=...)``. Log lines go
    to ``logger`` (default ``zion.progress``). ``interactive`` forces a bar (True) or log
    lines (False); by default a bar when stderr is a terminal, unless ``ZION_PROGRESS``
    says otherwise. ``enabled=False`` shows nothing (the task still counts): for work that
    is usually short, shown only when it is large.
    """
    mode: Mode = _mode(interactive) if enabled else "off"
    if not isinstance(logger, logging.Logger):
        logger = logging.getLogger(logger or DEFAULT_LOGGER)
    task = ProgressTask(
        description,
        total,
        unit=unit,
        mode=mode,
        logger=logger,
        console=console,
        log_interval=log_interval,
        log_step=log_step,
    )
    ok = False
    try:
        yield task
        ok = True
    finally:
        task.finish(ok=ok)


class ProgressFeed:
    """A ``progress(done, total)`` callback (see :func:`progress_callback`)."""

    def __init__(self, description: str, **options: Any) -> None:
        self.description = description
        self._options = options
        self._lock = threading.Lock()
        self._stack: contextlib.ExitStack | None = None
        self._task: ProgressTask | None = None

    def __call__(self, done: int, total: int) -> None:
        with self._lock:
            if self._task is None:
                self._stack = contextlib.ExitStack()
                self._task = self._stack.enter_context(
                    progress(self.description, total, **self._options)
                )
            self._task.update(done, total=total)
            if done >= total:
                self._close_locked()

    def close(self) -> None:
        """End the task under way, if any (work abandoned half-way)."""
        with self._lock:
            if self._task is not None:
                self._task.finish(ok=False)
            self._close_locked()

    def _close_locked(self) -> None:
        stack, self._stack, self._task = self._stack, None, None
        if stack is not None:
            stack.close()


def progress_callback(
    description: str,
    *,
    unit: str = "items",
    logger: logging.Logger | str | None = None,
    interactive: bool | None = None,
) -> ProgressFeed:
    """A ``progress(done, total)`` callback for work that reports that way (from any
    thread): its first call starts a task, the call with ``done >= total`` ends it, and
    the next call starts another (the next RandomX key's dataset, say)."""
    return ProgressFeed(description, unit=unit, logger=logger, interactive=interactive)
