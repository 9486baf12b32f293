"""RandomX hash rate of the ``randomx-cpu`` backend against a plain C anchor.

Builds ``randomx_anchor.c`` (next to this file) with ``cc -O2 -pthread ... -lrandomx``
into a temporary directory, then, for each round and each operation, runs the anchor
and the backend's benchmark one after the other (the order alternates between rounds,
so slow drift of a shared machine hits both sides alike) and reports the ratio
backend / anchor per round and its median. Goal: a median ratio of at least 0.95.

Operations (the backend's name / the anchor's name):

- ``search`` / ``search``: the mining loop, incrementing nonces at byte 39 of a 76-byte
  blob against a target nobody meets (``RandomXCpu.scan`` / hash_first/next).
- ``batch`` / ``verify``: verification, 8 distinct 76-byte blobs per thread hashed over
  and over (``RandomXCpu.hash_batch`` / ``randomx_calculate_hash``).

The backend side is ``zion_plugin_randomx.bench.run_benchmark`` (what
``zion bench randomx --json`` runs) in a fresh process (``--backend runner``, the
default), with the hashing threads' CPU time recorded as well; ``--backend cli`` runs
the ``zion bench randomx --json`` command itself, which reports no CPU time.

Two ratios are reported: hashes per second (wall clock, the goal) and hashes per CPU
second of the hashing threads. The second one does not move when other processes take
CPU time away from the benchmark; it also does not see time a thread spends waiting.
Each run records the CPU time other processes used meanwhile (``other load``, in
cores, from /proc/stat); runs above 0.1 core are measured again (``--retries``) and
flagged when that does not help.

``--paired`` runs both sides at the same time instead (each with ``--threads``
threads; use 1 on 2 cores), hashing from the same instant on, so that both see the same
machine: on a shared host this removes most of the noise between rounds.

Both programs build the cache (and, with ``--mode fast``, the 2 GiB dataset on all
threads) before their clock starts; the set-up time is reported apart and is not part
of the hash rate. Every run is a fresh process, so fast mode pays the dataset build
(about a minute on 2 cores) per run.

Usage::

    .venv/bin/python benchmarks/bench_randomx.py --mode light --threads 2 --seconds 20 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ANCHOR_SOURCE = HERE / "randomx_anchor.c"
GOAL = 0.95
FAST_MIN_AVAILABLE = 5 << 30
"""Fast mode needs about 2.3 GiB per process; refuse to start below this."""
OPS = {"search": "search", "batch": "verify"}
"""Backend op -> anchor op."""
BENCH_KEY_HEX = "5a494f4e2062656e63686d61726b206b657920303030303030303030303030ff"
"""``zion_plugin_randomx.bench.BENCH_KEY`` (checked against it when importable)."""
OTHER_LOAD_LIMIT = 0.1
"""Cores' worth of CPU used by other processes during a run above which it is flagged."""


# -- the machine ----------------------------------------------------------------------


def mem_available() -> int:
    """MemAvailable from /proc/meminfo, in bytes (0 when unknown)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def busy_cpu_seconds() -> float:
    """CPU time all cores spent busy since boot (from /proc/stat; 0 when unknown)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in fields[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU time of this process and of its waited-for children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def wait_idle(limit: float, max_wait: float) -> float:
    """Wait (at most ``max_wait`` s) for 2 s in which other processes use <= ``limit`` cores.

    Returns the seconds waited.
    """
    started = time.perf_counter()
    quiet = 0
    while time.perf_counter() - started < max_wait:
        busy, own = busy_cpu_seconds(), own_cpu_seconds()
        time.sleep(1.0)
        other = busy_cpu_seconds() - busy - (own_cpu_seconds() - own)
        quiet = quiet + 1 if other <= limit else 0
        if quiet >= 2:
            break
    return time.perf_counter() - started


# -- the two sides --------------------------------------------------------------------


def bench_key_hex() -> str:
    try:
        from zion_plugin_randomx.bench import BENCH_KEY
    except ImportError:
        return BENCH_KEY_HEX
    if BENCH_KEY.hex() != BENCH_KEY_HEX:
        print("note: bench.py's BENCH_KEY changed; the anchor follows it", file=sys.stderr)
    return BENCH_KEY.hex()


def build_anchor(directory: Path) -> Path:
    """Compile the anchor; its path."""
    cc = os.environ.get("CC", "cc")
    binary = directory / "randomx_anchor"
    command = [cc, "-O2", "-pthread", "-o", str(binary), str(ANCHOR_SOURCE), "-lrandomx"]
    subprocess.run(command, check=True)
    return binary


def anchor_command(
    binary: Path, args: argparse.Namespace, op: str, start_at: float = 0.0
) -> list[str]:
    command = [
        str(binary), "--mode", args.mode, "--threads", str(args.threads),
        "--seconds", str(args.seconds), "--op", OPS[op], "--key", args.key,
    ]  # fmt: skip
    return command + (["--start-at", f"{start_at:.3f}"] if start_at else [])


def backend_command(args: argparse.Namespace, op: str, start_at: float = 0.0) -> list[str]:
    """The backend's benchmark: this script as a runner, or ``zion bench randomx``."""
    options = [
        "--mode", args.mode, "--threads", str(args.threads),
        "--seconds", str(args.seconds), "--op", op, "--thp" if args.thp else "--no-thp",
    ]  # fmt: skip
    if args.backend == "runner" or start_at:
        runner = [sys.executable, str(Path(__file__).resolve()), "--backend-child", *options]
        return runner + (["--start-at", f"{start_at:.3f}"] if start_at else [])
    zion = Path(sys.executable).parent / "zion"
    found = str(zion) if zion.exists() else shutil.which("zion")
    if found is None:
        raise SystemExit("cannot find the zion command: run with the project's .venv/bin/python")
    return [found, "bench", "randomx", *options, "--json"]


def backend_child(args: argparse.Namespace) -> dict[str, Any]:
    """``run_benchmark`` in this process, plus the hashing threads' CPU time.

    ``run_benchmark`` starts its workers with ``threading.Thread`` and lines them up at a
    ``threading.Barrier``; its module gets a ``threading`` whose Barrier notes each
    worker's CPU clock as it passes and whose Thread notes it when the worker ends.
    Nothing else changes.
    """
    import threading
    import types

    from zion_plugin_randomx import bench

    begin: dict[int, float] = {}
    end: dict[int, float] = {}
    late: list[float] = []

    class TimedBarrier(threading.Barrier):
        def wait(self, timeout: float | None = None) -> int:
            if args.start_at and threading.current_thread() is threading.main_thread():
                late.append(time.time() - args.start_at)  # the workers wait meanwhile
                time.sleep(max(0.0, -late[0]))
            index = super().wait(timeout)
            if threading.current_thread() is not threading.main_thread():
                begin[threading.get_ident()] = time.thread_time()
            return index

    class TimedThread(threading.Thread):
        def run(self) -> None:
            try:
                super().run()
            finally:
                end[threading.get_ident()] = time.thread_time()

    timed = types.ModuleType("threading")
    timed.__dict__.update(threading.__dict__)
    timed.Barrier = TimedBarrier  # type: ignore[attr-defined]
    timed.Thread = TimedThread  # type: ignore[attr-defined]
    bench.threading = timed  # type: ignore[attr-defined]
    result = bench.run_benchmark(
        mode=args.mode, threads=args.threads, seconds=args.seconds, op=args.op, huge_pages=args.thp
    )
    if len(begin) == args.threads and set(begin) <= set(end):
        cpu = sum(end[t] - begin[t] for t in begin)
        result["cpu_seconds"] = round(cpu, 3)
        result["hashes_per_cpu_second"] = round(result["hashes"] / cpu, 2) if cpu > 0 else 0.0
    if late:
        result["start_late_seconds"] = round(late[0], 3)
    return result


def run_json(commands: dict[str, list[str]], timeout: float) -> dict[str, dict[str, Any]]:
    """Run ``commands`` at the same time; the last JSON object each printed on stdout.

    Each result also gets ``wall_seconds`` and ``other_load``: the CPU time that other
    processes on the machine used meanwhile, in cores (0 on an idle machine), from
    /proc/stat less this process tree's own.
    """
    busy_before, own_before = busy_cpu_seconds(), own_cpu_seconds()
    started = time.perf_counter()
    procs = {
        name: subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name, command in commands.items()
    }
    outputs: dict[str, tuple[str, str, float]] = {}
    try:
        for name, proc in procs.items():
            left = max(1.0, timeout - (time.perf_counter() - started))
            out, err = proc.communicate(timeout=left)
            outputs[name] = (out, err, time.perf_counter() - started)
    except subprocess.TimeoutExpired as exc:
        for proc in procs.values():
            proc.kill()
            proc.wait()
        raise SystemExit(f"timed out after {timeout:.0f} s: {exc.cmd}") from exc
    wall = time.perf_counter() - started
    other = max(0.0, busy_cpu_seconds() - busy_before - (own_cpu_seconds() - own_before))
    results = {}
    for name, proc in procs.items():
        out, err, seconds = outputs[name]
        command = " ".join(commands[name])
        if proc.returncode != 0:
            sys.stderr.write(err)
            raise SystemExit(f"exit status {proc.returncode}: {command}")
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if not lines:
            raise SystemExit(f"no JSON output from: {command}\n{out}{err}")
        result: dict[str, Any] = json.loads(lines[-1])
        result["wall_seconds"] = round(seconds, 3)
        result["other_load"] = round(other / wall, 3) if wall > 0 else 0.0
        results[name] = result
    return results


def setup_seconds(result: dict[str, Any]) -> float:
    """Key set-up (cache, and dataset in fast mode) as each program reports it."""
    if "key_setup_seconds" in result:
        return float(result["key_setup_seconds"])
    return float(result.get("setup_seconds", 0.0))


def cpu_ratio(results: dict[str, dict[str, Any]]) -> float | None:
    backend = results["backend"].get("hashes_per_cpu_second")
    anchor = results["anchor"].get("hashes_per_cpu_second")
    return backend / anchor if backend and anchor else None


# -- the comparison -------------------------------------------------------------------


def measure_pair(
    args: argparse.Namespace, anchor: Path, op: str, order: list[str], timeout: float
) -> tuple[dict[str, dict[str, Any]], int]:
    """Both sides of one round, measured again while other processes were busy.

    One after the other in ``order``; with ``--paired``, both at once, hashing from the
    same instant on (``--start-at``), so that both see the same machine.
    """
    for attempt in range(1, args.retries + 2):
        if args.wait_idle > 0:
            wait_idle(OTHER_LOAD_LIMIT, args.wait_idle)
        if args.paired:
            start_at = time.time() + args.paired_lead
            commands = {
                "anchor": anchor_command(anchor, args, op, start_at),
                "backend": backend_command(args, op, start_at),
            }
            results = run_json({side: commands[side] for side in order}, timeout)
        else:
            commands = {
                "anchor": anchor_command(anchor, args, op),
                "backend": backend_command(args, op),
            }
            results = {}
            for side in order:
                results.update(run_json({side: commands[side]}, timeout))
        if max(r["other_load"] for r in results.values()) <= OTHER_LOAD_LIMIT:
            break
        if attempt <= args.retries:
            print(f"      {op}: other processes were busy; measuring again", flush=True)
    return results, attempt


def summarise(args: argparse.Namespace, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    summary = []
    for op in args.ops:
        mine = [r for r in records if r["op"] == op]
        clean = [r for r in mine if r["clean"]]
        cpu = [r["cpu_ratio"] for r in mine if r["cpu_ratio"] is not None]
        median_ratio = statistics.median(r["ratio"] for r in mine)
        entry = {
            "mode": args.mode,
            "threads": args.threads,
            "op": op,
            "anchor_hps_median": statistics.median(r["anchor"]["hashes_per_second"] for r in mine),
            "backend_hps_median": statistics.median(
                r["backend"]["hashes_per_second"] for r in mine
            ),
            "ratio_median": round(median_ratio, 4),
            "ratios": [r["ratio"] for r in mine],
            "clean_rounds": len(clean),
            "clean_ratio_median": (
                round(statistics.median(r["ratio"] for r in clean), 4) if clean else None
            ),
            "cpu_ratio_median": round(statistics.median(cpu), 4) if cpu else None,
            "cpu_ratios": cpu,
            "goal_met": median_ratio >= GOAL,
        }
        summary.append(entry)
        line = (
            f"median {op:<7} anchor {entry['anchor_hps_median']:.2f} H/s, "
            f"backend {entry['backend_hps_median']:.2f} H/s, ratio {median_ratio:.3f} "
            f"({'meets' if entry['goal_met'] else 'MISSES'} the {GOAL} goal)"
        )
        if clean and len(clean) < len(mine):
            line += f"; {len(clean)} clean round(s): {entry['clean_ratio_median']:.3f}"
        if cpu:
            line += f"; per CPU second: {entry['cpu_ratio_median']:.3f}"
        print(line)
    if any(not r["clean"] for r in records):
        print(
            f"* other processes used more than {OTHER_LOAD_LIMIT} of a core during the "
            "round: its wall-clock rates are not trustworthy"
        )
    return summary


def compare(args: argparse.Namespace, anchor: Path) -> list[dict[str, Any]]:
    # Bounded: light set-up takes seconds, fast set-up about a minute on 2 cores.
    timeout = args.seconds + (600.0 if args.mode == "fast" else 120.0)
    if args.paired:
        timeout += args.paired_lead
    records: list[dict[str, Any]] = []
    print(
        f"RandomX {args.mode}, {args.threads} thread(s), {args.seconds:g} s per run, "
        f"{args.rounds} round(s), backend via {args.backend}"
        + (", paired (both sides at once)" if args.paired else "")
    )
    print(
        f"{'round':>5} {'op':<7} {'anchor H/s':>11} {'backend H/s':>12} {'ratio':>6} "
        f"{'cpu ratio':>9} {'other load':>10}"
    )
    for round_index in range(1, args.rounds + 1):
        for op in args.ops:
            order = ["anchor", "backend"] if round_index % 2 else ["backend", "anchor"]
            results, attempts = measure_pair(args, anchor, op, order, timeout)
            ratio = results["backend"]["hashes_per_second"] / results["anchor"]["hashes_per_second"]
            by_cpu = cpu_ratio(results)
            other = max(r["other_load"] for r in results.values())
            late = max(r.get("start_late_seconds", 0.0) for r in results.values())
            record = {
                "round": round_index,
                "op": op,
                "first": order[0],
                "anchor": results["anchor"],
                "backend": results["backend"],
                "ratio": round(ratio, 4),
                "cpu_ratio": round(by_cpu, 4) if by_cpu is not None else None,
                "attempts": attempts,
                "other_load": other,
                "start_late_seconds": late if args.paired else None,
                "clean": other <= OTHER_LOAD_LIMIT and late <= 0,
            }
            records.append(record)
            print(
                f"{round_index:>5} {op:<7} {results['anchor']['hashes_per_second']:>11.2f} "
                f"{results['backend']['hashes_per_second']:>12.2f} {ratio:>6.3f} "
                + (f"{by_cpu:>9.3f} " if by_cpu is not None else f"{'-':>9} ")
                + f"{other:>9.2f}{' ' if record['clean'] else '*'}"
                f"  (set-up s: anchor {setup_seconds(results['anchor']):.1f}, "
                f"backend {setup_seconds(results['backend']):.1f}; first: {order[0]}"
                + (f"; started {late:.1f} s late" if args.paired and late > 0 else "")
                + ")",
                flush=True,
            )
    summary = summarise(args, records)
    if args.json_out is not None:
        args.json_out.write_text(json.dumps({"runs": records, "summary": summary}, indent=2) + "\n")
    return summary


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--mode", choices=["light", "fast"], default="light")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=20.0, help="hashing time per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--ops", default="search,batch", help="comma-separated: search, batch (default both)"
    )
    parser.add_argument(
        "--backend",
        choices=["runner", "cli"],
        default="runner",
        help="runner: run_benchmark in a fresh process, with CPU time (default); "
        "cli: the zion bench randomx --json command",
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=120.0,
        help="before each round, wait up to this many seconds for other processes to "
        "leave the CPU alone (0: do not wait)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=2,
        help="measure a round again (up to this many times) when other processes were busy",
    )
    parser.add_argument(
        "--paired",
        action="store_true",
        help="run anchor and backend at the same time, each with --threads threads, "
        "hashing from the same instant (use --threads 1 on 2 cores)",
    )
    parser.add_argument(
        "--paired-lead",
        type=float,
        help="with --paired: seconds from launch to the common start, which must cover "
        "both set-ups (default: 10 light, 90 fast)",
    )
    parser.add_argument("--start-at", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument(
        "--thp",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="let the backend ask for transparent huge pages (the anchor does not, so the "
        "default, off, compares the same memory)",
    )
    parser.add_argument("--json-out", type=Path, help="also write every result here")
    parser.add_argument(
        "--keep-build", type=Path, help="build the anchor in this directory and keep it"
    )
    parser.add_argument("--backend-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--op", choices=list(OPS), default="search", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.paired_lead is None:
        args.paired_lead = 90.0 if args.mode == "fast" else 10.0
    args.ops = [op.strip() for op in args.ops.split(",") if op.strip()]
    for op in args.ops:
        if op not in OPS:
            parser.error(f"unknown op {op!r}: choose from {', '.join(OPS)}")
    if args.threads < 1 or args.rounds < 1 or args.seconds <= 0 or args.retries < 0:
        parser.error("--threads and --rounds must be at least 1, --seconds positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.backend_child:
        print(json.dumps(backend_child(args)))
        return 0
    args.key = bench_key_hex()
    needed = FAST_MIN_AVAILABLE * (2 if args.paired else 1)
    if args.mode == "fast" and mem_available() < needed:
        print(
            f"fast mode needs MemAvailable >= {needed >> 30} GiB "
            f"(have {mem_available() / (1 << 30):.1f} GiB): skipped",
            file=sys.stderr,
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="zion-rx-anchor-") as tmp:
        directory = args.keep_build or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        summary = compare(args, build_anchor(directory))
    return 0 if all(entry["goal_met"] for entry in summary) else 1


if __name__ == "__main__":
    raise SystemExit(main())
