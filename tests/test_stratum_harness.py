"""The test Stratum server (tools/stratum_harness.py): target helpers and protocol."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.stratum_harness import (  # noqa: E402
    MAX_U64,
    StratumHarness,
    difficulty_from_target_hex,
    make_job,
    meets_target,
    result_value64,
    target64_from_hex,
    target_hex_for_difficulty,
    validate_job,
)

# shared/reference/stratum-and-pools.md §1.4: diff, 4-byte, XMRig's reading of it, 8-byte.
TARGET_TABLE = [
    (1_000, "37894100", 1_000, "efa7c64b37894100"),
    (10_000, "b88d0600", 10_000, "cb10c7bab88d0600"),
    (120_000, "cf8b0000", 120_001, "10ece564cf8b0000"),
    (4_000_000, "31040000", 4_002_765, "7b2de8bd31040000"),
]


# --- target helpers --------------------------------------------------------------------


@pytest.mark.parametrize(("diff", "four", "read_as", "eight"), TARGET_TABLE)
def test_target_table(diff: int, four: str, read_as: int, eight: str) -> None:
    assert target_hex_for_difficulty(diff) == four
    assert difficulty_from_target_hex(four) == read_as
    assert target64_from_hex(four) == MAX_U64 // read_as
    assert target64_from_hex(eight) == MAX_U64 // diff
    assert eight == (MAX_U64 // diff).to_bytes(8, "little").hex()
    assert difficulty_from_target_hex(eight) == diff
    # XMRig's rebuilt 4-byte target never makes a share easier than asked.
    assert target64_from_hex(four) <= target64_from_hex(eight)


@pytest.mark.parametrize("diff", [4_000_001, 10_000_000, 2**40])
def test_target_above_four_million_is_eight_bytes(diff: int) -> None:
    target = target_hex_for_difficulty(diff)
    assert len(target) == 16
    assert int.from_bytes(bytes.fromhex(target), "little") == MAX_U64 // diff
    # floor((2^64-1)/floor((2^64-1)/d)) is d for moderate d, and never below it
    assert difficulty_from_target_hex(target) >= diff
    if diff <= 10_000_000:
        assert difficulty_from_target_hex(target) == diff


def test_target_edges() -> None:
    assert target_hex_for_difficulty(1) == "ffffffff"
    assert target64_from_hex("ffffffff") == MAX_U64
    for bad in ("", "00", "0000000000", "00000000", "0000000000000000"):
        with pytest.raises(ValueError, match="target"):
            target64_from_hex(bad)
    with pytest.raises(ValueError, match="difficulty"):
        target_hex_for_difficulty(0)


def test_meets_target_reads_bytes_24_to_31_little_endian() -> None:
    target = target_hex_for_difficulty(1_000)
    limit = target64_from_hex(target)
    below = bytes(24) + (limit - 1).to_bytes(8, "little")
    at = bytes(24) + limit.to_bytes(8, "little")
    assert result_value64(below.hex()) == limit - 1
    assert meets_target(below.hex(), target)
    assert not meets_target(at.hex(), target)
    # the first 24 bytes do not matter
    assert meets_target((b"\xff" * 24 + below[24:]).hex(), target)


def test_make_job_and_validate_job() -> None:
    job = make_job("j1", 200)
    blob = bytes.fromhex(job["blob"])
    assert len(blob) == 76
    assert blob[39:43] == bytes(4)
    assert job["target"] == target_hex_for_difficulty(200)
    assert len(job["seed_hash"]) == 64
    for key, value in [
        ("job_id", ""),
        ("blob", "00" * 42),
        ("blob", "0g" * 76),
        ("target", "00" * 5),
        ("algo", "rx/wow"),
        ("seed_hash", "00" * 31),
        ("height", "1"),
    ]:
        with pytest.raises(ValueError, match=key):
            validate_job({**job, key: value})


# --- protocol --------------------------------------------------------------------------


class Client:
    """A line-oriented JSON client: what a miner sends and reads."""

    def __init__(self, stream: SocketStream) -> None:
        self.stream = stream
        self.reader = BufferedByteReceiveStream(stream)

    async def send(self, message: dict[str, Any] | bytes) -> None:
        if isinstance(message, bytes):
            await self.stream.send(message)
        else:
            await self.stream.send(json.dumps(message).encode() + b"\n")

    async def receive(self) -> dict[str, Any]:
        with anyio.fail_after(5):
            line = await self.reader.receive_until(b"\n", 1 << 20)
        message = json.loads(line)
        assert isinstance(message, dict)
        return message

    async def call(self, req_id: int, method: str, params: Any) -> dict[str, Any]:
        await self.send({"id": req_id, "jsonrpc": "2.0", "method": method, "params": params})
        reply = await self.receive()
        assert reply["id"] == req_id
        assert reply["jsonrpc"] == "2.0"
        return reply

    async def login(self) -> tuple[str, dict[str, Any]]:
        reply = await self.call(
            1,
            "login",
            {"login": "wallet", "pass": "x", "agent": "test/1.0", "algo": ["rx/0", "rx/wow"]},
        )
        assert reply["error"] is None
        return reply["result"]["id"], reply["result"]["job"]


@asynccontextmanager
async def serving(harness: StratumHarness) -> AsyncIterator[int]:
    async with anyio.create_task_group() as tg:
        port = await tg.start(harness.serve)
        yield port
        tg.cancel_scope.cancel()


@asynccontextmanager
async def connected(port: int) -> AsyncIterator[Client]:
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        yield Client(stream)


def share(job: dict[str, Any], session: str, nonce: str = "01000000") -> dict[str, Any]:
    """A submit whose result is below the job's target (the harness does not hash)."""
    value = target64_from_hex(job["target"]) - 1
    result = (bytes(24) + value.to_bytes(8, "little")).hex()
    return {"id": session, "job_id": job["job_id"], "nonce": nonce, "result": result}


@pytest.mark.anyio
async def test_login_returns_session_and_job() -> None:
    job = make_job("a", 200)
    harness = StratumHarness(job)
    async with serving(harness) as port, connected(port) as client:
        reply = await client.call(
            1, "login", {"login": "wallet", "pass": "x", "agent": "test", "algo": ["rx/0"]}
        )
        assert reply["error"] is None
        result = reply["result"]
        assert isinstance(result["id"], str) and result["id"]
        assert result["job"] == job
        assert result["extensions"] == ["algo", "keepalive"]
        assert result["status"] == "OK"
        assert harness.logins[0]["login"] == "wallet"
        assert harness.port == port


@pytest.mark.anyio
async def test_submit_accepted_and_recorded() -> None:
    harness = StratumHarness(make_job("a", 200))
    async with serving(harness) as port, connected(port) as client:
        session, job = await client.login()
        params = share(job, session, nonce="0A0B0C0D")
        reply = await client.call(7, "submit", {**params, "algo": "rx/0"})
        assert reply == {"id": 7, "jsonrpc": "2.0", "error": None, "result": {"status": "OK"}}
        [sub] = await harness.wait_for_submissions(1, timeout=5)
        assert (sub.job_id, sub.nonce, sub.result) == ("a", "0a0b0c0d", params["result"])
        assert sub.job == job
        assert sub.session == session
        # the same share again is a duplicate, not a second submission
        again = await client.call(8, "submit", params)
        assert again["error"] == {"code": -1, "message": "Duplicate share"}
        assert len(harness.submissions) == 1


@pytest.mark.anyio
async def test_submit_rejections() -> None:
    harness = StratumHarness(make_job("a", 200))
    async with serving(harness) as port, connected(port) as client:
        before = await client.call(2, "submit", share(make_job("a", 200), "nobody"))
        assert before["error"] == {"code": -1, "message": "Unauthenticated"}
        session, job = await client.login()
        bad_job = await client.call(3, "submit", {**share(job, session), "job_id": "zzz"})
        assert bad_job["error"] == {"code": -1, "message": "Invalid job id"}
        assert "result" not in bad_job
        bad_session = await client.call(4, "submit", share(job, "other"))
        assert bad_session["error"]["message"] == "Unauthenticated"
        bad_nonce = await client.call(5, "submit", {**share(job, session), "nonce": "123"})
        assert bad_nonce["error"]["message"] == "Malformed nonce"
        high = {**share(job, session), "result": "ff" * 32}
        assert (await client.call(6, "submit", high))["error"]["message"] == (
            "Low difficulty share"
        )
        assert harness.submissions == []
        assert [r.message for r in harness.rejections] == [
            "Unauthenticated",
            "Invalid job id",
            "Unauthenticated",
            "Malformed nonce",
            "Low difficulty share",
        ]


@pytest.mark.anyio
async def test_keepalived_and_errors() -> None:
    harness = StratumHarness(make_job("a", 200))
    async with serving(harness) as port, connected(port) as client:
        session, _ = await client.login()
        reply = await client.call(9, "keepalived", {"id": session})
        assert reply == {
            "id": 9,
            "jsonrpc": "2.0",
            "error": None,
            "result": {"status": "KEEPALIVED"},
        }
        assert harness.keepalives == 1
        unknown = await client.call(10, "getjob", {})
        assert unknown["error"]["code"] == -32601
        assert isinstance(unknown["error"]["message"], str)
        await client.send(b"not json\n")
        parse = await client.receive()
        assert parse["id"] is None and parse["error"]["code"] == -32700
        # the connection still works after bad input
        assert (await client.call(11, "keepalived", {"id": session}))["error"] is None


@pytest.mark.anyio
async def test_login_without_rx0_is_refused_and_closed() -> None:
    harness = StratumHarness(make_job("a", 200))
    async with serving(harness) as port, connected(port) as client:
        reply = await client.call(1, "login", {"login": "w", "pass": "x", "algo": ["cn/r"]})
        assert reply["error"]["message"] == "Unsupported algorithm"
        with pytest.raises((anyio.IncompleteRead, anyio.EndOfStream)):
            await client.receive()
        assert harness.logins == []


@pytest.mark.anyio
async def test_push_job_notifies_logged_in_miners() -> None:
    harness = StratumHarness(make_job("a", 200))
    async with serving(harness) as port, connected(port) as first, connected(port) as second:
        session, _ = await first.login()
        await second.login()
        new = make_job("b", 1_000, height=2)
        assert await harness.push_job(new) == 2
        for client in (first, second):
            note = await client.receive()
            assert note == {"jsonrpc": "2.0", "method": "job", "params": new}
            assert "id" not in note
        # a share for the pushed job is accepted; the old job stays valid (stale, not invalid)
        ok = await first.call(2, "submit", share(new, session))
        assert ok["result"] == {"status": "OK"}
        old = await first.call(3, "submit", share(make_job("a", 200), session))
        assert old["result"] == {"status": "OK"}
        assert [s.job_id for s in harness.submissions] == ["b", "a"]
        assert harness.submissions[0].job == new
        # new logins get the pushed job; a job id cannot be pushed twice
        async with connected(port) as third:
            assert (await third.login())[1] == new
        with pytest.raises(ValueError, match="already used"):
            await harness.push_job(new)


@pytest.mark.anyio
async def test_callable_jobs_source_and_wait_timeout() -> None:
    counter = iter(range(100))
    harness = StratumHarness(lambda: make_job(f"j{next(counter)}", 200))
    async with serving(harness) as port, connected(port) as a, connected(port) as b:
        assert (await a.login())[1]["job_id"] == "j0"
        assert (await b.login())[1]["job_id"] == "j1"
        assert sorted(harness.jobs) == ["j0", "j1"]
        assert len(await harness.wait_for_logins(2, timeout=1)) == 2
        with pytest.raises(TimeoutError, match="1 submissions"):
            await harness.wait_for_submissions(1, timeout=0.2)
