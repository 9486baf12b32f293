"""Every hook specification, exercised through a node the way a plugin uses it.

The meta-tests at the end demand a ``test_hook_<name>`` for every hook and a heading
``### zion_<name>(args)`` in docs/hooks.md with the spec's exact arguments.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

from zion_core.cli import main
from zion_core.errors import PluginConflictError, UnknownBackendError
from zion_core.metrics import Histogram
from zion_hookspecs import (
    SPEC_MODULES,
    BridgeStatus,
    HashCapabilities,
    HistogramSample,
    HttpRoute,
    MetricSample,
    RpcMethod,
    ShareRecord,
    SyncStatus,
    hookimpl,
)

ROOT = Path(__file__).resolve().parent.parent


def all_hookspecs() -> dict[str, list[str]]:
    specs: dict[str, list[str]] = {}
    for module in SPEC_MODULES:
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("zion_") and fn.__module__ == module.__name__:
                specs[name] = list(inspect.signature(fn).parameters)
    return specs


# ------------------------------------------------------------------- lifecycle hooks


@attrs.frozen
class GreeterConfig:
    greeting: str = "hello"
    repeat: int = attrs.field(default=1, validator=attrs.validators.ge(1))


def test_hook_register_config(make_node) -> None:
    class Plugin:
        @hookimpl
        def zion_register_config(self, register: Any) -> None:
            register("greeter", GreeterConfig)

    node = make_node({"greeter": Plugin()}, sets=["greeter.repeat=3"])
    assert node.config_section("greeter") == GreeterConfig(repeat=3)

    class Rival:
        @hookimpl
        def zion_register_config(self, register: Any) -> None:
            register("greeter", GreeterConfig)

    with pytest.raises(
        PluginConflictError, match="registered by both plugin 'greeter' and plugin 'rival'"
    ):
        make_node({"greeter": Plugin(), "rival": Rival()})


def test_hook_configure(make_node) -> None:
    seen: list[tuple[str, str]] = []

    class Plugin:
        def __init__(self, tag: str) -> None:
            self.tag = tag

        @hookimpl
        def zion_configure(self, node: Any) -> None:
            seen.append((self.tag, node.network))

    node = make_node({"early": Plugin("early")}, network="testnet")
    assert seen == [("early", "testnet")]
    node.host.register(Plugin("late"), name="late")  # historic: late plugins are called too
    assert seen == [("early", "testnet"), ("late", "testnet")]


@pytest.mark.anyio
async def test_hook_unconfigure(make_node) -> None:
    calls: list[str] = []

    class Plugin:
        @hookimpl
        def zion_unconfigure(self, node: Any) -> None:
            calls.append(node.network)

    class Broken:
        @hookimpl
        def zion_unconfigure(self) -> None:
            raise RuntimeError("cleanup failed")

    node = make_node({"broken": Broken(), "plugin": Plugin()})
    node.request_shutdown("at once")
    assert await node.serve() == 0
    assert calls == ["devnet"]  # a failing plugin does not stop the others


class Ticker:
    name = "ticker"

    def __init__(self) -> None:
        self.ticks = 0
        self.drained = False

    async def run(self, *, task_status: Any) -> None:
        task_status.started()
        while True:
            self.ticks += 1
            await anyio.sleep(0.001)

    async def drain(self) -> None:
        self.drained = True


@pytest.mark.anyio
async def test_hook_register_services(make_node) -> None:
    ticker = Ticker()

    class Plugin:
        @hookimpl
        def zion_register_services(self, register: Any, node: Any) -> None:
            register(ticker)

    node = make_node({"ticks": Plugin()})
    assert node.registry("service").names() == ["ticker"]
    async with anyio.create_task_group() as tg:
        await tg.start(node.serve)
        while ticker.ticks < 3:
            await anyio.sleep(0.001)
        node.request_shutdown("enough")
    assert ticker.drained


def test_hook_register_commands(fake_dists, unique, capsys: pytest.CaptureFixture[str]) -> None:
    module = unique("cmds")
    fake_dists.add(
        "zion-plugin-cmds",
        {"cmds": module},
        {
            module: """
            from zion_hookspecs import hookimpl

            @hookimpl
            def zion_register_commands(cli):
                @cli.command()
                def shout(word: str, times: int = 2):
                    "Shout a word."
                    print(" ".join([word.upper()] * times))

                @cli.command("plugins")
                def clash():
                    print("should never run")
            """
        },
    )
    assert main(["shout", "zion", "--times", "3"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "ZION ZION ZION"
    assert "command 'plugins' of plugin 'cmds' is already provided by the kernel" in err
    assert main(["--help"]) == 0
    assert "shout" in capsys.readouterr().out


def test_register_commands_conflict_between_plugins(fake_dists, unique, capsys) -> None:
    source = """
    from zion_hookspecs import hookimpl

    @hookimpl
    def zion_register_commands(cli):
        @cli.command()
        def twin():
            print("{tag}")
    """
    first, second = unique("first"), unique("second")
    fake_dists.add("zion-plugin-a", {"a": first}, {first: source.replace("{tag}", "from a")})
    fake_dists.add("zion-plugin-b", {"b": second}, {second: source.replace("{tag}", "from b")})
    assert main(["twin"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "from a"
    assert "command 'twin' of plugin 'b' is already provided by plugin 'a'" in err


def test_hook_register_rpc_methods(make_node) -> None:
    def count(params: Any) -> int:
        return 42

    class Plugin:
        @hookimpl
        def zion_register_rpc_methods(self, register: Any, node: Any) -> None:
            register(RpcMethod("get_block_count", count, aliases=("getblockcount",)))
            register(RpcMethod("flush_txpool", count, restricted=True))

    registry = make_node({"rpc": Plugin()}).registry("rpc_method")
    assert registry.names() == ["flush_txpool", "get_block_count", "getblockcount"]
    assert registry.get("getblockcount").handler(None) == 42
    assert registry.get("flush_txpool").restricted


def test_hook_register_http_routes(make_node) -> None:
    async def hello(request: Any) -> Any:
        raise NotImplementedError

    class Site:  # an ASGI application
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            raise NotImplementedError

    site = Site()

    class Plugin:
        @hookimpl
        def zion_register_http_routes(self, register: Any, node: Any) -> None:
            register(HttpRoute("/hello", hello, name="hello"))
            register(HttpRoute("/site/", site, ("GET", "POST"), name="site"))

    registry = make_node({"web": Plugin()}).registry("http_route")
    assert registry.names() == ["hello", "site"]
    route = registry.get("hello")
    assert (route.path, route.endpoint, route.methods, route.is_mount) == (
        "/hello",
        hello,
        ("GET",),
        False,
    )
    assert registry.get("site").is_mount and registry.get("site").endpoint is site

    class Twice:
        @hookimpl
        def zion_register_http_routes(self, register: Any, node: Any) -> None:
            register(HttpRoute("/other", hello, name="hello"))

    with pytest.raises(PluginConflictError, match="http route 'hello' is registered by both"):
        make_node({"web": Plugin(), "twice": Twice()})
    with pytest.raises(TypeError, match="name"):
        HttpRoute("/x", hello)  # type: ignore[call-arg]


def test_hook_register_status_panels(make_node) -> None:
    class Panel:
        name = "pool"
        title = "Pool"

        def snapshot(self) -> Mapping[str, Any]:
            return {"miners": 3}

    class Plugin:
        @hookimpl
        def zion_register_status_panels(self, register: Any, node: Any) -> None:
            register(Panel())

    node = make_node({"pool": Plugin()})
    panels = node.registry("status_panel")
    assert panels.names() == ["node", "pool"]  # the kernel's own panel is there too
    assert panels.get("pool").snapshot() == {"miners": 3}
    snapshot = panels.get("node").snapshot()
    assert snapshot["network"] == "devnet" and snapshot["plugins"] == ["core", "pool"]
    json.dumps(snapshot)


def test_hook_register_metrics(make_node) -> None:
    class Source:
        name = "shares"

        def collect(self) -> Iterable[MetricSample]:
            yield MetricSample("zion_shares_total", "counter", "Shares", 7.0, {"result": "ok"})

    class Plugin:
        @hookimpl
        def zion_register_metrics(self, register: Any, node: Any) -> None:
            register(Source())

    registry = make_node({"m": Plugin()}).registry("metrics")
    samples = [s for _, source in registry.items() for s in source.collect()]
    names = {s.name for s in samples}
    assert {"zion_uptime_seconds", "zion_plugins_loaded", "zion_shares_total"} <= names


def test_register_metrics_histograms(make_node) -> None:
    latency = Histogram((0.01, 0.1, 1.0))

    class Source:
        name = "latency"

        def collect(self) -> Iterable[MetricSample | HistogramSample]:
            yield latency.sample("zion_greeting_seconds", "Time to greet", {"kind": "loud"})

    class Plugin:
        @hookimpl
        def zion_register_metrics(self, register: Any, node: Any) -> None:
            register(Source())

    source = make_node({"m": Plugin()}).registry("metrics").get("latency")
    for value in (0.005, 0.05, 0.05, 5.0):
        latency.observe(value)
    (sample,) = source.collect()
    assert sample.kind == "histogram" and sample.labels == {"kind": "loud"}
    assert sample.buckets == ((0.01, 1), (0.1, 3), (1.0, 3))
    assert sample.count == 4 and sample.sum == pytest.approx(5.105)


def test_hook_diagnose(fake_dists, unique, capsys, isolated_env) -> None:
    good, bad = unique("diag"), unique("diagbad")
    fake_dists.add(
        "zion-plugin-diag",
        {"diag": good},
        {
            good: "from zion_hookspecs import hookimpl\n@hookimpl\ndef zion_diagnose(report):\n    report.add('librandomx', '1.2.1')\n"
        },
    )
    fake_dists.add(
        "zion-plugin-diagbad",
        {"diagbad": bad},
        {
            bad: "from zion_hookspecs import hookimpl\n@hookimpl\ndef zion_diagnose(report):\n    raise OSError('no /proc/cpuinfo')\n"
        },
    )
    assert main(["diagnose", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["diag"] == {"librandomx": "1.2.1"}
    assert report["diagnose failures"] == {"diagbad": "OSError: no /proc/cpuinfo"}
    assert report["zion"]["zion-hookspecs"] and report["zion"]["python"].startswith("CPython")
    assert report["plugins"]["diag"] == "zion-plugin-diag 1.0: ok"


# ----------------------------------------------------------------------- event hooks


class Listener:
    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    @hookimpl
    def zion_block_connected(self, block: Any, height: int) -> None:
        self.seen.append(("connected", (block, height)))

    @hookimpl
    def zion_block_disconnected(self, block: Any, height: int) -> None:
        self.seen.append(("disconnected", (block, height)))

    @hookimpl
    def zion_tx_accepted(self, tx: Any) -> None:
        self.seen.append(("tx", tx))

    @hookimpl
    def zion_share_accepted(self, share: ShareRecord) -> None:
        self.seen.append(("share", share))

    @hookimpl
    def zion_block_found(self, block: Any, height: int) -> None:
        self.seen.append(("found", (block, height)))

    @hookimpl
    def zion_pool_stats(
        self, stats: Mapping[str, Any], miners: Mapping[str, Mapping[str, Any]]
    ) -> None:
        self.seen.append(("pool_stats", (stats, miners)))


class Faulty:
    @hookimpl(tryfirst=True)
    def zion_block_connected(self, block: Any, height: int) -> None:
        raise RuntimeError("listener bug")


def test_hook_block_connected(make_node, caplog: pytest.LogCaptureFixture) -> None:
    listener = Listener()
    node = make_node({"faulty": Faulty(), "listener": listener})
    node.emit("block_connected", block="b1", height=1)
    assert listener.seen == [("connected", ("b1", 1))]  # the faulty plugin did not stop it
    assert "plugin 'faulty' failed in zion_block_connected" in caplog.text


def test_hook_block_disconnected(make_node) -> None:
    listener = Listener()
    make_node({"l": listener}).emit("block_disconnected", block="b9", height=9)
    assert listener.seen == [("disconnected", ("b9", 9))]


def test_hook_tx_accepted(make_node) -> None:
    listener = Listener()
    make_node({"l": listener}).emit("tx_accepted", tx="tx1")
    assert listener.seen == [("tx", "tx1")]


def test_hook_share_accepted(make_node) -> None:
    listener = Listener()
    share = ShareRecord(address="ZiXaddr", difficulty=1000, timestamp=1.5, worker="rig1")
    make_node({"l": listener}).emit("share_accepted", share=share)
    assert listener.seen == [("share", share)]


def test_hook_block_found(make_node) -> None:
    listener = Listener()
    make_node({"l": listener}).emit("block_found", block="b5", height=5)
    assert listener.seen == [("found", ("b5", 5))]


def test_hook_pool_stats(make_node) -> None:
    listener = Listener()
    stats = {"hashrate": 12.5, "miners": 1, "shares": {"accepted": 3}, "time": 1.5}
    miners = {"ZiXaddr": {"address": "ZiXaddr", "hashrate": 12.5, "shares": 3}}
    node = make_node({"l": listener})
    node.emit("pool_stats", stats=stats, miners=miners)
    assert listener.seen == [("pool_stats", (stats, miners))]
    with pytest.raises(TypeError, match="takes miners, stats"):
        node.emit("pool_stats", stats=stats)


def test_emit_rejects_unknown_events_and_wrong_arguments(make_node) -> None:
    node = make_node()
    with pytest.raises(ValueError, match="unknown event 'block_mined'"):
        node.emit("block_mined", block=1, height=1)
    with pytest.raises(TypeError, match="takes block, height"):
        node.emit("block_found", block=1)


# --------------------------------------------------------------------- backend hooks


class Rules:
    name = "cryptonote"

    def networks(self) -> Iterable[str]:
        return ("mainnet", "testnet", "devnet")


def test_hook_register_consensus(make_node) -> None:
    class Plugin:
        @hookimpl
        def zion_register_consensus(self, register: Any, node: Any) -> None:
            register(Rules())

    node = make_node({"rules": Plugin()}, sets=["backends.consensus=cryptonote"])
    assert "devnet" in node.registry("consensus").select(node.config.backends.consensus).networks()
    with pytest.raises(
        UnknownBackendError, match=r"unknown consensus 'other'.*available: cryptonote"
    ):
        make_node({"rules": Plugin()}, sets=["backends.consensus=other"])


class Sha3Toy:
    """A stand-in proof-of-work (SHA3-256) that honours the HashBackend contract."""

    name = "sha3-toy"
    capabilities = HashCapabilities(exact=True, can_mine=True, can_verify=True)

    def __init__(self) -> None:
        self.key = b""

    def set_key(self, key: bytes) -> None:
        self.key = key

    def hash(self, blob: bytes) -> bytes:
        return hashlib.sha3_256(self.key + blob).digest()

    def hash_batch(self, blobs: Sequence[bytes]) -> list[bytes]:
        return [self.hash(b) for b in blobs]

    def search(
        self, blob: bytes, *, nonce_offset: int, start: int, count: int, target: int
    ) -> list[tuple[int, bytes]]:
        hits = []
        buf = bytearray(blob)
        for nonce in range(start, start + count):
            buf[nonce_offset : nonce_offset + 4] = nonce.to_bytes(4, "little")
            digest = self.hash(bytes(buf))
            if int.from_bytes(digest, "little") <= target:
                hits.append((nonce, digest))
        return hits

    def close(self) -> None:
        pass


def test_hook_register_hashers(make_node) -> None:
    class Plugin:
        @hookimpl
        def zion_register_hashers(self, register: Any, node: Any) -> None:
            register(Sha3Toy())

    node = make_node({"toy": Plugin()})
    hasher = node.registry("hasher").select(None)
    hasher.set_key(b"seed")
    blob = bytes(76)
    target = (1 << 256) // 16  # about one hash in 16 qualifies
    hits = hasher.search(blob, nonce_offset=39, start=0, count=256, target=target)
    assert 4 <= len(hits) <= 40
    for nonce, digest in hits:
        again = bytearray(blob)
        again[39:43] = nonce.to_bytes(4, "little")
        assert hasher.hash_batch([bytes(again)]) == [digest]


class MemoryStore:
    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def iter_prefix(self, prefix: bytes) -> Iterable[tuple[bytes, bytes]]:
        return sorted((k, v) for k, v in self.data.items() if k.startswith(prefix))

    def write_batch(self, puts: Mapping[bytes, bytes], deletes: Iterable[bytes] = ()) -> None:
        self.data.update(puts)
        for key in deletes:
            self.data.pop(key, None)

    def close(self) -> None:
        pass


class MemoryEngine:
    name = "memory"

    def open(self, path: Path, *, create: bool = True) -> MemoryStore:
        return MemoryStore()


def test_hook_register_storages(make_node) -> None:
    class Plugin:
        @hookimpl
        def zion_register_storages(self, register: Any, node: Any) -> None:
            register(MemoryEngine())

    node = make_node({"mem": Plugin()}, sets=["backends.storage=memory"])
    store = node.registry("storage").select(node.config.backends.storage).open(node.data_dir)
    store.write_batch({b"h:1": b"a", b"h:2": b"b", b"x": b"c"})
    store.write_batch({}, deletes=[b"h:1"])
    assert list(store.iter_prefix(b"h:")) == [(b"h:2", b"b")]


class LoopbackTcp:
    name = "tcp"

    async def connect(self, host: str, port: int) -> Any:
        return await anyio.connect_tcp(host, port)

    async def listen(self, host: str, port: int) -> Any:
        return await anyio.create_tcp_listener(local_host=host, local_port=port)


@pytest.mark.anyio
async def test_hook_register_transports(make_node) -> None:
    class Plugin:
        @hookimpl
        def zion_register_transports(self, register: Any, node: Any) -> None:
            register(LoopbackTcp())

    transport = make_node({"tcp": Plugin()}).registry("transport").select("tcp")
    listener = await transport.listen("127.0.0.1", 0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def echo(stream: Any) -> None:
        async with stream:
            await stream.send(await stream.receive())

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, echo)
        with anyio.fail_after(5):
            async with await transport.connect("127.0.0.1", port) as client:
                await client.send(b"ping")
                assert await client.receive() == b"ping"
        tg.cancel_scope.cancel()


class Proportional:
    name = "proportional"

    def split_reward(self, reward: int, shares: Sequence[ShareRecord]) -> Mapping[str, int]:
        total = sum(s.difficulty for s in shares)
        out: dict[str, int] = {}
        for s in shares:
            out[s.address] = out.get(s.address, 0) + reward * s.difficulty // total
        return out


def test_hook_register_pool_policies(make_node) -> None:
    class Plugin:
        @hookimpl
        def zion_register_pool_policies(self, register: Any, node: Any) -> None:
            register(Proportional())

    policy = make_node({"p": Plugin()}).registry("pool_policy").select(None)
    shares = [ShareRecord("a", 3, 0.0), ShareRecord("b", 1, 0.0), ShareRecord("a", 1, 0.0)]
    split = policy.split_reward(1000, shares)
    assert split == {"a": 800, "b": 200} and sum(split.values()) <= 1000


class DoublingState:
    def __init__(self, difficulty: int) -> None:
        self.difficulty = difficulty


class Doubling:
    """Doubles a miner's difficulty at every share; halves it when idle."""

    name = "doubling"

    def new_state(self, difficulty: int, now: float) -> DoublingState:
        return DoublingState(max(1, difficulty))

    def on_share(self, state: DoublingState, now: float, difficulty: int) -> int | None:
        state.difficulty *= 2
        return state.difficulty

    def on_idle(self, state: DoublingState, now: float) -> int | None:
        state.difficulty = max(1, state.difficulty // 2)
        return state.difficulty


def test_hook_register_vardiff_policies(make_node) -> None:
    class Plugin:
        @hookimpl
        def zion_register_vardiff_policies(self, register: Any, node: Any) -> None:
            register(Doubling())

    policy = make_node({"p": Plugin()}).registry("vardiff_policy").get("doubling")
    state = policy.new_state(0, 0.0)
    assert state.difficulty == 1
    assert policy.on_share(state, 1.0, 1) == 2 and state.difficulty == 2
    assert policy.on_idle(state, 99.0) == 1

    class Incomplete:
        @hookimpl
        def zion_register_vardiff_policies(self, register: Any, node: Any) -> None:
            register(type("Half", (), {"name": "half", "new_state": None})())

    with pytest.raises(Exception, match="registered vardiff policy 'half' without 'on_share'"):
        make_node({"incomplete": Incomplete()})


class OneStrike:
    """Bans an IP address for ``seconds`` at its first fault."""

    name = "one-strike"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.until: dict[str, float] = {}

    def admit(self, ip: str, now: float) -> bool:
        return self.until.get(ip, 0.0) <= now

    def fault(self, ip: str, now: float, reason: str) -> bool:
        self.until[ip] = now + self.seconds
        return True

    def accepted(self, ip: str, now: float) -> None:
        pass

    def banned_count(self, now: float) -> int:
        return sum(1 for until in self.until.values() if until > now)


def test_hook_register_ban_policies(make_node) -> None:
    class Plugin:
        @hookimpl
        def zion_register_ban_policies(self, register: Any, node: Any) -> None:
            register(OneStrike(seconds=60.0))

    policy = make_node({"p": Plugin()}).registry("ban_policy").get("one-strike")
    assert policy.admit("10.0.0.1", 0.0)
    assert policy.fault("10.0.0.1", 1.0, "Invalid share")
    assert not policy.admit("10.0.0.1", 2.0) and policy.banned_count(2.0) == 1
    assert policy.admit("10.0.0.1", 61.0) and policy.banned_count(61.0) == 0


class EveryOther:
    """Verifies every other share of each address, every candidate, and all shares of an
    address after one failed."""

    name = "every-other"

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}
        self.cheaters: set[str] = set()

    def should_verify(self, address: str, ip: str, *, difficulty: int, candidate: bool) -> bool:
        self.seen[address] = self.seen.get(address, 0) + 1
        return candidate or address in self.cheaters or self.seen[address] % 2 == 1

    def record(self, address: str, ip: str, *, valid: bool) -> None:
        if not valid:
            self.cheaters.add(address)


def test_hook_register_share_verification_policies(make_node) -> None:
    class Plugin:
        @hookimpl
        def zion_register_share_verification_policies(self, register: Any, node: Any) -> None:
            register(EveryOther())

    node = make_node({"p": Plugin()})
    policy = node.registry("share_verification_policy").get("every-other")
    ask = policy.should_verify
    assert [ask("a", "ip", difficulty=1, candidate=False) for _ in range(4)] == [
        True,
        False,
        True,
        False,
    ]
    assert ask("a", "ip", difficulty=1, candidate=True)
    policy.record("a", "ip", valid=False)
    assert ask("a", "ip", difficulty=1, candidate=False)
    assert ask("a", "ip", difficulty=1, candidate=False)


def test_hook_register_bridges(make_node) -> None:
    class Bridge:
        name = "solana-bridge"
        chain = "solana"

        def status(self) -> BridgeStatus:
            return BridgeStatus(chain=self.chain, connected=False, detail="no RPC endpoint")

    class Plugin:
        @hookimpl
        def zion_register_bridges(self, register: Any, node: Any) -> None:
            register(Bridge())

    bridge = make_node({"b": Plugin()}).registry("bridge").get("solana-bridge")
    assert bridge.status() == BridgeStatus("solana", False, "no RPC endpoint")


def test_hook_register_sync_sources(make_node) -> None:
    from zion_core.sync import mining_allowed, node_sync_status

    class Network:
        name = "gossip"

        def __init__(self) -> None:
            self.height = 10

        def sync_status(self) -> SyncStatus:
            return SyncStatus(
                synchronized=self.height >= 40,
                height=self.height,
                target_height=40,
                busy=self.height < 40,
                outgoing=2,
                incoming=0,
            )

    network = Network()

    class Plugin:
        @hookimpl
        def zion_register_sync_sources(self, register: Any, node: Any) -> None:
            register(network)

    node = make_node({"gossip": Plugin()}, network="testnet")
    assert node.registry("sync_source").names() == ["gossip"]
    assert node_sync_status(node).busy
    assert mining_allowed(node) == (False, "synchronizing: height 10 of 40 (2 peers)")
    network.height = 40
    assert node_sync_status(node).synchronized and mining_allowed(node)[0]

    class Incomplete:
        @hookimpl
        def zion_register_sync_sources(self, register: Any, node: Any) -> None:
            register(type("Mute", (), {"name": "mute"})())

    with pytest.raises(Exception, match="registered sync source 'mute' without 'sync_status'"):
        make_node({"incomplete": Incomplete()})


def test_registering_an_incomplete_backend_names_the_plugin(make_node) -> None:
    class HalfHasher:
        name = "half"

        def hash(self, blob: bytes) -> bytes:
            return blob

    class Plugin:
        @hookimpl
        def zion_register_hashers(self, register: Any, node: Any) -> None:
            register(HalfHasher())

    with pytest.raises(
        Exception, match=r"plugin 'half-plugin' registered hasher 'half' without 'capabilities'"
    ):
        make_node({"half-plugin": Plugin()})


# ------------------------------------------------------------------------ meta-tests


def test_every_hook_has_a_test() -> None:
    defined: set[str] = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defined |= {
            node.name
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }
    missing = [
        name for name in all_hookspecs() if f"test_hook_{name.removeprefix('zion_')}" not in defined
    ]
    assert not missing, f"hooks without a test_hook_<name> test: {missing}"


def test_every_hook_is_documented_with_its_arguments() -> None:
    text = (ROOT / "docs" / "hooks.md").read_text(encoding="utf-8")
    documented = {
        m.group(1): [a.strip() for a in m.group(2).split(",") if a.strip()]
        for m in re.finditer(r"^### (zion_\w+)\(([^)]*)\)\s*$", text, re.MULTILINE)
    }
    specs = all_hookspecs()
    assert not [h for h in specs if h not in documented], "hooks missing from docs/hooks.md"
    assert not [h for h in documented if h not in specs], "docs/hooks.md documents unknown hooks"
    wrong = {h: (documented[h], args) for h, args in specs.items() if documented[h] != args}
    assert not wrong, f"documented arguments differ from the specs: {wrong}"


def test_subscribe_delivers_one_nodes_events(make_node) -> None:
    first, second = make_node({}), make_node({})
    listener = Listener()
    unsubscribe = first.subscribe(listener, name="test")
    first.emit("block_found", block="b1", height=1)
    second.emit("block_found", block="b2", height=2)  # another node: not delivered
    assert listener.seen == [("found", ("b1", 1))]
    assert not any(name.startswith("listener:") for name in first.plugin_names())
    unsubscribe()
    unsubscribe()  # idempotent
    first.emit("block_found", block="b3", height=3)
    assert listener.seen == [("found", ("b1", 1))]


def test_subscribe_refuses_what_is_not_an_event_listener(make_node) -> None:
    node = make_node({})

    class NotEvents:
        @hookimpl
        def zion_register_services(self, register: Any, node: Any) -> None: ...

    with pytest.raises(ValueError, match="not event hooks"):
        node.subscribe(NotEvents(), name="bad")
    with pytest.raises(ValueError, match="implements no event hook"):
        node.subscribe(object(), name="empty")
    with pytest.raises(ValueError, match="needs a name"):
        node.subscribe(Listener(), name="")


@pytest.mark.anyio
async def test_events_from_worker_threads_reach_the_event_loop_in_order(make_node) -> None:
    import threading

    import anyio.to_thread

    loop_thread = threading.get_ident()
    seen: list[tuple[int, int]] = []

    class Recorder:
        @hookimpl
        def zion_block_found(self, block: Any, height: int) -> None:
            seen.append((height, threading.get_ident()))

    node = make_node({"recorder": Recorder()})

    def emit_many() -> None:
        for height in range(50):
            node.emit("block_found", block=None, height=height)

    async with anyio.create_task_group() as tg:
        await tg.start(node.serve)
        await anyio.to_thread.run_sync(emit_many)
        with anyio.fail_after(5):
            while len(seen) < 50:
                await anyio.sleep(0.01)
        node.request_shutdown("test over")
    assert [height for height, _ in seen] == list(range(50))
    assert {thread for _, thread in seen} == {loop_thread}
