"""The miner's Stratum client: target math, messages, nicehash nonces, bad pool input,
and the connection loop (keepalive, reconnects) against scripted pools on 127.0.0.1."""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from anyio.abc import SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream
from zion_plugin_randomx.binding import set_nonce
from zion_plugin_randomx.stratum import (
    MAX_LINE_BYTES,
    MAX_U64,
    Job,
    KeepaliveAnswered,
    LineReader,
    LoggedIn,
    LoginFailed,
    NewJob,
    PoolAddress,
    PoolError,
    ProtocolProblem,
    ReconnectRequested,
    Share,
    ShareAccepted,
    ShareRejected,
    StratumClient,
    StratumConnector,
    StratumError,
    agent_string,
    backoff_delay,
    difficulty_from_target64,
    hash_value64,
    is_critical,
    meets_target64,
    nonce_hex,
    parse_job,
    parse_pool_address,
    target64_from_hex,
    target256_from_target64,
)

SEED = "11" * 32
NEXT_SEED = "22" * 32
BLOB = bytes(range(39)) + bytes(4) + bytes(range(100, 133))  # 76 bytes, zero nonce

# shared/reference/stratum-and-pools.md §1.4: diff, 4-byte, XMRig's reading of it, 8-byte.
TARGET_TABLE = [
    (1_000, "37894100", 1_000, "efa7c64b37894100"),
    (10_000, "b88d0600", 10_000, "cb10c7bab88d0600"),
    (120_000, "cf8b0000", 120_001, "10ece564cf8b0000"),
    (4_000_000, "31040000", 4_002_765, "7b2de8bd31040000"),
]


def job_params(job_id: str = "j1", **changes: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "job_id": job_id,
        "blob": BLOB.hex(),
        "target": "b88d0600",
        "algo": "rx/0",
        "height": 7,
        "seed_hash": SEED,
    }
    params.update(changes)
    return {k: v for k, v in params.items() if v is not ...}


def login_reply(
    job: dict[str, Any] | None = None, extensions: list[str] | None = None, session: Any = "s1"
) -> bytes:
    result = {
        "id": session,
        "job": job if job is not None else job_params(),
        "extensions": extensions if extensions is not None else ["algo", "keepalive"],
        "status": "OK",
    }
    return line({"id": 1, "jsonrpc": "2.0", "error": None, "result": result})


def line(message: Any) -> bytes:
    return json.dumps(message).encode() + b"\n"


def logged_in_client(**login_kwargs: Any) -> StratumClient:
    client = StratumClient(login="ZionAddr", agent="zion-miner/test")
    client.login()
    events = client.receive_data(login_reply(**login_kwargs))
    assert isinstance(events[0], LoggedIn)
    return client


def share_for(job: Job, nonce: int = 0x01020304) -> Share:
    return Share(job, nonce, bytes(range(32)))


# --- target math -----------------------------------------------------------------------


@pytest.mark.parametrize(("diff", "four", "read_as", "eight"), TARGET_TABLE)
def test_target_table(diff: int, four: str, read_as: int, eight: str) -> None:
    assert target64_from_hex(four) == MAX_U64 // read_as
    assert difficulty_from_target64(target64_from_hex(four)) == read_as
    assert target64_from_hex(eight) == MAX_U64 // diff
    assert difficulty_from_target64(target64_from_hex(eight)) == diff
    assert target64_from_hex(four.upper()) == target64_from_hex(four)
    # XMRig's rebuilt 4-byte target never makes a share easier than the 8-byte one.
    assert target64_from_hex(four) <= target64_from_hex(eight)


def test_four_byte_target_formula() -> None:
    for t in (1, 2, 0x1234, 0x00418937, 0xFFFFFFFF):
        expected = (2**64 - 1) // ((2**32 - 1) // t)
        assert target64_from_hex(t.to_bytes(4, "little").hex()) == expected
    assert target64_from_hex("ffffffff") == MAX_U64


@pytest.mark.parametrize(
    "bad",
    ["", "00", "000000", "0000000000", "00000000", "0000000000000000", "zzzzzzzz", "1234567"],
)
def test_bad_targets(bad: str) -> None:
    with pytest.raises(StratumError, match="target"):
        target64_from_hex(bad)


@pytest.mark.parametrize("bad", [None, 1234, ["ff"], b"ffffffff"])
def test_target_of_the_wrong_type(bad: object) -> None:
    with pytest.raises(StratumError, match="target must be a hex string"):
        target64_from_hex(bad)


@pytest.mark.parametrize("target_hex", ["b88d0600", "cf8b0000", "10ece564cf8b0000", "ffffffff"])
def test_target256_agrees_with_the_top_64_bits(target_hex: str) -> None:
    t64 = target64_from_hex(target_hex)
    t256 = target256_from_target64(t64)

    def scan_accepts(hash_: bytes) -> bool:  # what RandomXCpu.scan compares
        return int.from_bytes(hash_, "little") <= t256

    below_max = b"\xff" * 24 + (t64 - 1).to_bytes(8, "little")
    at_zero = bytes(24) + t64.to_bytes(8, "little")
    for hash_, qualifies in ((below_max, True), (at_zero, False), (bytes(32), True)):
        assert (hash_value64(hash_) < t64) is qualifies
        assert meets_target64(hash_, t64) is qualifies
        assert scan_accepts(hash_) is qualifies


def test_nonce_hex_is_the_little_endian_blob_bytes() -> None:
    assert nonce_hex(0x01020304) == "04030201"
    assert set_nonce(BLOB, 39, 0x01020304)[39:43].hex() == nonce_hex(0x01020304)
    assert nonce_hex(0) == "00000000"
    assert nonce_hex(0xFFFFFFFF) == "ffffffff"


# --- pool address and backoff --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("127.0.0.1:3333", "127.0.0.1", 3333),
        ("pool.example:80", "pool.example", 80),
        ("stratum+tcp://127.0.0.1:3333", "127.0.0.1", 3333),
        ("[::1]:3333", "::1", 3333),
    ],
)
def test_pool_address(text: str, host: str, port: int) -> None:
    assert parse_pool_address(text) == PoolAddress(host, port)


@pytest.mark.parametrize(
    "text", ["127.0.0.1", ":3333", "host:", "host:0", "host:65536", "host:x", "::1:3333",
             "stratum+ssl://host:3333"],
)  # fmt: skip
def test_bad_pool_address(text: str) -> None:
    with pytest.raises(StratumError):
        parse_pool_address(text)


def test_backoff_doubles_up_to_thirty_seconds() -> None:
    assert [backoff_delay(n) for n in range(8)] == [1, 2, 4, 8, 16, 30, 30, 30]
    assert backoff_delay(10_000) == 30


# --- messages ------------------------------------------------------------------------------


def test_login_request() -> None:
    client = StratumClient(login="ZionAddr", password="pw", agent="zion-miner/1.2", rig_id="rig7")
    message = json.loads(client.login())
    assert message == {
        "id": 1,
        "jsonrpc": "2.0",
        "method": "login",
        "params": {
            "login": "ZionAddr",
            "pass": "pw",
            "agent": "zion-miner/1.2",
            "algo": ["rx/0"],
            "rigid": "rig7",
        },
    }
    plain = json.loads(StratumClient(login="a").login())
    assert "rigid" not in plain["params"]
    assert plain["params"]["pass"] == "x"
    assert agent_string().startswith("zion-miner/")


def test_login_result() -> None:
    client = StratumClient(login="ZionAddr", connection=3)
    client.login(now=1.0)
    assert client.oldest_pending() == 1.0
    [event] = client.receive_data(login_reply(extensions=["algo", "NiceHash", 5, "keepalive"]))
    assert isinstance(event, LoggedIn)
    assert event.session_id == "s1"
    assert event.extensions == {"algo", "nicehash", "keepalive"}
    assert client.logged_in
    assert client.keepalive_enabled
    assert client.oldest_pending() is None
    job = event.job
    assert job.job_id == "j1"
    assert job.blob == BLOB
    assert job.seed_hash == bytes.fromhex(SEED)
    assert job.height == 7
    assert job.difficulty == 10_000
    assert job.connection == 3
    assert job.nicehash  # the pool's nicehash extension


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ({"id": 1, "error": {"code": -1, "message": "Invalid address"}}, "Invalid address"),
        ({"id": 1, "error": {"code": -1, "message": 42}}, "error -1 without a message"),
        ({"id": 1, "error": "just a string"}, "just a string"),
        ({"id": 1, "error": None, "result": True}, "login result must be an object"),
        ({"id": 1, "error": None, "result": {"id": 5, "job": {}}}, "id must be a string"),
        ({"id": 1, "error": None, "result": {"id": "s"}}, "has no job"),
        (
            {"id": 1, "error": None, "result": {"id": "s", "job": job_params(seed_hash="ab")}},
            "seed_hash must be 64 hex",
        ),
    ],
)
def test_login_failures(reply: dict[str, Any], message: str) -> None:
    client = StratumClient(login="ZionAddr")
    client.login()
    [event] = client.receive_data(line(reply))
    assert isinstance(event, LoginFailed)
    assert message in event.message
    assert not client.logged_in


def test_submit_request_and_replies() -> None:
    client = logged_in_client()
    assert client.job is not None
    share = share_for(client.job)
    first = json.loads(client.submit(share, now=10.0))
    second = json.loads(client.submit(share_for(client.job, 7), now=11.0))
    assert first == {
        "id": 2,
        "jsonrpc": "2.0",
        "method": "submit",
        "params": {
            "id": "s1",
            "job_id": "j1",
            "nonce": "04030201",
            "result": bytes(range(32)).hex(),
            "algo": "rx/0",
        },
    }
    assert second["id"] == 3
    assert client.oldest_pending() == 10.0
    ok = line({"id": 2, "jsonrpc": "2.0", "error": None, "result": {"status": "OK"}})
    [accepted] = client.receive_data(ok, now=10.5)
    assert isinstance(accepted, ShareAccepted)
    assert accepted.message == "OK"
    assert accepted.share == share
    assert accepted.seconds == pytest.approx(0.5)
    bad = line(
        {"id": 3, "jsonrpc": "2.0", "error": {"code": -1, "message": "Low difficulty share"}}
    )
    [rejected] = client.receive_data(bad, now=12.0)
    assert isinstance(rejected, ShareRejected)
    assert rejected.message == "Low difficulty share"
    assert not rejected.critical
    assert client.oldest_pending() is None


def test_submit_with_a_non_object_result_is_not_accepted() -> None:
    client = logged_in_client()
    assert client.job is not None
    client.submit(share_for(client.job))
    [event] = client.receive_data(line({"id": 2, "error": None, "result": True}))
    assert isinstance(event, ShareRejected)
    assert "non-object result" in event.message


@pytest.mark.parametrize(
    ("message", "critical"),
    [
        ("Unauthenticated", True),
        ("unauthenticated", True),
        ("IP Address currently banned", True),
        ("Your IP is banned", True),
        ("Invalid job id", True),
        ("INVALID JOB ID, stale", True),
        ("Low difficulty share", False),
        ("Duplicate share", False),
        ("Block expired", False),
        ("the job id is invalid", False),
    ],
)
def test_critical_errors(message: str, critical: bool) -> None:
    assert is_critical(message) is critical
    client = logged_in_client()
    assert client.job is not None
    client.submit(share_for(client.job))
    [event] = client.receive_data(line({"id": 2, "error": {"code": -1, "message": message}}))
    assert isinstance(event, ShareRejected)
    assert event.critical is critical


def test_keepalive() -> None:
    client = logged_in_client()
    assert json.loads(client.keepalive(now=5.0)) == {
        "id": 2,
        "jsonrpc": "2.0",
        "method": "keepalived",
        "params": {"id": "s1"},
    }
    reply = line({"id": 2, "jsonrpc": "2.0", "error": None, "result": {"status": "KEEPALIVED"}})
    assert client.receive_data(reply) == [KeepaliveAnswered()]
    client.keepalive()
    [event] = client.receive_data(
        line({"id": 3, "error": {"code": -1, "message": "Unauthenticated"}})
    )
    assert event == PoolError("keepalived: Unauthenticated", True)


def test_job_notifications() -> None:
    client = logged_in_client()
    note = {"jsonrpc": "2.0", "method": "job", "params": job_params("j2", next_seed_hash=NEXT_SEED)}
    [event] = client.receive_data(line(note))
    assert isinstance(event, NewJob)
    assert event.job.job_id == "j2"
    assert event.job.next_seed_hash == bytes.fromhex(NEXT_SEED)
    assert client.job == event.job
    # the identical job again: ignored (XMRig would reconnect)
    [again] = client.receive_data(line(note))
    assert isinstance(again, ProtocolProblem)
    assert "duplicate job" in again.message
    # a job notification carrying an error
    [error] = client.receive_data(
        line({"method": "job", "error": {"code": -1, "message": "Unauthenticated"}})
    )
    assert error == PoolError("job notification: Unauthenticated", True)


def test_reconnect_and_unknown_messages() -> None:
    client = logged_in_client()
    [event] = client.receive_data(line({"method": "client.reconnect", "params": ["h", 1]}))
    assert isinstance(event, ReconnectRequested)
    [event] = client.receive_data(line({"method": "mining.notify", "params": []}))
    assert isinstance(event, ProtocolProblem)
    [event] = client.receive_data(line({"id": 99, "result": {"status": "OK"}}))
    assert isinstance(event, ProtocolProblem)
    assert "unknown request id 99" in event.message
    [event] = client.receive_data(line({"id": "2", "result": {"status": "OK"}}))
    assert isinstance(event, ProtocolProblem)
    assert "non-integer id" in event.message


def test_job_before_login_is_ignored() -> None:
    client = StratumClient(login="a")
    client.login()
    [event] = client.receive_data(line({"method": "job", "params": job_params()}))
    assert isinstance(event, ProtocolProblem)
    assert "before the login" in event.message


# --- jobs and nicehash -------------------------------------------------------------------


def test_job_parsing_defaults() -> None:
    job = parse_job(job_params(algo=..., height="12"))
    assert job.height is None  # optional, only displayed
    assert not job.nicehash
    assert job.next_seed_hash is None
    assert job.nonce_space() == (0, 1 << 32)
    assert parse_job(job_params(algo="RandomX")).job_id == "j1"
    assert parse_job(job_params(next_seed_hash="zz")).next_seed_hash is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"job_id": 5}, "job_id must be a non-empty string"),
        ({"job_id": ""}, "job_id must be a non-empty string"),
        ({"job_id": ...}, "job_id must be a non-empty string"),
        ({"blob": 123}, "blob must be hex"),
        ({"blob": "xyz0"}, "blob must be hex"),
        ({"blob": BLOB.hex()[:-1]}, "blob must be hex"),
        ({"blob": "00" * 42}, "blob is 42 bytes; 43..407 expected"),
        ({"blob": "00" * 408}, "blob is 408 bytes; 43..407 expected"),
        ({"target": "b88d06"}, "target must be 4 or 8 bytes"),
        ({"target": "00000000"}, "target must not be zero"),
        ({"target": 600}, "target must be a hex string"),
        ({"target": ...}, "target must be a hex string"),
        ({"algo": "cn/r"}, "unsupported algorithm"),
        ({"algo": 0}, "unsupported algorithm"),
        ({"seed_hash": ...}, "seed_hash must be 64 hex"),
        ({"seed_hash": "1" * 63}, "seed_hash must be 64 hex"),
        ({"seed_hash": "g" * 64}, "seed_hash must be 64 hex"),
        ({"seed_hash": 1}, "seed_hash must be 64 hex"),
    ],
)
def test_bad_jobs(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(StratumError, match=message):
        parse_job({k: v for k, v in (job_params() | changes).items() if v is not ...})
    client = logged_in_client()
    params = {k: v for k, v in (job_params("j9") | changes).items() if v is not ...}
    [event] = client.receive_data(line({"method": "job", "params": params}))
    assert isinstance(event, ProtocolProblem)
    assert message in event.message
    assert client.job is not None
    assert client.job.job_id == "j1"  # the previous job stays


def test_job_params_must_be_an_object() -> None:
    with pytest.raises(StratumError, match="job must be an object"):
        parse_job(["j1"])


def test_nicehash_from_nonce_bytes_keeps_byte_42() -> None:
    blob = BLOB[:39] + bytes([0, 0, 0, 0x5A]) + BLOB[43:]
    job = parse_job(job_params(blob=blob.hex()))
    assert job.nicehash
    first, count = job.nonce_space()
    assert (first, count) == (0x5A << 24, 1 << 24)
    ranges = [job.nonce_range(i, 3) for i in range(3)]
    assert ranges[0][0] == first
    assert ranges[-1][1] == first + count
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    for start, stop in ranges:
        for nonce in (start, stop - 1):
            hashed = set_nonce(job.blob, 39, nonce)
            assert hashed[42] == 0x5A
            assert nonce_hex(nonce)[6:] == "5a"
            assert hashed[:39] == blob[:39]
            assert hashed[43:] == blob[43:]


def test_nicehash_from_the_extension() -> None:
    job = parse_job(job_params(), nicehash=True)
    assert job.nicehash
    assert job.nonce_space() == (0, 1 << 24)
    assert parse_job(job_params(blob=(BLOB[:39] + b"\x01" + BLOB[40:]).hex())).nicehash


def test_plain_nonce_ranges_cover_32_bits() -> None:
    job = parse_job(job_params())
    ranges = [job.nonce_range(i, 2) for i in range(2)]
    assert ranges == [(0, 1 << 31), (1 << 31, 1 << 32)]


# --- framing and malformed input ---------------------------------------------------------


def test_line_reader_splits_and_drops_long_lines() -> None:
    reader = LineReader(max_line=10)
    assert reader.feed(b"abc") == []
    assert reader.feed(b"def\nxy") == [b"abcdef"]
    assert reader.feed(b"\n" + b"0123456789\n") == [b"xy", b"0123456789"]
    out = reader.feed(b"x" * 8)
    assert out == []
    out = reader.feed(b"y" * 8)  # 16 bytes without a newline: reported once
    assert len(out) == 1
    assert isinstance(out[0], ProtocolProblem)
    assert reader.feed(b"z" * 30) == []
    assert reader.feed(b"tail\nok\n") == [b"ok"]
    [problem] = reader.feed(b"q" * 11 + b"\nfine\n")[:1]
    assert isinstance(problem, ProtocolProblem)
    assert reader.feed(b"") == []


def test_line_of_64_kib_is_accepted_and_longer_is_dropped() -> None:
    client = StratumClient(login="a")
    client.login()
    payload = line({"id": 77, "pad": ""})
    pad = MAX_LINE_BYTES - len(payload) + 1
    exact = line({"id": 77, "pad": "p" * pad})
    assert len(exact) == MAX_LINE_BYTES + 1  # 64 KiB plus the newline
    [event] = client.receive_data(exact)
    assert isinstance(event, ProtocolProblem)
    assert "unknown request id 77" in event.message
    longer = line({"id": 78, "pad": "p" * (pad + 1)})
    events = client.receive_data(longer[:30_000]) + client.receive_data(longer[30_000:])
    assert len(events) == 1
    assert isinstance(events[0], ProtocolProblem)
    assert "longer than 65536 bytes" in events[0].message
    # the session goes on
    [event] = client.receive_data(login_reply())
    assert isinstance(event, LoggedIn)


@pytest.mark.parametrize(
    "data",
    [
        b"{not json}\n",
        b"\xff\xfe\xfd\n",
        b"[1, 2, 3]\n",
        b'"a string"\n',
        b"null\n",
        b"[" * 100_000 + b"\n",
        b'{"id": 1, "result": {"id": "s", "job": \n',
        b'{"method": 5}\n',
        b'{"method": "job", "params": "nope"}\n',
        b'{"method": "job", "params": null}\n',
    ],
)
def test_malformed_input_becomes_a_problem_event(data: bytes) -> None:
    client = logged_in_client()
    events = client.receive_data(data)
    assert events
    assert all(isinstance(e, ProtocolProblem | LoginFailed) for e in events)
    # still usable
    assert client.job is not None
    client.submit(share_for(client.job))
    [event] = client.receive_data(line({"id": 2, "result": {"status": "OK"}}))
    assert isinstance(event, ShareAccepted)


def test_blank_lines_are_ignored() -> None:
    client = StratumClient(login="a")
    assert client.receive_data(b"\n\r\n  \n") == []


# --- the connection loop against scripted pools ---------------------------------------------


class Recorder:
    """A ConnectorHandler that records what it is told."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []
        self.results: list[ShareAccepted | ShareRejected] = []
        self.connected: list[str] = []
        self.disconnected: list[str] = []
        self.changed = anyio.Event()

    def _poke(self) -> None:
        self.changed.set()
        self.changed = anyio.Event()

    def on_job(self, job: Job) -> None:
        self.jobs.append(job)
        self._poke()

    def on_share_result(self, event: ShareAccepted | ShareRejected) -> None:
        self.results.append(event)
        self._poke()

    def on_connected(self, pool: PoolAddress, session_id: str) -> None:
        self.connected.append(session_id)
        self._poke()

    def on_disconnected(self, reason: str) -> None:
        self.disconnected.append(reason)
        self._poke()

    async def until(self, condition: Callable[[], bool]) -> None:
        with anyio.fail_after(10):
            while not condition():
                await self.changed.wait()


Script = Callable[[int, SocketStream, BufferedByteReceiveStream, list[Any]], Awaitable[None]]


class ScriptedPool:
    """A TCP server on 127.0.0.1 that runs ``script(connection_number, ...)`` per client."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.received: list[Any] = []
        self.connect_times: list[float] = []

    async def serve(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        async with listener:
            task_status.started(listener.extra(anyio.abc.SocketAttribute.local_port))
            await listener.serve(self._handle)

    async def _handle(self, stream: SocketStream) -> None:
        self.connect_times.append(anyio.current_time())
        number = len(self.connect_times)
        reader = BufferedByteReceiveStream(stream)
        async with stream:
            with contextlib.suppress(
                anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError
            ):
                await self.script(number, stream, reader, self.received)


async def read_message(reader: BufferedByteReceiveStream, received: list[Any]) -> Any:
    message = json.loads(await reader.receive_until(b"\n", 1 << 20))
    received.append(message)
    return message


async def run_connector(
    script: Script,
    body: Callable[[StratumConnector, Recorder, ScriptedPool], Awaitable[None]],
    **options: Any,
) -> None:
    pool = ScriptedPool(script)
    recorder = Recorder()
    async with anyio.create_task_group() as tg:
        port = await tg.start(pool.serve)
        connector = StratumConnector(
            PoolAddress("127.0.0.1", port), recorder, login="ZionAddr", **options
        )
        tg.start_soon(connector.run)
        await body(connector, recorder, pool)
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_keepalived_after_silence() -> None:
    async def script(n: int, stream: SocketStream, reader: Any, received: list[Any]) -> None:
        await read_message(reader, received)
        await stream.send(login_reply())
        while True:
            message = await read_message(reader, received)
            reply = {"id": message["id"], "jsonrpc": "2.0", "error": None,
                     "result": {"status": "KEEPALIVED"}}  # fmt: skip
            await stream.send(line(reply))

    async def body(connector: StratumConnector, recorder: Recorder, pool: ScriptedPool) -> None:
        with anyio.fail_after(10):
            while sum(m.get("method") == "keepalived" for m in pool.received) < 2:
                await anyio.sleep(0.05)
        keepalives = [m for m in pool.received if m.get("method") == "keepalived"]
        assert keepalives[0]["params"] == {"id": "s1"}
        assert [k["id"] for k in keepalives] == [2, 3]
        assert connector.connections == 1

    await run_connector(script, body, keepalive_seconds=0.2)


@pytest.mark.anyio
async def test_no_keepalived_without_the_extension() -> None:
    async def script(n: int, stream: SocketStream, reader: Any, received: list[Any]) -> None:
        await read_message(reader, received)
        await stream.send(login_reply(extensions=["algo"]))
        await read_message(reader, received)

    async def body(connector: StratumConnector, recorder: Recorder, pool: ScriptedPool) -> None:
        await recorder.until(lambda: bool(recorder.jobs))
        await anyio.sleep(0.6)
        assert [m["method"] for m in pool.received] == ["login"]

    await run_connector(script, body, keepalive_seconds=0.1)


@pytest.mark.anyio
async def test_garbage_from_the_pool_is_logged_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, "zion_plugin_randomx.stratum")

    async def script(n: int, stream: SocketStream, reader: Any, received: list[Any]) -> None:
        await read_message(reader, received)
        await stream.send(b"x" * (MAX_LINE_BYTES + 5000) + b"\n")
        await stream.send(b"{oops\n[1]\n")
        await stream.send(line({"method": "job", "params": job_params("early")}))
        await stream.send(login_reply())
        await stream.send(line({"method": "job", "params": job_params("bad", blob="00")}))
        await stream.send(line({"method": "job", "params": job_params("j2")}))
        await read_message(reader, received)

    async def body(connector: StratumConnector, recorder: Recorder, pool: ScriptedPool) -> None:
        await recorder.until(lambda: len(recorder.jobs) == 2)
        assert [j.job_id for j in recorder.jobs] == ["j1", "j2"]
        assert connector.connections == 1
        text = caplog.text
        assert "longer than 65536 bytes" in text
        assert "invalid JSON" in text
        assert "non-object message" in text
        assert "before the login result" in text
        assert "job bad: blob is 1 bytes" in text

    await run_connector(script, body)


@pytest.mark.anyio
async def test_failed_login_is_logged_and_retried_with_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "zion_plugin_randomx.stratum")

    async def script(n: int, stream: SocketStream, reader: Any, received: list[Any]) -> None:
        message = await read_message(reader, received)
        error = {"code": -1, "message": "Invalid payment address provided"}
        await stream.send(line({"id": message["id"], "jsonrpc": "2.0", "error": error}))
        await read_message(reader, received)  # the client closes the connection itself

    async def body(connector: StratumConnector, recorder: Recorder, pool: ScriptedPool) -> None:
        await recorder.until(lambda: len(recorder.disconnected) >= 4)
        gaps = [b - a for a, b in zip(pool.connect_times, pool.connect_times[1:], strict=False)]
        assert gaps[0] == pytest.approx(0.1, abs=0.08)
        assert gaps[1] == pytest.approx(0.2, abs=0.08)
        assert gaps[2] == pytest.approx(0.3, abs=0.08)  # capped
        assert "login to 127.0.0.1" in caplog.text
        assert "failed: Invalid payment address provided" in caplog.text
        assert recorder.jobs == []

    await run_connector(script, body, backoff=(0.1, 0.3))


@pytest.mark.anyio
async def test_critical_submit_error_reconnects_and_drops_old_shares() -> None:
    async def script(n: int, stream: SocketStream, reader: Any, received: list[Any]) -> None:
        await read_message(reader, received)
        await stream.send(login_reply(session=f"s{n}"))
        while True:
            message = await read_message(reader, received)
            if n == 1:
                error = {"code": -1, "message": "Unauthenticated"}
                await stream.send(line({"id": message["id"], "error": error}))
            else:
                await stream.send(line({"id": message["id"], "result": {"status": "OK"}}))

    async def body(connector: StratumConnector, recorder: Recorder, pool: ScriptedPool) -> None:
        await recorder.until(lambda: len(recorder.jobs) == 1)
        first_job = recorder.jobs[0]
        connector.submit(share_for(first_job, 1))
        await recorder.until(lambda: len(recorder.jobs) == 2)
        assert isinstance(recorder.results[0], ShareRejected)
        assert recorder.results[0].critical
        assert recorder.disconnected[0] == "critical pool error: Unauthenticated"
        connector.submit(share_for(first_job, 2))  # from the first connection: dropped
        connector.submit(share_for(recorder.jobs[1], 3))
        await recorder.until(lambda: len(recorder.results) == 2)
        assert isinstance(recorder.results[1], ShareAccepted)
        submits = [m["params"] for m in pool.received if m["method"] == "submit"]
        assert [(s["id"], s["nonce"]) for s in submits] == [("s1", "01000000"), ("s2", "03000000")]

    await run_connector(script, body, backoff=(0.05, 0.05))


@pytest.mark.anyio
async def test_silent_pool_times_out_and_closed_pool_reconnects() -> None:
    async def script(n: int, stream: SocketStream, reader: Any, received: list[Any]) -> None:
        await read_message(reader, received)
        if n == 1:
            await anyio.sleep(30)  # never answers the login
        # n >= 2: close at once

    async def body(connector: StratumConnector, recorder: Recorder, pool: ScriptedPool) -> None:
        await recorder.until(lambda: len(recorder.disconnected) >= 2)
        assert recorder.disconnected[:2] == ["response timed out", "connection closed"]

    await run_connector(script, body, response_timeout=0.3, backoff=(0.05, 0.05))


@pytest.mark.anyio
async def test_connection_refused_is_retried() -> None:
    with anyio.fail_after(10):
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        await listener.aclose()  # nothing listens there now
        recorder = Recorder()
        connector = StratumConnector(
            PoolAddress("127.0.0.1", port), recorder, login="a", backoff=(0.05, 0.05)
        )
        async with anyio.create_task_group() as tg:
            tg.start_soon(connector.run)
            await recorder.until(lambda: len(recorder.disconnected) >= 2)
            tg.cancel_scope.cancel()
        assert recorder.disconnected[0] == "connect failed"
