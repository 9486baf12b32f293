"""``zion_core.NodeEventStream``, the client of a node's event stream (``/ws``).

Against a real devnet node with the jsonrpc plugin (served in process): the hello
message, a new tip, pings answered by the node while it is silent, refused handshakes
(HTTP 400 with the node's reason, 403 over the subscriber limit) and the node closing
the stream as it stops. Against a small WebSocket server written with wsproto in this
file: messages in fragments (hypothesis) with pings in between, oversized, binary and
non-JSON messages, a refusal with a text body, a silent server that answers no ping, the
client's close frame, a handshake that never ends, and TLS.
"""

from __future__ import annotations

import datetime
import ipaddress
import itertools
import json
import socket
import ssl
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest
from anyio.streams.tls import TLSListener
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

from zion_core import (
    EventStreamClosedError,
    EventStreamError,
    EventStreamRefusedError,
    NodeEventStream,
    ZionError,
)
from zion_core.chain.block import Block
from zion_core.chain.keys import WalletKeys

pytestmark = pytest.mark.anyio

INSTALLED = ["consensus", "sqlite", "randomx", "jsonrpc"]
BASE_SETS = ["chain.initial_difficulty=1", "rpc.bind=127.0.0.1:0", "randomx.threads=1"]
ADDRESS = str(WalletKeys.from_seed(bytes(32)).address("devnet"))


# -- a real node ----------------------------------------------------------------------------


@asynccontextmanager
async def served(make_node: Callable[..., Any], sets: Sequence[str] = ()) -> AsyncIterator[Any]:
    """A devnet node serving its API; yields the node."""
    node = make_node({}, installed=INSTALLED, sets=[*BASE_SETS, *sets])
    async with anyio.create_task_group() as tg:
        await tg.start(node.serve)
        try:
            yield node
        finally:
            node.request_shutdown("test over")


def url_of(node: Any) -> str:
    return f"http://127.0.0.1:{node.registry('service').get('rpc').port}"


async def mine_one(url: str) -> str:
    """Submit a template as it is (difficulty 1: any nonce makes a block); its id."""
    async with httpx.AsyncClient(base_url=url) as client:

        async def call(method: str, params: Any) -> Any:
            payload = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
            return (await client.post("/json_rpc", json=payload)).json()["result"]

        blob = (await call("get_block_template", {"wallet_address": ADDRESS}))["blocktemplate_blob"]
        assert (await call("submit_block", [blob]))["status"] == "OK"
        return Block.from_bytes(bytes.fromhex(blob)).id.hex()


async def test_hello_and_a_new_tip_from_a_real_node(make_node: Callable[..., Any]) -> None:
    async with served(make_node) as node:
        url = url_of(node)
        with anyio.fail_after(30):
            async with await NodeEventStream.connect(
                url, query="events=new_tip,block_found", ping_seconds=0.2
            ) as stream:
                hello = await stream.receive()
                assert hello["event"] == "hello"
                assert hello["data"]["network"] == "devnet" and hello["data"]["height"] == 0
                assert hello["data"]["events"] == ["block_found", "new_tip"]

                async def mine_later() -> None:
                    await anyio.sleep(1.0)  # silent meanwhile: pinged, and the node answers
                    mined.append(await mine_one(url))

                mined: list[str] = []
                async with anyio.create_task_group() as tg:
                    tg.start_soon(mine_later)
                    tip = await stream.receive()
                assert tip["event"] == "new_tip" and tip["data"]["height"] == 1
                assert tip["data"]["hash"] == mined[0]
                assert stream.pings >= 2
            # ws:// and a trailing slash name the same stream
            async with await NodeEventStream.connect(
                url.replace("http://", "ws://") + "/"
            ) as every:
                hello = await every.receive()
                assert "mempool_tx" in hello["data"]["events"]


async def test_refused_handshakes_carry_the_status_and_reason(
    make_node: Callable[..., Any],
) -> None:
    async with served(make_node, ["rpc.ws_max_clients=1"]) as node:
        url = url_of(node)
        with anyio.fail_after(30):
            with pytest.raises(EventStreamRefusedError) as refused:
                await NodeEventStream.connect(url, query="events=new_tip,nonsense")
            assert refused.value.status == 400 and "nonsense" in str(refused.value.reason)
            assert "HTTP 400" in str(refused.value)
            with pytest.raises(EventStreamRefusedError) as refused:
                await NodeEventStream.connect(url, query="events=pool_stats,pool_miner")
            assert refused.value.reason == "pool_miner needs miner=ADDRESS (at most 8)"
            async with await NodeEventStream.connect(url) as first:
                assert (await first.receive())["event"] == "hello"
                with pytest.raises(EventStreamRefusedError) as refused:
                    await NodeEventStream.connect(url)  # over ws_max_clients
                assert refused.value.status == 403


async def test_the_node_closing_the_stream(make_node: Callable[..., Any]) -> None:
    async with served(make_node) as node:
        url = url_of(node)
        with anyio.fail_after(30):
            stream = await NodeEventStream.connect(url, query="events=new_tip")
            async with stream:
                assert (await stream.receive())["event"] == "hello"
                node.request_shutdown("test over")
                with pytest.raises(EventStreamClosedError) as closed:
                    await stream.receive()
                assert closed.value.code == 1001 and closed.value.reason == "the node is stopping"
                with pytest.raises(EventStreamClosedError):  # and on every call after
                    await stream.receive()
                assert stream.closed is not None


async def test_nothing_listening_and_bad_urls() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(EventStreamError, match=f"127.0.0.1:{port}") as failed:
        await NodeEventStream.connect(f"http://127.0.0.1:{port}")
    assert isinstance(failed.value, ZionError) and isinstance(failed.value.__cause__, OSError)
    assert not isinstance(failed.value, EventStreamRefusedError | EventStreamClosedError)
    for url in ("ftp://127.0.0.1/", "127.0.0.1:39181", "http://127.0.0.1:99999"):
        with pytest.raises(EventStreamError):
            await NodeEventStream.connect(url)


# -- a small wsproto server -----------------------------------------------------------------


class Peer:
    """The server's end of one connection: wsproto over the accepted stream."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.SERVER)
        self.pending: list[Event] = []
        self.request: Request | None = None

    async def next_event(self) -> Event | None:
        """The client's next event; None once its connection is gone."""
        while not self.pending:
            try:
                data = await self.stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return None
            self.ws.receive_data(data)
            self.pending.extend(self.ws.events())
        return self.pending.pop(0)

    async def handshake(self) -> Request:
        event = await self.next_event()
        assert isinstance(event, Request), event
        self.request = event
        return event

    async def accept(self) -> Request:
        request = await self.handshake()
        await self.send(AcceptConnection())
        return request

    async def send(self, *events: Event) -> None:
        await self.stream.send(b"".join(self.ws.send(event) for event in events))

    async def send_json(self, value: Any) -> None:
        await self.send(TextMessage(json.dumps(value)))


Handler = Callable[[Peer], Awaitable[None]]


@asynccontextmanager
async def ws_server(handler: Handler, *, tls: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    """A server on 127.0.0.1 that runs ``handler`` for each connection; yields its URL.
    On the way out, it stops accepting and lets the handlers finish."""
    listener: anyio.abc.Listener[Any] = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    if tls is not None:
        listener = TLSListener(listener, tls, standard_compatible=False)

    async def serve(stream: anyio.abc.ByteStream) -> None:
        async with stream:
            await handler(Peer(stream))

    async with listener, anyio.create_task_group() as handlers:
        async with anyio.create_task_group() as acceptor:
            acceptor.start_soon(listener.serve, serve, handlers)
            yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
            acceptor.cancel_scope.cancel()
        # the handlers see their clients leave; a few seconds at most
        handlers.cancel_scope.deadline = anyio.current_time() + 5


async def linger(peer: Peer) -> list[Event]:
    """The client's events until it leaves."""
    seen = []
    while (event := await peer.next_event()) is not None:
        seen.append(event)
    return seen


objects = st.dictionaries(
    st.text(max_size=8),
    st.integers() | st.text(max_size=40) | st.lists(st.booleans(), max_size=3),
    max_size=6,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    message=objects,
    cuts=st.lists(st.integers(0, 400), max_size=6),
    pings=st.lists(st.binary(max_size=8), max_size=3),
)
async def test_fragmented_messages_are_assembled_and_pings_answered(
    message: dict[str, Any], cuts: list[int], pings: list[bytes]
) -> None:
    text = json.dumps(message, ensure_ascii=False)
    bounds = sorted({0, len(text), *(min(cut, len(text)) for cut in cuts)})
    fragments = [text[a:b] for a, b in itertools.pairwise(bounds)]
    pongs: list[bytes] = []

    async def handler(peer: Peer) -> None:
        await peer.accept()
        for index, fragment in enumerate(fragments):
            last = index == len(fragments) - 1
            await peer.send(TextMessage(fragment, message_finished=last))
            if not last and index < len(pings):  # control frames come between fragments
                await peer.send(Ping(pings[index]))
        for event in await linger(peer):
            if isinstance(event, Pong):
                pongs.append(bytes(event.payload))

    async with ws_server(handler) as url:
        with anyio.fail_after(10):
            async with await NodeEventStream.connect(url) as stream:
                assert await stream.receive() == message
    assert pongs == pings[: len(fragments) - 1]


async def test_the_path_query_and_headers_of_the_handshake() -> None:
    requests: list[Request] = []

    async def handler(peer: Peer) -> None:
        requests.append(await peer.accept())
        await peer.send_json({"event": "hello", "data": {}})
        await linger(peer)

    async with ws_server(handler) as url:
        with anyio.fail_after(10):
            async with await NodeEventStream.connect(
                url + "/node/",
                query="events=new_tip",
                headers={"Authorization": "Bearer s3cret"},
            ) as stream:
                assert await stream.receive() == {"event": "hello", "data": {}}
    (request,) = requests
    assert request.target == "/node/ws?events=new_tip"
    assert (b"authorization", b"Bearer s3cret") in list(request.extra_headers)


async def test_oversized_binary_and_non_json_messages_are_errors() -> None:
    payloads: list[list[Event]] = [
        [TextMessage("[" + "1," * 600 + "1]")],  # over max_message
        [TextMessage("x" * 600, message_finished=False)] * 2,  # over it in fragments
        [BytesMessage(b"{}")],
        [TextMessage("not json")],
        [TextMessage("[1, 2]")],  # JSON, not an object
    ]
    served: list[int] = []

    async def handler(peer: Peer) -> None:
        await peer.accept()
        await peer.send(*payloads[len(served)])
        served.append(1)
        await linger(peer)

    async with ws_server(handler) as url:
        with anyio.fail_after(10):
            for match in ("over 1000 characters", "over 1000", "binary", "not JSON", "not a JSON"):
                async with await NodeEventStream.connect(url, max_message=1000) as stream:
                    with pytest.raises(EventStreamError, match=match) as failed:
                        await stream.receive()
                    assert not isinstance(failed.value, EventStreamClosedError)


async def test_a_silent_server_is_pinged_then_given_up_on() -> None:
    seen: list[Event] = []

    async def handler(peer: Peer) -> None:
        await peer.accept()
        await peer.send_json({"event": "hello", "data": {}})
        seen.extend(await linger(peer))  # pings are not answered

    async with ws_server(handler) as url:
        with anyio.fail_after(10):
            async with await NodeEventStream.connect(url, ping_seconds=0.2) as stream:
                assert (await stream.receive())["event"] == "hello"
                started = anyio.current_time()
                with pytest.raises(EventStreamError, match=r"no answer to a ping in 0\.2 s"):
                    await stream.receive()
                assert 0.35 < anyio.current_time() - started < 3
                assert stream.pings == 1
            with anyio.fail_after(5):
                while not seen:
                    await anyio.sleep(0.01)
    assert isinstance(seen[0], Ping) and seen[0].payload == b"zion"
    assert isinstance(seen[-1], CloseConnection) and seen[-1].code == 1000


async def test_close_frames_both_ways() -> None:
    closes: list[CloseConnection] = []

    async def handler(peer: Peer) -> None:
        request = await peer.accept()
        if "server-closes" in request.target:
            await peer.send(CloseConnection(code=4000, reason="bye"))
        for event in await linger(peer):
            if isinstance(event, CloseConnection):
                closes.append(event)

    async with ws_server(handler) as url:
        with anyio.fail_after(10):
            async with await NodeEventStream.connect(url, query="server-closes") as stream:
                with pytest.raises(EventStreamClosedError) as closed:
                    await stream.receive()
                assert (closed.value.code, closed.value.reason) == (4000, "bye")
            async with await NodeEventStream.connect(url) as stream:
                pass  # the client closes
            while len(closes) < 2:
                await anyio.sleep(0.01)
    # the client answered the server's close, and closed on its own with 1000
    assert sorted((c.code, c.reason) for c in closes) == [(1000, ""), (4000, "bye")]


async def test_a_refusal_with_a_text_body_and_a_handshake_that_never_ends() -> None:
    async def handler(peer: Peer) -> None:
        request = await peer.handshake()
        if "refuse" in request.target:
            headers = [(b"content-type", b"text/plain"), (b"content-length", b"12")]
            await peer.send(
                RejectConnection(status_code=503, headers=headers, has_body=True),
                RejectData(b"come back la"),
            )
        await linger(peer)  # no answer at all otherwise

    async with ws_server(handler) as url:
        with anyio.fail_after(10):
            with pytest.raises(EventStreamRefusedError) as refused:
                await NodeEventStream.connect(url, query="refuse")
            assert (refused.value.status, refused.value.reason) == (503, "come back la")
            with pytest.raises(EventStreamError, match=r"within 0\.3 s"):
                await NodeEventStream.connect(url, timeout=0.3)


def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a self-signed certificate for 127.0.0.1, and a client
    context that trusts it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as folder:
        cert_file, key_file = Path(folder, "cert.pem"), Path(folder, "key.pem")
        cert_file.write_bytes(pem)
        key_file.write_bytes(key_pem)
        server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cadata=pem.decode())
    return server, client


async def test_tls_with_a_trusted_and_an_unknown_certificate() -> None:
    pytest.importorskip("cryptography")
    server, client = tls_contexts()

    async def handler(peer: Peer) -> None:
        await peer.accept()
        await peer.send_json({"event": "hello", "data": {"tls": True}})
        await linger(peer)

    async with ws_server(handler, tls=server) as url:
        assert url.startswith("https://")
        with anyio.fail_after(10):
            async with await NodeEventStream.connect(url, ssl_context=client) as stream:
                assert await stream.receive() == {"event": "hello", "data": {"tls": True}}
            wss = url.replace("https://", "wss://")
            async with await NodeEventStream.connect(wss, ssl_context=client) as stream:
                assert (await stream.receive())["data"] == {"tls": True}
            with pytest.raises(EventStreamError, match="certificate verify failed"):
                await NodeEventStream.connect(url)  # the default context knows no such CA
