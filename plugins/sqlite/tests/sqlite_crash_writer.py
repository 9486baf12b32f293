"""The writer that test_sqlite_crash.py kills: numbered batches into a sqlite store.

Usage: ``python sqlite_crash_writer.py DB_PATH``. It opens (or creates) the store,
reads the number ``M`` of the last batch it holds (the ``last`` key, 0 when absent),
prints ``ready M``, then applies batches ``M+1, M+2...`` forever. After each
``write_batch`` returns, and only then, it prints ``acked N`` and flushes.

Batch ``n`` (see :func:`batch`) writes ``KEYS_PER_BATCH`` keys derived from ``n``, with
values of 1 to 6 KiB so that a batch spans several database pages, deletes the
even-numbered keys of batch ``n - 1`` and the remaining (odd) keys of batch ``n - 2``,
and sets ``last`` to ``n``. The store so stays small however many batches run (the
write-ahead log is checkpointed as it goes). :func:`expected_state` is the whole
content of the store after batch ``M``: what the test compares with.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

KEYS_PER_BATCH = 8
LAST = b"last"


def key(n: int, i: int) -> bytes:
    """Key ``i`` of batch ``n``."""
    return b"k/%08d/%d" % (n, i)


def value(n: int, i: int) -> bytes:
    """The value of key ``i`` of batch ``n``: 1 to 6 KiB derived from both."""
    seed = hashlib.sha256(b"%d/%d" % (n, i)).digest()
    return seed * (32 + (seed[0] % 160))


def batch(n: int) -> tuple[dict[bytes, bytes], list[bytes]]:
    """The puts and deletes of batch ``n`` (``n >= 1``)."""
    puts = {key(n, i): value(n, i) for i in range(KEYS_PER_BATCH)}
    puts[LAST] = n.to_bytes(8, "big")
    deletes = [key(n - 1, i) for i in range(0, KEYS_PER_BATCH, 2) if n > 1]
    deletes += [key(n - 2, i) for i in range(1, KEYS_PER_BATCH, 2) if n > 2]
    return puts, deletes


def expected_state(m: int) -> dict[bytes, bytes]:
    """The store's content after batches ``1..m`` (empty for ``m == 0``).

    All keys of batch ``m``, the odd keys of batch ``m - 1``, and ``last``.
    """
    if m == 0:
        return {}
    state = {key(m - 1, i): value(m - 1, i) for i in range(1, KEYS_PER_BATCH, 2) if m > 1}
    state.update({key(m, i): value(m, i) for i in range(KEYS_PER_BATCH)})
    state[LAST] = m.to_bytes(8, "big")
    return state


def replayed_state(m: int) -> dict[bytes, bytes]:
    """:func:`expected_state` computed the slow way, by applying batches ``1..m``."""
    state: dict[bytes, bytes] = {}
    for n in range(1, m + 1):
        puts, deletes = batch(n)
        state.update(puts)
        for k in deletes:
            state.pop(k, None)
    return state


def main(path: str) -> None:
    from zion_plugin_sqlite import SqliteBackend

    store = SqliteBackend().open(Path(path))
    raw = store.get(LAST)
    n = 0 if raw is None else int.from_bytes(raw, "big")
    print(f"ready {n}", flush=True)
    while True:
        n += 1
        puts, deletes = batch(n)
        store.write_batch(puts, deletes)
        print(f"acked {n}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
