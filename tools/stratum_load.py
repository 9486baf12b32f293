"""A Stratum load generator: many logged-in miners on one pool, real RandomX shares.

Run it as its own process, against a pool on loopback::

    python tools/stratum_load.py --pool 127.0.0.1:3333 --address ZDe... \\
        --connections 1000 --ramp 500 --duration 30 --submit-rate 20 --json load.json

It opens ``--connections`` TCP connections (``--ramp`` new ones per second), logs each in
as ``ADDRESS.w<N>`` (XMRig's login request) and keeps reading what the pool pushes, all
from one thread with a selector, timestamping each read as it returns (so the generator
adds little to the latencies it measures). With ``--submit-rate R`` it submits R shares
per second in all, spread over the miners: each is a real RandomX hash (light mode, the job's
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
import contextlib
import errno
import ipaddress
import json
import queue
import random
import resource
import selectors
import socket
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
import anyio.to_thread

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
    sock: socket.socket | None = None
    began: float = 0.0
    connecting: bool = False
    session: str = ""
    job_line: bytes = b""
    """The miner's newest job: the raw ``job`` line, or the login reply's job as JSON."""
    job: dict[str, Any] | None = None
    next_id: int = 2
    pending: dict[int, float] = field(default_factory=dict)
    inbox: bytearray = field(default_factory=bytearray)
    outbox: bytearray = field(default_factory=bytearray)

    def current_job(self) -> dict[str, Any] | None:
        """The newest job, parsed when it is first needed."""
        if self.job_line:
            message = json.loads(self.job_line)
            self.job = message.get("params") if isinstance(message, dict) else None
            self.job_line = b""
        return self.job


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


def job_blob_key(line: bytes) -> str | None:
    """:func:`template_key` of a pushed ``job`` line, read without parsing the JSON (None
    when the line is not a job notification)."""
    if b'"job"' not in line or b'"result"' in line or b'"error"' in line:
        return None
    at = line.find(b'"blob"')
    if at < 0:
        return None
    quote = line.find(b'"', line.find(b":", at + 6) + 1)
    if quote < 0:
        return None
    return line[quote + 1 : quote + 1 + 2 * NONCE_OFFSET].decode("ascii", "replace")


class Load:
    """The run: miners, their counters, and the report.

    All sockets are served by one thread with a selector: connects at the ramp rate,
    reads, and writes. Each read is timestamped when it returns, and a pushed job line is
    recorded without parsing its JSON, so the reader adds little to the latencies it
    measures. Shares are hashed in another thread and handed to the selector thread.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.host = loopback(args.host)
        self.family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
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
        self.stop = threading.Event()
        self._outgoing: queue.SimpleQueue[tuple[Miner, bytes]] = queue.SimpleQueue()
        self._selector = selectors.DefaultSelector()
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)

    # -- the selector thread --------------------------------------------------------------

    def _connect(self, miner: Miner) -> None:
        sock = socket.socket(self.family, socket.SOCK_STREAM)
        sock.setblocking(False)
        miner.began = time.monotonic()
        code = sock.connect_ex((self.host, self.args.port))
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            self.failed[errno.errorcode.get(code, str(code))] += 1
            return
        miner.sock, miner.connecting = sock, True
        self._selector.register(sock, selectors.EVENT_WRITE, miner)

    def _connected(self, miner: Miner) -> None:
        assert miner.sock is not None
        code = miner.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self.failed[errno.errorcode.get(code, str(code))] += 1
            self._drop(miner)
            return
        miner.connecting = False
        login = f"{self.args.address}.w{miner.index}"
        params = {"login": login, "pass": "x", "agent": AGENT, "algo": ["rx/0"]}
        self._send(miner, {"id": 1, "jsonrpc": "2.0", "method": "login", "params": params})

    def _drop(self, miner: Miner) -> None:
        if miner.sock is not None:
            self._selector.unregister(miner.sock)
            miner.sock.close()
            miner.sock = None

    def _send(self, miner: Miner, message: dict[str, Any]) -> None:
        miner.outbox += json.dumps(message, separators=(",", ":")).encode() + b"\n"
        self._flush(miner)

    def _flush(self, miner: Miner) -> None:
        if miner.sock is None:
            return
        try:
            sent = miner.sock.send(miner.outbox)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self.closed_by_pool += 1
            self._drop(miner)
            return
        del miner.outbox[:sent]
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if miner.outbox else 0)
        self._selector.modify(miner.sock, events, miner)

    def _readable(self, miner: Miner) -> None:
        assert miner.sock is not None
        try:
            data = miner.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        arrived = time.time()
        if not data:
            self.closed_by_pool += 1
            self._drop(miner)
            return
        inbox = miner.inbox
        inbox += data
        while True:
            end = inbox.find(b"\n")
            if end < 0:
                if len(inbox) > MAX_LINE:
                    self.failed["line too long"] += 1
                    self._drop(miner)
                return
            line = bytes(inbox[:end])
            del inbox[: end + 1]
            key = job_blob_key(line)
            if key is not None:
                miner.job_line = line
                self.job_arrivals[key].append(arrived)
                continue
            try:
                message = json.loads(line)
                self.on_line(miner, message, arrived)
            except (ValueError, AttributeError, TypeError):
                self.failed["malformed line from the pool"] += 1
                self._drop(miner)
                return

    def on_line(self, miner: Miner, message: dict[str, Any], arrived: float) -> None:
        now = time.monotonic()
        request_id = message.get("id")
        if message.get("method") == "job":
            miner.job, miner.job_line = message.get("params") or {}, b""
            self.job_arrivals[template_key(miner.job)].append(arrived)
            return
        if request_id == 1 and not miner.session:
            result = message.get("result")
            if not isinstance(result, dict):
                self.failed[f"login: {(message.get('error') or {}).get('message')}"] += 1
                return
            miner.session = str(result.get("id"))
            miner.job, miner.job_line = result.get("job"), b""
            self.connected += 1
            self.login_ms.append((now - miner.began) * 1000)
            if miner.job:
                self.job_arrivals[template_key(miner.job)].append(arrived)
            return
        if isinstance(request_id, int) and request_id in miner.pending:
            self.submit_ms.append((now - miner.pending.pop(request_id)) * 1000)
            error = message.get("error")
            if error:
                self.replies[str(error.get("message"))] += 1
            else:
                self.replies[str((message.get("result") or {}).get("status"))] += 1

    def _handoff(self) -> None:
        """Send the submissions the hashing thread prepared."""
        with contextlib.suppress(BlockingIOError, InterruptedError):
            self._wake_read.recv(4096)
        while True:
            try:
                miner, payload = self._outgoing.get_nowait()
            except queue.Empty:
                return
            if miner.sock is not None and not miner.connecting:
                miner.outbox += payload
                self._flush(miner)

    def run_blocking(self) -> dict[str, Any]:
        """The whole run in the calling thread (see the class's description)."""
        args = self.args
        deadline = self.started + args.duration
        submitter = None
        if self.hasher is not None:
            submitter = threading.Thread(target=self.submitter, daemon=True)
            submitter.start()
        self._selector.register(self._wake_read, selectors.EVENT_READ, None)
        next_miner, last_progress, last_expiry = 0, self.started, self.started
        try:
            while not self.stop.is_set():
                now = time.monotonic()
                if now >= deadline:
                    break
                while (
                    next_miner < len(self.miners) and now >= self.started + next_miner / args.ramp
                ):
                    self._connect(self.miners[next_miner])
                    next_miner += 1
                timeout = deadline - now
                if next_miner < len(self.miners):
                    timeout = min(timeout, self.started + next_miner / args.ramp - now)
                for key, events in self._selector.select(max(0.0, min(timeout, 0.5))):
                    miner = key.data
                    if miner is None:
                        self._handoff()
                    elif miner.connecting:
                        self._connected(miner)
                    else:
                        if events & selectors.EVENT_READ and miner.sock is not None:
                            self._readable(miner)
                        if events & selectors.EVENT_WRITE and miner.sock is not None:
                            self._flush(miner)
                if time.monotonic() - last_expiry >= 0.5:
                    last_expiry = time.monotonic()
                    self._expire_connects(last_expiry)
                if time.monotonic() - last_progress >= 5:
                    last_progress = time.monotonic()
                    self.progress()
        finally:
            self.stop.set()
            if submitter is not None:
                submitter.join(timeout=30)
            for miner in self.miners:
                self._drop(miner)
            self._selector.close()
            self._wake_read.close()
            self._wake_write.close()
            if self.hasher is not None:
                self.hasher.close()
        return self.report()

    def _expire_connects(self, now: float) -> None:
        limit = self.args.connect_timeout
        for miner in self.miners:
            if miner.connecting and miner.sock is not None and now - miner.began > limit:
                self.failed["TimeoutError"] += 1
                self._drop(miner)
                miner.connecting = False

    # -- shares (the hashing thread) ------------------------------------------------------

    def share(self, miner: Miner) -> tuple[str, str] | None:
        """A nonce and the real RandomX hash of the miner's blob with it."""
        job, hasher = miner.current_job(), self.hasher
        if not job or hasher is None:
            return None
        blob = bytearray(bytes.fromhex(job["blob"]))
        nonce = random.getrandbits(32).to_bytes(4, "little")
        blob[NONCE_OFFSET : NONCE_OFFSET + 4] = nonce
        result = hasher.hash(bytes.fromhex(job["seed_hash"]), bytes(blob))
        return nonce.hex(), result.hex()

    def submitter(self) -> None:
        interval = 1.0 / self.args.submit_rate
        while not self.stop.is_set():
            ready = [m for m in self.miners if m.session and m.sock is not None]
            if not ready:
                self.stop.wait(0.1)
                continue
            miner = random.choice(ready)
            try:
                shared = self.share(miner)
            except (ValueError, KeyError, TypeError):
                shared = None
            job = miner.job
            if shared is not None and job is not None:
                nonce, result = shared
                if not meets_target(result, job["target"]):
                    self.replies["(not sent: below the job's target)"] += 1
                else:
                    request_id = miner.next_id
                    miner.next_id += 1
                    params = {
                        "id": miner.session,
                        "job_id": job["job_id"],
                        "nonce": nonce,
                        "result": result,
                        "algo": "rx/0",
                    }
                    message = {"id": request_id, "jsonrpc": "2.0", "method": "submit"}
                    payload = json.dumps({**message, "params": params}, separators=(",", ":"))
                    miner.pending[request_id] = time.monotonic()
                    self._outgoing.put((miner, payload.encode() + b"\n"))
                    with contextlib.suppress(BlockingIOError, OSError):
                        self._wake_write.send(b"\0")
            self.stop.wait(interval)

    # -- the run --------------------------------------------------------------------------

    def progress(self) -> None:
        elapsed = time.monotonic() - self.started
        print(
            f"[{elapsed:6.1f} s] logged in {self.connected}/{len(self.miners)}, "
            f"failed {sum(self.failed.values())}, closed by the pool {self.closed_by_pool}, "
            f"replies {sum(self.replies.values())}",
            file=sys.stderr,
            flush=True,
        )

    async def run(self) -> dict[str, Any]:
        """:meth:`run_blocking` in a worker thread (stopped if the caller is cancelled)."""
        try:
            return await anyio.to_thread.run_sync(self.run_blocking)
        finally:
            self.stop.set()

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
    report = Load(args).run_blocking()
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0 if report["logged_in"] else 1


if __name__ == "__main__":
    sys.exit(main())
