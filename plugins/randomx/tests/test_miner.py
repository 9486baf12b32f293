"""The built-in miner (``zion mine``) against the test Stratum server (tools/stratum_harness.py).

Real RandomX in light mode (~25-40 ms per hash and core here) with low difficulties, so
that shares come every second or two; every submitted share is re-hashed and compared
bit for bit. A fake backend (SHA-256 instead of RandomX) covers key handling quickly.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.from_thread import start_blocking_portal
from zion_plugin_randomx.backend import RandomXCpu
from zion_plugin_randomx.binding import AllocationError, set_nonce
from zion_plugin_randomx.config import RandomXConfig
from zion_plugin_randomx.miner import (
    HashrateMeter,
    LogStatus,
    Miner,
    MinerError,
    MinerOptions,
    MinerStatus,
    WorkBoard,
)
from zion_plugin_randomx.stratum import PoolAddress, agent_string, parse_job

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.stratum_harness import (  # noqa: E402
    StratumHarness,
    Submission,
    make_job,
    meets_target,
)

DIFF = 30  # ~1 s per share at light-mode speed on one thread
SEED_2 = hashlib.sha256(b"zion-test-seed-2").hexdigest()
SEED_3 = hashlib.sha256(b"zion-test-seed-3").hexdigest()


@pytest.fixture(scope="module")
def rx() -> Iterator[RandomXCpu]:
    """One light-mode backend (preparing next keys) for the miners and the checks here."""
    backend = RandomXCpu(RandomXConfig(mode="light", threads=1, prepare_next=True))
    yield backend
    backend.close()


def options(port: int, **changes: Any) -> MinerOptions:
    values: dict[str, Any] = {
        "pool": PoolAddress("127.0.0.1", port),
        "login": "ZionTestAddress",
        "rig_id": "rig1",
        "threads": 1,
        "backoff": (0.2, 1.0),
    }
    values.update(changes)
    return MinerOptions(**values)


@asynccontextmanager
async def mining(harness: StratumHarness, backend: Any, **changes: Any) -> AsyncIterator[Miner]:
    """The harness and a miner pointed at it; the miner is stopped (promptly) on exit."""
    async with anyio.create_task_group() as tg:
        port = await tg.start(harness.serve)
        miner = Miner(options(port, **changes), backend, status=LogStatus(interval=1.0))
        done = anyio.Event()

        async def run() -> None:
            try:
                await miner.run()
            finally:
                done.set()

        tg.start_soon(run)
        yield miner
        began = time.perf_counter()
        miner.stop()
        with anyio.fail_after(10):
            await done.wait()
        assert time.perf_counter() - began < 2.0  # threads stop within a hash or two
        tg.cancel_scope.cancel()


async def wait_for_job_shares(
    harness: StratumHarness,
    job_id: str,
    n: int,
    timeout: float,  # noqa: ASYNC109
) -> list[Submission]:
    with anyio.fail_after(timeout):
        while sum(s.job_id == job_id for s in harness.submissions) < n:
            await harness.wait_for_submissions(len(harness.submissions) + 1, timeout)
    return list(harness.submissions)


def check_share(rx: RandomXCpu, share: Submission) -> None:
    """The share's result is the RandomX hash of the job blob with its nonce, and meets the target."""
    blob = bytes.fromhex(share.job["blob"])
    nonce = int.from_bytes(bytes.fromhex(share.nonce), "little")
    hashing_blob = set_nonce(blob, 39, nonce)
    assert hashing_blob[39:43].hex() == share.nonce
    expected = rx.hash(hashing_blob, key=bytes.fromhex(share.job["seed_hash"]))
    assert expected.hex() == share.result
    assert meets_target(share.result, share.job["target"])


# --- units -------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_hashrate_meter_windows() -> None:
    clock = FakeClock()
    meter = HashrateMeter(clock)
    assert meter.rate(10) == 0.0
    meter.start()
    for _ in range(120):  # 120 s at 50 H/s, then 10 s at 100 H/s
        clock.now += 1
        meter.add(50)
    for _ in range(10):
        clock.now += 1
        meter.add(100)
    assert meter.rate(10) == pytest.approx(100)
    assert meter.rate(60) == pytest.approx((50 * 50 + 10 * 100) / 60)
    assert meter.total == 120 * 50 + 10 * 100
    assert meter.elapsed() == pytest.approx(130)
    fresh = HashrateMeter(clock)
    fresh.start()
    clock.now += 2
    fresh.add(40)
    assert fresh.rate(10) == pytest.approx(20)  # over the 2 s since the start


def test_work_board_sets_and_clears_stop_flags() -> None:
    board = WorkBoard(2)
    job = parse_job(make_job("1", difficulty=DIFF))
    board.publish(job)
    assert [flag[0] for flag in board.stops] == [1, 1]
    assert board.next_work(0, -1) == (job, 1)
    assert [flag[0] for flag in board.stops] == [0, 1]
    board.publish(None)
    assert board.stops[0][0] == 1
    got: list[Any] = []
    waiter = threading.Thread(target=lambda: got.append(board.next_work(1, 2)))
    waiter.start()
    time.sleep(0.05)
    assert waiter.is_alive()  # paused: no job
    board.publish(job)
    waiter.join(5)
    assert got == [(job, 3)]
    board.shutdown()
    assert board.next_work(0, 3) is None


def test_status_line() -> None:
    status = MinerStatus(pool="127.0.0.1:1", threads=2, connected=True, difficulty=50, height=9)
    status.hashrate_10s, status.hashrate_60s, status.accepted = 24.56, 20.0, 3
    assert status.line() == (
        "speed 10s/60s 24.6/20.0 H/s, accepted 3, rejected 0, diff 50, height 9, "
        "pool 127.0.0.1:1, 2 thread(s)"
    )


# --- against the harness: real RandomX ----------------------------------------------------


@pytest.mark.anyio
async def test_miner_finds_shares_that_verify(rx: RandomXCpu) -> None:
    harness = StratumHarness(make_job("1", difficulty=DIFF, height=5))
    async with mining(harness, rx) as miner:
        shares = await harness.wait_for_submissions(2, timeout=50)
        with anyio.fail_after(10):
            while miner.status.accepted < 2:
                await anyio.sleep(0.05)
    assert harness.logins == [
        {
            "login": "ZionTestAddress",
            "pass": "x",
            "agent": agent_string(),
            "algo": ["rx/0"],
            "rigid": "rig1",
        }
    ]
    assert harness.rejections == []
    for share in shares:
        assert share.params["algo"] == "rx/0"
        check_share(rx, share)
    summary = miner.summary()
    assert summary["accepted"] >= 2
    assert summary["rejected"] == 0
    assert summary["difficulty"] == DIFF
    assert summary["height"] == 5
    assert summary["hashes"] > 0
    assert summary["hashes_per_second"] > 0
    assert summary["logins"] == 1
    assert miner.board.job is not None


@pytest.mark.anyio
async def test_new_jobs_switch_the_miner(rx: RandomXCpu) -> None:
    harness = StratumHarness(make_job("1", difficulty=DIFF))
    async with mining(harness, rx) as miner:
        await wait_for_job_shares(harness, "1", 1, timeout=40)
        # same key, new work: the thread switches within one hash
        await harness.push_job(make_job("2", difficulty=DIFF, height=2))
        await wait_for_job_shares(harness, "2", 2, timeout=40)
        # a new seed_hash: the miner sets the new key (off the event loop) and prepares the next
        await harness.push_job(
            make_job("3", difficulty=DIFF, height=3, seed_hash=SEED_2) | {"next_seed_hash": SEED_3}
        )
        shares = await wait_for_job_shares(harness, "3", 2, timeout=40)
        assert miner.board.job is not None
        assert miner.board.job.job_id == "3"
    order = [s.job_id for s in shares]
    assert order.index("2") > max(i for i, j in enumerate(order) if j == "1")
    assert order.index("3") > max(i for i, j in enumerate(order) if j == "2")
    assert harness.rejections == []
    held = rx.keys.held()  # the keys held or being built
    assert bytes.fromhex(SEED_3) in held  # prepared in the background
    for share in shares:
        check_share(rx, share)


@pytest.mark.anyio
async def test_nicehash_keeps_the_pools_nonce_byte(rx: RandomXCpu) -> None:
    base = bytes.fromhex(make_job("1", difficulty=DIFF)["blob"])
    blob = base[:39] + bytes([0, 0, 0, 0x5A]) + base[43:]
    harness = StratumHarness(make_job("1", difficulty=DIFF, blob=blob))
    async with mining(harness, rx):
        shares = await harness.wait_for_submissions(2, timeout=50)
    for share in shares:
        assert share.nonce.endswith("5a")
        check_share(rx, share)


# --- key handling, nonce ranges: a fake backend -------------------------------------------


def fake_hash(key: bytes, blob: bytes) -> bytes:
    return hashlib.sha256(key + blob).digest()


class FakeBackend:
    """SHA-256 instead of RandomX, ~2 ms per hash; records key calls and their threads."""

    def __init__(self) -> None:
        self.set_keys: list[tuple[bytes, int]] = []
        self.prepared: list[bytes] = []
        self.closed = False

    def set_key(self, key: bytes, *, in_place: bool | None = None) -> None:
        self.set_keys.append((key, threading.get_ident()))
        time.sleep(0.2)

    def prepare_key(self, key: bytes) -> None:
        self.prepared.append(key)

    def scan(
        self,
        blob: bytes,
        *,
        nonce_offset: int,
        start: int,
        count: int,
        target: int,
        key: bytes | None = None,
        stop: Any = None,
    ) -> tuple[list[tuple[int, bytes]], int]:
        assert key is not None
        hits = []
        hashed = 0
        for nonce in range(start, start + count):
            if stop is not None and stop[0]:
                break
            time.sleep(0.002)
            digest = fake_hash(key, set_nonce(blob, nonce_offset, nonce))
            hashed += 1
            if int.from_bytes(digest, "little") <= target:
                hits.append((nonce, digest))
        return hits, hashed

    def close(self) -> None:
        self.closed = True


@pytest.mark.anyio
async def test_keys_are_set_off_the_event_loop_and_threads_split_nonces() -> None:
    backend = FakeBackend()
    harness = StratumHarness(make_job("1", difficulty=20))
    loop_thread = threading.get_ident()
    async with mining(harness, backend, threads=2) as miner:
        await wait_for_job_shares(harness, "1", 6, timeout=30)
        await harness.push_job(
            make_job("2", difficulty=20, seed_hash=SEED_2) | {"next_seed_hash": SEED_3}
        )
        shares = await wait_for_job_shares(harness, "2", 4, timeout=30)
        assert miner.shares_found >= 10
    seeds = [key for key, _ in backend.set_keys]
    assert seeds == [bytes.fromhex(make_job("1", 20)["seed_hash"]), bytes.fromhex(SEED_2)]
    assert all(thread != loop_thread for _, thread in backend.set_keys)
    assert backend.prepared == [bytes.fromhex(SEED_3)]
    assert not backend.closed  # the owner closes it
    for share in shares:
        nonce = int.from_bytes(bytes.fromhex(share.nonce), "little")
        key = bytes.fromhex(share.job["seed_hash"])
        digest = fake_hash(key, set_nonce(bytes.fromhex(share.job["blob"]), 39, nonce))
        assert digest.hex() == share.result
        assert meets_target(share.result, share.job["target"])
    job1 = [int.from_bytes(bytes.fromhex(s.nonce), "little") for s in shares if s.job_id == "1"]
    assert any(n < 1 << 31 for n in job1)  # thread 0's half
    assert any(n >= 1 << 31 for n in job1)  # thread 1's half


class BrokenBackend(FakeBackend):
    def set_key(self, key: bytes, *, in_place: bool | None = None) -> None:
        raise AllocationError("cannot allocate the RandomX cache (256 MiB)")


@pytest.mark.anyio
async def test_a_failing_backend_stops_the_miner_with_its_error() -> None:
    harness = StratumHarness(make_job("1", difficulty=20))
    async with anyio.create_task_group() as tg:
        port = await tg.start(harness.serve)
        miner = Miner(options(port, threads=2), BrokenBackend())
        with anyio.fail_after(10), pytest.raises(MinerError, match="cannot allocate"):
            await miner.run()
        assert not miner.key_build_pending
        tg.cancel_scope.cancel()


# --- the command ---------------------------------------------------------------------------


def zion(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZION_")}
    env["COLUMNS"] = "250"  # one line per message in rich's error box
    return subprocess.run(
        [sys.executable, "-m", "zion_core", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def test_zion_mine_command(rx: RandomXCpu) -> None:
    harness = StratumHarness(make_job("1", difficulty=DIFF))
    with start_blocking_portal() as portal:
        future, port = portal.start_task(harness.serve)
        try:
            began = time.perf_counter()
            done = zion(
                "mine", "--pool", f"127.0.0.1:{port}", "--address", "ZionCliAddress",
                "--threads", "1", "--mode", "light", "--duration", "20", "--json",
                timeout=60,
            )  # fmt: skip
            seconds = time.perf_counter() - began
        finally:
            future.cancel()
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["mode"] == "light"
    assert summary["threads"] == 1
    assert summary["hashes"] > 0
    assert 10 < summary["seconds"] <= 20.5
    assert summary["hashes_per_second"] == pytest.approx(
        summary["hashes"] / summary["seconds"], rel=0.01
    )
    assert summary["accepted"] >= 1
    assert summary["rejected"] == 0
    assert summary["accepted"] <= len(harness.submissions)
    assert seconds < 40
    assert harness.logins[0]["login"] == "ZionCliAddress"
    assert "accepted (1/0) diff 30" in done.stderr
    check_share(rx, harness.submissions[0])


def test_zion_mine_usage_errors_and_no_pool() -> None:
    bad = zion("mine", "--pool", "stratum+ssl://127.0.0.1:3333", "--address", "x", timeout=30)
    assert bad.returncode == 2
    assert "only plain TCP" in bad.stderr
    none = zion(
        "mine", "--pool", f"127.0.0.1:{unused_port()}", "--address", "x", "--threads", "1",
        "--duration", "1.5", "--json",
        timeout=30,
    )  # fmt: skip
    assert none.returncode == 1
    summary = json.loads(none.stdout.strip().splitlines()[-1])
    assert summary["logins"] == 0
    assert summary["connections"] >= 1
    assert "cannot connect to 127.0.0.1" in none.stderr


def unused_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("signum", "loop"),
    [(signal.SIGTERM, "asyncio"), (signal.SIGINT, "trio")],
    ids=["SIGTERM-asyncio", "SIGINT-trio"],
)
def test_zion_mine_stops_cleanly_on_a_signal(signum: int, loop: str) -> None:
    harness = StratumHarness(make_job("1", difficulty=DIFF))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZION_")}
    env["ZION_RUNTIME__ASYNC_BACKEND"] = loop
    with start_blocking_portal() as portal:
        future, port = portal.start_task(harness.serve)
        command = [
            sys.executable, "-m", "zion_core", "mine", "--pool", f"127.0.0.1:{port}",
            "--address", "ZionCliAddress", "--threads", "1", "--json",
        ]  # fmt: skip
        with subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        ) as process:
            try:
                deadline = time.monotonic() + 30
                while not harness.submissions and time.monotonic() < deadline:
                    time.sleep(0.1)
                assert harness.submissions, "no share within 30 s"
                process.send_signal(signum)
                began = time.monotonic()
                out, err = process.communicate(timeout=20)
                stopped_in = time.monotonic() - began
            finally:
                if process.poll() is None:
                    process.kill()
                future.cancel()
    assert process.returncode == 0, err
    assert stopped_in < 5
    assert f"event loop {loop}" in err
    assert f"{signal.Signals(signum).name} received; stopping" in err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["accepted"] >= 1
