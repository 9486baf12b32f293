"""``zion bench randomx``: hashes per second of the ``randomx-cpu`` backend."""

from __future__ import annotations

import json
import threading
import time
from enum import StrEnum
from typing import Annotated, Any, Literal

import typer
from rich.console import Console

BENCH_KEY = bytes.fromhex("5a494f4e2062656e63686d61726b206b657920303030303030303030303030ff")
BENCH_BLOB = bytes(range(76))
NONCE_OFFSET = 39
BATCH = 8


class Mode(StrEnum):
    light = "light"
    fast = "fast"


class Op(StrEnum):
    search = "search"
    batch = "batch"


def run_benchmark(
    *,
    mode: Literal["light", "fast"],
    threads: int,
    seconds: float,
    op: str,
    huge_pages: bool = True,
) -> dict[str, Any]:
    """Hash for ``seconds`` on ``threads`` threads, all starting together; the result."""
    from .backend import RandomXCpu
    from .binding import stop_flag
    from .config import RandomXConfig
    from .progress import dataset_progress

    with dataset_progress() as progress:
        config = RandomXConfig(mode=mode, threads=threads, transparent_huge_pages=huge_pages)
        backend = RandomXCpu(config, progress=progress)
        started = time.perf_counter()
        backend.set_key(BENCH_KEY)
        setup = time.perf_counter() - started
    stops = [stop_flag() for _ in range(threads)]
    hashed = [0] * threads
    start_line = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def search(index: int) -> None:
        _, hashed[index] = backend.scan(
            BENCH_BLOB,
            nonce_offset=NONCE_OFFSET,
            start=index << 26,
            count=1 << 26,
            target=0,
            stop=stops[index],
        )

    def batch(index: int) -> None:
        blobs = [bytes([index, n]) + BENCH_BLOB[2:] for n in range(BATCH)]
        while not stops[index][0]:
            backend.hash_batch(blobs)
            hashed[index] += BATCH

    def worker(index: int) -> None:
        try:
            backend.hash(BENCH_BLOB)  # this thread's VM exists before the clock starts
            start_line.wait()
            (search if op == "search" else batch)(index)
        except BaseException as exc:  # re-raised by the caller
            errors.append(exc)
            start_line.abort()

    pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for thread in pool:
        thread.start()
    try:
        start_line.wait()
        begin = time.perf_counter()
        time.sleep(seconds)
    except threading.BrokenBarrierError:
        begin = time.perf_counter()
    finally:
        for flag in stops:
            flag[0] = 1
        for thread in pool:
            thread.join()
    elapsed = time.perf_counter() - begin
    backend.close()
    if errors:
        raise errors[0]
    total = sum(hashed)
    return {
        "backend": RandomXCpu.name,
        "mode": mode,
        "threads": threads,
        "op": op,
        "hashes": total,
        "seconds": round(elapsed, 3),
        "hashes_per_second": round(total / elapsed, 2) if elapsed > 0 else 0.0,
        "key_setup_seconds": round(setup, 3),
    }


def bench_randomx(
    mode: Annotated[
        Mode, typer.Option(help="light: 256 MiB cache; fast: 2 GiB dataset.")
    ] = Mode.light,
    threads: Annotated[int, typer.Option(min=1, help="Hashing threads.")] = 1,
    seconds: Annotated[float, typer.Option(min=0.1, help="How long to hash.")] = 10.0,
    op: Annotated[
        Op, typer.Option(help="search: the mining loop; batch: verification.")
    ] = Op.search,
    thp: Annotated[
        bool, typer.Option("--thp/--no-thp", help="Ask for transparent huge pages.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Measure the randomx-cpu backend's hashes per second.

    Example: zion bench randomx --mode fast --threads 2 --seconds 30 --json
    """
    result = run_benchmark(
        mode="fast" if mode is Mode.fast else "light",
        threads=threads,
        seconds=seconds,
        op=op.value,
        huge_pages=thp,
    )
    if as_json:
        print(json.dumps(result))
        return
    Console().print(
        f"randomx-cpu {result['mode']} {result['op']}, {threads} thread(s): "
        f"[bold]{result['hashes_per_second']} H/s[/] ({result['hashes']} hashes in "
        f"{result['seconds']} s; key set-up {result['key_setup_seconds']} s)"
    )
