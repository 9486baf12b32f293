"""A client of a node's live event stream (``/ws`` of the ``jsonrpc`` plugin).

:class:`NodeEventStream` speaks WebSocket with wsproto (the sans-IO protocol library)
over an anyio byte stream, TCP or TLS, on asyncio and trio alike. It reads the stream
one JSON object at a time::

    async with await NodeEventStream.connect(
        "http://127.0.0.1:39181", query="events=new_tip,reorg", ping_seconds=20
    ) as stream:
        while True:
            message = await stream.receive()  # {"event": "new_tip", "data": {...}}

What it takes care of: the opening handshake (a refusal raises
:class:`EventStreamRefusedError` with the HTTP status and the node's JSON ``reason``),
messages sent in fragments (assembled, up to ``max_message`` characters), pings from the
node (answered), a silent node (pinged after ``ping_seconds``, given up on after as long
again), the node closing the stream (:class:`EventStreamClosedError`, after answering its
close frame) and, on :meth:`~NodeEventStream.aclose`, a close frame of its own.

Every failure, the transport's included (a refused connection, a TLS error, a timeout,
a connection lost), is an :class:`EventStreamError`, a :class:`~zion_core.ZionError`;
the transport's own exception is its ``__cause__``. One task at a time may call
:meth:`~NodeEventStream.receive`.
"""

from __future__ import annotations

import json
import ssl
from collections import deque
from collections.abc import Mapping
from typing import Any, Final, Self
from urllib.parse import urlsplit

import anyio
import anyio.abc
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import ProtocolError

from .errors import ZionError

__all__ = [
    "DEFAULT_MAX_MESSAGE",
    "EventStreamClosedError",
    "EventStreamError",
    "EventStreamRefusedError",
    "NodeEventStream",
]

DEFAULT_MAX_MESSAGE: Final = 8 * 1024 * 1024
"""The longest message taken by default, in characters (a pool's statistics with many
miners stay far below)."""
CONNECT_TIMEOUT: Final = 5.0
"""Seconds to connect and complete the handshake, by default."""
CLOSE_TIMEOUT: Final = 1.0
"""Seconds :meth:`NodeEventStream.aclose` may spend sending its close frame."""
MAX_REFUSAL_BODY: Final = 64 * 1024
"""The most bytes of a refusal's body read (for its reason)."""
READ_SIZE: Final = 65536
NORMAL_CLOSURE: Final = 1000
ABNORMAL_CLOSURE: Final = 1006
"""The close code of a connection lost without a close frame (RFC 6455, 7.1.5)."""
_TRANSPORT_ERRORS: Final = (
    OSError,
    anyio.EndOfStream,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
)


class EventStreamError(ZionError):
    """The event stream could not be opened or followed: no connection, a broken
    protocol, a message that is not a JSON object or is too long, no answer to a ping."""


class EventStreamRefusedError(EventStreamError):
    """The node refused the handshake: ``status`` is the HTTP status, ``reason`` the
    ``reason`` of the node's JSON answer (None without one)."""

    def __init__(self, status: int, reason: str | None) -> None:
        self.status = status
        self.reason = reason
        super().__init__(f"the node refused the event stream: HTTP {status}: {reason or '-'}")


class EventStreamClosedError(EventStreamError):
    """The node closed the stream (``code`` and ``reason`` of its close frame), or the
    connection was lost (code 1006)."""

    def __init__(self, code: int, reason: str | None = None) -> None:
        self.code = code
        self.reason = reason or ""
        super().__init__(f"the event stream closed ({f'{code} {self.reason}'.strip()})")


def _refusal_reason(body: bytes) -> str | None:
    """The ``reason`` of a JSON refusal body, else its start as text, or None."""
    try:
        answer = json.loads(body)
    except ValueError:
        text = body.decode("utf-8", errors="replace").strip()
        return text[:200] or None
    if isinstance(answer, dict) and answer.get("reason") is not None:
        return str(answer["reason"])
    return None


class NodeEventStream:
    """A connected event stream, read one JSON object at a time; open it with
    :meth:`connect`, close it with :meth:`aclose` (or use it as an async context
    manager)."""

    def __init__(
        self,
        stream: anyio.abc.ByteStream,
        connection: WSConnection,
        *,
        ping_seconds: float | None = None,
        max_message: int = DEFAULT_MAX_MESSAGE,
    ) -> None:
        self._stream = stream
        self._connection = connection
        self._pending: deque[Event] = deque()
        self.ping_seconds = ping_seconds
        self.max_message = max_message
        self.pings = 0
        """Pings sent to a silent node."""
        self.closed: EventStreamClosedError | None = None
        """How the stream ended, once it did."""

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        path: str = "/ws",
        query: str = "",
        headers: Mapping[str, str] | None = None,
        timeout: float = CONNECT_TIMEOUT,  # noqa: ASYNC109 - bounds the handshake too
        ping_seconds: float | None = None,
        max_message: int = DEFAULT_MAX_MESSAGE,
        ssl_context: ssl.SSLContext | None = None,
    ) -> Self:
        """Open the event stream of the node at ``url``, its base URL: ``http://`` or
        ``ws://``; ``https://`` or ``wss://`` for TLS (certificates checked with
        ``ssl_context``, by default Python's default context). ``path`` and ``query``
        (``events=new_tip,reorg``) are added to the URL's path; ``headers`` go with the
        handshake (``Authorization``); ``timeout`` bounds the connection and the
        handshake; ``ping_seconds``, when given, pings a node silent for that long and
        gives up after as long again; ``max_message`` caps a message's characters."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
            raise EventStreamError(f"not an http(s):// or ws(s):// URL: {url!r}")
        tls = parts.scheme in ("https", "wss")
        host = parts.hostname
        try:
            port = parts.port or (443 if tls else 80)
        except ValueError as exc:
            raise EventStreamError(f"a bad port in {url!r}") from exc
        target = parts.path.rstrip("/") + path + (f"?{query}" if query else "")
        extra = [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
        request = Request(host=parts.netloc.rpartition("@")[2], target=target, extra_headers=extra)
        where = f"{host}:{port}"
        try:
            with anyio.fail_after(timeout):
                if tls:
                    stream: anyio.abc.ByteStream = await anyio.connect_tcp(
                        host,
                        port,
                        tls=True,
                        ssl_context=ssl_context or ssl.create_default_context(),
                        tls_standard_compatible=False,
                    )
                else:
                    stream = await anyio.connect_tcp(host, port)
                events = cls(
                    stream,
                    WSConnection(ConnectionType.CLIENT),
                    ping_seconds=ping_seconds,
                    max_message=max_message,
                )
                try:
                    await events._handshake(request)
                except BaseException:
                    await anyio.aclose_forcefully(stream)
                    raise
        except TimeoutError as exc:
            raise EventStreamError(f"no event stream from {where} within {timeout:g} s") from exc
        except _TRANSPORT_ERRORS as exc:
            reason = str(exc) or type(exc).__name__
            raise EventStreamError(f"cannot open the event stream at {where}: {reason}") from exc
        return events

    async def _handshake(self, request: Request) -> None:
        await self._stream.send(self._connection.send(request))
        status: int | None = None
        body = b""
        while True:
            try:
                data: bytes | None = await self._stream.receive(READ_SIZE)
            except anyio.EndOfStream:
                data = None  # the end of a refusal's body that has no length
            try:
                self._connection.receive_data(data)
                events = deque(self._connection.events())
            except ProtocolError as exc:
                raise EventStreamError(f"a bad handshake answer: {exc}") from exc
            while events:
                event = events.popleft()
                if isinstance(event, AcceptConnection):
                    self._pending = events  # messages that came with the answer
                    return
                if isinstance(event, RejectConnection):
                    status = event.status_code
                    if not event.has_body:
                        raise EventStreamRefusedError(status, None)
                elif isinstance(event, RejectData) and status is not None:
                    body += event.data
                    if event.body_finished or len(body) >= MAX_REFUSAL_BODY:
                        raise EventStreamRefusedError(status, _refusal_reason(body))
            if data is None:
                if status is not None:
                    raise EventStreamRefusedError(status, _refusal_reason(body))
                raise EventStreamError("the node closed the connection during the handshake")

    # -- reading ------------------------------------------------------------------------

    async def receive(self) -> dict[str, Any]:
        """The next message, a JSON object. Raises :class:`EventStreamClosedError` once
        the node closed the stream (and on every call after), :class:`EventStreamError`
        for anything else wrong."""
        if self.closed is not None:
            raise EventStreamClosedError(self.closed.code, self.closed.reason)
        parts: list[str] = []
        size = 0
        while True:
            event = await self._next_event()
            if isinstance(event, TextMessage):
                parts.append(event.data)
                size += len(event.data)
                if size > self.max_message:
                    raise EventStreamError(f"a message over {self.max_message} characters")
                if event.message_finished:
                    return self._decode("".join(parts))
            elif isinstance(event, BytesMessage):
                raise EventStreamError("a binary message (the node sends JSON text)")
            elif isinstance(event, Ping):
                await self._send(event.response())
            elif isinstance(event, CloseConnection):
                await self._closed_by(event)
            # a Pong: the node is alive, nothing more to do

    async def _closed_by(self, event: CloseConnection) -> None:
        """Answer the node's close frame (or close after bad data), then raise."""
        state = self._connection.state
        if state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
            with anyio.move_on_after(CLOSE_TIMEOUT, shield=True):
                await self._send(event.response(), quiet=True)
        if state is ConnectionState.OPEN:  # wsproto's own close: the node's data was bad
            raise EventStreamError(f"the node broke the protocol: {event.reason}")
        self.closed = EventStreamClosedError(event.code, event.reason)
        raise self.closed

    @staticmethod
    def _decode(text: str) -> dict[str, Any]:
        try:
            message = json.loads(text)
        except (ValueError, RecursionError):
            raise EventStreamError(f"a message that is not JSON: {text[:80]!r}") from None
        if not isinstance(message, dict):
            raise EventStreamError(f"a message that is not a JSON object: {text[:80]!r}")
        return message

    async def _next_event(self) -> Event:
        while not self._pending:
            data = await self._read()
            try:
                self._connection.receive_data(data)
                self._pending.extend(self._connection.events())
            except ProtocolError as exc:
                raise EventStreamError(f"the node broke the protocol: {exc}") from exc
        return self._pending.popleft()

    async def _read(self) -> bytes:
        """The next bytes from the node; with ``ping_seconds``, a silent node is pinged,
        and given up on when the ping brings nothing either."""
        if self.ping_seconds is None:
            return await self._receive()
        for pinged in (False, True):
            with anyio.move_on_after(self.ping_seconds):
                return await self._receive()
            if not pinged:
                self.pings += 1
                await self._send(Ping(b"zion"))
        raise EventStreamError(f"no answer to a ping in {self.ping_seconds:g} s")

    async def _receive(self) -> bytes:
        try:
            return await self._stream.receive(READ_SIZE)
        except _TRANSPORT_ERRORS as exc:
            self.closed = EventStreamClosedError(ABNORMAL_CLOSURE, str(exc) or "connection lost")
            raise self.closed from exc

    async def _send(self, event: Event, *, quiet: bool = False) -> None:
        """Send ``event``; with ``quiet``, a connection already gone is no error."""
        try:
            await self._stream.send(self._connection.send(event))
        except ProtocolError as exc:
            if not quiet:
                raise EventStreamError(f"cannot send {type(event).__name__}: {exc}") from exc
        except _TRANSPORT_ERRORS as exc:
            if not quiet:
                self.closed = EventStreamClosedError(ABNORMAL_CLOSURE, str(exc) or "lost")
                raise self.closed from exc

    # -- closing --------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Send a close frame if the stream is still open (for a second at most, even when
        cancelled), then close the connection."""
        if self.closed is None and self._connection.state is ConnectionState.OPEN:
            with anyio.move_on_after(CLOSE_TIMEOUT, shield=True):
                await self._send(CloseConnection(code=NORMAL_CLOSURE), quiet=True)
        await anyio.aclose_forcefully(self._stream)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
