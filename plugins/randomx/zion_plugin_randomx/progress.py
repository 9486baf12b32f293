"""Progress for long RandomX work (building a 2 GiB dataset), through the kernel's
progress helper: a bar on a terminal, log lines (every 10 %) elsewhere."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from zion_core.progress import ProgressFeed, progress_callback

from .binding import ProgressCallback

logger = logging.getLogger(__name__)


def dataset_feed(description: str = "RandomX dataset") -> ProgressFeed:
    """A ``progress(done, total)`` callback for every dataset build of one backend (the
    node's verifier, the solo miner), safe to call from worker threads."""
    return progress_callback(description, logger=logger)


@contextlib.contextmanager
def dataset_progress(description: str = "RandomX dataset") -> Iterator[ProgressCallback]:
    """A ``progress(done, total)`` callback for the block, safe to call from worker threads."""
    feed = dataset_feed(description)
    try:
        yield feed
    finally:
        feed.close()
