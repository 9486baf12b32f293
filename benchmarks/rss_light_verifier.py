"""Memory of a light-mode verifier: peak and steady RSS of one process, goal <= 350 MB.

For each variant (``prepare_next`` off, then on) a fresh process creates
``RandomXCpu(RandomXConfig(mode="light", prepare_next=...))`` with the default thread
count (one per CPU), sets a key and verifies 76-byte blobs from as many concurrent
callers as the backend has threads, then switches to a second key while the callers go
on, and verifies again:

- ``prepare_next`` on: ``prepare_key(K2)`` builds the next cache in the background
  (the lag window), then ``set_key(K2)`` switches to it: a seed switch as a node does it.
- ``prepare_next`` off (the light-mode default): ``set_key(K2)`` re-initialises the one
  cache in place at the switch; verification pauses meanwhile ("switch s").

A sampler thread reads VmRSS from /proc/self/status every 50 ms. Reported per phase:
the steady RSS (median of the samples in the second half of the phase) and VmHWM (the
process's peak RSS so far); also how many caches were allocated, how many were
re-initialised in place, and how many VMs exist at the end.

Callers (``--method``): ``async`` (default): that many anyio tasks awaiting
``hash_async`` (how the node verifies); ``batch``: that many threads calling
``hash_batch`` on 8 blobs.

Usage::

    .venv/bin/python benchmarks/rss_light_verifier.py --seconds 5
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

GOAL_MB = 350.0
KEY_1 = bytes.fromhex("5a494f4e2062656e63686d61726b206b657920303030303030303030303030ff")
KEY_2 = bytes.fromhex("5a494f4e2062656e63686d61726b206b657920303030303030303030303031ff")
BLOBS = [bytes([0, n]) + bytes(range(2, 76)) for n in range(8)]
MB = 1_000_000


def proc_status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


class Sampler:
    """VmRSS every ``interval`` seconds, in a daemon thread."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), proc_status_kb("VmRSS") * 1024))
            self._stop.wait(self.interval)

    def steady(self, begin: float, end: float) -> int:
        """Median RSS over the second half of ``begin .. end``."""
        middle = (begin + end) / 2
        chosen = [rss for t, rss in self.samples if middle <= t <= end]
        return int(statistics.median(chosen)) if chosen else proc_status_kb("VmRSS") * 1024


class CacheCounter(logging.Handler):
    """Counts the key manager's "cache ready" log records (one per cache built)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.built: list[str] = []
        self.in_place: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("RandomX cache ready"):
            (self.in_place if "in place" in message else self.built).append(message)


def held_keys(manager: Any) -> list[bytes]:
    """The keys a KeyManager holds (``held()``; ``keys()`` in older versions)."""
    held = getattr(manager, "held", None) or manager.keys
    return list(held())


def child(args: argparse.Namespace) -> dict[str, Any]:
    """One variant, in this (fresh) process."""
    import anyio
    from zion_plugin_randomx.backend import RandomXCpu
    from zion_plugin_randomx.config import RandomXConfig

    counter = CacheCounter()
    keys_logger = logging.getLogger("zion_plugin_randomx.keys")
    keys_logger.addHandler(counter)
    keys_logger.setLevel(logging.INFO)

    sampler = Sampler()
    sampler.start()
    baseline = proc_status_kb("VmRSS") * 1024
    backend = RandomXCpu(RandomXConfig(mode="light", prepare_next=args.prepare_next))
    workers = backend.threads
    hashed = [0, 0]  # per phase
    phase = [0]
    marks: dict[str, float] = {}
    hwm: dict[str, int] = {}
    switch_seconds = [0.0]

    backend.set_key(KEY_1)
    marks["one_key_begin"] = time.monotonic()

    async def verify_async() -> None:
        stop = anyio.Event()

        async def caller(index: int) -> None:
            n = index
            while not stop.is_set():
                await backend.hash_async(BLOBS[n % len(BLOBS)])
                hashed[phase[0]] += 1
                n += 1

        async with anyio.create_task_group() as tg:
            for index in range(workers):
                tg.start_soon(caller, index)
            await anyio.sleep(args.seconds)
            marks["one_key_end"] = time.monotonic()
            hwm["one_key"] = proc_status_kb("VmHWM") * 1024
            started = time.monotonic()
            if args.prepare_next:
                backend.prepare_key(KEY_2)
                future = backend.keys.prepare(KEY_2)  # the same future: wait for the build
                await anyio.to_thread.run_sync(future.result)
            await backend.set_key_async(KEY_2)
            switch_seconds[0] = time.monotonic() - started
            phase[0] = 1
            marks["switched_begin"] = time.monotonic()
            await anyio.sleep(args.seconds)
            marks["switched_end"] = time.monotonic()
            stop.set()

    def verify_threads() -> None:
        stop = threading.Event()

        def caller(index: int) -> None:
            blobs = BLOBS[index:] + BLOBS[:index]
            while not stop.is_set():
                backend.hash_batch(blobs)
                hashed[phase[0]] += len(blobs)

        pool = [threading.Thread(target=caller, args=(i,)) for i in range(workers)]
        for thread in pool:
            thread.start()
        time.sleep(args.seconds)
        marks["one_key_end"] = time.monotonic()
        hwm["one_key"] = proc_status_kb("VmHWM") * 1024
        started = time.monotonic()
        if args.prepare_next:
            backend.prepare_key(KEY_2)
            backend.keys.prepare(KEY_2).result()
        backend.set_key(KEY_2)
        switch_seconds[0] = time.monotonic() - started
        phase[0] = 1
        marks["switched_begin"] = time.monotonic()
        time.sleep(args.seconds)
        marks["switched_end"] = time.monotonic()
        stop.set()
        for thread in pool:
            thread.join()

    if args.method == "async":
        anyio.run(verify_async)
    else:
        verify_threads()
    sampler.stop()
    result = {
        "prepare_next": args.prepare_next,
        "method": args.method,
        "threads": workers,
        "seconds_per_phase": args.seconds,
        "baseline_rss_mb": round(baseline / MB, 1),
        "one_key_steady_rss_mb": round(
            sampler.steady(marks["one_key_begin"], marks["one_key_end"]) / MB, 1
        ),
        "one_key_peak_rss_mb": round(hwm["one_key"] / MB, 1),
        "switched_steady_rss_mb": round(
            sampler.steady(marks["switched_begin"], marks["switched_end"]) / MB, 1
        ),
        "peak_rss_mb": round(proc_status_kb("VmHWM") * 1024 / MB, 1),
        "switch_seconds": round(switch_seconds[0], 3),
        "hashes": hashed,
        "caches_built": len(counter.built),
        "caches_reinitialised": len(counter.in_place),
        "keys_held_at_end": len(held_keys(backend.keys)),
        "vms": backend._pool.created,
    }
    backend.close()
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="verification per phase")
    parser.add_argument("--method", choices=["async", "batch"], default="async")
    parser.add_argument("--json-out", type=Path, help="also write the results here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--prepare-next", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return 0
    results = []
    for prepare_next in (False, True):
        command = [
            sys.executable, __file__, "--child", "--seconds", str(args.seconds),
            "--method", args.method,
        ]  # fmt: skip
        if prepare_next:
            command.append("--prepare-next")
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=4 * args.seconds + 120, check=False
        )
        if done.returncode != 0:
            sys.stderr.write(done.stderr)
            raise SystemExit(f"the measuring process failed ({done.returncode})")
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(
        f"{'prepare_next':<13} {'baseline':>8} {'steady 1 key':>12} {'peak 1 key':>10} "
        f"{'steady after':>12} {'peak':>7} {'switch s':>8} {'caches':>6} {'reinit':>6} "
        f"{'held':>4} {'VMs':>3}"
        "  (MB = 10^6 bytes)"
    )
    for r in results:
        print(
            f"{r['prepare_next']!s:<13} {r['baseline_rss_mb']:>8.1f} "
            f"{r['one_key_steady_rss_mb']:>12.1f} "
            f"{r['one_key_peak_rss_mb']:>10.1f} {r['switched_steady_rss_mb']:>12.1f} "
            f"{r['peak_rss_mb']:>7.1f} {r['switch_seconds']:>8.2f} {r['caches_built']:>6} "
            f"{r['caches_reinitialised']:>6} {r['keys_held_at_end']:>4} {r['vms']:>3}"
        )
    for r in results:
        verdict = "meets" if r["peak_rss_mb"] <= GOAL_MB else "MISSES"
        after = "meets" if r["switched_steady_rss_mb"] <= GOAL_MB else "MISSES"
        print(
            f"prepare_next={r['prepare_next']}: peak {r['peak_rss_mb']:.1f} MB {verdict} "
            f"the {GOAL_MB:.0f} MB goal; after the switch {r['switched_steady_rss_mb']:.1f} MB "
            f"{after} it ({r['threads']} threads, {args.method}, "
            f"hashes per phase {r['hashes']})"
        )
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
