"""The ``p2p`` service, behaviour by behaviour, through real nodes on loopback addresses.

Configuration, the handshake, connection limits and budgets, request deadlines,
unsolicited answers, address gossip and anchors, the definition of "synchronized", and
the RPC methods, status panel and metrics. Hand-driven peers (:class:`ScriptedPeer`)
connect from addresses no test node uses (127.0.0.60 and up).
"""

from __future__ import annotations

import inspect
import json
import os
import struct
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest
from chaos_proxy import ChaosProxy
from p2p_testkit import (
    INSTALLED,
    ScriptedPeer,
    ScriptedServer,
    TestNet,
    TestNode,
    connect_scripted,
    free_port,
    hello_for,
    same_tip,
    wait_for,
)

from zion_core.chain.transaction import OutPoint, Transaction, TxOutput
from zion_core.errors import ConfigError
from zion_plugin_p2p.config import DEFAULT_PORTS, P2PConfig
from zion_plugin_p2p.messages import (
    MAX_PAYLOAD,
    BlockEntry,
    Blocks,
    GetBlocks,
    GetHeaders,
    Goodbye,
    Headers,
    Hello,
    Ping,
    Pong,
    Txs,
    encode_frame,
    network_magic,
)

MakeNode = Callable[..., Any]

pytestmark = pytest.mark.anyio

# -- configuration ------------------------------------------------------------------------


def _p2p_config(make_node: MakeNode, *sets: str, network: str = "devnet") -> P2PConfig:
    node = make_node(installed=INSTALLED, network=network, sets=list(sets))
    config = node.config_section("p2p")
    assert isinstance(config, P2PConfig)
    return config


def test_config_from_set_strings(make_node: MakeNode) -> None:
    """The values exactly as ``zion run --set`` passes them (read as TOML)."""
    config = _p2p_config(
        make_node,
        'p2p.peers=["127.0.0.2:39180"]',
        'p2p.seeds=["127.0.0.3:39180", "[::1]:39180"]',
        "p2p.bind=127.0.0.4:39190",
        "p2p.max_outbound=3",
        "p2p.message_rate=2.5",
        "p2p.sync_grace_seconds=0",
    )
    assert config.peers == ("127.0.0.2:39180",)
    assert [str(a) for a in config.peer_addresses()] == ["127.0.0.2:39180"]
    assert [a.key for a in config.seed_addresses()] == [("127.0.0.3", 39180), ("::1", 39180)]
    assert config.listen_address("devnet") == ("127.0.0.4", 39190)
    assert (config.max_outbound, config.message_rate, config.sync_grace_seconds) == (3, 2.5, 0)
    # a later --set of the same key wins
    assert _p2p_config(make_node, "p2p.max_inbound=5", "p2p.max_inbound=7").max_inbound == 7


@pytest.mark.parametrize(
    ("setting", "key"),
    [
        ('p2p.peers=["nothost"]', "p2p.peers"),
        ('p2p.peers=["127.0.0.2:0"]', "p2p.peers"),
        ("p2p.peers=127.0.0.2:39180", "p2p.peers"),  # a string, not a TOML list
        ('p2p.seeds=["127.0.0.2"]', "p2p.seeds"),
        ("p2p.bind=nowhere", "p2p.bind"),
        ("p2p.bind=127.0.0.1:70000", "p2p.bind"),
        ("p2p.max_per_ip=0", "p2p.max_per_ip"),
        ("p2p.max_inbound=-1", "p2p.max_inbound"),
        ("p2p.ipv4_prefix=33", "p2p.ipv4_prefix"),
        ("p2p.span_blocks=129", "p2p.span_blocks"),
        ("p2p.handshake_timeout=0", "p2p.handshake_timeout"),
        ("p2p.request_timeout=true", "p2p.request_timeout"),
        ("p2p.message_burst=lots", "p2p.message_burst"),
        ("p2p.peer=[]", "p2p.peer"),  # unknown key
    ],
)
def test_config_bad_values_name_the_key(make_node: MakeNode, setting: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _p2p_config(make_node, setting)
    assert key in str(caught.value)


@pytest.mark.parametrize("network", ["mainnet", "testnet", "devnet"])
def test_default_listen_address_per_network(make_node: MakeNode, network: str) -> None:
    config = _p2p_config(make_node, network=network)
    host = "127.0.0.1" if network == "devnet" else "0.0.0.0"
    assert config.listen_address(network) == (host, DEFAULT_PORTS[network])
    assert DEFAULT_PORTS == {"mainnet": 19180, "testnet": 29180, "devnet": 39180}
    assert _p2p_config(make_node, "p2p.bind=off", network=network).listen_address(network) is None
    assert _p2p_config(make_node, "p2p.bind=[::1]:4000").listen_address(network) == ("::1", 4000)


async def test_bind_off_listens_nowhere_but_dials_out(make_node: MakeNode, tmp_path: Path) -> None:
    async with anyio.create_task_group() as tg:
        net = TestNet(make_node, tmp_path, tg)
        a, b = net.add(), net.add()
        b.extra_sets.append("p2p.bind=off")
        await a.start()
        await b.start([a.address])
        assert b.p2p.listen_port == 0
        assert b.node.registry("status_panel").get("peers").snapshot()["listen"] == "off"
        await wait_for(lambda: b.p2p.outgoing == 1 and a.p2p.incoming == 1, 10, "B to dial A")
        (peer,) = a.p2p.established()
        assert peer.hello.listen_port == 0 and peer.listen_address is None
        assert len(a.p2p.book) == 0  # nothing to gossip about a node that does not listen
        await net.stop_all()


# -- the handshake ------------------------------------------------------------------------


async def test_wrong_network_or_genesis_gets_a_goodbye_and_no_ban(
    make_node: MakeNode, tmp_path: Path
) -> None:
    async with anyio.create_task_group() as tg:
        net = TestNet(make_node, tmp_path, tg)
        a = net.add()
        await a.start()
        for local, hello in (
            ("127.0.0.60", hello_for(a, network="testnet")),
            ("127.0.0.61", hello_for(a, genesis_id=os.urandom(32))),
        ):
            peer = await connect_scripted(a, local, hello)
            assert isinstance(await peer.receive(), Hello)
            goodbye = await peer.receive()
            assert isinstance(goodbye, Goodbye) and "wrong network" in goodbye.reason
            assert await peer.closed(5)
            await peer.stream.aclose()
        assert a.p2p.bans.entries() == []
        assert a.p2p.established() == []
        assert a.p2p.metrics.handshakes == 0
        await net.stop_all()


async def test_node_dialling_itself_gives_that_address_up(
    make_node: MakeNode, tmp_path: Path
) -> None:
    """Its own address in ``p2p.peers`` is never dialled; an address that turns out to
    lead back to it (here through a forwarding proxy, as through a NAT) is dialled once."""
    async with anyio.create_task_group() as tg:
        net = TestNet(make_node, tmp_path, tg)
        a = net.add()
        port = free_port(a.host)
        proxy = ChaosProxy(a.host, port, listen_host="127.0.0.40")
        await tg.start(proxy.serve)
        a.extra_sets.append(f"p2p.bind={a.host}:{port}")
        await a.start([f"{a.host}:{port}", proxy.address])
        await wait_for(lambda: proxy.accepted == 1, 10, "A to dial the proxy")
        await anyio.sleep(2.5)  # without giving it up: retries after 1 s, then 2 s
        assert proxy.accepted == 1
        # a failed dial leaves a backoff entry: none for its own address, never dialled
        assert set(a.p2p._backoff) == {("127.0.0.40", proxy.port)}
        assert a.p2p.established() == [] and a.p2p.metrics.handshakes == 0
        assert a.p2p.bans.entries() == []
        assert a.p2p.sync_status().synchronized is False  # peers configured, none reached
        await net.stop_all()
        tg.cancel_scope.cancel()


async def test_duplicate_connection_is_refused(make_node: MakeNode, tmp_path: Path) -> None:
    """A second connection with a connected node (its handshake nonce) is refused, unless
    it was dialled by the node with the smaller nonce and the first one was not: then it
    replaces the first, as the other node decides the same way."""
    async with anyio.create_task_group() as tg:
        net = TestNet(make_node, tmp_path, tg)
        a, b = net.add(), net.add()
        await b.start()
        magic = network_magic(b.chain.genesis.id)
        high, low = b"\xff" * 8, bytes(8)  # above and below A's random nonce
        ended = {high: anyio.Event(), low: anyio.Event()}

        def listening(nonce: bytes) -> ScriptedServer:
            async def handle(peer: ScriptedPeer) -> None:
                try:
                    await peer.send(hello_for(b, nonce=nonce, listen_port=server.port))
                    while True:
                        message = await peer.receive(30)
                        if isinstance(message, Ping):
                            await peer.send(Pong(message.nonce))
                finally:
                    ended[nonce].set()

            server = ScriptedServer("127.0.0.6" + ("0" if nonce == high else "1"), magic, handle)
            return server

        servers = {nonce: listening(nonce) for nonce in (high, low)}
        for server in servers.values():
            await tg.start(server.serve)
        a.extra_sets.append("p2p.max_outbound=0")
        await a.start([server.address for server in servers.values()])
        await wait_for(lambda: a.p2p.outgoing == 2, 10, "A to dial both scripted nodes")
        # the same nodes dial A: from the one with the larger nonce, refused...
        again = {}
        for nonce, server in servers.items():
            again[nonce] = await connect_scripted(
                a, server.host, hello_for(a, nonce=nonce, listen_port=server.port)
            )
            assert isinstance(await again[nonce].receive(), Hello)
        goodbye = await again[high].receive_type(Goodbye)
        assert goodbye.reason == "already connected"
        assert await again[high].closed(5)
        assert not ended[high].is_set()
        # ... and from the one with the smaller nonce, kept instead of A's connection
        with anyio.fail_after(5):
            await ended[low].wait()
        await again[low].send(Ping(b"12345678"))
        assert (await again[low].receive_type(Pong)).nonce == b"12345678"
        assert (a.p2p.outgoing, a.p2p.incoming) == (1, 1)
        assert {(p.host, p.inbound) for p in a.p2p.established()} == {
            (servers[high].host, False),
            (servers[low].host, True),
        }
        assert a.p2p.bans.entries() == []
        for peer in again.values():
            await peer.stream.aclose()
        await a.stop()
        await b.stop()
        # two nodes that have each other in p2p.peers, started together, keep one
        # connection (each dials the other at once)
        ports = {node: free_port(node.host) for node in (a, b)}
        for node, other in ((a, b), (b, a)):
            node.extra_sets = [f"p2p.bind={node.host}:{ports[node]}"]
            tg.start_soon(node.start, [f"{other.host}:{ports[other]}"])
        await wait_for(
            lambda: (
                all(n._stopped is not None and not n._stopped.is_set() for n in (a, b))
                and a.p2p.established()
                and b.p2p.established()
            ),
            10,
            "A and B to connect",
        )
        await anyio.sleep(1.5)
        for node in (a, b):
            assert len(node.p2p.established()) == 1, node.p2p.connections()
        assert a.p2p.outgoing + b.p2p.outgoing == 1
        await net.stop_all()
        for server in servers.values():
            server.stop()


async def test_silent_peer_is_dropped_after_handshake_timeout(
    make_node: MakeNode, tmp_path: Path
) -> None:
    async with anyio.create_task_group() as tg:
        net = TestNet(make_node, tmp_path, tg)
        a = net.add(["p2p.handshake_timeout=1"])
        await a.start()
        began = time.monotonic()
        peer = await connect_scripted(a, "127.0.0.60")  # never says Hello
        assert isinstance(await peer.receive(), Hello)
        assert await peer.closed(5)
        assert 0.9 <= time.monotonic() - began < 4
        await peer.stream.aclose()
        assert a.p2p.bans.entries() == [] and a.p2p.established() == []
        await net.stop_all()


# -- limits and budgets -------------------------------------------------------------------


async def test_max_inbound_and_max_per_ip_refuse_with_goodbye(
    make_node: MakeNode, tmp_path: Path
) -> None:
    async with anyio.create_task_group() as tg:
        net = TestNet(make_node, tmp_path, tg)
        a = net.add(["p2p.max_inbound=2", "p2p.max_per_ip=1"])
        await a.start()
        kept: list[ScriptedPeer] = []

        async def join(local: str) -> Any:
            peer = await connect_scripted(a, local, hello_for(a))
            kept.append(peer)
            return await peer.receive()

        assert isinstance(await join("127.0.0.60"), Hello)
        await wait_for(lambda: a.p2p.incoming == 1, 5, "the first peer")
        refused = await join("127.0.0.60")
        assert isinstance(refused, Goodbye)
        assert refused.reason == "too many connections from 127.0.0.60 (1)"
        assert isinstance(await join("127.0.0.61"), Hello)
        await wait_for(lambda: a.p2p.incoming == 2, 5, "the second peer")
        refused = await join("127.0.0.62")
        assert isinstance(refused, Goodbye)
        assert refused.reason == "too many inbound connections (2)"
        assert a.p2p.metrics.refused == 2
        assert a.p2p.incoming == 2 and a.p2p.bans.entries() == []
        for peer in kept:
            await peer.stream.aclose()
        await net.stop_all()


async def test_message_flood_and_oversized_frame_are_banned(
    make_node: MakeNode, tmp_path: Path
) -> None:
    async with anyio.create_task_group() as tg:
        net = TestNet(make_node, tmp_path, tg)
        a = net.add(["p2p.message_rate=1", "p2p.message_burst=5"])
        await a.start()
        magic = network_magic(a.chain.genesis.id)
        # Pings beyond the burst (the handshake counts as one message)
        flood = await connect_scripted(a, "127.0.0.60", hello_for(a))
        assert isinstance(await flood.receive(), Hello)
        await flood.stream.send(b"".join(encode_frame(magic, Ping(bytes(8))) for _ in range(20)))
        assert await flood.closed(5)
        await wait_for(lambda: a.p2p.bans.is_banned("127.0.0.60"), 5, "the flood's ban")
        assert "message budget" in a.p2p.bans.entries()[0].reason
        # frame headers announcing more than the type's cap; the payload never comes
        for local, kind, length in (
            ("127.0.0.61", Ping.TYPE, 9),
            ("127.0.0.62", Blocks.TYPE, MAX_PAYLOAD + 1),
        ):
            peer = await connect_scripted(a, local, hello_for(a))
            assert isinstance(await peer.receive(), Hello)
            await peer.stream.send(struct.pack("<4sHII", magic, kind, length, 0))
            assert await peer.closed(5)
            await peer.stream.aclose()
            await wait_for(partial(a.p2p.bans.is_banned, local), 5, "the oversized frame's ban")
        reasons = {ban.host: ban.reason for ban in a.p2p.bans.entries()}
        assert "above its cap of 8" in reasons["127.0.0.61"]
        assert f"above its cap of {Blocks.MAX_SIZE}" in reasons["127.0.0.62"]
        assert a.p2p.metrics.bans == 3
        await flood.stream.aclose()
        await net.stop_all()


# -- requests -----------------------------------------------------------------------------


@pytest.mark.parametrize("unanswered", ["headers", "blocks"])
async def test_unanswered_request_drops_the_peer_and_sync_goes_on(
    make_node: MakeNode, tmp_path: Path, unanswered: str
) -> None:
    """C's only peer claims the most work and then leaves a request (GetHeaders, or
    GetBlocks after answering the headers) unanswered: C drops it after request_timeout,
    without a ban, and syncs from A, which connects in the meantime."""
    async with anyio.create_task_group() as tg:
        net = TestNet(make_node, tmp_path, tg)
        a = net.add()
        c = net.add(["p2p.request_timeout=1.5"])
        await a.start()
        await a.mine(2)
        tip = a.chain.tip
        blobs = tuple(a.chain.header_blobs(1, 2))
        asked = anyio.Event()

        async def stall(peer: ScriptedPeer) -> None:
            await peer.send(
                hello_for(a, height=tip.height, cumulative_difficulty=2 * tip.cumulative_difficulty)
            )
            while True:
                message = await peer.receive(30)
                if isinstance(message, GetHeaders) and unanswered == "blocks":
                    await peer.send(Headers(blobs))
                elif isinstance(message, GetHeaders | GetBlocks):
                    asked.set()

        staller = ScriptedServer("127.0.0.60", network_magic(a.chain.genesis.id), stall)
        await tg.start(staller.serve)
        await c.start([staller.address])
        await wait_for(asked.is_set, 10, f"C to ask the staller for {unanswered}")
        assert not c.p2p.sync_status().synchronized
        await a.stop()
        await a.start([c.address])  # an honest peer shows up
        await wait_for(same_tip(a, c), 20, "C to sync from A")
        assert c.p2p.metrics.timeouts >= 1
        assert not c.p2p.bans.entries()
        assert all(p.host == a.host for p in c.p2p.established())
        await wait_for(lambda: c.p2p.sync_status().synchronized, 5, "C synchronized")
        await net.stop_all()
        staller.stop()


async def test_unsolicited_answers_are_banned(make_node: MakeNode, tmp_path: Path) -> None:
    async with anyio.create_task_group() as tg:
        net = TestNet(make_node, tmp_path, tg)
        a = net.add()
        await a.start()
        genesis = a.chain.block_at(0)
        tx = Transaction(
            unlock_time=0,
            inputs=(OutPoint(txid=bytes(32), index=0),),
            outputs=(TxOutput(amount=1, spend_key=bytes(32), view_key=bytes(32)),),
            fee=1,
            signatures=(bytes(64),),
        )
        sent = {
            "127.0.0.60": Headers((genesis.hashing_blob(),)),
            "127.0.0.61": Blocks((BlockEntry(genesis, ()),)),
            "127.0.0.62": Txs((tx,)),
        }
        for local, message in sent.items():
            peer = await connect_scripted(a, local, hello_for(a))
            assert isinstance(await peer.receive(), Hello)
            await peer.send(message)
            assert await peer.closed(5)
            await peer.stream.aclose()
        await wait_for(lambda: len(a.p2p.bans.entries()) == 3, 5, "three bans")
        bans = {ban.host: ban.reason for ban in a.p2p.bans.entries()}
        assert set(bans) == set(sent)
        assert all("nobody asked for" in reason for reason in bans.values()), bans
        assert a.p2p.established() == []
        await net.stop_all()


# -- discovery ----------------------------------------------------------------------------


async def test_address_gossip_leads_to_a_new_peer(make_node: MakeNode, tmp_path: Path) -> None:
    """C knows only B, B knows A: C hears of A from B (GetAddr / Addr) and, wanting a
    second outbound peer, connects to it."""
    async with anyio.create_task_group() as tg:
        net = TestNet(make_node, tmp_path, tg)
        a, b, c = net.add(), net.add(), net.add(["p2p.max_outbound=2"])
        await a.start()
        await b.start([a.address])
        await wait_for(lambda: b.p2p.outgoing == 1, 10, "B to connect to A")
        await c.start([b.address])
        await wait_for(
            lambda: any(p.host == a.host and not p.inbound for p in c.p2p.established()),
            15,
            "C to connect to A",
        )
        assert c.p2p.book.is_tried(_address(a))
        assert c.p2p.outgoing == 2
        assert c.p2p.metrics.messages["Addr"] >= 1
        await net.stop_all()


def _address(node: TestNode) -> Any:
    from zion_plugin_p2p.address import PeerAddress

    return PeerAddress.parse(node.address)


async def test_outbound_peers_are_anchors_after_a_restart(
    make_node: MakeNode, tmp_path: Path
) -> None:
    async with anyio.create_task_group() as tg:
        net = TestNet(make_node, tmp_path, tg)
        a, c = net.add(), net.add()
        await a.start()
        await c.start([a.address])
        await wait_for(lambda: c.p2p.outgoing == 1, 10, "C to connect to A")
        a_key = (a.host, a.p2p.listen_port)
        await c.stop()
        path = c.data_dir / "p2p" / "peers.json"
        saved = json.loads(path.read_text())
        assert [(x["host"], x["port"]) for x in saved["anchors"]] == [a_key]
        # C forgets A but for the anchor, and starts with no peer configured
        saved["new"], saved["tried"] = [], []
        path.write_text(json.dumps(saved))
        await c.start([])
        assert [x.key for x in c.p2p.book.anchors()] == [a_key]
        assert a_key not in c.p2p.book
        await wait_for(lambda: c.p2p.outgoing == 1, 10, "C to dial its anchor")
        assert c.p2p.established()[0].dialled.key == a_key
        await net.stop_all()


# -- sync status --------------------------------------------------------------------------


async def test_unreachable_peer_is_waited_for_sync_grace_seconds(
    make_node: MakeNode, tmp_path: Path
) -> None:
    async with anyio.create_task_group() as tg:
        net = TestNet(make_node, tmp_path, tg)
        a = net.add(["p2p.sync_grace_seconds=1.5"])
        began = time.monotonic()
        await a.start([f"127.0.0.60:{free_port('127.0.0.60')}"])
        status = a.p2p.sync_status()
        assert not status.synchronized and "looking for peers" in status.detail
        await wait_for(lambda: a.p2p.sync_status().synchronized, 5, "the grace to pass")
        assert time.monotonic() - began >= 1.4
        assert "no peer reachable" in a.p2p.sync_status().detail
        await net.stop_all()


async def test_synchronized_alone_behind_and_ahead_of_peers(
    make_node: MakeNode, tmp_path: Path
) -> None:
    """A alone is synchronized; B, whose configured peer A is down, is not; A restarted
    with B behind it is synchronized at once (not after the grace); B is not
    synchronized until it has A's chain."""
    async with anyio.create_task_group() as tg:
        net = TestNet(make_node, tmp_path, tg)
        a, b = net.add(["p2p.sync_grace_seconds=600"]), net.add(["p2p.sync_grace_seconds=600"])
        a_port, b_port = free_port(a.host), free_port(b.host)
        a.extra_sets.append(f"p2p.bind={a.host}:{a_port}")
        b.extra_sets.append(f"p2p.bind={b.host}:{b_port}")
        await a.start()
        status = a.p2p.sync_status()
        assert status.synchronized and "alone" in status.detail
        assert (status.height, status.target_height, status.busy) == (1, 1, False)
        await a.mine(3)
        await a.stop()

        await b.start([f"{a.host}:{a_port}"])
        status = b.p2p.sync_status()
        assert not status.synchronized and "looking for peers" in status.detail
        seen: list[tuple[bool, int]] = []

        async def watch_b() -> None:
            while True:
                seen.append((b.p2p.sync_status().synchronized, b.height))
                await anyio.sleep(0.005)

        tg.start_soon(watch_b)
        await a.start([f"{b.host}:{b_port}"])
        await wait_for(lambda: a.p2p.established(), 10, "A to connect to B")
        status = a.p2p.sync_status()
        assert status.synchronized and "synchronized with 1 peer" in status.detail
        assert status.height == 4
        await wait_for(same_tip(a, b), 20, "B to sync from A")
        await wait_for(lambda: b.p2p.sync_status().synchronized, 5, "B synchronized")
        assert (False, 0) in seen
        assert all(height == 3 for synchronized, height in seen if synchronized)
        status = b.p2p.sync_status()
        assert (status.height, status.target_height) == (4, 4)
        await net.stop_all()
        tg.cancel_scope.cancel()


# -- RPC methods, the status panel, metrics ----------------------------------------------


async def test_rpc_methods_panel_and_metrics(make_node: MakeNode, tmp_path: Path) -> None:
    async with anyio.create_task_group() as tg:
        net = TestNet(make_node, tmp_path, tg)
        a, b = net.add(), net.add()
        await a.start()
        await b.start([a.address])
        await wait_for(lambda: a.p2p.incoming == 1 and b.p2p.outgoing == 1, 10, "B and A")
        methods = a.node.registry("rpc_method")

        async def call(name: str, params: Any = None, node: TestNode = a) -> Any:
            result = await _rpc(node, name, params)
            assert result["status"] == "OK"
            json.dumps(result)
            return result

        (connection,) = (await call("get_connections"))["connections"]
        assert connection["incoming"] is True and connection["host"] == b.host
        assert connection["state"] == "normal" and connection["listen_port"] == b.p2p.listen_port
        assert connection["peer_id"] == b.p2p.nonce.hex()
        assert connection["height"] == 0 and connection["user_agent"].startswith("zion/")
        assert connection["recv_count"] > 0 and connection["send_count"] > 0
        lists = await call("get_peer_list", node=b)
        assert [(p["host"], p["port"]) for p in lists["white_list"]] == [
            (a.host, a.p2p.listen_port)
        ]
        info = await call("sync_info")
        assert info["synchronized"] is True and info["height"] == 1
        assert info["target_height"] == 1 and info["download_queue"] == 0
        assert [p["info"]["host"] for p in info["peers"]] == [b.host]
        assert (await call("get_bans"))["bans"] == []
        # ban and unban
        await call("set_bans", {"bans": [{"host": "127.0.0.70", "ban": True, "seconds": 60}]})
        (ban,) = (await call("get_bans"))["bans"]
        assert ban["host"] == "127.0.0.70" and 58 <= ban["seconds"] <= 60
        await call("set_bans", {"bans": [{"host": "127.0.0.70", "ban": False}]})
        assert (await call("get_bans"))["bans"] == []
        for bad, error in (
            (None, "set_bans takes"),
            ([], "set_bans takes"),
            ({"bans": "127.0.0.70"}, "set_bans takes"),
            ({"bans": ["127.0.0.70"]}, "each ban is an object"),
            ({"bans": [{"host": "nothost", "seconds": 60}]}, "not an IP address"),
            ({"bans": [{"host": "127.0.0.70"}]}, "seconds must be"),
            ({"bans": [{"host": "127.0.0.70", "seconds": 0}]}, "seconds must be"),
            ({"bans": [{"host": "127.0.0.70", "seconds": "60"}]}, "seconds must be"),
            ({"bans": [{"host": "127.0.0.70", "seconds": True}]}, "seconds must be"),
            ({"bans": [{"host": "127.0.0.70", "seconds": 10**10}]}, "seconds must be"),
        ):
            with pytest.raises(ValueError, match=error):
                await _rpc(a, "set_bans", bad)
        # one bad entry: none is applied
        with pytest.raises(ValueError, match="seconds must be"):
            await _rpc(
                a, "set_bans", {"bans": [{"host": "127.0.0.70", "seconds": 60}, {"host": "::1"}]}
            )
        assert (await call("get_bans"))["bans"] == []
        assert {m: methods.get(m).restricted for m in _RPC} == _RPC

        # the status panel
        panel = a.node.registry("status_panel").get("peers")
        snapshot = panel.snapshot()
        json.dumps(snapshot)
        assert snapshot["synchronized"] is True
        assert (snapshot["outgoing"], snapshot["incoming"]) == (0, 1)
        assert snapshot["listen"] == a.address and snapshot["banned"] == 0
        assert snapshot["height"] == snapshot["target_height"] and snapshot["download_queue"] == 0
        assert [p["address"] for p in snapshot["peers"]] == [f"{b.host}:{connection['port']}"]

        # the metrics
        samples = list(a.node.registry("metrics").get("p2p").collect())
        values = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in samples}
        assert values[("zion_p2p_peers", (("direction", "in"),))] == 1
        assert values[("zion_p2p_peers", (("direction", "out"),))] == 0
        assert values[("zion_p2p_synchronized", ())] == 1
        assert values[("zion_p2p_target_height", ())] == 1
        assert values[("zion_p2p_handshakes_total", ())] == 1
        assert values[("zion_p2p_banned", ())] == 0
        assert values[("zion_p2p_peer_bytes", (("direction", "in"),))] > 0
        assert values[("zion_p2p_messages_received_total", (("type", "GetAddr"),))] == 1
        kinds: dict[str, set[str]] = {}
        for sample in samples:
            assert sample.name.startswith("zion_p2p_") and sample.value >= 0
            assert sample.kind == "counter" or not sample.name.endswith("_total")
            assert sample.kind != "counter" or sample.name.endswith("_total")
            kinds.setdefault(sample.name, set()).add(sample.kind)
        assert all(len(k) == 1 for k in kinds.values())
        assert set(kinds) >= _METRICS

        # banning a connected peer's address disconnects it
        await call("set_bans", {"bans": [{"host": b.host, "seconds": 60}]})
        await wait_for(lambda: not a.p2p.established(), 5, "B to be dropped")
        assert a.p2p.bans.is_banned(b.host)
        await net.stop_all()


async def _rpc(node: TestNode, name: str, params: Any = None) -> Any:
    """Call a registered RPC method as the node's API does: a coroutine handler on the
    event loop, a plain one in a worker thread."""
    handler = node.node.registry("rpc_method").get(name).handler
    if inspect.iscoroutinefunction(handler):
        return await handler(params)
    return await anyio.to_thread.run_sync(handler, params)


_RPC = {
    "get_connections": True,
    "get_peer_list": True,
    "sync_info": False,
    "get_bans": True,
    "set_bans": True,
}
_METRICS = {
    "zion_p2p_peers",
    "zion_p2p_synchronized",
    "zion_p2p_target_height",
    "zion_p2p_download_queue_blocks",
    "zion_p2p_sync_blocks_total",
    "zion_p2p_addresses",
    "zion_p2p_banned",
    "zion_p2p_bans_total",
    "zion_p2p_handshakes_total",
    "zion_p2p_refused_total",
    "zion_p2p_timeouts_total",
    "zion_p2p_blocks_relayed_total",
    "zion_p2p_transactions_received_total",
    "zion_p2p_messages_received_total",
    "zion_p2p_peer_bytes",
}
