"""Miner connections: newline-delimited lines over plain TCP sockets, or over TLS streams.

A new tip sends one ``job`` line to every logged-in miner at once, so the cost of one
write decides how fast a broadcast reaches thousands of miners. :class:`SocketConnection`
owns a non-blocking socket and writes a line with one ``send`` system call, without
yielding to the event loop, whenever nothing is queued before it
(:meth:`~SocketConnection.write`); only the rest of a line that the socket did not take,
which happens when a miner reads slowly, waits for the socket in
:meth:`~SocketConnection.drain`. Reads wait for the socket with :func:`anyio.wait_readable`
and split lines from one buffer. Both work on every anyio backend.

:class:`StreamConnection` gives a TLS stream (or any anyio byte stream) the same
interface; its :meth:`~StreamConnection.write` never completes a line by itself, so every
line goes through the stream's ``send``.

Plain listening sockets are made by :func:`listen` and served by :class:`PlainListener`;
TLS ports use anyio's TLS listener through :class:`StreamListener`.
"""

from __future__ import annotations

import contextlib
import errno
import socket
from collections.abc import Callable, Coroutine
from typing import Any, Final, Protocol

import anyio
import anyio.lowlevel
from anyio.abc import ByteStream, Listener, SocketAttribute, TaskGroup
from anyio.streams.buffered import BufferedByteReceiveStream

RECEIVE_SIZE: Final = 65536
"""Bytes asked of the socket per read."""
MAX_QUEUED: Final = 256 * 1024
"""Bytes queued for a miner that reads too slowly before its connection is closed."""
BACKLOG: Final = 1024
"""Pending connections a listening socket holds."""

_RETRY: Final = (BlockingIOError, InterruptedError)


class LineTooLongError(Exception):
    """A line exceeded the limit before its newline arrived."""


class Connection(Protocol):
    """One miner's connection, as the server uses it."""

    @property
    def ip(self) -> str: ...

    async def receive_line(self, limit: int) -> bytes:
        """The next line, without its newline.

        Raises :class:`anyio.EndOfStream` when the peer closed, :class:`LineTooLongError`
        when ``limit`` bytes arrived without a newline.
        """
        ...

    async def send(self, data: bytes) -> None:
        """Send ``data`` (after anything written before it); raises
        :class:`anyio.BrokenResourceError` or :class:`anyio.ClosedResourceError` when the
        connection is broken or closed."""
        ...

    async def aclose(self) -> None: ...


class SocketConnection:
    """A plain TCP connection on a non-blocking socket (see the module's description)."""

    __slots__ = ("_closed", "_in", "_out", "_sock", "broken", "ip")

    def __init__(self, sock: socket.socket, ip: str) -> None:
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self.ip = ip
        self._in = bytearray()
        self._out = bytearray()
        self._closed = False
        self.broken = False

    @property
    def queued(self) -> int:
        """Bytes written but not sent yet."""
        return len(self._out)

    async def receive_line(self, limit: int) -> bytes:
        buffer = self._in
        start = 0
        while True:
            end = buffer.find(b"\n", start)
            if end >= 0:
                line = bytes(buffer[:end])
                del buffer[: end + 1]
                return line
            if len(buffer) >= limit:
                raise LineTooLongError
            start = len(buffer)
            await anyio.wait_readable(self._sock)
            try:
                data = self._sock.recv(RECEIVE_SIZE)
            except _RETRY:
                continue
            except OSError as exc:
                raise anyio.BrokenResourceError from exc
            if not data:
                raise anyio.EndOfStream
            buffer += data

    def write(self, data: bytes) -> bool:
        """Start sending ``data`` at once; True when the socket took all of it, False when
        some waits in the queue (:meth:`drain` sends it) or the connection is broken."""
        if self._closed or self.broken:
            return False
        if self._out:
            self._out += data
        else:
            try:
                sent = self._sock.send(data)
            except _RETRY:
                sent = 0
            except OSError:
                self.broken = True
                return False
            if sent == len(data):
                return True
            self._out += data[sent:]
        if len(self._out) > MAX_QUEUED:
            self.broken = True
        return False

    async def send(self, data: bytes) -> None:
        """Write ``data`` (when not empty), then :meth:`drain`."""
        if data and self.write(data):
            return
        await self.drain()

    async def drain(self) -> None:
        """Wait until everything written has been sent."""
        while self._out and not self.broken:
            if self._closed:
                raise anyio.ClosedResourceError
            await anyio.wait_writable(self._sock)
            try:
                sent = self._sock.send(self._out)
            except _RETRY:
                continue
            except OSError as exc:
                self.broken = True
                raise anyio.BrokenResourceError from exc
            del self._out[:sent]
        if self.broken:
            raise anyio.BrokenResourceError

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        anyio.notify_closing(self._sock)
        self._sock.close()
        await anyio.lowlevel.checkpoint()


class StreamConnection:
    """An anyio byte stream (TLS) with the :class:`Connection` interface."""

    def __init__(self, stream: ByteStream, ip: str) -> None:
        self._stream = stream
        self._reader = BufferedByteReceiveStream(stream)
        self.ip = ip

    async def receive_line(self, limit: int) -> bytes:
        try:
            return await self._reader.receive_until(b"\n", limit)
        except anyio.DelimiterNotFound:
            raise LineTooLongError from None
        except anyio.IncompleteRead:
            raise anyio.EndOfStream from None

    async def send(self, data: bytes) -> None:
        if data:
            await self._stream.send(data)

    async def aclose(self) -> None:
        await self._stream.aclose()


def listen(host: str, port: int) -> socket.socket:
    """A non-blocking listening TCP socket on ``host``:``port`` (0: any free port)."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class PlainListener:
    """A listening socket whose connections are :class:`SocketConnection` objects."""

    def __init__(
        self, sock: socket.socket, handler: Callable[[SocketConnection], Coroutine[Any, Any, Any]]
    ) -> None:
        self._sock = sock
        self._handler = handler
        self._closed = False

    @property
    def local_address(self) -> tuple[str, int]:
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    async def serve(self, task_group: TaskGroup) -> None:
        """Accept connections until cancelled or closed; each is handled in ``task_group``."""
        sock = self._sock
        while not self._closed:
            try:
                await anyio.wait_readable(sock)
            except anyio.ClosedResourceError:
                return
            while True:
                try:
                    client, address = sock.accept()
                except _RETRY:
                    break
                except OSError as exc:
                    if exc.errno in (errno.ECONNABORTED, errno.EPROTO):
                        continue
                    if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                        await anyio.sleep(0.1)  # out of descriptors: let connections close
                        break
                    raise
                task_group.start_soon(self._handler, SocketConnection(client, str(address[0])))

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        anyio.notify_closing(self._sock)
        self._sock.close()
        await anyio.lowlevel.checkpoint()


class StreamListener:
    """An anyio listener (TLS) whose streams become :class:`StreamConnection` objects."""

    def __init__(
        self,
        listener: Listener[Any],
        local_address: tuple[str, int],
        handler: Callable[[StreamConnection], Coroutine[Any, Any, Any]],
    ) -> None:
        self._listener = listener
        self.local_address = local_address
        self._handler = handler

    async def _handle(self, stream: Any) -> None:
        try:
            ip = str(stream.extra(SocketAttribute.remote_address)[0])
        except (IndexError, TypeError, anyio.TypedAttributeLookupError):
            ip = "?"
        await self._handler(StreamConnection(stream, ip))

    async def serve(self, task_group: TaskGroup) -> None:
        await self._listener.serve(self._handle, task_group)

    async def aclose(self) -> None:
        await self._listener.aclose()


__all__ = [
    "Connection",
    "LineTooLongError",
    "PlainListener",
    "SocketConnection",
    "StreamConnection",
    "StreamListener",
    "listen",
]
