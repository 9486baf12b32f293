"""The ``[sqlite]`` configuration section."""

from __future__ import annotations

from typing import Literal

import attrs


@attrs.frozen
class SqliteConfig:
    """``[sqlite]``: how the ``sqlite`` storage backend opens its databases.

    - ``synchronous``: ``full`` (the default) fsyncs the write-ahead log at every
      committed batch, so an acknowledged ``write_batch`` survives a power loss.
      ``normal`` fsyncs only at checkpoints: a batch still survives a crash of the
      process (kill -9), but the last batches before a power loss or an operating-system
      crash may be lost (never partly applied). Faster on slow disks.
    - ``cache_size_mb``: SQLite's page cache per open store, in MiB.
    - ``busy_timeout_ms``: how long a write waits for another connection's lock on the
      same file before failing (only tools that open the file at the same time contend).
    """

    synchronous: Literal["full", "normal"] = "full"
    cache_size_mb: int = attrs.field(default=16, validator=attrs.validators.ge(1))
    busy_timeout_ms: int = attrs.field(default=5000, validator=attrs.validators.ge(0))
