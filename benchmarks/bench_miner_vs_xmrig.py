"""``zion mine`` hash rate as a ratio of stock XMRig 6.16 on the same machine.

Both miners mine the same job from a local Stratum harness (127.0.0.1 only), with the
same threads and RandomX mode, one after the other, for several rounds. The job's
difficulty is high, so neither finds shares: what is compared is hashing throughput.

- ``zion mine --duration S --json``: ``hashes_per_second`` counts from the first hash,
  so connecting and building the cache or dataset are not included.
- XMRig: the mean of its ``speed 10s`` log values after its first full 10 seconds of
  hashing (``--print-time 5``), which likewise leaves out its start-up.

XMRig comes from ``tools/xmrig.py`` (fetched and verified; never committed) and runs
with the safe flags, killed after at most ``S + 70`` seconds (fast mode ``S + 120``).
Goal: ratio >= 0.9, stretch >= 1.0.

    .venv/bin/python benchmarks/bench_miner_vs_xmrig.py --mode light --threads 2 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import anyio.from_thread

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.stratum_harness import StratumHarness, make_job  # noqa: E402
from tools.xmrig import ensure_xmrig, run_xmrig, xmrig_command  # noqa: E402

SPEED = re.compile(r"speed 10s/60s/15m ([0-9.]+|n/a)")
DIFFICULTY = 10**12  # no shares: a pure throughput comparison


def xmrig_rate(binary: Path, port: int, threads: int, mode: str, seconds: float) -> float:
    with tempfile.TemporaryDirectory(prefix="zion-xmrig-") as tmp:
        work = Path(tmp)
        log = work / "xmrig.log"
        argv = xmrig_command(
            binary,
            url=f"127.0.0.1:{port}",
            user="zion-bench",
            threads=threads,
            extra=[f"--randomx-mode={mode}", f"--log-file={log}"],
            print_time=5,
        )
        # start-up (dataset build in fast mode) comes first; allow for it, then sample
        warmup = 60 if mode == "fast" else 10
        with run_xmrig(
            argv, workdir=work, output=work / "stdout.txt", max_seconds=seconds + warmup + 60
        ) as proc:
            deadline = time.monotonic() + warmup + seconds + 30
            samples: list[float] = []
            while time.monotonic() < deadline and proc.poll() is None:
                time.sleep(1)
                text = log.read_text(errors="replace") if log.exists() else ""
                values = [float(v) for v in SPEED.findall(text) if v != "n/a"]
                # the first value covers a partial window: skip it
                samples = values[1:]
                if len(samples) * 5 >= seconds:
                    break
            text = log.read_text(errors="replace") if log.exists() else ""
        for line in text.splitlines():
            if " use " in line and "pool" in line and f"127.0.0.1:{port}" not in line:
                raise SystemExit(f"XMRig used a pool other than the harness: {line}")
        if not samples:
            raise SystemExit(f"XMRig reported no hash rate; log tail:\n{text[-2000:]}")
        return statistics.fmean(samples)


def zion_rate(
    port: int, threads: int, mode: str, seconds: float, thp: bool = True
) -> dict[str, float]:
    # --duration counts from start-up: leave room for the key (dataset) to be built
    duration = seconds + (60 if mode == "fast" else 5)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "zion_core",
            "mine",
            "--pool",
            f"127.0.0.1:{port}",
            "--address",
            "zion-bench",
            "--threads",
            str(threads),
            "--mode",
            mode,
            "--duration",
            str(duration),
            "--json",
            "--thp" if thp else "--no-thp",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 300,
        check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    if result.returncode != 0:
        raise SystemExit(f"zion mine failed ({result.returncode}):\n{result.stderr[-2000:]}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return {"hashes_per_second": float(data["hashes_per_second"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["light", "fast"], default="light")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--thp",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="zion mine asks for transparent huge pages (its default); --no-thp turns it off",
    )
    args = parser.parse_args()
    if args.seconds + 120 > 600:
        parser.error("keep --seconds at or below 480: every XMRig run is capped at 10 minutes")

    binary = ensure_xmrig()
    harness = StratumHarness(make_job("bench", DIFFICULTY, height=1))
    with anyio.from_thread.start_blocking_portal() as portal:
        future, port = portal.start_task(harness.serve)
        rows = []
        for round_no in range(1, args.rounds + 1):
            ours = zion_rate(port, args.threads, args.mode, args.seconds, args.thp)[
                "hashes_per_second"
            ]
            theirs = xmrig_rate(binary, port, args.threads, args.mode, args.seconds)
            rows.append((ours, theirs, ours / theirs))
            print(
                f"round {round_no}: zion mine {ours:.1f} H/s, XMRig {theirs:.1f} H/s, "
                f"ratio {ours / theirs:.3f}",
                flush=True,
            )
        future.cancel()
    ratios = [r for _, _, r in rows]
    summary = {
        "mode": args.mode,
        "threads": args.threads,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "zion_mine_hps_median": round(statistics.median(r[0] for r in rows), 2),
        "xmrig_hps_median": round(statistics.median(r[1] for r in rows), 2),
        "ratio_median": round(statistics.median(ratios), 3),
        "ratio_min": round(min(ratios), 3),
        "ratio_max": round(max(ratios), 3),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
