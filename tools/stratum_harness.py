"""A minimal Monero-style Stratum job server for tests (anyio: asyncio and trio).

It speaks the dialect XMRig 6.16 expects (newline-delimited JSON-RPC, see
``shared/reference/stratum-and-pools.md`` §1): ``login`` answers with a string session
id and the current job, ``submit`` is checked (session, job id, hex shapes, target,
duplicates) and answered with a result *object*, ``keepalived`` is answered, and new jobs
are pushed as ``job`` notifications without an id. It does not verify proof of work:
every share that passes the checks above is recorded in :attr:`StratumHarness.submissions`.

Usage::

    harness = StratumHarness(make_job("1", difficulty=200))
    async with anyio.create_task_group() as tg:
        port = await tg.start(harness.serve)
        ...  # point a miner at 127.0.0.1:port
        shares = await harness.wait_for_submissions(2, timeout=60)
        tg.cancel_scope.cancel()
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import SocketAttribute, SocketStream, TaskStatus
from anyio.streams.buffered import BufferedByteReceiveStream

__all__ = [
    "MAX_LINE_BYTES",
    "NONCE_OFFSET",
    "Job",
    "Rejection",
    "StratumHarness",
    "Submission",
    "difficulty_from_target_hex",
    "make_job",
    "meets_target",
    "result_value64",
    "target64_from_hex",
    "target_hex_for_difficulty",
    "validate_job",
]

Job = dict[str, Any]
JobsSource = Mapping[str, Any] | Callable[[], Mapping[str, Any]]

MAX_U64 = 2**64 - 1
MAX_U32 = 2**32 - 1
FOUR_BYTE_TARGET_LIMIT = 4_000_000  # p2pool's TARGET_4_BYTES_LIMIT (reference §1.4)
NONCE_OFFSET = 39
NONCE_SIZE = 4
MIN_BLOB_BYTES = 43
MAX_BLOB_BYTES = 407
MAX_LINE_BYTES = 64 * 1024  # XMRig's own line buffer (reference §1.1)
SEND_TIMEOUT_S = 10.0
EXTENSIONS = ("algo", "keepalive")

_HEX = re.compile(r"\A(?:[0-9a-fA-F]{2})*\Z")
_NONCE = re.compile(r"\A[0-9a-fA-F]{8}\Z")
_RESULT = re.compile(r"\A[0-9a-fA-F]{64}\Z")

# JSON-RPC 2.0 error codes, and the Stratum messages XMRig knows (reference §1.5).
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
STRATUM_ERROR = -1


# --- targets -------------------------------------------------------------------------


def target_hex_for_difficulty(diff: int) -> str:
    """The Stratum ``target`` for ``diff``: 4-byte form up to 4M, 8-byte above.

    The 8-byte target is T = floor((2^64-1)/diff) as a little-endian uint64; the 4-byte
    one holds the top 32 bits of T, little-endian.
    """
    if diff < 1:
        raise ValueError(f"difficulty must be at least 1, not {diff}")
    target = MAX_U64 // diff
    if diff <= FOUR_BYTE_TARGET_LIMIT:
        return (target >> 32).to_bytes(4, "little").hex()
    return target.to_bytes(8, "little").hex()


def target64_from_hex(target_hex: str) -> int:
    """The 64-bit target XMRig derives from a Stratum ``target``.

    8 bytes: a little-endian uint64. 4 bytes t: floor((2^64-1) / floor((2^32-1)/t)),
    which rounds towards the harder side.
    """
    raw = bytes.fromhex(target_hex)
    value = int.from_bytes(raw, "little")
    if len(raw) == 8:
        if value == 0:
            raise ValueError("target must not be zero")
        return value
    if len(raw) == 4:
        if value == 0:
            raise ValueError("target must not be zero")
        return MAX_U64 // (MAX_U32 // value)
    raise ValueError(f"target must be 4 or 8 bytes, not {len(raw)}")


def difficulty_from_target_hex(target_hex: str) -> int:
    """The difficulty XMRig shows for a Stratum ``target``: floor((2^64-1)/T)."""
    return MAX_U64 // target64_from_hex(target_hex)


def result_value64(result_hex: str) -> int:
    """The value a miner compares against the target: LE uint64 of hash bytes 24..31."""
    raw = bytes.fromhex(result_hex)
    if len(raw) != 32:
        raise ValueError(f"result must be 32 bytes, not {len(raw)}")
    return int.from_bytes(raw[24:32], "little")


def meets_target(result_hex: str, target_hex: str) -> bool:
    """Whether a share's hash is below the job's target, as XMRig decides it."""
    return result_value64(result_hex) < target64_from_hex(target_hex)


# --- jobs ----------------------------------------------------------------------------


def _is_hex(value: object, size: int | None = None) -> bool:
    if not isinstance(value, str) or not _HEX.match(value):
        return False
    return size is None or len(value) == 2 * size


def validate_job(job: Mapping[str, Any]) -> None:
    """Raise ValueError unless ``job`` is a RandomX job XMRig 6.16 accepts (reference §1.3)."""
    job_id = job.get("job_id")
    if not isinstance(job_id, str) or not job_id:
        raise ValueError(f"job_id must be a non-empty string, not {job_id!r}")
    blob = job.get("blob")
    if not isinstance(blob, str) or not _is_hex(blob):
        raise ValueError("blob must be hex")
    if not MIN_BLOB_BYTES <= len(blob) // 2 <= MAX_BLOB_BYTES:
        raise ValueError(f"blob must be {MIN_BLOB_BYTES}..{MAX_BLOB_BYTES} bytes")
    target = job.get("target")
    if not isinstance(target, str) or not (_is_hex(target, 4) or _is_hex(target, 8)):
        raise ValueError(f"target must be 4 or 8 bytes of hex, not {target!r}")
    if int(target, 16) == 0:
        raise ValueError("target must not be zero")
    if job.get("algo") != "rx/0":
        raise ValueError(f"algo must be 'rx/0', not {job.get('algo')!r}")
    if not _is_hex(job.get("seed_hash"), 32):
        raise ValueError("seed_hash must be 64 hex characters")
    height = job.get("height")
    if height is not None and (not isinstance(height, int) or isinstance(height, bool)):
        raise ValueError(f"height must be an integer, not {height!r}")


def make_job(
    job_id: str,
    difficulty: int,
    *,
    blob: bytes | None = None,
    seed_hash: str | None = None,
    height: int = 1,
) -> Job:
    """A valid rx/0 job; by default a deterministic 76-byte blob with a zero nonce."""
    if blob is None:
        filler = hashlib.sha256(f"zion-test-blob-{job_id}".encode()).digest() * 3
        blob = filler[:NONCE_OFFSET] + bytes(NONCE_SIZE) + filler[NONCE_OFFSET : 76 - NONCE_SIZE]
    if seed_hash is None:
        seed_hash = hashlib.sha256(b"zion-test-seed").hexdigest()
    job: Job = {
        "job_id": job_id,
        "blob": blob.hex(),
        "target": target_hex_for_difficulty(difficulty),
        "algo": "rx/0",
        "height": height,
        "seed_hash": seed_hash,
    }
    validate_job(job)
    return job


# --- records -------------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    """An accepted share. ``nonce`` and ``result`` are lower-case hex."""

    session: str
    job_id: str
    nonce: str
    result: str
    job: Job
    params: dict[str, Any]


@dataclass(frozen=True)
class Rejection:
    """A submit answered with an error."""

    session: str | None
    params: Any
    message: str


class _Miner:
    def __init__(self, stream: SocketStream) -> None:
        self.stream = stream
        self.session: str | None = None
        self.lock = anyio.Lock()
        self.shares: set[tuple[str, str]] = set()

    async def send(self, message: Mapping[str, Any]) -> None:
        line = json.dumps(message, separators=(",", ":")).encode() + b"\n"
        async with self.lock:
            with anyio.fail_after(SEND_TIMEOUT_S):
                await self.stream.send(line)


class _CloseConnectionError(Exception):
    pass


@dataclass
class _Waiters:
    event: anyio.Event | None = None

    def notify(self) -> None:
        if self.event is not None:
            self.event.set()
            self.event = None

    async def wait(self) -> None:
        if self.event is None:
            self.event = anyio.Event()
        await self.event.wait()


# --- the server ----------------------------------------------------------------------


@dataclass
class StratumHarness:
    """A Stratum server on 127.0.0.1 handing out jobs from ``jobs_source``.

    ``jobs_source`` is a job, or a callable returning one, used at each login until the
    first :meth:`push_job`; after that, logins get the most recently pushed job.
    """

    jobs_source: JobsSource
    port: int | None = field(default=None, init=False)
    jobs: dict[str, Job] = field(default_factory=dict, init=False)
    logins: list[dict[str, Any]] = field(default_factory=list, init=False)
    submissions: list[Submission] = field(default_factory=list, init=False)
    rejections: list[Rejection] = field(default_factory=list, init=False)
    keepalives: int = field(default=0, init=False)
    _pushed: Job | None = field(default=None, init=False, repr=False)
    _miners: set[_Miner] = field(default_factory=set, init=False, repr=False)
    _waiters: _Waiters = field(default_factory=_Waiters, init=False, repr=False)

    # public API

    async def serve(self, *, task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED) -> None:
        """Listen on 127.0.0.1 (a free port) until cancelled; ``task_status`` gets the port."""
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        async with listener:
            self.port = listener.listeners[0].extra(SocketAttribute.local_port)
            task_status.started(self.port)
            await listener.serve(self._handle)

    def current_job(self) -> Job:
        """The job a miner logging in now receives (registered in :attr:`jobs`)."""
        if self._pushed is not None:
            return self._pushed
        source = self.jobs_source
        job = dict(source() if callable(source) else source)
        self._register(job)
        return job

    async def push_job(self, job: Mapping[str, Any]) -> int:
        """Make ``job`` current and notify every logged-in miner; returns how many.

        The job id must be new: XMRig reconnects when it receives the same job twice.
        """
        job = dict(job)
        if job.get("job_id") in self.jobs:
            raise ValueError(f"job id {job.get('job_id')!r} was already used")
        self._register(job)
        self._pushed = job
        note = {"jsonrpc": "2.0", "method": "job", "params": job}
        miners = [m for m in self._miners if m.session is not None]
        sent = 0
        for miner in miners:
            try:
                await miner.send(note)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, TimeoutError):
                continue
            sent += 1
        return sent

    # The timeout parameters are the requested API (ASYNC109 prefers fail_after scopes);
    # the TimeoutError names what was missing, which a bare fail_after cannot.
    async def wait_for_logins(self, n: int, timeout: float) -> list[dict[str, Any]]:  # noqa: ASYNC109
        """Wait until ``n`` logins were answered; TimeoutError after ``timeout`` seconds."""
        await self._wait(lambda: len(self.logins) >= n, timeout, f"{n} logins")
        return list(self.logins)

    async def wait_for_submissions(self, n: int, timeout: float) -> list[Submission]:  # noqa: ASYNC109
        """Wait until ``n`` shares were accepted; TimeoutError after ``timeout`` seconds."""
        await self._wait(lambda: len(self.submissions) >= n, timeout, f"{n} submissions")
        return list(self.submissions)

    # internals

    def _register(self, job: Job) -> None:
        validate_job(job)
        known = self.jobs.get(job["job_id"])
        if known is not None and known != job:
            raise ValueError(f"job id {job['job_id']!r} reused for a different job")
        self.jobs[job["job_id"]] = job

    async def _wait(self, done: Callable[[], bool], limit_s: float, what: str) -> None:
        try:
            with anyio.fail_after(limit_s):
                while not done():
                    await self._waiters.wait()
        except TimeoutError:
            raise TimeoutError(
                f"no {what} within {limit_s} s: {len(self.logins)} logins, "
                f"{len(self.submissions)} accepted, rejections {self.rejections!r}"
            ) from None

    async def _handle(self, stream: SocketStream) -> None:
        miner = _Miner(stream)
        self._miners.add(miner)
        reader = BufferedByteReceiveStream(stream)
        try:
            async with stream:
                while True:
                    line = await reader.receive_until(b"\n", MAX_LINE_BYTES)
                    line = line.strip()
                    if line:
                        await self._dispatch(miner, line)
        except (
            anyio.IncompleteRead,
            anyio.EndOfStream,
            anyio.DelimiterNotFound,
            anyio.BrokenResourceError,
            anyio.ClosedResourceError,
            TimeoutError,
            _CloseConnectionError,
        ):
            pass
        finally:
            self._miners.discard(miner)
            self._waiters.notify()

    async def _dispatch(self, miner: _Miner, line: bytes) -> None:
        try:
            message = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError):
            await self._error(miner, None, PARSE_ERROR, "Parse error")
            return
        if not isinstance(message, dict) or not isinstance(message.get("method"), str):
            req_id = message.get("id") if isinstance(message, dict) else None
            await self._error(miner, req_id, INVALID_REQUEST, "Invalid Request")
            return
        req_id = message.get("id")
        method = message["method"]
        params = message.get("params")
        if method == "login":
            await self._login(miner, req_id, params)
        elif method == "submit":
            await self._submit(miner, req_id, params)
        elif method == "keepalived":
            self.keepalives += 1
            await self._reply(miner, req_id, {"status": "KEEPALIVED"})
        else:
            await self._error(miner, req_id, METHOD_NOT_FOUND, f"Method not found: {method}")

    async def _reply(self, miner: _Miner, req_id: Any, result: Mapping[str, Any]) -> None:
        await miner.send({"id": req_id, "jsonrpc": "2.0", "error": None, "result": result})

    async def _error(self, miner: _Miner, req_id: Any, code: int, message: str) -> None:
        await miner.send(
            {"id": req_id, "jsonrpc": "2.0", "error": {"code": code, "message": message}}
        )

    async def _login(self, miner: _Miner, req_id: Any, params: Any) -> None:
        if not isinstance(params, dict) or not isinstance(params.get("login"), str):
            await self._error(miner, req_id, INVALID_PARAMS, "Invalid params")
            return
        algos = params.get("algo")
        if isinstance(algos, list) and "rx/0" not in algos:
            # XMRig stays connected after a non-critical login error, so close (§1.2).
            await self._error(miner, req_id, STRATUM_ERROR, "Unsupported algorithm")
            raise _CloseConnectionError
        job = self.current_job()
        miner.session = secrets.token_hex(8)
        result = {
            "id": miner.session,
            "job": job,
            "extensions": list(EXTENSIONS),
            "status": "OK",
        }
        self.logins.append(params)  # recorded before the reply, so a client sees it at once
        self._waiters.notify()
        await self._reply(miner, req_id, result)

    async def _submit(self, miner: _Miner, req_id: Any, params: Any) -> None:
        message = self._check_share(miner, params)
        if message is not None:
            self.rejections.append(Rejection(miner.session, params, message))
            self._waiters.notify()
            await self._error(miner, req_id, STRATUM_ERROR, message)
            return
        assert miner.session is not None
        nonce, result = params["nonce"].lower(), params["result"].lower()
        miner.shares.add((params["job_id"], nonce))
        submission = Submission(
            session=miner.session,
            job_id=params["job_id"],
            nonce=nonce,
            result=result,
            job=self.jobs[params["job_id"]],
            params=params,
        )
        self.submissions.append(submission)
        self._waiters.notify()
        await self._reply(miner, req_id, {"status": "OK"})

    def _check_share(self, miner: _Miner, params: Any) -> str | None:
        """None for a good share, else the error message to send."""
        if miner.session is None or not isinstance(params, dict):
            return "Unauthenticated"
        if params.get("id") != miner.session:
            return "Unauthenticated"
        job_id = params.get("job_id")
        job = self.jobs.get(job_id) if isinstance(job_id, str) else None
        if job is None:
            return "Invalid job id"
        nonce, result = params.get("nonce"), params.get("result")
        if not isinstance(nonce, str) or not _NONCE.match(nonce):
            return "Malformed nonce"
        if not isinstance(result, str) or not _RESULT.match(result):
            return "Malformed result"
        if (params["job_id"], nonce.lower()) in miner.shares:
            return "Duplicate share"
        if not meets_target(result, job["target"]):
            return "Low difficulty share"
        return None
