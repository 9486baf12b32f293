"""Miner connections on non-blocking sockets: lines in, lines out, slow readers."""

from __future__ import annotations

import socket

import anyio
import pytest

from zion_plugin_stratum import connection
from zion_plugin_stratum.connection import LineTooLongError, PlainListener, SocketConnection

pytestmark = pytest.mark.anyio


def _pair() -> tuple[SocketConnection, socket.socket]:
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    return SocketConnection(ours, "192.0.2.7"), theirs


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while True:
        try:
            chunk = sock.recv(1 << 20)
        except BlockingIOError:
            return data
        if not chunk:
            return data
        data += chunk


async def test_lines_are_split_across_reads_and_in_one_read() -> None:
    conn, peer = _pair()
    try:
        peer.send(b'{"a":1}\n{"b"')
        assert await conn.receive_line(100) == b'{"a":1}'
        peer.send(b':2}\n\n{"c":3}\n')
        assert await conn.receive_line(100) == b'{"b":2}'
        assert await conn.receive_line(100) == b""
        assert await conn.receive_line(100) == b'{"c":3}'
        peer.close()
        with pytest.raises(anyio.EndOfStream):
            await conn.receive_line(100)
    finally:
        await conn.aclose()


async def test_a_line_over_the_limit_is_refused() -> None:
    conn, peer = _pair()
    try:
        peer.send(b"x" * 64)
        with pytest.raises(LineTooLongError):
            await conn.receive_line(32)
    finally:
        peer.close()
        await conn.aclose()


async def test_writes_go_out_at_once_and_in_order_when_the_peer_is_slow() -> None:
    conn, peer = _pair()
    try:
        assert conn.write(b"first\n")
        assert _read_all(peer) == b"first\n"
        # fill the socket buffers: the rest waits in the queue, in order
        line = b"y" * 4095 + b"\n"
        written = [conn.write(line) for _ in range(64)]
        assert not all(written) and conn.queued > 0
        assert not conn.write(b"last\n")  # queued behind the rest, never before it
        received = bytearray()
        async with anyio.create_task_group() as tg:
            tg.start_soon(conn.drain)
            with anyio.fail_after(10):
                while not received.endswith(b"last\n"):
                    await anyio.wait_readable(peer)
                    received += _read_all(peer)
        assert bytes(received) == line * 64 + b"last\n"
        assert conn.queued == 0
    finally:
        peer.close()
        await conn.aclose()


async def test_a_reader_that_never_reads_is_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "MAX_QUEUED", 64 * 1024)
    conn, peer = _pair()
    try:
        line = b"z" * 8191 + b"\n"
        for _ in range(1000):
            if not conn.write(line) and conn.broken:
                break
        assert conn.broken
        with pytest.raises(anyio.BrokenResourceError):
            await conn.send(b"more\n")
    finally:
        peer.close()
        await conn.aclose()


async def test_closing_wakes_a_waiting_reader() -> None:
    conn, peer = _pair()
    failure: list[BaseException] = []

    async def read() -> None:
        try:
            await conn.receive_line(100)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError) as exc:
            failure.append(exc)

    try:
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(read)
                await anyio.sleep(0.05)
                await conn.aclose()
        assert failure
    finally:
        peer.close()


async def test_the_listener_hands_over_connections_with_the_peer_address() -> None:
    seen: list[tuple[str, bytes]] = []

    async def handler(conn: SocketConnection) -> None:
        line = await conn.receive_line(100)
        seen.append((conn.ip, line))
        await conn.send(b"bye\n")
        await conn.aclose()

    listener = PlainListener(connection.listen("127.0.0.1", 0), handler)
    host, port = listener.local_address
    assert host == "127.0.0.1" and port > 0
    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, tg)
        with anyio.fail_after(10):
            for index in range(3):
                async with await anyio.connect_tcp(host, port) as client:
                    await client.send(b"hello %d\n" % index)
                    assert await client.receive() == b"bye\n"
        await listener.aclose()
        tg.cancel_scope.cancel()
    assert sorted(seen) == [("127.0.0.1", b"hello %d" % i) for i in range(3)]
