"""``zion status``: the snapshot built from a node's API (a fake node behind httpx's mock
transport), its rendering fitted to small terminals, and the live view's polling and
event handling (the events from a small WebSocket server written with wsproto). The
real devnet node is in test_status_devnet.py; the stream client itself in
test_events_client.py."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import socket
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Request, TextMessage

from zion_core.cli import main
from zion_core.cli.status import live as live_mod
from zion_core.cli.status import snapshot as snapshot_mod
from zion_core.cli.status.live import StatusApp
from zion_core.cli.status.render import (
    ViewState,
    fmt_age,
    fmt_bytes,
    fmt_hashrate,
    render,
)
from zion_core.cli.status.snapshot import (
    NodeAnswerError,
    NodeClient,
    NodeUnreachableError,
    collect,
    default_node_url,
)

NOW = 1_800_000_000.0
POOL_BLOCK = "aa" * 32
MINER_BLOCK = "bb" * 32
ADDRESS = "Zi" + "1" * 96


def header(height: int) -> dict[str, Any]:
    block_id = POOL_BLOCK if height == 41 else MINER_BLOCK if height == 40 else f"{height:064x}"
    return {
        "height": height,
        "hash": block_id,
        "timestamp": int(NOW) - (42 - height) * 10,
        "block_size": 300 + height,
        "num_txes": height % 3,
        "reward": 17_500_000_000_000,
        "difficulty": 1000 + height,
        "difficulty_top64": 0,
        "wide_difficulty": hex(1000 + height),
    }


class FakeNode:
    """The answers of a node at height 42 with a pool, a miner and two panels."""

    def __init__(self) -> None:
        self.height = 42
        self.methods: dict[str, Any] = {
            "get_info": {
                "height": self.height,
                "difficulty": 1200,
                "difficulty_top64": 0,
                "wide_difficulty": "0x4b0",
                "cumulative_difficulty": 50_000,
                "cumulative_difficulty_top64": 0,
                "wide_cumulative_difficulty": hex(50_000),
                "target": 10,
                "top_block_hash": "cc" * 32,
                "tx_pool_size": 2,
                "nettype": "devnet",
                "version": "0.1.0",
                "start_time": int(NOW) - 300,
                "synchronized": True,
                "incoming_connections_count": 0,
                "outgoing_connections_count": 0,
                "white_peerlist_size": 0,
                "grey_peerlist_size": 0,
                "status": "OK",
            },
            "mining_status": {
                "active": True,
                "address": ADDRESS,
                "threads_count": 1,
                "speed": 41,
                "hashes": 12345,
                "blocks_found": 3,
                "mode": "light",
                "height": 42,
                "difficulty": 1200,
                "recent_blocks": [{"height": 40, "hash": MINER_BLOCK}],
            },
            "pool_stats": {
                "pool_address": ADDRESS,
                "policy": "pplns",
                "fee_bps": 100,
                "hashrate": 1234.5,
                "miners": 2,
                "workers": 3,
                "connections": 4,
                "shares": {"accepted": 120, "stale": 1, "rejected": 2, "difficulty": 9},
                "blocks": {"found": 4, "pending": 1, "credited": 3, "orphaned": 0},
                "last_block": {
                    "height": 41,
                    "block_id": POOL_BLOCK,
                    "status": "pending",
                    "reward": 1,
                    "network_difficulty": 1,
                    "found_at": NOW - 10,
                },
                "recent_blocks": [{"height": 41, "block_id": POOL_BLOCK}],
                "payments": {"count": 1, "total_paid": 5, "in_flight": 0, "last": None},
                "payouts": {
                    "enabled": True,
                    "threshold": 1,
                    "interval_seconds": 600,
                    "next_at": NOW + 250,
                },
            },
            "randomx_status": {
                "verifier": {
                    "backend": "randomx-cpu",
                    "mode": "light",
                    "threads": 2,
                    "flags": ["hard_aes", "jit"],
                    "keys": 1,
                    "memory_bytes": 256 * 1024 * 1024,
                    "dataset_progress": None,
                },
                "miner": None,
            },
            "status_panels": {
                "panels": [
                    {
                        "name": "node",
                        "title": "Node",
                        "plugin": "core",
                        "rows": {"network": "devnet", "plugins": ["core", "jsonrpc"]},
                        "error": None,
                    },
                    {
                        "name": "bridge",
                        "title": "Bridge [solana]",
                        "plugin": "bridge",
                        "rows": {},
                        "error": "RuntimeError: [red]down",
                    },
                ]
            },
        }
        self.errors: dict[str, tuple[int, str]] = {}
        self.requests: list[Any] = []
        self.pool_txs = [{"blob_size": 150}, {"blob_size": 250}]

    def drop(self, *methods: str) -> None:
        for method in methods:
            self.methods.pop(method)

    def answer(self, call: dict[str, Any]) -> dict[str, Any]:
        method = call["method"]
        if method in self.errors:
            code, message = self.errors[method]
            return {"jsonrpc": "2.0", "id": call["id"], "error": {"code": code, "message": message}}
        if method == "get_block_headers_range":
            params = call["params"]
            headers = [header(h) for h in range(params["start_height"], params["end_height"] + 1)]
            result: Any = {"headers": headers, "status": "OK"}
        elif method in self.methods:
            result = self.methods[method]
        else:
            return {
                "jsonrpc": "2.0",
                "id": call["id"],
                "error": {"code": -32601, "message": "Method not found"},
            }
        return {"jsonrpc": "2.0", "id": call["id"], "result": result}

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/get_transaction_pool":
            return httpx.Response(200, json={"transactions": self.pool_txs, "status": "OK"})
        payload = json.loads(request.content)
        self.requests.append(payload)
        if isinstance(payload, list):
            return httpx.Response(200, json=[self.answer(c) for c in payload])
        return httpx.Response(200, json=self.answer(payload))

    def client(self) -> NodeClient:
        return NodeClient("http://node.test:39181", transport=httpx.MockTransport(self.handler))


async def snapshot_of(fake: FakeNode, **kwargs: Any) -> dict[str, Any]:
    async with fake.client() as client:
        return await collect(client, clock=lambda: NOW, **kwargs)


# ----------------------------------------------------------------------------- snapshot


@pytest.mark.anyio
async def test_snapshot_sections_and_stable_keys() -> None:
    fake = FakeNode()
    snap = await snapshot_of(fake, blocks=5)
    assert set(snap) == {
        "node",
        "time",
        "chain",
        "mempool",
        "peers",
        "pool",
        "miner",
        "randomx",
        "panels",
        "errors",
    }
    assert snap["node"] == {
        "url": "http://node.test:39181",
        "network": "devnet",
        "version": "0.1.0",
        "start_time": int(NOW) - 300,
        "uptime_seconds": 300.0,
    }
    chain = snap["chain"]
    assert chain["height"] == 42 and chain["top_height"] == 41
    assert chain["difficulty"] == 1200 and chain["target_seconds"] == 10
    assert chain["hashrate"] == 120.0  # difficulty / target
    assert [b["height"] for b in chain["last_blocks"]] == [41, 40, 39, 38, 37]
    finders = {b["height"]: b["finder"] for b in chain["last_blocks"]}
    assert finders == {41: "pool", 40: "miner", 39: None, 38: None, 37: None}
    assert chain["last_blocks"][0]["size"] == 341
    assert snap["mempool"] == {"transactions": 2, "bytes": 400}
    assert snap["peers"] is None  # no P2P yet
    pool = snap["pool"]
    assert pool["hashrate"] == 1234.5 and pool["miners"] == 2 and pool["workers"] == 3
    assert pool["shares"] == {"accepted": 120, "rejected": 2, "stale": 1}
    assert pool["blocks"] == {"found": 4, "pending": 1, "credited": 3, "orphaned": 0}
    assert pool["payouts"]["next_at"] == NOW + 250
    miner = snap["miner"]
    assert miner["active"] and miner["hashrate"] == 41 and miner["blocks_found"] == 3
    assert snap["randomx"]["verifier"]["mode"] == "light"
    assert snap["randomx"]["verifier"]["memory_bytes"] == 256 << 20
    assert snap["randomx"]["miner"] is None
    assert [p["name"] for p in snap["panels"]] == ["node", "bridge"]
    assert snap["errors"] == {}
    json.dumps(snap)  # JSON as it is
    # two round trips: the first batch, then the headers
    assert [[c["method"] for c in r] for r in fake.requests] == [
        ["get_info", "mining_status", "pool_stats", "randomx_status", "status_panels"],
        ["get_block_headers_range"],
    ]


@pytest.mark.anyio
async def test_a_node_without_pool_miner_or_panels_leaves_them_empty() -> None:
    fake = FakeNode()
    fake.drop("pool_stats", "mining_status", "randomx_status", "status_panels")
    fake.methods["get_info"] = {**fake.methods["get_info"], "tx_pool_size": 0}
    fake.methods["get_info"]["incoming_connections_count"] = 3
    snap = await snapshot_of(fake, found={"29" * 32: "node"})
    assert snap["pool"] is None and snap["miner"] is None and snap["randomx"] is None
    assert snap["panels"] == [] and snap["errors"] == {}
    assert snap["mempool"] == {"transactions": 0, "bytes": 0}
    assert snap["peers"] == {"incoming": 3, "outgoing": 0, "white": 0, "grey": 0}
    assert len(snap["chain"]["last_blocks"]) == 10


@pytest.mark.anyio
async def test_errors_other_than_a_missing_method_are_reported() -> None:
    fake = FakeNode()
    fake.errors["pool_stats"] = (-9, "Core is busy")
    snap = await snapshot_of(fake, blocks=0)
    assert snap["pool"] is None and snap["chain"]["last_blocks"] == []
    assert snap["errors"] == {"pool_stats": "-9: Core is busy"}
    fake.errors["get_info"] = (-9, "Core is busy")
    with pytest.raises(NodeAnswerError, match="get_info with error -9: Core is busy"):
        await snapshot_of(fake)


@pytest.mark.anyio
async def test_an_unreachable_node() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    client = NodeClient("http://127.0.0.1:1", transport=httpx.MockTransport(refuse))
    async with client:
        with pytest.raises(NodeUnreachableError, match=r"127\.0\.0\.1:1: Connection refused"):
            await collect(client)

    def not_json(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>")

    client = NodeClient("http://127.0.0.1:1", transport=httpx.MockTransport(not_json))
    async with client:
        with pytest.raises(NodeAnswerError, match="not JSON"):
            await collect(client)


def test_node_urls() -> None:
    assert default_node_url("devnet") == "http://127.0.0.1:39181"
    assert default_node_url("mainnet") == "http://127.0.0.1:19181"
    assert NodeClient("http://127.0.0.1:39181/").url == "http://127.0.0.1:39181"
    with pytest.raises(ValueError, match="http://HOST:PORT"):
        NodeClient("127.0.0.1:39181")


# ----------------------------------------------------------------------------- command line


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_once_against_nothing_is_one_line_and_status_1(
    capsys: pytest.CaptureFixture[str], closed_port: int, isolated_env: dict[str, str]
) -> None:
    for args in (["--once"], ["--json"]):
        code = main(["status", "--node", f"http://127.0.0.1:{closed_port}", *args])
        out, err = capsys.readouterr()
        assert code == 1 and out == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith(
            f"error: cannot reach the node at http://127.0.0.1:{closed_port}"
        )
        assert "give --node URL" in lines[0]


def test_bad_node_url_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], isolated_env: dict[str, str]
) -> None:
    assert main(["status", "--once", "--node", "localhost:1"]) == 2
    assert "http://HOST:PORT" in capsys.readouterr().err


def test_once_and_json_through_the_command_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    isolated_env: dict[str, str],
) -> None:
    fake = FakeNode()
    urls: list[str] = []
    real = NodeClient

    def fake_client(url: str, **kwargs: Any) -> NodeClient:
        urls.append(url)
        return real(url, transport=httpx.MockTransport(fake.handler))

    monkeypatch.setattr(snapshot_mod, "NodeClient", fake_client)
    monkeypatch.setenv("ZION_NODE__NETWORK", "devnet")
    assert main(["status", "--json", "--blocks", "3"]) == 0
    snap = json.loads(capsys.readouterr().out)
    assert urls == ["http://127.0.0.1:39181"]
    assert snap["chain"]["height"] == 42 and len(snap["chain"]["last_blocks"]) == 3
    # without a terminal, the live view prints one snapshot, as --once
    for args in (["--once"], []):
        assert main(["status", "-n", "testnet", *args]) == 0
        out = capsys.readouterr().out
        assert urls[-1] == "http://127.0.0.1:29181"
        for text in ("Chain", "height", "42", "1,200", "120.0 H/s", "Pool", "120 shares"):
            assert text in out, (text, out)
        assert "Bridge [solana]" in out and "RuntimeError: [red]down" in out


# ----------------------------------------------------------------------------- rendering


def lines_of(renderable: Any, width: int, height: int | None = None) -> list[str]:
    console = Console(width=width, height=height or 200, color_system=None, record=True)
    console.print(renderable)
    return console.export_text().rstrip("\n").split("\n")


def test_formats() -> None:
    assert fmt_hashrate(0) == "0 H/s" and fmt_hashrate(41.25) == "41.2 H/s"
    assert fmt_hashrate(1234.5) == "1.23 kH/s" and fmt_hashrate(5e9) == "5.00 GH/s"
    assert fmt_bytes(0) == "0 B" and fmt_bytes(400) == "400 B"
    assert fmt_bytes(256 << 20) == "256 MiB" and fmt_bytes(3 << 30) == "3.0 GiB"
    assert fmt_age(5) == "5 s" and fmt_age(250) == "4 m 10 s" and fmt_age(7300) == "2 h 1 m"
    assert fmt_age(3 * 86400 + 7200) == "3 d 2 h"


@pytest.mark.anyio
async def test_once_rendering_shows_everything() -> None:
    snap = await snapshot_of(FakeNode())
    text = "\n".join(lines_of(render(snap, width=120, now=NOW), 120))
    for expected in (
        "ZION devnet http://node.test:39181",
        "up 5 m 0 s",
        "height",
        "42",
        "120.0 H/s (estimate)",
        "2 tx · 400 B",
        "peers",
        "1.23 kH/s",
        "2 (3 workers, 4 connections)",
        "accepted 120 shares",
        "rejected 2 · stale 1",
        "4 found (1 pending · 3 credited · 0 orphaned)",
        "in 4 m 10 s",
        "pplns, fee 1.00 %",
        "Last blocks",
        "mining at height 42",
        "light · 256 MiB · 1 key · 2 threads",
        "hard_aes, jit",
        "Node",
        "core, jsonrpc",
    ):
        assert expected in text, (expected, text)
    rows = [line for line in text.splitlines() if "17.5" in line]
    assert len(rows) == 10
    assert "pool" in rows[0] and "41" in rows[0] and "miner" in rows[1]


@pytest.mark.anyio
@pytest.mark.parametrize(("width", "height"), [(80, 24), (100, 30), (50, 40), (120, 16)])
async def test_live_rendering_fits_the_terminal(width: int, height: int) -> None:
    snap = await snapshot_of(FakeNode())
    state = ViewState(url="http://node.test:39181", connected=True, updated_at=NOW - 1)
    lines = lines_of(render(snap, state, width=width, height=height, now=NOW), width)
    assert len(lines) <= height, "\n".join(lines)
    text = "\n".join(lines)
    # the essentials always show
    for expected in ("height", "difficulty", "hashrate", "accepted", "q quit", "● polling"):
        assert expected in text, (expected, text)
    if height >= 24:
        assert "Last blocks" in text
    if height < 30:
        assert "too small for: " in text


def test_live_rendering_before_the_node_answers() -> None:
    state = ViewState(url="http://127.0.0.1:1", error="cannot reach the node", attempts=2)
    text = "\n".join(lines_of(render(None, state, width=80, height=24, now=NOW), 80))
    assert "reconnecting…" in text and "No node answers at http://127.0.0.1:1" in text
    assert "cannot reach the node" in text


@functools.cache
def base_snapshot() -> dict[str, Any]:
    return anyio.run(lambda: snapshot_of(FakeNode(), blocks=20))


snapshots = st.builds(
    lambda blocks, panels, pool, miner, error: (blocks, panels, pool, miner, error),
    st.integers(0, 20),
    st.lists(st.integers(0, 8), max_size=6),
    st.booleans(),
    st.booleans(),
    st.text(max_size=300),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=snapshots,
    width=st.integers(40, 180),
    height=st.integers(8, 70),
    connected=st.booleans(),
)
def test_live_rendering_never_overflows(
    shape: tuple[int, list[int], bool, bool, str], width: int, height: int, connected: bool
) -> None:
    """Whatever the data and the terminal, the view takes at most the terminal's height,
    once it has room for the header, chain and pool, and the footer."""
    blocks, panel_rows, with_pool, with_miner, error = shape
    snap = json.loads(json.dumps(base_snapshot()))
    snap["chain"]["last_blocks"] = snap["chain"]["last_blocks"][:blocks]
    if not with_pool:
        snap["pool"] = None
    if not with_miner:
        snap["miner"] = None
    snap["panels"] = [
        {
            "name": f"p{i}",
            "title": f"Panel [{i}]",
            "plugin": "x",
            "rows": {f"key {j} " + "x" * j: "v" * (j * 20) for j in range(rows)},
            "error": None,
        }
        for i, rows in enumerate(panel_rows)
    ]
    snap["errors"] = {"pool_stats": error} if error else {}
    state = ViewState(url="http://node.test:1", connected=connected, error=error or None)
    lines = lines_of(render(snap, state, width=width, height=height, now=NOW), width)
    chain_rows, pool_rows = 6, 7 if with_pool else 1
    top = max(chain_rows, pool_rows) + 2 if width >= 60 else chain_rows + pool_rows + 4
    minimum = 2 + top  # header, chain and pool, footer
    assert len(lines) <= max(height, minimum)


# ----------------------------------------------------------------------------- live view


def connected(app: StatusApp) -> bool:
    """Whether the view reached the node (read anew each time)."""
    return app.state.connected


@pytest.mark.anyio
async def test_live_view_polls_follows_events_and_stops() -> None:
    fake = FakeNode()
    screen = io.StringIO()
    console = Console(width=100, height=30, force_terminal=True, color_system=None, file=screen)
    async with fake.client() as client:
        app = StatusApp(client, console=console, interval=0.2, keys=False, events=False)
        async with anyio.create_task_group() as tg:
            tg.start_soon(app.run)
            with anyio.fail_after(10):
                while app.refreshes < 2:
                    await anyio.sleep(0.02)
            assert connected(app) and app.snapshot is not None
            app.on_event({"event": "block_found", "data": {"hash": "12" * 32}})
            app.on_event({"event": "pool_stats", "data": {"miners": 9, "hashrate": 5}})
            assert app.snapshot["pool"]["miners"] == 9
            assert app.found == {"12" * 32: "node"}
            app.on_event({"event": "pool_stats", "data": "not an object"})  # ignored
            fake.methods["get_info"] = {**fake.methods["get_info"], "height": 43}
            with anyio.fail_after(10):
                while app.snapshot["chain"]["height"] != 43:
                    await anyio.sleep(0.02)
            # the node goes away: reconnecting, the last snapshot kept
            fake.errors["get_info"] = (-9, "Core is busy")
            with anyio.fail_after(10):
                while connected(app):
                    await anyio.sleep(0.02)
            assert app.snapshot["chain"]["height"] == 43 and app.state.attempts >= 1
            text = "\n".join(
                lines_of(render(app.snapshot, app.state, width=100, height=30, now=NOW), 100)
            )
            assert "reconnecting…" in text and "Core is busy" in text
            del fake.errors["get_info"]
            with anyio.fail_after(10):
                while not connected(app):
                    await anyio.sleep(0.02)
            app.stop()
    assert "\x1b[?1049h" in screen.getvalue()  # the alternate screen, left at the end
    assert live_mod.EVENTS == ("new_tip", "reorg", "mempool_tx", "block_found", "pool_stats")


class RecordingApp(StatusApp):
    """The live view, noting the events it is handed and whether the stream was live."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.events_seen: list[tuple[dict[str, Any], bool]] = []

    def on_event(self, message: dict[str, Any]) -> None:
        self.events_seen.append((message, self.state.events_live))
        super().on_event(message)


@pytest.mark.anyio
async def test_live_view_follows_the_event_stream_and_reconnects() -> None:
    """A WebSocket server (wsproto) accepts, sends the events and closes with 1001, as a
    stopping node does; the view takes the events and connects again."""
    messages = [
        {"event": "hello", "data": {"network": "devnet"}},
        {"event": "block_found", "data": {"hash": "34" * 32, "height": 41}},
        {"event": "pool_stats", "data": {"miners": 7, "hashrate": 2.5}},
    ]
    targets: list[str] = []

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            ws = WSConnection(ConnectionType.SERVER)
            requests: list[Request] = []
            while not requests:
                ws.receive_data(await stream.receive())
                requests = [e for e in ws.events() if isinstance(e, Request)]
            targets.append(requests[0].target)
            data = ws.send(AcceptConnection())
            data += b"".join(ws.send(TextMessage(json.dumps(m))) for m in messages)
            await stream.send(data + ws.send(CloseConnection(1001, "the node is stopping")))
            with anyio.move_on_after(5), contextlib.suppress(anyio.EndOfStream):
                while await stream.receive():
                    pass  # until the client leaves

    fake = FakeNode()
    console = Console(
        width=100, height=30, force_terminal=True, color_system=None, file=io.StringIO()
    )
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    client = NodeClient(f"http://127.0.0.1:{port}", transport=httpx.MockTransport(fake.handler))
    app = RecordingApp(client, console=console, interval=60, keys=False)
    async with listener, client, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        tg.start_soon(app.run)
        with anyio.fail_after(20):
            # each connection brings the events, then the close: the view reconnects
            while len(app.events_seen) < 2 * len(messages):
                await anyio.sleep(0.02)
        app.stop()
        tg.cancel_scope.cancel()
    assert targets[:2] == ["/ws?events=" + ",".join(live_mod.EVENTS)] * 2
    assert [m for m, _ in app.events_seen[:6]] == messages * 2
    assert all(live for _, live in app.events_seen)
    assert app.found == {"34" * 32: "node"}


# ----------------------------------------------------------------------------- node side


class FakeRegistry:
    def __init__(self, panels: dict[str, Any]) -> None:
        self.panels = panels

    def names(self) -> list[str]:
        return sorted(self.panels)

    def get(self, name: str) -> Any:
        return self.panels[name]

    def owner(self, name: str) -> str:
        return f"plugin-{name}"


class Panel:
    def __init__(self, name: str, rows: Any) -> None:
        self.name = name
        self.title = name.title()
        self.rows = rows

    def snapshot(self) -> Any:
        if isinstance(self.rows, Exception):
            raise self.rows
        return self.rows


def test_status_panels_on_the_node() -> None:
    from pathlib import Path

    from zion_plugin_jsonrpc.panels import panel_snapshots, status_panels_method

    registry = FakeRegistry(
        {
            "bridge": Panel("bridge", RuntimeError("the other chain is down")),
            "pool": Panel(
                "pool",
                {"path": Path("a/b"), "key": b"\x01\xff", "set": {3, 1}, "inf": float("inf")},
            ),
        }
    )

    class Node:
        def registry(self, kind: str) -> Any:
            assert kind == "status_panel"
            return registry

    panels = panel_snapshots(Node())  # type: ignore[arg-type]
    assert panels == [
        {
            "name": "bridge",
            "title": "Bridge",
            "plugin": "plugin-bridge",
            "rows": {},
            "error": "RuntimeError: the other chain is down",
        },
        {
            "name": "pool",
            "title": "Pool",
            "plugin": "plugin-pool",
            "rows": {"path": "a/b", "key": "01ff", "set": [1, 3], "inf": None},
            "error": None,
        },
    ]
    method = status_panels_method(Node())  # type: ignore[arg-type]
    assert method.name == "status_panels" and not method.restricted
    result = anyio.run(method.handler, None)
    assert result["panels"] == panels and result["status"] == "OK"


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=5) | st.integers(), inner, max_size=4)
        | st.frozensets(st.integers(), max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=100, deadline=None)
@given(value=json_like)
def test_panel_values_always_become_json(value: Any) -> None:
    from zion_plugin_jsonrpc.panels import json_value

    json.dumps(json_value(value), allow_nan=False)


def test_randomx_status_builds_nothing() -> None:
    from zion_plugin_randomx.backend import RandomXCpu
    from zion_plugin_randomx.config import RandomXConfig

    backend = RandomXCpu(RandomXConfig(mode="fast", threads=2))
    status = backend.status()
    assert status == {
        "backend": "randomx-cpu",
        "mode": "fast",
        "threads": 2,
        "flags": [],
        "jit": True,
        "large_pages": False,
        "keys": 0,
        "current_key": "",
        "memory_bytes": 0,
        "dataset_progress": None,
    }
    backend._on_dataset_progress(10, 100)  # what a dataset build reports
    assert backend.status()["dataset_progress"] == {"done": 10, "total": 100}
    backend._on_dataset_progress(100, 100)
    assert backend.status()["dataset_progress"] is None
    backend.close()
