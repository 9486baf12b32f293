"""The miner's Stratum client, in the dialect XMRig 6.16 speaks (newline-delimited JSON-RPC).

Two layers:

- :class:`StratumClient` is sans-IO: it builds request lines (``login``, ``submit``,
  ``keepalived``) and turns received bytes into events (:class:`LoggedIn`,
  :class:`NewJob`, :class:`ShareAccepted`...). Bad pool input (malformed JSON, wrong
  types, a bad blob, target or seed hash, lines over 64 KiB) becomes a
  :class:`ProtocolProblem` event, never an exception. Target math lives next to it.
- :class:`StratumConnector` runs it over TCP with anyio: connects, logs in, reads, sends
  shares and keepalives, and reconnects with a growing pause (1 s, 2 s, 4 s... at most
  30 s) after a disconnect, a failed login, a silent pool or a critical pool error.

Targets (reference §1.4): an 8-byte target is a little-endian uint64 T; a 4-byte one t is
read as T = floor((2^64-1) / floor((2^32-1)/t)). A share qualifies when the
little-endian uint64 of hash bytes 24..31 is below T, which for the 256-bit comparison
``LE256(hash) <= target`` of :meth:`RandomXCpu.scan` is ``target = (T << 192) - 1``.
"""

from __future__ import annotations

import json
import logging
import math
import re
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import anyio
import attrs
from anyio.abc import SocketAttribute, SocketStream
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

logger = logging.getLogger(__name__)

ALGO = "rx/0"
NONCE_OFFSET = 39
NONCE_SIZE = 4
MIN_BLOB_BYTES = 43
MAX_BLOB_BYTES = 407
MAX_LINE_BYTES = 64 * 1024
MAX_U64 = 2**64 - 1
MAX_U32 = 2**32 - 1
LOGIN_ID = 1
KEEPALIVE_SECONDS = 60.0
RESPONSE_TIMEOUT_SECONDS = 20.0
CONNECT_TIMEOUT_SECONDS = 20.0
SEND_TIMEOUT_SECONDS = 20.0
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 30.0
STABLE_SESSION_SECONDS = 30.0
"""A session that lasted this long resets the reconnect pause to its first value."""

ALGO_NAMES = frozenset({"rx/0", "randomx", "rx"})
CRITICAL_ERRORS = (
    "unauthenticated",
    "ip address currently banned",
    "your ip is banned",
    "invalid job id",
)
"""Pool messages after which XMRig (and this client) drops the connection and logs in again."""

_HEX = re.compile(r"\A(?:[0-9a-fA-F]{2})*\Z")


class StratumError(ValueError):
    """Invalid Stratum input: a job, a target, a pool address."""


# --- targets -------------------------------------------------------------------------


def target64_from_hex(target_hex: object) -> int:
    """The 64-bit target T of a Stratum ``target`` (4 or 8 bytes of hex); StratumError if bad."""
    if not isinstance(target_hex, str):
        raise StratumError(f"target must be a hex string, not {type(target_hex).__name__}")
    if not _HEX.match(target_hex) or len(target_hex) not in (8, 16):
        raise StratumError(f"target must be 4 or 8 bytes of hex, not {_preview(target_hex)}")
    value = int.from_bytes(bytes.fromhex(target_hex), "little")
    if value == 0:
        raise StratumError("target must not be zero")
    if len(target_hex) == 16:
        return value
    return MAX_U64 // (MAX_U32 // value)


def difficulty_from_target64(target64: int) -> int:
    """The difficulty of a 64-bit target: floor((2^64-1)/T)."""
    return MAX_U64 // target64


def target256_from_target64(target64: int) -> int:
    """The 256-bit target for :meth:`RandomXCpu.scan`: LE256(hash) <= it ⇔ top64 < T."""
    return (target64 << 192) - 1


def hash_value64(hash_: bytes) -> int:
    """What is compared with the target: the LE uint64 of hash bytes 24..31."""
    return int.from_bytes(hash_[24:32], "little")


def meets_target64(hash_: bytes, target64: int) -> bool:
    return len(hash_) == 32 and hash_value64(hash_) < target64


def nonce_hex(nonce: int) -> str:
    """The ``nonce`` of a submit: the 4 blob bytes at offset 39 (a LE uint32), as hex."""
    return nonce.to_bytes(NONCE_SIZE, "little").hex()


# --- pool address ----------------------------------------------------------------------


@attrs.frozen
class PoolAddress:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_pool_address(text: str) -> PoolAddress:
    """``HOST:PORT``, ``[IPv6]:PORT`` or ``stratum+tcp://HOST:PORT``; StratumError if bad."""
    rest = text.strip()
    if "://" in rest:
        scheme, rest = rest.split("://", 1)
        if scheme.lower() not in ("stratum+tcp", "tcp"):
            raise StratumError(
                f"unsupported pool scheme {scheme!r}: only plain TCP (stratum+tcp://) is supported"
            )
    rest = rest.rstrip("/")
    if rest.startswith("["):
        host, sep, port_text = rest[1:].partition("]:")
    else:
        host, sep, port_text = rest.rpartition(":")
    if not sep or not host or (":" in host and not rest.startswith("[")):
        raise StratumError(f"pool must be HOST:PORT, not {text!r}")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise StratumError(f"pool port must be 1..65535, not {port_text!r}")
    return PoolAddress(host, int(port_text))


# --- jobs and shares ---------------------------------------------------------------------


@attrs.frozen
class Job:
    """A RandomX job as the miner uses it (parsed and checked by :func:`parse_job`)."""

    job_id: str
    blob: bytes
    target_hex: str
    target64: int
    seed_hash: bytes
    height: int | None = None
    next_seed_hash: bytes | None = None
    nicehash: bool = False
    connection: int = 0
    """Which connection the job came from; shares of older connections are dropped."""

    @property
    def difficulty(self) -> int:
        return difficulty_from_target64(self.target64)

    @property
    def target256(self) -> int:
        return target256_from_target64(self.target64)

    def nonce_space(self) -> tuple[int, int]:
        """The nonces this job may use: ``(first, count)``.

        In nicehash mode only blob bytes 39..41 vary: byte 42 keeps the pool's value, so
        the nonce's top byte is fixed.
        """
        if self.nicehash:
            return self.blob[NONCE_OFFSET + 3] << 24, 1 << 24
        return 0, 1 << 32

    def nonce_range(self, index: int, parts: int) -> tuple[int, int]:
        """The ``index``-th of ``parts`` contiguous sub-ranges: ``(start, stop)``."""
        first, count = self.nonce_space()
        return first + count * index // parts, first + count * (index + 1) // parts

    def label(self) -> str:
        """How log lines name this job."""
        return f"job {self.job_id}"

    def same_work(self, other: Job) -> bool:
        return (self.job_id, self.blob, self.target64, self.seed_hash) == (
            other.job_id,
            other.blob,
            other.target64,
            other.seed_hash,
        )


def parse_job(params: object, *, nicehash: bool = False, connection: int = 0) -> Job:
    """Check a pool's job object (reference §1.3); StratumError with the reason if bad."""
    if not isinstance(params, dict):
        raise StratumError(f"job must be an object, not {type(params).__name__}")
    job_id = params.get("job_id")
    if not isinstance(job_id, str) or not job_id:
        raise StratumError(f"job_id must be a non-empty string, not {_preview(job_id)}")
    blob_hex = params.get("blob")
    if not isinstance(blob_hex, str) or not _HEX.match(blob_hex):
        raise StratumError(f"job {job_id}: blob must be hex, not {_preview(blob_hex)}")
    blob = bytes.fromhex(blob_hex)
    if not MIN_BLOB_BYTES <= len(blob) <= MAX_BLOB_BYTES:
        raise StratumError(
            f"job {job_id}: blob is {len(blob)} bytes; {MIN_BLOB_BYTES}..{MAX_BLOB_BYTES} expected"
        )
    target_hex = params.get("target")
    try:
        target64 = target64_from_hex(target_hex)
    except StratumError as exc:
        raise StratumError(f"job {job_id}: {exc}") from None
    algo = params.get("algo")
    if algo is not None and (not isinstance(algo, str) or algo.lower() not in ALGO_NAMES):
        raise StratumError(f"job {job_id}: unsupported algorithm {_preview(algo)} (not rx/0)")
    seed_hash = _hex32(params.get("seed_hash"))
    if seed_hash is None:
        raise StratumError(
            f"job {job_id}: seed_hash must be 64 hex characters, "
            f"not {_preview(params.get('seed_hash'))}"
        )
    height = params.get("height")
    if not isinstance(height, int) or isinstance(height, bool) or height < 0:
        height = None  # optional and only displayed (XMRig reads it leniently too)
    nonce_bytes = blob[NONCE_OFFSET : NONCE_OFFSET + NONCE_SIZE]
    return Job(
        job_id=job_id,
        blob=blob,
        target_hex=str(target_hex).lower(),
        target64=target64,
        seed_hash=seed_hash,
        height=height,
        next_seed_hash=_hex32(params.get("next_seed_hash")),
        nicehash=nicehash or any(nonce_bytes),
        connection=connection,
    )


def _hex32(value: object) -> bytes | None:
    if isinstance(value, str) and len(value) == 64 and _HEX.match(value):
        return bytes.fromhex(value)
    return None


def _preview(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@attrs.frozen
class Share:
    """A nonce whose hash meets the job's target."""

    job: Job
    nonce: int
    hash: bytes

    @property
    def nonce_hex(self) -> str:
        return nonce_hex(self.nonce)

    @property
    def result_hex(self) -> str:
        return self.hash.hex()


# --- events --------------------------------------------------------------------------


@attrs.frozen
class LoggedIn:
    session_id: str
    job: Job
    extensions: frozenset[str]


@attrs.frozen
class LoginFailed:
    message: str


@attrs.frozen
class NewJob:
    job: Job


@attrs.frozen
class ShareAccepted:
    share: Share
    message: str
    seconds: float


@attrs.frozen
class ShareRejected:
    share: Share
    message: str
    seconds: float
    critical: bool


@attrs.frozen
class KeepaliveAnswered:
    pass


@attrs.frozen
class PoolError:
    """An error the pool sent outside a submit (a notification, a keepalive reply)."""

    message: str
    critical: bool


@attrs.frozen
class ReconnectRequested:
    """``client.reconnect``: the pool asks the miner to log in again."""

    message: str


@attrs.frozen
class ProtocolProblem:
    """Input the client could not use; logged, then ignored."""

    message: str


Event = (
    LoggedIn
    | LoginFailed
    | NewJob
    | ShareAccepted
    | ShareRejected
    | KeepaliveAnswered
    | PoolError
    | ReconnectRequested
    | ProtocolProblem
)


def is_critical(message: str) -> bool:
    """Whether a pool message makes XMRig reconnect (case-insensitive prefix match)."""
    return message.lower().startswith(CRITICAL_ERRORS)


# --- framing -------------------------------------------------------------------------


class LineReader:
    """Splits received bytes into lines; lines over ``max_line`` bytes are dropped."""

    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        self.max_line = max_line
        self._buffer = bytearray()
        self._scanned = 0
        self._discarding = False

    def feed(self, data: bytes) -> list[bytes | ProtocolProblem]:
        """The complete lines in ``data`` (without the newline), and problems, in order."""
        out: list[bytes | ProtocolProblem] = []
        self._buffer += data
        while True:
            end = self._buffer.find(b"\n", self._scanned)
            if end < 0:
                self._scanned = len(self._buffer)
                if self._scanned > self.max_line:
                    if not self._discarding:
                        out.append(self._too_long())
                        self._discarding = True
                    self._buffer.clear()
                    self._scanned = 0
                return out
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            self._scanned = 0
            if self._discarding:
                self._discarding = False  # the end of a line already reported
            elif len(line) > self.max_line:
                out.append(self._too_long())
            else:
                out.append(line)

    def _too_long(self) -> ProtocolProblem:
        return ProtocolProblem(f"pool sent a line longer than {self.max_line} bytes; dropped")


# --- the sans-IO client ----------------------------------------------------------------


@attrs.define
class _Pending:
    method: str
    sent_at: float
    share: Share | None = None


class StratumClient:
    """One Stratum session's state: builds requests, turns received bytes into events.

    ``now`` arguments are monotonic times, used to time replies; the caller owns the
    clock, the socket and the timers (see :class:`StratumConnector`).
    """

    def __init__(
        self,
        *,
        login: str,
        password: str = "x",
        agent: str = "zion-miner",
        rig_id: str | None = None,
        connection: int = 0,
    ) -> None:
        self.login_name = login
        self.password = password
        self.agent = agent
        self.rig_id = rig_id
        self.connection = connection
        self.session_id: str | None = None
        self.extensions: frozenset[str] = frozenset()
        self.job: Job | None = None
        self._next_id = LOGIN_ID + 1
        self._pending: dict[int, _Pending] = {}
        self._reader = LineReader()

    # -- requests -----------------------------------------------------------------------

    @property
    def logged_in(self) -> bool:
        return self.session_id is not None

    @property
    def keepalive_enabled(self) -> bool:
        return "keepalive" in self.extensions

    @property
    def nicehash(self) -> bool:
        return "nicehash" in self.extensions

    def oldest_pending(self) -> float | None:
        """When the oldest unanswered request was sent (None: nothing is outstanding)."""
        return min((p.sent_at for p in self._pending.values()), default=None)

    def login(self, now: float = 0.0) -> bytes:
        params: dict[str, Any] = {
            "login": self.login_name,
            "pass": self.password,
            "agent": self.agent,
            "algo": [ALGO],
        }
        if self.rig_id:
            params["rigid"] = self.rig_id
        self._pending[LOGIN_ID] = _Pending("login", now)
        return _line({"id": LOGIN_ID, "jsonrpc": "2.0", "method": "login", "params": params})

    def submit(self, share: Share, now: float = 0.0) -> bytes:
        if self.session_id is None:
            raise RuntimeError("submit before login")
        request_id = self._take_id()
        self._pending[request_id] = _Pending("submit", now, share)
        params = {
            "id": self.session_id,
            "job_id": share.job.job_id,
            "nonce": share.nonce_hex,
            "result": share.result_hex,
            "algo": ALGO,
        }
        return _line({"id": request_id, "jsonrpc": "2.0", "method": "submit", "params": params})

    def keepalive(self, now: float = 0.0) -> bytes:
        if self.session_id is None:
            raise RuntimeError("keepalive before login")
        request_id = self._take_id()
        self._pending[request_id] = _Pending("keepalived", now)
        return _line(
            {
                "id": request_id,
                "jsonrpc": "2.0",
                "method": "keepalived",
                "params": {"id": self.session_id},
            }
        )

    def _take_id(self) -> int:
        request_id = self._next_id
        self._next_id += 1
        return request_id

    # -- input --------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float = 0.0) -> list[Event]:
        events: list[Event] = []
        for item in self._reader.feed(data):
            if isinstance(item, ProtocolProblem):
                events.append(item)
            else:
                events.extend(self.receive_line(item, now))
        return events

    def receive_line(self, line: bytes, now: float = 0.0) -> list[Event]:
        line = line.strip()
        if not line:
            return []
        try:
            message = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            return [ProtocolProblem(f"pool sent invalid JSON ({exc}): {_preview(line, 80)}")]
        if not isinstance(message, dict):
            return [ProtocolProblem(f"pool sent a non-object message: {_preview(message, 80)}")]
        request_id = message.get("id")
        if isinstance(request_id, int) and not isinstance(request_id, bool):
            return self._response(request_id, message, now)
        return self._notification(message)

    def _response(self, request_id: int, message: dict[str, Any], now: float) -> list[Event]:
        pending = self._pending.pop(request_id, None)
        if pending is None:
            problem = f"pool answered unknown request id {request_id}"
            error = _error_message(message.get("error"))
            return [ProtocolProblem(problem + (f": {error}" if error else ""))]
        error = _error_message(message.get("error"))
        result = message.get("result")
        seconds = max(0.0, now - pending.sent_at)
        if pending.method == "login":
            return [self._login_result(error, result)]
        if pending.method == "submit":
            assert pending.share is not None
            if error is not None:
                return [ShareRejected(pending.share, error, seconds, is_critical(error))]
            if not isinstance(result, dict):
                return [
                    ShareRejected(
                        pending.share,
                        f"pool answered with a non-object result {_preview(result)}",
                        seconds,
                        False,
                    )
                ]
            status = result.get("status")
            return [
                ShareAccepted(pending.share, str(status) if status is not None else "", seconds)
            ]
        if error is not None:
            return [PoolError(f"{pending.method}: {error}", is_critical(error))]
        return [KeepaliveAnswered()]

    def _login_result(self, error: str | None, result: object) -> Event:
        if error is not None:
            return LoginFailed(error)
        if not isinstance(result, dict):
            return LoginFailed(f"login result must be an object, not {_preview(result)}")
        session_id = result.get("id")
        if not isinstance(session_id, str) or not session_id:
            return LoginFailed(f"login result id must be a string, not {_preview(session_id)}")
        extensions = result.get("extensions")
        if isinstance(extensions, list):
            self.extensions = frozenset(e.lower() for e in extensions if isinstance(e, str))
        if "job" not in result:
            return LoginFailed("login result has no job")
        try:
            job = parse_job(result["job"], nicehash=self.nicehash, connection=self.connection)
        except StratumError as exc:
            return LoginFailed(f"invalid job in the login result: {exc}")
        self.session_id = session_id
        self.job = job
        return LoggedIn(session_id, job, self.extensions)

    def _notification(self, message: dict[str, Any]) -> list[Event]:
        method = message.get("method")
        error = _error_message(message.get("error"))
        if method == "job":
            if error is not None:
                return [PoolError(f"job notification: {error}", is_critical(error))]
            if self.session_id is None:
                return [ProtocolProblem("pool sent a job before the login result; ignored")]
            try:
                job = parse_job(
                    message.get("params"), nicehash=self.nicehash, connection=self.connection
                )
            except StratumError as exc:
                return [ProtocolProblem(f"invalid job from the pool: {exc}")]
            if self.job is not None and self.job.same_work(job):
                return [ProtocolProblem(f"duplicate job {job.job_id} received; ignored")]
            self.job = job
            return [NewJob(job)]
        if method == "client.reconnect":
            return [
                ReconnectRequested(f"pool asked to reconnect ({_preview(message.get('params'))})")
            ]
        if error is not None:
            return [PoolError(error, is_critical(error))]
        if method is None and "id" in message:
            return [
                ProtocolProblem(
                    f"pool sent a reply with a non-integer id {_preview(message['id'])}"
                )
            ]
        return [ProtocolProblem(f"pool sent an unknown method {_preview(method)}; ignored")]


def _error_message(error: object) -> str | None:
    """The message of a JSON-RPC error object (None: no error)."""
    if error is None:
        return None
    if isinstance(error, dict):
        message = error.get("message")
        if isinstance(message, str):
            return message
        code = error.get("code")
        return (
            f"error {code!r} without a message" if code is not None else "error without a message"
        )
    if isinstance(error, str):
        return error
    return f"malformed error {_preview(error)}"


def _line(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


# --- the connection loop ---------------------------------------------------------------


class ConnectorHandler(Protocol):
    """What the connector tells the miner (called on the event loop, must not block)."""

    def on_job(self, job: Job) -> None: ...

    def on_share_result(self, event: ShareAccepted | ShareRejected) -> None: ...

    def on_connected(self, pool: PoolAddress, session_id: str) -> None: ...

    def on_disconnected(self, reason: str) -> None: ...


def backoff_delay(
    attempt: int, first: float = BACKOFF_FIRST_SECONDS, cap: float = BACKOFF_MAX_SECONDS
) -> float:
    """The pause before reconnect number ``attempt`` (from 0): 1, 2, 4, 8, 16, 30, 30... s."""
    return min(cap, first * (1 << min(attempt, 64)))


class _SessionEnded(Exception):
    """Ends a session: the connection is closed and a new one opened after a pause."""


class StratumConnector:
    """Keeps one Stratum session alive (reconnecting) and submits shares through it."""

    def __init__(
        self,
        pool: PoolAddress,
        handler: ConnectorHandler,
        *,
        login: str,
        password: str = "x",
        agent: str = "zion-miner",
        rig_id: str | None = None,
        keepalive_seconds: float = KEEPALIVE_SECONDS,
        response_timeout: float = RESPONSE_TIMEOUT_SECONDS,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        backoff: tuple[float, float] = (BACKOFF_FIRST_SECONDS, BACKOFF_MAX_SECONDS),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pool = pool
        self.handler = handler
        self.login = login
        self.password = password
        self.agent = agent
        self.rig_id = rig_id
        self.keepalive_seconds = keepalive_seconds
        self.response_timeout = response_timeout
        self.connect_timeout = connect_timeout
        self.backoff = backoff
        self.clock = clock
        self.connections = 0
        self.logins = 0
        self.client: StratumClient | None = None
        self._shares_in: MemoryObjectSendStream[Share] | None = None
        self._shares_out: MemoryObjectReceiveStream[Share] | None = None
        self._send_lock: anyio.Lock | None = None

    def submit(self, share: Share) -> None:
        """Queue a share (event loop only); sent if its job is from the live session."""
        if self._shares_in is None:
            logger.info("share for job %s dropped: not connected", share.job.job_id)
            return
        self._shares_in.send_nowait(share)

    async def run(self) -> None:
        """Connect, log in and serve; reconnect after a pause; runs until cancelled."""
        self._shares_in, self._shares_out = anyio.create_memory_object_stream[Share](math.inf)
        try:
            with self._shares_in, self._shares_out:
                await self._run()
        finally:
            self._shares_in = self._shares_out = None

    async def _run(self) -> None:
        attempt = 0
        while True:
            started = self.clock()
            reason = await self._session()
            self.handler.on_disconnected(reason)
            if self.clock() - started >= STABLE_SESSION_SECONDS:
                attempt = 0
            delay = backoff_delay(attempt, *self.backoff)
            attempt += 1
            logger.info("reconnecting to %s in %g s", self.pool, delay)
            await anyio.sleep(delay)

    async def _session(self) -> str:
        self.connections += 1
        connection = self.connections
        try:
            with anyio.fail_after(self.connect_timeout):
                stream = await anyio.connect_tcp(self.pool.host, self.pool.port)
        except TimeoutError:
            logger.error("cannot connect to %s: timed out", self.pool)
            return "connect timed out"
        except OSError as exc:
            logger.error("cannot connect to %s: %s", self.pool, exc.strerror or exc)
            return "connect failed"
        client = StratumClient(
            login=self.login,
            password=self.password,
            agent=self.agent,
            rig_id=self.rig_id,
            connection=connection,
        )
        self.client = client
        self._send_lock = anyio.Lock()
        ended: list[str] = []
        try:
            async with stream:
                _tune_socket(stream)
                async with anyio.create_task_group() as tg:

                    async def submitter() -> None:
                        ended.append(await self._guarded(self._submitter(stream, client)))
                        tg.cancel_scope.cancel()

                    tg.start_soon(submitter)
                    ended.append(await self._guarded(self._login_and_read(stream, client)))
                    tg.cancel_scope.cancel()
        finally:
            self.client = None
        return ended[0]

    async def _login_and_read(self, stream: SocketStream, client: StratumClient) -> None:
        await self._send(stream, client.login(self.clock()))
        await self._reader(stream, client)

    async def _guarded(self, work: Awaitable[None]) -> str:
        """Run ``work``; the reason the session ends when it raises a connection error."""
        try:
            await work
        except _SessionEnded as exc:
            return str(exc)
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            logger.warning("pool %s closed the connection", self.pool)
            return "connection closed"
        except TimeoutError:
            logger.warning("sending to pool %s timed out", self.pool)
            return "send timed out"
        except OSError as exc:
            logger.warning("connection to pool %s failed: %s", self.pool, exc)
            return "connection failed"
        return "connection ended"

    async def _send(self, stream: SocketStream, line: bytes) -> None:
        assert self._send_lock is not None
        async with self._send_lock:
            with anyio.fail_after(SEND_TIMEOUT_SECONDS):
                await stream.send(line)

    async def _submitter(self, stream: SocketStream, client: StratumClient) -> None:
        assert self._shares_out is not None
        async for share in self._shares_out:
            if share.job.connection != client.connection or not client.logged_in:
                logger.info(
                    "share for job %s dropped: it belongs to an earlier connection",
                    share.job.job_id,
                )
                continue
            await self._send(stream, client.submit(share, self.clock()))

    async def _reader(self, stream: SocketStream, client: StratumClient) -> None:
        last_received = self.clock()
        while True:
            now = self.clock()
            deadline = math.inf
            oldest = client.oldest_pending()
            if oldest is not None:
                deadline = max(oldest, last_received) + self.response_timeout
            if client.logged_in and client.keepalive_enabled and oldest is None:
                deadline = min(deadline, last_received + self.keepalive_seconds)
            data = b""
            with anyio.move_on_after(max(0.0, deadline - now) if deadline < math.inf else math.inf):
                data = await stream.receive()
            now = self.clock()
            if not data:  # a timer fired
                if client.oldest_pending() is not None:
                    logger.warning(
                        "pool %s did not answer within %g s", self.pool, self.response_timeout
                    )
                    raise _SessionEnded("response timed out")
                if client.keepalive_enabled:
                    logger.debug("sending keepalived to %s", self.pool)
                    await self._send(stream, client.keepalive(now))
                    last_received = now  # the reply timer starts from the send
                continue
            last_received = now
            for event in client.receive_data(data, now):
                await self._handle(stream, client, event)

    async def _handle(self, stream: SocketStream, client: StratumClient, event: Event) -> None:
        if isinstance(event, LoggedIn):
            self.logins += 1
            extensions = ", ".join(sorted(event.extensions)) or "none"
            logger.info(
                "logged in to %s as %s (session %s, extensions: %s)",
                self.pool,
                self.login,
                event.session_id,
                extensions,
            )
            self.handler.on_connected(self.pool, event.session_id)
            self.handler.on_job(event.job)
        elif isinstance(event, NewJob):
            self.handler.on_job(event.job)
        elif isinstance(event, ShareAccepted | ShareRejected):
            self.handler.on_share_result(event)
            if isinstance(event, ShareRejected) and event.critical:
                raise _SessionEnded(f"critical pool error: {event.message}")
        elif isinstance(event, LoginFailed):
            logger.error("login to %s failed: %s", self.pool, event.message)
            raise _SessionEnded(f"login failed: {event.message}")
        elif isinstance(event, PoolError):
            logger.error("pool %s: %s", self.pool, event.message)
            if event.critical:
                raise _SessionEnded(f"critical pool error: {event.message}")
        elif isinstance(event, ReconnectRequested):
            logger.warning("%s: %s", self.pool, event.message)
            raise _SessionEnded(event.message)
        elif isinstance(event, ProtocolProblem):
            logger.error("pool %s: %s", self.pool, event.message)
        else:  # KeepaliveAnswered
            logger.debug("pool %s answered keepalived", self.pool)


def _tune_socket(stream: SocketStream) -> None:
    """TCP keepalive (60 s), as XMRig sets it; TCP_NODELAY is anyio's default."""
    try:
        sock: socket.socket = stream.extra(SocketAttribute.raw_socket)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if hasattr(socket, "TCP_KEEPIDLE"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 60)
    except (OSError, anyio.TypedAttributeLookupError):  # pragma: no cover - best effort
        pass


def agent_string() -> str:
    """``zion-miner/<version>`` (the version of zion-plugin-randomx)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"zion-miner/{version('zion-plugin-randomx')}"
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "zion-miner/0"
