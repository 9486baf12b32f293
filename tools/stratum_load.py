"""A Stratum load generator: many logged-in miners on one pool, real RandomX shares.

Run it as its own process, against a pool on loopback::

    python tools/stratum_load.py --pool 127.0.0.1:3333 --address ZDe... \\
        --connections 1000 --ramp 500 --duration 30 --submit-rate 20 --json load.json

It opens ``--connections`` TCP connections (``--ramp`` new ones per second), logs each in
as ``ADDRESS.w<N>`` (XMRig's login request), keeps reading what the pool pushes, and
answers ``keepalived`` like XMRig. With ``--submit-rate R`` it submits R shares per second
in all, spread over the miners: each is a real RandomX hash (light mode, the job's
``seed_hash`` as the key) of the miner's own blob with a fresh nonce, so the pool's
verification has real work to check. A share counts as "meeting the target" only when the
hash does; run the pool with difficulty 1 to have every share accepted.

It reports (text, and all numbers with ``--json``):

- connections established and failed, login latency (connect to login answer) p50/p99;
- submit reply latency p50/p99, replies by outcome (``OK`` or the error message);
- new jobs: for every template (jobs whose blobs share the header) seen by at least
  ``--broadcast-quorum`` of the miners,
  the spread from the first miner that got it to the last (p50/p99/max), a lower bound of
  the pool's broadcast latency that needs no clock shared with the pool; with
  ``--mark-file F``, the time (``time.time()``) written to F by whoever made the new tip
  is used as the start instead, and only templates first seen after it count;
- connections the pool closed.

Everything is bounded: ``--duration`` stops the run, and it never targets anything but
the loopback host it is given.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import resource
import statistics
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.stratum_harness import NONCE_OFFSET, meets_target  # noqa: E402

MAX_LINE = 64 * 1024
AGENT = "zion-stratum-load/1.0"


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0-1) by the nearest rank; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def summary(values: Sequence[float]) -> dict[str, float]:
    """n, p50, p99, max and mean of ``values`` (in the unit given)."""
    if not values:
        return {"n": 0, "p50": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0}
    return {
        "n": len(values),
        "p50": percentile(values, 0.50),
        "p99": percentile(values, 0.99),
        "max": max(values),
        "mean": statistics.fmean(values),
    }


def template_key(job: dict[str, Any]) -> str:
    """What identifies the template behind ``job``: its blob up to the nonce (the header:
    versions, timestamp and previous block id), which a pool that gives every miner a blob
    of its own keeps the same in all of one template's jobs."""
    return str(job.get("blob", ""))[: 2 * NONCE_OFFSET] or str(job.get("job_id"))


def loopback(host: str) -> str:
    """``host`` if it is a loopback address (or ``localhost``); ValueError otherwise."""
    if host == "localhost":
        return "127.0.0.1"
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(
            f"{host} is not a loopback address: the load generator targets loopback only"
        )
    return host


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft open-files limit towards ``wanted`` (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(hard, max(soft, wanted)) if hard != resource.RLIM_INFINITY else max(soft, wanted)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


@dataclass
class Miner:
    """One simulated miner's connection state."""

    index: int
    stream: SocketStream | None = None
    session: str = ""
    job: dict[str, Any] | None = None
    next_id: int = 2
    pending: dict[int, float] = field(default_factory=dict)


class Hasher:
    """RandomX light-mode hashing in one worker thread (a key change rebuilds the cache)."""

    def __init__(self) -> None:
        from zion_plugin_randomx.backend import RandomXCpu
        from zion_plugin_randomx.config import RandomXConfig

        self.backend = RandomXCpu(RandomXConfig(mode="light", threads=1))
        self.key: bytes | None = None
        self.lock = threading.Lock()

    def hash(self, seed: bytes, blob: bytes) -> bytes:
        with self.lock:
            if seed != self.key:
                self.backend.set_key(seed, in_place=True)
                self.key = seed
            result: bytes = self.backend.hash(blob)
            return result

    def close(self) -> None:
        self.backend.close()


class Load:
    """The run: miners, their counters, and the report."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.host = loopback(args.host)
        self.miners = [Miner(i) for i in range(args.connections)]
        self.connected = 0
        self.failed: Counter[str] = Counter()
        self.closed_by_pool = 0
        self.login_ms: list[float] = []
        self.submit_ms: list[float] = []
        self.replies: Counter[str] = Counter()
        self.job_arrivals: dict[str, list[float]] = defaultdict(list)
        self.hasher: Hasher | None = Hasher() if args.submit_rate > 0 else None
        self.started = time.monotonic()

    # -- one miner ------------------------------------------------------------------------

    async def send(self, miner: Miner, message: dict[str, Any]) -> None:
        assert miner.stream is not None
        await miner.stream.send(json.dumps(message, separators=(",", ":")).encode() + b"\n")

    async def run_miner(self, miner: Miner) -> None:
        began = time.monotonic()
        try:
            with anyio.fail_after(self.args.connect_timeout):
                miner.stream = await anyio.connect_tcp(self.host, self.args.port)
        except (OSError, TimeoutError) as exc:
            self.failed[type(exc).__name__] += 1
            return
        login = f"{self.args.address}.w{miner.index}"
        params = {"login": login, "pass": "x", "agent": AGENT, "algo": ["rx/0"]}
        try:
            await self.send(miner, {"id": 1, "jsonrpc": "2.0", "method": "login", "params": params})
            reader = BufferedByteReceiveStream(miner.stream)
            while True:
                line = await reader.receive_until(b"\n", MAX_LINE)
                self.on_line(miner, json.loads(line), began)
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            self.closed_by_pool += 1
        except anyio.DelimiterNotFound:
            self.failed["line too long"] += 1
        except (ValueError, AttributeError, TypeError):
            self.failed["malformed line from the pool"] += 1
        finally:
            if miner.stream is not None:
                await miner.stream.aclose()
                miner.stream = None

    def on_line(self, miner: Miner, message: dict[str, Any], began: float) -> None:
        now = time.monotonic()
        if message.get("method") == "job":
            job = message.get("params") or {}
            miner.job = job
            self.job_arrivals[template_key(job)].append(time.time())
            return
        request_id = message.get("id")
        if request_id == 1 and not miner.session:
            result = message.get("result")
            if not isinstance(result, dict):
                self.failed[f"login: {(message.get('error') or {}).get('message')}"] += 1
                return
            miner.session = str(result.get("id"))
            miner.job = result.get("job")
            self.connected += 1
            self.login_ms.append((now - began) * 1000)
            if miner.job:
                self.job_arrivals[template_key(miner.job)].append(time.time())
            return
        if isinstance(request_id, int) and request_id in miner.pending:
            self.submit_ms.append((now - miner.pending.pop(request_id)) * 1000)
            error = message.get("error")
            if error:
                self.replies[str(error.get("message"))] += 1
            else:
                self.replies[str((message.get("result") or {}).get("status"))] += 1

    # -- shares ---------------------------------------------------------------------------

    def share(self, miner: Miner) -> tuple[str, str] | None:
        """A nonce and the real RandomX hash of the miner's blob with it."""
        job, hasher = miner.job, self.hasher
        if not job or hasher is None:
            return None
        blob = bytearray(bytes.fromhex(job["blob"]))
        nonce = random.getrandbits(32).to_bytes(4, "little")
        blob[NONCE_OFFSET : NONCE_OFFSET + 4] = nonce
        result = hasher.hash(bytes.fromhex(job["seed_hash"]), bytes(blob))
        return nonce.hex(), result.hex()

    async def submitter(self) -> None:
        interval = 1.0 / self.args.submit_rate
        limiter = anyio.CapacityLimiter(1)
        while True:
            ready = [m for m in self.miners if m.session and m.job and m.stream is not None]
            if not ready:
                await anyio.sleep(0.1)
                continue
            miner = random.choice(ready)
            shared = await anyio.to_thread.run_sync(self.share, miner, limiter=limiter)
            if shared is not None and miner.stream is not None and miner.job is not None:
                nonce, result = shared
                if not meets_target(result, miner.job["target"]):
                    self.replies["(not sent: below the job's target)"] += 1
                else:
                    request_id = miner.next_id
                    miner.next_id += 1
                    miner.pending[request_id] = time.monotonic()
                    params = {
                        "id": miner.session,
                        "job_id": miner.job["job_id"],
                        "nonce": nonce,
                        "result": result,
                        "algo": "rx/0",
                    }
                    message = {"id": request_id, "jsonrpc": "2.0", "method": "submit"}
                    try:
                        await self.send(miner, {**message, "params": params})
                    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                        miner.pending.pop(request_id, None)
            await anyio.sleep(interval)

    # -- the run --------------------------------------------------------------------------

    async def progress(self) -> None:
        while True:
            await anyio.sleep(5)
            elapsed = time.monotonic() - self.started
            print(
                f"[{elapsed:6.1f} s] logged in {self.connected}/{len(self.miners)}, "
                f"failed {sum(self.failed.values())}, closed by the pool {self.closed_by_pool}, "
                f"replies {sum(self.replies.values())}",
                file=sys.stderr,
                flush=True,
            )

    async def run(self) -> dict[str, Any]:
        with anyio.move_on_after(self.args.duration):
            async with anyio.create_task_group() as tg:
                tg.start_soon(self.progress)
                if self.args.submit_rate > 0:
                    tg.start_soon(self.submitter)
                for miner in self.miners:
                    tg.start_soon(self.run_miner, miner)
                    await anyio.sleep(1.0 / self.args.ramp)
                await anyio.sleep_forever()
        if self.hasher is not None:
            self.hasher.close()
        return self.report()

    def broadcasts(self) -> dict[str, Any]:
        quorum = max(1, int(self.args.broadcast_quorum * max(1, self.connected)))
        mark = None
        if self.args.mark_file and Path(self.args.mark_file).exists():
            mark = float(Path(self.args.mark_file).read_text().split()[0])
        spreads: list[float] = []
        for arrivals in self.job_arrivals.values():
            if len(arrivals) < quorum or (mark is not None and min(arrivals) < mark):
                continue
            start = mark if mark is not None else min(arrivals)
            spreads.extend((t - start) * 1000 for t in arrivals)
        return {
            "jobs": len(self.job_arrivals),
            "from": "mark" if mark else "first",
            **summary(spreads),
        }

    def report(self) -> dict[str, Any]:
        return {
            "pool": f"{self.host}:{self.args.port}",
            "connections": len(self.miners),
            "logged_in": self.connected,
            "failed": dict(self.failed),
            "closed_by_pool": self.closed_by_pool,
            "login_ms": summary(self.login_ms),
            "submit_ms": summary(self.submit_ms),
            "replies": dict(self.replies),
            "job_broadcast_ms": self.broadcasts(),
            "seconds": round(time.monotonic() - self.started, 1),
        }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--pool", required=True, help="HOST:PORT on loopback")
    parser.add_argument("--address", required=True, help="the miners' payout address")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--ramp", type=float, default=500.0, help="new connections per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds, then stop")
    parser.add_argument("--submit-rate", type=float, default=0.0, help="shares per second in all")
    parser.add_argument("--connect-timeout", type=float, default=10.0)
    parser.add_argument("--broadcast-quorum", type=float, default=0.9)
    parser.add_argument("--mark-file", help="a file holding the time a new tip was made")
    parser.add_argument("--json", help="also write the report here")
    args = parser.parse_args(argv)
    host, _, port = args.pool.rpartition(":")
    args.host, args.port = host.strip("[]"), int(port)
    if args.connections < 1 or args.ramp <= 0 or args.duration <= 0 or args.submit_rate < 0:
        parser.error("--connections, --ramp and --duration must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    raise_fd_limit(args.connections + 64)
    report = anyio.run(Load(args).run)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0 if report["logged_in"] else 1


if __name__ == "__main__":
    sys.exit(main())
