"""A TCP proxy on loopback that makes a link slow, lossy or partitioned (test code).

``ChaosProxy`` listens on ``listen_host`` and forwards each connection it accepts to
``target_host:target_port``, both directions, chunk by chunk:

- ``latency`` seconds one way, plus a uniform ``jitter`` in ``[0, jitter)``; chunks keep
  their order in each direction (a chunk never overtakes the one before it).
- ``loss``: the probability that a chunk is "lost". TCP hides a loss from the
  application: the segment is sent again after a retransmission timeout and everything
  behind it waits. So a lost chunk is held back :data:`RETRANSMIT_SECONDS` longer, and
  the chunks after it with it; bytes are never dropped or corrupted.
- ``rate``: bytes per second each direction carries (None: unlimited); a chunk takes
  ``len / rate`` seconds on the wire after the one before it.
- :meth:`ChaosProxy.cut` closes every connection and refuses new ones (each is accepted
  and reset at once) until :meth:`ChaosProxy.heal`: a network partition.

Run it in a task group: ``port = await tg.start(proxy.serve)`` (also ``proxy.port``).
Every task it starts ends with its connection, and all of them with ``serve``.
"""

from __future__ import annotations

import contextlib
import random
import socket
import struct
from typing import Final

import anyio
import anyio.abc
from anyio.abc import SocketAttribute, SocketStream
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

RETRANSMIT_SECONDS: Final = 0.2
"""How long a lost chunk is held back: one retransmission timeout (Linux's minimum)."""
CHUNK: Final = 64 * 1024
QUEUED_CHUNKS: Final = 256
"""Chunks in flight per direction before the proxy stops reading (back-pressure)."""
CONNECT_SECONDS: Final = 5.0

_STREAM_ERRORS = (
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.EndOfStream,
    OSError,
)


class _Direction:
    """One direction of one connection: when each chunk is delivered."""

    def __init__(self, proxy: ChaosProxy) -> None:
        self.proxy = proxy
        self.wire_free_at = 0.0
        self.last_delivery = 0.0

    def delivery_time(self, size: int, now: float) -> float:
        proxy = self.proxy
        start = max(now, self.wire_free_at)
        sent = start + (size / proxy.rate if proxy.rate else 0.0)
        self.wire_free_at = sent
        at = sent + proxy.latency
        if proxy.jitter:
            at += proxy.rng.uniform(0.0, proxy.jitter)
        if proxy.loss and proxy.rng.random() < proxy.loss:
            at += RETRANSMIT_SECONDS
            proxy.held_back += 1
        at = max(at, self.last_delivery)  # in order
        self.last_delivery = at
        return at


class ChaosProxy:
    """A bad link between two endpoints (see the module docstring)."""

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        listen_host: str = "127.0.0.1",
        latency: float = 0.0,
        jitter: float = 0.0,
        loss: float = 0.0,
        rate: float | None = None,
        seed: int = 0,
    ) -> None:
        if latency < 0 or jitter < 0 or not 0.0 <= loss < 1.0:
            raise ValueError("latency and jitter must not be negative, loss must be in [0, 1)")
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive")
        self.target_host = target_host
        self.target_port = target_port
        self.listen_host = listen_host
        self.latency = latency
        self.jitter = jitter
        self.loss = loss
        self.rate = rate
        self.rng = random.Random(seed)
        self.port = 0
        self.is_cut = False
        self.accepted = 0
        """Connections forwarded to the target (since start)."""
        self.refused = 0
        """Connections reset because the link was cut (or the target refused)."""
        self.forwarded_bytes = 0
        self.held_back = 0
        """Chunks held back for a retransmission timeout (emulated losses)."""
        self._links: set[anyio.CancelScope] = set()

    @property
    def address(self) -> str:
        return f"{self.listen_host}:{self.port}"

    @property
    def connections(self) -> int:
        """Connections open now."""
        return len(self._links)

    def cut(self) -> None:
        """Close every connection, and refuse new ones until :meth:`heal`."""
        self.is_cut = True
        for scope in list(self._links):
            scope.cancel()

    def heal(self) -> None:
        """Accept connections again."""
        self.is_cut = False

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Listen and forward until cancelled; ``task_status`` gets the port."""
        listener = await anyio.create_tcp_listener(local_host=self.listen_host, local_port=0)
        async with listener, anyio.create_task_group() as tg:
            self.port = int(listener.extra(SocketAttribute.local_port))
            task_status.started(self.port)
            await listener.serve(self._handle, task_group=tg)

    # -- one connection ----------------------------------------------------------------------

    def _refuse(self, client: SocketStream) -> bool:
        if not self.is_cut:
            return False
        self.refused += 1
        _reset(client)
        return True

    async def _handle(self, client: SocketStream) -> None:
        upstream: SocketStream | None = None
        try:
            if self._refuse(client):
                return
            try:
                with anyio.fail_after(CONNECT_SECONDS):
                    upstream = await anyio.connect_tcp(self.target_host, self.target_port)
            except (OSError, TimeoutError):
                self.refused += 1
                _reset(client)
                return
            if self._refuse(client):  # cut while connecting
                return
            self.accepted += 1
            with anyio.CancelScope() as scope:
                self._links.add(scope)
                try:
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(self._pipe, client, upstream, tg.cancel_scope)
                        tg.start_soon(self._pipe, upstream, client, tg.cancel_scope)
                finally:
                    self._links.discard(scope)
        finally:
            with anyio.CancelScope(shield=True):  # both, even when the proxy is stopping
                if upstream is not None:
                    await anyio.aclose_forcefully(upstream)
                await anyio.aclose_forcefully(client)

    async def _pipe(
        self, source: SocketStream, sink: SocketStream, link: anyio.CancelScope
    ) -> None:
        """Forward ``source`` to ``sink`` until end of stream; an error ends the link."""
        send, receive = anyio.create_memory_object_stream[tuple[float, bytes]](QUEUED_CHUNKS)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._deliver, receive, sink, link)
            await self._read(source, send, link)

    async def _read(
        self,
        source: SocketStream,
        send: MemoryObjectSendStream[tuple[float, bytes]],
        link: anyio.CancelScope,
    ) -> None:
        direction = _Direction(self)
        async with send:
            while True:
                try:
                    chunk = await source.receive(CHUNK)
                except anyio.EndOfStream:
                    return  # the sender half-closed: deliver what is queued, then EOF
                except _STREAM_ERRORS:
                    link.cancel()
                    return
                at = direction.delivery_time(len(chunk), anyio.current_time())
                try:
                    await send.send((at, chunk))
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    return  # the deliverer stopped (the sink failed): the link is ending

    async def _deliver(
        self,
        receive: MemoryObjectReceiveStream[tuple[float, bytes]],
        sink: SocketStream,
        link: anyio.CancelScope,
    ) -> None:
        async with receive:
            try:
                async for at, chunk in receive:
                    delay = at - anyio.current_time()
                    if delay > 0:
                        await anyio.sleep(delay)
                    await sink.send(chunk)
                    self.forwarded_bytes += len(chunk)
                await sink.send_eof()
            except _STREAM_ERRORS:
                link.cancel()


def _reset(stream: SocketStream) -> None:
    """Make the coming close a reset (RST), as a refused connection shows."""
    raw = stream.extra(SocketAttribute.raw_socket, None)
    if raw is not None:
        with contextlib.suppress(OSError):
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


__all__ = ["RETRANSMIT_SECONDS", "ChaosProxy"]
