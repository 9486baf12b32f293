"""Progress for long RandomX work (building a 2 GiB dataset): a bar on a terminal,
log lines (every 10 %) elsewhere."""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Iterator

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from .binding import ProgressCallback

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def dataset_progress(description: str = "RandomX dataset") -> Iterator[ProgressCallback]:
    """A ``progress(done, total)`` callback, safe to call from worker threads."""
    if sys.stderr.isatty():
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        ) as bar:
            task = bar.add_task(description, total=None)

            def update(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            yield update
        return
    lock = threading.Lock()
    last = -1

    def log(done: int, total: int) -> None:
        nonlocal last
        tenth = done * 10 // total
        with lock:
            if tenth > last:
                last = tenth
                logger.info("%s: %d %% (%d of %d items)", description, tenth * 10, done, total)

    yield log
