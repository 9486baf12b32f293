"""The mining pool under load: memory per miner, new-job broadcast, verified shares, replies.

Starts a devnet node with the pool (``zion run --network devnet --plugin sqlite --plugin
randomx --plugin stratum``, light-mode RandomX, pool difficulty 1) with this interpreter,
one fresh node per part, and measures (the benchmark's own miners log in with a fixed
difficulty of 1, so that no vardiff retarget pushes them a job):

- **RSS per miner** and **broadcast latency** at each ``--miners`` count: VmRSS of the node
  with the benchmark's own single miner logged in, then with N more miners logged in by
  ``tools/stratum_load.py`` (a separate process, ``--ramp`` new connections a second);
  (after - before) / N. The RandomX cache is allocated before the first reading (the
  benchmark's miner submits a share first), so the difference holds no cache. Then the
  benchmark's miner submits a share that meets the network difficulty (1): a block, a new
  tip, a job for every miner. The time just before that submit is written to the load
  generator's ``--mark-file``; the load generator reports, from it, when each miner got its
  new job (p50/p99). That includes the share's RandomX verification, the block's
  connection and the new template; the benchmark's miner, the first in the pool's
  broadcast order, gets its job when the broadcast starts, so the broadcast itself is
  reported as each figure less that first job's time.
- **Verified shares/s vs raw RandomX**: the benchmark hashes shares for its own miners
  (64 connections) with ``RandomXCpu`` in light mode and as many threads as the pool's
  ``stratum.verify_threads`` (``--threads``), timing that (raw hashes/s); then sends them
  all at once and times the pool's answers (verified shares/s). That is one round; the
  ratio reported is the median of ``--rounds`` rounds (all are in the JSON). The node's
  network difficulty is out of reach in this part, so no share makes a block.
- **Submit reply latency**: shares one at a time, 50 ms apart (idle verifier), then at
  80 % of the verified rate just measured, evenly spaced, for ``--load-seconds``.

Goals: <= 16 KB per miner; broadcast p99 <= 50 ms at 1k miners and <= 300 ms at 10k;
verified / raw >= 0.9; submit reply p99 <= 20 ms idle and <= 100 ms at 80 %.

Everything runs on loopback and is bounded; the nodes are stopped at the end::

    uv run python benchmarks/bench_pool.py --miners 1000,10000 --json pool.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.provenance import code_version  # noqa: E402
from tools.stratum_load import percentile, summary  # noqa: E402

NONCE_OFFSET = 39
FILES = [
    "benchmarks/bench_pool.py",
    "tools/stratum_load.py",
    "plugins/stratum/zion_plugin_stratum/server.py",
    "plugins/stratum/zion_plugin_stratum/jobs.py",
    "plugins/stratum/zion_plugin_stratum/protocol.py",
]


def pool_address() -> str:
    """A devnet address for the pool and the miners."""
    from zion_core.chain.keys import WalletKeys

    return str(WalletKeys.from_seed(bytes([7]) * 32).address("devnet"))


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_kb(pid: int) -> int:
    """VmRSS of ``pid`` in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Node:
    """A ``zion run`` devnet node with the pool, in a subprocess."""

    def __init__(
        self, address: str, difficulty: int, threads: int, workdir: Path, mode: str = "light"
    ) -> None:
        self.port = free_port()
        self.data = Path(tempfile.mkdtemp(dir=workdir))
        zion = Path(sys.executable).parent / "zion"
        sets = [
            f"chain.initial_difficulty={difficulty}",
            f"stratum.pool_address={address}",
            f"stratum.bind=127.0.0.1:{self.port}",
            "stratum.start_difficulty=1",
            "stratum.min_difficulty=1",
            "stratum.allow_fixed_difficulty=true",
            "stratum.max_connections=20000",
            "stratum.max_connections_per_ip=20000",
            "stratum.refresh_seconds=3600",
            f"stratum.verify_threads={threads}",
            "stratum.verify_queue=4096",
            "stratum.ban_score=0",
            f"randomx.mode={mode}",
            f"randomx.threads={threads}",
        ]
        command = [str(zion), "run", "--network", "devnet", "--data-dir", str(self.data)]
        command += ["--plugin", "sqlite", "--plugin", "randomx", "--plugin", "stratum"]
        for item in sets:
            command += ["--set", item]
        self.log = (self.data / "node.log").open("w")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until the pool answers a login."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the node exited; see {self.data / 'node.log'}")
            try:
                miner = Miner(self.port, "probe", pool_address())
                miner.close()
                return
            except (OSError, RuntimeError):
                time.sleep(0.3)
        raise TimeoutError("the pool did not come up")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


class Miner:
    """One blocking Stratum connection of the benchmark."""

    def __init__(self, port: int, worker: str, address: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.file = self.sock.makefile("rb")
        self.lock = threading.Lock()
        self.send(
            {
                "id": 1,
                "method": "login",
                "params": {"login": f"{address}.{worker}+1", "pass": "x", "algo": ["rx/0"]},
            }
        )
        reply = self.receive()
        if not reply.get("result"):
            raise RuntimeError(f"login failed: {reply}")
        self.session: str = reply["result"]["id"]
        self.job: dict[str, Any] = reply["result"]["job"]
        # replies may take long (a fast-mode dataset is built at the first share): the
        # reader threads wait without a timeout, the benchmark's waits are bounded
        self.sock.settimeout(None)

    def send(self, message: dict[str, Any]) -> None:
        data = json.dumps(message, separators=(",", ":")).encode() + b"\n"
        with self.lock:
            self.sock.sendall(data)

    def receive(self) -> dict[str, Any]:
        line = self.file.readline()
        if not line:
            raise RuntimeError("the pool closed the connection")
        message: dict[str, Any] = json.loads(line)
        return message

    def submit(self, req_id: int, job_id: str, nonce: bytes, result: bytes) -> None:
        params = {
            "id": self.session,
            "job_id": job_id,
            "nonce": nonce.hex(),
            "result": result.hex(),
            "algo": "rx/0",
        }
        self.send({"id": req_id, "method": "submit", "params": params})

    def close(self) -> None:
        # wake the reader thread first: a blocked read holds the file's lock
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.file.close()


class Hashes:
    """RandomX in this process (``mode`` as the pool's verifier), ``threads`` hashes at a
    time."""

    def __init__(self, threads: int, mode: str = "light") -> None:
        from zion_plugin_randomx.backend import RandomXCpu
        from zion_plugin_randomx.config import RandomXConfig

        self.threads = threads
        self.backend = RandomXCpu(RandomXConfig(mode=mode, threads=threads))
        self.key: bytes | None = None

    def shares(
        self, jobs: Sequence[tuple[Miner, dict[str, Any]]], count: int
    ) -> tuple[list[tuple[Miner, str, bytes, bytes]], float]:
        """``count`` shares over ``jobs`` (round robin), and the seconds the hashing took."""
        key = bytes.fromhex(jobs[0][1]["seed_hash"])
        if key != self.key:
            self.backend.set_key(key)
            self.key = key
        work = []
        for index in range(count):
            miner, job = jobs[index % len(jobs)]
            nonce = (index // len(jobs) + random.getrandbits(20) * 4096).to_bytes(4, "little")
            blob = bytearray(bytes.fromhex(job["blob"]))
            blob[NONCE_OFFSET : NONCE_OFFSET + 4] = nonce
            work.append((miner, job["job_id"], nonce, bytes(blob)))
        began = time.perf_counter()
        with ThreadPoolExecutor(self.threads) as pool:
            results = list(pool.map(lambda item: self.backend.hash(item[3]), work))
        took = time.perf_counter() - began
        return [(m, j, n, r) for (m, j, n, _), r in zip(work, results, strict=True)], took

    def close(self) -> None:
        self.backend.close()


def connections(pid: int) -> int:
    """Open file descriptors of ``pid``."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def miners_part(
    args: argparse.Namespace, count: int, address: str, workdir: Path
) -> dict[str, Any]:
    """RSS per miner and broadcast latency with ``count`` miners."""
    node = Node(address, 1, args.threads, workdir)
    hashes = Hashes(1)
    try:
        node.wait_ready()
        pid = node.process.pid
        own = Miner(node.port, "bench", address)
        (share,), _ = hashes.shares([(own, own.job)], 1)
        own.submit(2, share[1], share[2], share[3])
        height, answered = own.job["height"], False
        while not answered or own.job["height"] <= height:
            message = own.receive()
            if message.get("method") == "job":
                own.job = message["params"]
            elif message.get("id") == 2:
                answered = True
        time.sleep(3)
        base_fds, base_rss = connections(pid), rss_kb(pid)
        mark = workdir / f"mark-{count}"
        report = workdir / f"load-{count}.json"
        ramp_seconds = count / args.ramp
        duration = ramp_seconds + args.settle + 12
        load = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tools" / "stratum_load.py"),
                f"--pool=127.0.0.1:{node.port}",
                f"--address={address}",
                f"--connections={count}",
                f"--ramp={args.ramp}",
                f"--duration={duration}",
                f"--mark-file={mark}",
                f"--json={report}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + duration - 8
        while connections(pid) < base_fds + count and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(args.settle)
        after_rss = rss_kb(pid)
        (share,), _ = hashes.shares([(own, own.job)], 1)
        mark.write_text(f"{time.time()}\n")
        own.submit(3, share[1], share[2], share[3])
        first_job = 0.0
        while not first_job:
            message = own.receive()
            if message.get("method") == "job":
                first_job = time.time()
        first_job_ms = (first_job - float(mark.read_text())) * 1000
        load.wait(duration + 30)
        result = json.loads(report.read_text())
        own.close()
        return {
            "miners": count,
            "logged_in": result["logged_in"],
            "rss_before_kb": base_rss,
            "rss_after_kb": after_rss,
            "rss_per_miner_kb": round((after_rss - base_rss) / max(1, result["logged_in"]), 2),
            "login_ms": result["login_ms"],
            "broadcast_from_submit_ms": result["job_broadcast_ms"],
            "first_job_from_submit_ms": round(first_job_ms, 2),
            "broadcast_p50_ms": round(result["job_broadcast_ms"]["p50"] - first_job_ms, 2),
            "broadcast_p99_ms": round(result["job_broadcast_ms"]["p99"] - first_job_ms, 2),
        }
    finally:
        hashes.close()
        node.stop()


def shares_part(args: argparse.Namespace, address: str, workdir: Path) -> dict[str, Any]:
    """Verified shares/s against raw hashes/s, and submit reply latency."""
    node = Node(address, 10**12, args.threads, workdir, args.mode)
    hashes = Hashes(args.threads, args.mode)
    try:
        node.wait_ready(300.0 if args.mode == "fast" else 60.0)  # a dataset takes a while
        miners = [Miner(node.port, f"s{i}", address) for i in range(64)]
        jobs = [(m, m.job) for m in miners]
        replies: dict[int, float] = {}
        outcomes: dict[str, int] = {}
        done = threading.Event()
        expected = [0]

        def reader(miner: Miner) -> None:
            while True:
                try:
                    message = miner.receive()
                except (OSError, RuntimeError, ValueError):
                    return
                if message.get("method") == "job":
                    continue
                now = time.perf_counter()
                key = str((message.get("error") or {}).get("message") or "OK")
                outcomes[key] = outcomes.get(key, 0) + 1
                replies[int(message["id"])] = now
                if len(replies) >= expected[0]:
                    done.set()

        threads = [threading.Thread(target=reader, args=(m,), daemon=True) for m in miners]
        for thread in threads:
            thread.start()
        total = args.saturate + args.idle + int(args.load_seconds * 200)
        # one share first: the verifier's key (a fast-mode dataset: a minute or more) is
        # built before anything is timed
        warm, _ = hashes.shares(jobs, 1)
        expected[0] = 1
        done.clear()
        warm_miner, warm_job, warm_nonce, warm_result = warm[0]
        warm_miner.submit(5, warm_job, warm_nonce, warm_result)
        if not done.wait(600):
            raise RuntimeError("the pool did not answer a share within 10 minutes")
        sent: dict[int, float] = {}
        req = [10]

        def fire(batch: Sequence[tuple[Miner, str, bytes, bytes]]) -> None:
            for miner, job_id, nonce, result in batch:
                req[0] += 1
                sent[req[0]] = time.perf_counter()
                miner.submit(req[0], job_id, nonce, result)

        # warm-up, not timed: a fast-mode dataset gets faster for a while after it is
        # built (its pages faulted in, huge pages), in the anchor and in the pool alike
        warmup = args.warmup if args.warmup >= 0 else (3000 if args.mode == "fast" else 200)
        if warmup:
            shares, _ = hashes.shares(jobs, warmup)
            expected[0] = len(replies) + len(shares)
            done.clear()
            fire(shares)
            done.wait(300)
        # raw and verified rates measured in turns, so that a slow spell of the shared
        # machine hits one round, not one side: the ratio is the median round's
        rounds = []
        for _ in range(args.rounds):
            shares, took = hashes.shares(jobs, args.saturate)
            raw_rate = args.saturate / took
            expected[0] = len(replies) + len(shares)
            done.clear()
            began = time.perf_counter()
            fire(shares)
            done.wait(120)
            ids = sorted(sent)[-len(shares) :]
            verified_rate = len(shares) / (max(replies.get(i, began) for i in ids) - began)
            rounds.append(
                {
                    "raw_hashes_per_s": round(raw_rate, 2),
                    "verified_shares_per_s": round(verified_rate, 2),
                    "ratio": round(verified_rate / raw_rate, 3),
                }
            )
        middle = sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2]
        raw, verified = middle["raw_hashes_per_s"], middle["verified_shares_per_s"]
        load_count = min(total, int(args.load_seconds * 0.8 * verified))
        more, _ = hashes.shares(jobs, args.idle + load_count)
        idle_ms = []
        for item in more[: args.idle]:
            expected[0] = len(replies) + 1
            done.clear()
            fire([item])
            done.wait(10)
            idle_ms.append((replies[req[0]] - sent[req[0]]) * 1000)
            time.sleep(0.05)
        rate = 0.8 * verified
        expected[0] = len(replies) + load_count
        done.clear()
        first = req[0] + 1
        start = time.perf_counter()
        for index, item in enumerate(more[args.idle :]):
            delay = start + index / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            fire([item])
        done.wait(60)
        load_ms = [(replies[i] - sent[i]) * 1000 for i in range(first, req[0] + 1) if i in replies]
        for miner in miners:
            miner.close()
        return {
            "threads": args.threads,
            "mode": args.mode,
            "raw_hashes_per_s": round(raw, 2),
            "verified_shares_per_s": round(verified, 2),
            "ratio": round(verified / raw, 3),
            "rounds": rounds,
            "warmup_shares": warmup,
            "outcomes": outcomes,
            "submit_idle_ms": summary(idle_ms),
            "submit_80pct_ms": {**summary(load_ms), "rate_per_s": round(rate, 2)},
            "p99_check": percentile(load_ms, 0.99),
        }
    finally:
        hashes.close()
        node.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--miners", default="1000,10000", help="comma-separated counts")
    parser.add_argument("--ramp", type=float, default=1000.0, help="connections per second")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds after the logins")
    parser.add_argument("--threads", type=int, default=2, help="verifier and raw threads")
    parser.add_argument("--saturate", type=int, default=600, help="shares sent at once")
    parser.add_argument("--rounds", type=int, default=5, help="raw/verified rounds (median)")
    parser.add_argument(
        "--warmup", type=int, default=-1, help="untimed shares first (fast: 3000, light: 200)"
    )
    parser.add_argument("--idle", type=int, default=50, help="shares sent one at a time")
    parser.add_argument("--load-seconds", type=float, default=8.0)
    parser.add_argument("--skip-shares", action="store_true")
    parser.add_argument(
        "--mode",
        choices=("light", "fast"),
        default="light",
        help="RandomX mode of the pool's verifier and of the raw anchor (shares part)",
    )
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    address = pool_address()
    results: dict[str, Any] = {"code": code_version(FILES), "cpus": os.cpu_count()}

    def save() -> str:  # after every part, so a failure later keeps what was measured
        text = json.dumps(results, indent=2)
        if args.json:
            Path(args.json).write_text(text + "\n")
        return text

    with tempfile.TemporaryDirectory(prefix="zion-bench-pool-") as tmp:
        workdir = Path(tmp)
        results["miners"] = []
        for count in (int(n) for n in args.miners.split(",") if n):
            results["miners"].append(miners_part(args, count, address, workdir))
            save()
        if not args.skip_shares:
            results["shares"] = shares_part(args, address, workdir)
    print(save())
    return 0


if __name__ == "__main__":
    sys.exit(main())
