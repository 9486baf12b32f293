"""A pool running against a remote ZION node over its API (``[stratum] node``).

Two nodes in one process, each with its own data directory: node A keeps the chain and
serves the API (consensus, sqlite, randomx, jsonrpc; restricted, so templates and blocks
need its admin token, read from its ``rpc.token``), node B runs only the pool against A.
A scripted miner on B gets jobs on A's tip; a block mined on A pushes a new job within
100 ms (measured); a block found through B is connected on A and recorded, orphaned and
credited by B's accounting; A restarting (a new token), or A's event stream going away,
leaves the miners connected and B recovers. The remote wallet client is checked against
a node serving wallet methods, and the template parser with hypothesis.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stratum_testkit import BASE_SETS, INSTALLED, MINER_ADDRESS, Client, Pool

from zion_core import ConfigError
from zion_core.chain.block import Block, BlockHeader, MinerTx
from zion_core.chain.keys import WalletKeys
from zion_hookspecs import RpcMethod, hookimpl
from zion_plugin_stratum.accounting import PoolAccounting, WalletRpcClient, WalletUnansweredError
from zion_plugin_stratum.config import StratumConfig
from zion_plugin_stratum.ledger import PoolLedger
from zion_plugin_stratum.payouts import Destination, TransferRefusedError
from zion_plugin_stratum.upstream import (
    AdminToken,
    BlockingNodeClient,
    BlockRefusedError,
    NodeAnswerError,
    RemoteSource,
    RemoteWalletMethods,
    Submitted,
    WalletUnreachableError,
    parse_template,
)

pytestmark = pytest.mark.anyio

NODE_PLUGINS = ["consensus", "sqlite", "randomx", "jsonrpc"]
STEADY = ["chain.seed_epoch=256", "chain.seed_lag=4", "chain.difficulty_window=128"]
"""One RandomX key for the whole test."""
NODE_SETS = ["chain.initial_difficulty=1", "randomx.threads=1", "rpc.restricted=true", *STEADY]
OTHER = WalletKeys.from_seed(bytes([11]) * 32)
MATURITY = 60
UNLOCKED = 10**15
"""The fake wallet's unlocked balance (atomic units)."""
PUSH_LIMIT = 0.100
"""A new tip of the remote node reaches the miners within this many seconds."""


class TipProbe:
    """Records when node A connected each block (perf_counter)."""

    def __init__(self) -> None:
        self.connected: dict[int, float] = {}

    @hookimpl
    def zion_block_connected(self, block: Any, height: int) -> None:
        self.connected[height] = time.perf_counter()


class NodeA:
    """The remote node: a chain and its API on a fixed port, so it can restart."""

    def __init__(
        self,
        make_node: Callable[..., Any],
        data_dir: Path,
        port: int,
        sets: Sequence[str] = (),
        plugins: Mapping[str, Any] | None = None,
    ) -> None:
        self.make_node = make_node
        self.data_dir = data_dir
        self.port = port
        self.sets = [*NODE_SETS, f"rpc.bind=127.0.0.1:{port}", *sets]
        self.plugins = dict(plugins or {})
        self.node: Any = None
        self.probe = TipProbe()
        self._stopped: anyio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token_path(self) -> Path:
        return self.data_dir / "rpc.token"

    @property
    def chain_service(self) -> Any:
        return self.node.registry("service").get("chain")

    @property
    def rpc(self) -> Any:
        return self.node.registry("service").get("rpc")

    async def start(self, tg: anyio.abc.TaskGroup) -> None:
        self.node = self.make_node(
            self.plugins, installed=NODE_PLUGINS, data_dir=self.data_dir, sets=self.sets
        )
        self.node.subscribe(self.probe, name="probe")
        self._stopped = anyio.Event()
        await tg.start(self._serve, self.node, self._stopped)

    @staticmethod
    async def _serve(node: Any, stopped: anyio.Event, *, task_status: Any) -> None:
        try:
            await node.serve(task_status=task_status)
        finally:
            stopped.set()

    async def stop(self) -> None:
        assert self._stopped is not None
        self.node.request_shutdown("test: node A stops")
        with anyio.fail_after(30):
            await self._stopped.wait()

    def tip(self) -> tuple[int, bytes]:
        chain = self.chain_service.chain
        return chain.tip.height, chain.tip_id

    async def mine(self, count: int = 1) -> list[Block]:
        """``count`` blocks paid to OTHER, submitted to A's chain service (difficulty 1)."""
        service = self.chain_service

        def mine() -> list[Block]:
            blocks = []
            for _ in range(count):
                made = service.chain.template(OTHER.spend.public_key, OTHER.view.public_key)
                assert service.submit_block(made.block).status == "connected"
                blocks.append(made.block)
            return blocks

        return await anyio.to_thread.run_sync(mine)


@asynccontextmanager
async def remote_pool(
    make_node: Callable[..., Any], a: NodeA, sets: Sequence[str] = ()
) -> AsyncIterator[Pool]:
    """Pool node B against A (which must be up), served; stopped on exit."""
    node = make_node(
        {},
        installed=INSTALLED,
        sets=[
            *BASE_SETS,
            f"stratum.node={a.url}",
            f"stratum.node_token_file={a.token_path}",
            *sets,
        ],
    )
    server = node.registry("service").get("stratum")

    def no_local_chain() -> Any:
        raise AssertionError("a pool against a remote node must not use a local chain")

    server._chain_service = no_local_chain
    async with anyio.create_task_group() as tg:
        await tg.start(node.serve)
        pool = Pool(node)
        try:
            await pool.ready()
            yield pool
        finally:
            for client in pool.clients:
                await client.aclose()
            node.request_shutdown("test over")


def source_of(pool: Pool) -> RemoteSource:
    source = pool.server._source
    assert isinstance(source, RemoteSource)
    return source


def accounting_of(pool: Pool) -> PoolAccounting:
    service: PoolAccounting = pool.node.registry("service").get("pool-accounting")
    return service


async def wait_for(predicate: Callable[[], bool], timeout: float = 30) -> None:  # noqa: ASYNC109
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.02)


async def read(pool: Pool, what: Callable[[PoolLedger], Any]) -> Any:
    """``what(ledger)`` of the pool, in a worker thread: the accounting may hold the ledger
    while it asks node A, which answers on this same event loop."""
    ledger = accounting_of(pool).ledger
    assert ledger is not None
    return await anyio.to_thread.run_sync(what, ledger)


async def wait_for_ledger(
    pool: Pool,
    predicate: Callable[[PoolLedger], bool],
    timeout: float = 30,  # noqa: ASYNC109
) -> None:
    accounting = accounting_of(pool)
    with anyio.fail_after(timeout):
        while accounting.ledger is None or not await read(pool, predicate):
            await anyio.sleep(0.05)


def status(block_id: bytes) -> Callable[[PoolLedger], str]:
    def of(ledger: PoolLedger) -> str:
        block = ledger.block(block_id)
        assert block is not None
        return block.status

    return of


async def job_after(client: Client, height: int, timeout: float = 20) -> dict[str, Any]:  # noqa: ASYNC109
    """The first job pushed at ``height`` or above."""
    with anyio.fail_after(timeout):
        while True:
            job = await client.next_job(timeout)
            if job["height"] >= height:
                return job


class FakeWallet:
    """Restricted ``transfer``, ``get_transfers`` and ``get_balance`` methods."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent: dict[str, str] = {}
        self.calls: list[Any] = []
        self.mode = "ok"

    def transfer(self, params: Any) -> dict[str, Any]:
        with self.lock:
            self.calls.append(params)
            if self.mode == "refuse":
                raise ValueError("not enough money")
            if self.mode == "crash":
                raise OSError("disk gone")
            key = params["idempotency_key"]
            self.sent.setdefault(key, f"{len(self.sent) + 1:064x}")
            return {"tx_hash": self.sent[key]}

    def get_transfers(self, params: Any) -> dict[str, Any]:
        with self.lock:
            out = [
                {"txid": txid, "type": "out", "idempotency_key": key, "confirmations": 1}
                for key, txid in self.sent.items()
            ]
        return {"out": out, "pending": [], "failed": []}

    def get_balance(self, params: Any) -> dict[str, Any]:
        return {"balance": UNLOCKED, "unlocked_balance": UNLOCKED}

    @hookimpl
    def zion_register_rpc_methods(self, register: Any, node: Any) -> None:
        for name in ("transfer", "get_transfers", "get_balance"):
            register(RpcMethod(name, getattr(self, name), restricted=True))


def _block_on(parent: Block, height: int, amount: int, timestamp: int) -> Block:
    header = BlockHeader(
        major_version=parent.header.major_version,
        minor_version=parent.header.minor_version,
        timestamp=timestamp,
        prev_id=parent.id,
        nonce=0,
    )
    miner = MinerTx.build(
        height=height,
        amount=amount,
        spend_key=OTHER.spend.public_key,
        view_key=OTHER.view.public_key,
        unlock_window=MATURITY,
    )
    return Block(header=header, miner_tx=miner, tx_hashes=())


# -- templates, new tips and blocks -------------------------------------------------------


async def test_jobs_follow_the_remote_tip_within_100_ms_and_blocks_go_back(
    make_node: Callable[..., Any], tmp_path: Path, free_tcp_port: int
) -> None:
    a = NodeA(make_node, tmp_path / "node-a", free_tcp_port)
    async with anyio.create_task_group() as tg:
        await a.start(tg)
        await a.mine(2)
        async with remote_pool(make_node, a) as pool:
            source = source_of(pool)
            await wait_for(lambda: source.streaming)
            client = await pool.connect()
            reply = await client.login(f"{MINER_ADDRESS}.rig1")
            assert reply["result"]["status"] == "OK"
            height, tip = a.tip()
            assert client.job is not None and client.job["height"] == height + 1
            template = pool.server.template
            assert template is not None and template.prev_id == tip
            assert template.txs == {} and template.block.miner_tx.height == height + 1
            # the pool node's own chain is never used: still at its genesis block
            assert pool.chain_service.chain.tip.height == 0

            latencies = []
            for _ in range(5):
                (block,) = await a.mine()
                job = await job_after(client, height + 2)
                received = time.perf_counter()
                height += 1
                latencies.append(received - a.probe.connected[height])
                assert job["height"] == height + 1
                assert pool.server.template.prev_id == block.id
            print(f"new tip to miner: {[round(s * 1000, 1) for s in latencies]} ms")
            assert statistics.median(latencies) < PUSH_LIMIT
            assert max(latencies) < 2 * PUSH_LIMIT

            # a share at network difficulty 1 is a block: B hands it to A
            job = client.job
            reply = await client.submit(2, job, 7, await pool.pow_hash(job, 7))
            assert reply["result"] == {"status": "OK"}
            await wait_for(lambda: a.tip()[0] == height + 1)
            found_id = a.tip()[1]
            await wait_for(lambda: pool.server.counters["blocks_found"] == 1)
            await wait_for_ledger(pool, lambda ledger: bool(ledger.blocks()))
            (found,) = await read(pool, PoolLedger.blocks)
            assert (found.block_id, found.height, found.status) == (found_id, height + 1, "pending")
            assert found.finder == MINER_ADDRESS
            assert (await job_after(client, height + 2))["height"] == height + 2
            # the node's answers to blocks: known, refused
            block = a.chain_service.chain.block(found_id)
            assert await source.submit(block, {}) == Submitted("known", height + 1)
            stray = attrs.evolve(block, header=attrs.evolve(block.header, prev_id=bytes(32)))
            with pytest.raises(BlockRefusedError):
                await source.submit(stray, {})
        await a.stop()


async def test_a_remote_pool_block_is_orphaned_then_credited_at_maturity(
    make_node: Callable[..., Any], tmp_path: Path, free_tcp_port: int
) -> None:
    wallet = FakeWallet()
    a = NodeA(make_node, tmp_path / "node-a", free_tcp_port, plugins={"fake-wallet": wallet})
    async with anyio.create_task_group() as tg:
        await a.start(tg)
        async with remote_pool(make_node, a, ["stratum.payouts=true"]) as pool:
            client = await pool.connect()
            await client.login(f"{MINER_ADDRESS}.rig1")
            for nonce in (1, 2):
                job = client.job
                assert job is not None
                reply = await client.submit(nonce, job, nonce, await pool.pow_hash(job, nonce))
                assert reply["result"] == {"status": "OK"}
                await job_after(client, job["height"] + 1)
            await wait_for_ledger(pool, lambda ledger: len(ledger.blocks()) == 2)
            first, second = sorted(await read(pool, PoolLedger.blocks), key=lambda b: b.height)
            due = first.credits[MINER_ADDRESS]
            assert (await read(pool, lambda ledger: ledger.balance(MINER_ADDRESS))).immature > due
            # a longer branch from below the pool's second block orphans it
            service = a.chain_service
            chain = service.chain
            ours = chain.block(second.block_id)
            parent = chain.block(first.block_id)
            reward = chain.template(OTHER.spend.public_key, OTHER.view.public_key).reward
            one = _block_on(parent, second.height, ours.miner_tx.amount, ours.header.timestamp)
            two = _block_on(one, second.height + 1, reward, ours.header.timestamp + 1)
            await anyio.to_thread.run_sync(service.submit_block, one)
            result = await anyio.to_thread.run_sync(service.submit_block, two)
            assert str(result.status) == "connected" and not chain.is_main(second.block_id)
            await wait_for_ledger(
                pool, lambda ledger: status(second.block_id)(ledger) == "orphaned"
            )
            assert await read(pool, status(first.block_id)) == "pending"
            assert (await read(pool, lambda ledger: ledger.balance(MINER_ADDRESS))).immature == due
            # the first one matures on A's chain
            await a.mine(MATURITY - 3)
            await anyio.sleep(0.3)
            assert await read(pool, status(first.block_id)) == "pending"
            await a.mine(1)
            await wait_for_ledger(pool, lambda ledger: status(first.block_id)(ledger) == "credited")
            balance = await read(pool, lambda ledger: ledger.balance(MINER_ADDRESS))
            assert (balance.immature, balance.balance) == (0, due)
            # paid through A's wallet
            accounting = accounting_of(pool)
            assert accounting.engine is not None
            await accounting.pay()
            (call,) = wallet.calls
            assert call["destinations"] == [{"address": MINER_ADDRESS, "amount": due}]
            balance = await read(pool, lambda ledger: ledger.balance(MINER_ADDRESS))
            assert (balance.balance, balance.paid) == (0, due)
        await a.stop()


# -- the remote node going away -------------------------------------------------------------


async def test_the_pool_rides_out_the_node_restarting_with_a_new_token(
    make_node: Callable[..., Any],
    tmp_path: Path,
    free_tcp_port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="zion_plugin_stratum")
    a = NodeA(make_node, tmp_path / "node-a", free_tcp_port)
    async with anyio.create_task_group() as tg:
        await a.start(tg)
        async with remote_pool(make_node, a) as pool:
            source = source_of(pool)
            await wait_for(lambda: source.streaming)
            client = await pool.connect()
            await client.login(f"{MINER_ADDRESS}.rig1")
            first_token = a.token_path.read_text()
            height = a.tip()[0]

            await a.stop()
            # the HTTP calls and the event stream notice the loss each on its own
            await wait_for(lambda: "unreachable" in caplog.text, timeout=15)
            await wait_for(lambda: "no event stream from node" in caplog.text, timeout=15)
            await wait_for(lambda: not source.streaming, timeout=15)
            await anyio.sleep(1.5)  # a few failed polls and reconnects
            reply = await client.call(9, "keepalived", {"id": client.session})
            assert reply["result"] == {"status": "KEEPALIVED"}  # still connected

            await a.start(tg)
            assert a.token_path.read_text() != first_token  # restricted: a new token
            await a.mine()
            job = await job_after(client, height + 2, timeout=20)
            assert job["height"] == height + 2
            await wait_for(lambda: source.streaming, timeout=30)
            await wait_for(lambda: "answers again" in caplog.text, timeout=15)
            await wait_for(lambda: "new tips (/ws) again" in caplog.text, timeout=15)
            # and the miner's blocks reach the restarted node
            reply = await client.submit(3, job, 5, await pool.pow_hash(job, 5))
            assert reply["result"] == {"status": "OK"}
            await wait_for(lambda: a.tip()[0] == height + 2)
        await a.stop()


async def test_polling_takes_over_while_the_event_stream_is_down(
    make_node: Callable[..., Any],
    tmp_path: Path,
    free_tcp_port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="zion_plugin_stratum")
    a = NodeA(make_node, tmp_path / "node-a", free_tcp_port)
    async with anyio.create_task_group() as tg:
        await a.start(tg)
        async with remote_pool(make_node, a) as pool:
            source = source_of(pool)
            await wait_for(lambda: source.streaming)
            client = await pool.connect()
            await client.login(f"{MINER_ADDRESS}.rig1")
            height = a.tip()[0]
            a.rpc.hub.close()  # every subscriber dropped, new ones refused
            await wait_for(lambda: not source.streaming)
            await a.mine()
            started = time.perf_counter()
            await job_after(client, height + 2, timeout=10)
            assert time.perf_counter() - started < 3  # a poll every second
            assert "polling /getheight" in caplog.text
            a.rpc.hub.closing = False  # subscribers welcome again
            await wait_for(lambda: source.streaming, timeout=30)
            await a.mine()
            await job_after(client, height + 3, timeout=5)
        await a.stop()


# -- the wallet over the remote node ------------------------------------------------------


async def test_the_remote_wallet_tells_a_refusal_from_no_answer(
    make_node: Callable[..., Any], tmp_path: Path, free_tcp_port: int
) -> None:
    wallet = FakeWallet()
    a = NodeA(make_node, tmp_path / "node-a", free_tcp_port, plugins={"fake-wallet": wallet})
    destinations = [Destination(address=MINER_ADDRESS, amount=5)]
    async with anyio.create_task_group() as tg:
        await a.start(tg)
        fee = int(a.chain_service.chain.params.min_fee)
        token = AdminToken(path=a.token_path)
        methods = RemoteWalletMethods(BlockingNodeClient(a.url, token))
        client = WalletRpcClient(methods, lambda: fee)

        def paying() -> None:
            assert {"transfer", "get_transfers", "get_balance"} <= set(methods.names())
            assert client.transfer(destinations, "k1") == f"{1:064x}"
            assert client.transfer(destinations, "k1") == f"{1:064x}"  # idempotent
            assert wallet.calls[0] == {
                "destinations": [{"address": MINER_ADDRESS, "amount": 5}],
                "idempotency_key": "k1",
            }
            assert client.spendable() == UNLOCKED - fee
            assert set(client.get_transfers()) >= {"out", "pending", "failed"}
            wallet.mode = "refuse"
            with pytest.raises(TransferRefusedError, match="not enough money"):
                client.transfer(destinations, "k2")
            wallet.mode = "crash"  # an internal error: the outcome is unknown
            with pytest.raises(WalletUnreachableError, match="Internal error"):
                client.transfer(destinations, "k3")
            wallet.mode = "ok"
            stranger = RemoteWalletMethods(BlockingNodeClient(a.url, AdminToken("wrong")))
            with pytest.raises(WalletUnansweredError):  # refused, and no list to check
                WalletRpcClient(stranger).transfer(destinations, "k4")
            assert "k4" not in wallet.sent

        await anyio.to_thread.run_sync(paying)
        await a.stop()

        def unreachable() -> None:
            with pytest.raises(WalletUnreachableError, match="ConnectError"):
                client.transfer(destinations, "k5")

        await anyio.to_thread.run_sync(unreachable)


# -- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:19181", "https://node.example", "http://[::1]:39181/", "http://h/zion"],
)
def test_node_urls_accepted(url: str) -> None:
    assert StratumConfig(node=url).node == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("127.0.0.1:19181", "http:// or https://"),
        ("ftp://node.example", "http:// or https://"),
        ("http://:19181", "http:// or https://"),
        ("http://h:99999", "bad port"),
        ("http://h/?token=x", "no query"),
        ("http://user:pw@h", "no query"),
    ],
)
def test_node_urls_refused(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StratumConfig(node=url)


def test_one_token_source_at_most() -> None:
    with pytest.raises(ValueError, match="both set"):
        StratumConfig(node="http://h", node_token="t", node_token_file="f")
    assert "secret" not in repr(StratumConfig(node="http://h", node_token="secret"))


async def test_remote_payouts_need_the_admin_token(make_node: Callable[..., Any]) -> None:
    sets = [*BASE_SETS, "stratum.node=http://127.0.0.1:9", "stratum.payouts=true"]
    node = make_node({}, installed=INSTALLED, sets=sets)
    accounting: PoolAccounting = node.registry("service").get("pool-accounting")
    with pytest.raises(ConfigError, match="node_token or node_token_file"):
        await accounting.run(task_status=anyio.TASK_STATUS_IGNORED)


def test_admin_token_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "rpc.token"
    path.write_text("one\n")
    token = AdminToken(path=path)
    assert token.headers() == {"Authorization": "Bearer one"}
    assert not token.reload()
    path.write_text("two")
    assert token.reload() and token.headers() == {"Authorization": "Bearer two"}
    path.unlink()
    assert token.reload() and token.headers() == {}


# -- the template parser ------------------------------------------------------------------


@attrs.frozen
class _Made:
    result: dict[str, Any]
    block: Block
    reserve: int


def _template_result(
    height: int, amount: int, reserve: int, txs: int, difficulty: int, seed: bytes, upcoming: bool
) -> _Made:
    miner = MinerTx.build(
        height=height,
        amount=amount,
        spend_key=seed,
        view_key=bytes(reversed(seed)),
        unlock_window=MATURITY,
        reserve_size=reserve,
    )
    header = BlockHeader(16, 16, 1_700_000_000 + height, seed, 0)
    block = Block(header, miner, tuple(bytes([i]) * 32 for i in range(1, txs + 1)))
    result = {
        "blockhashing_blob": block.hashing_blob().hex(),
        "blocktemplate_blob": block.to_bytes().hex(),
        "difficulty": difficulty & ((1 << 64) - 1),
        "difficulty_top64": difficulty >> 64,
        "wide_difficulty": hex(difficulty),
        "expected_reward": amount,
        "height": height,
        "next_seed_hash": (bytes(reversed(seed)).hex() if upcoming else ""),
        "prev_hash": seed.hex(),
        "reserved_offset": block.reserved_offset or 0,
        "seed_hash": seed.hex(),
        "seed_height": 0,
        "status": "OK",
        "untrusted": False,
    }
    return _Made(result, block, reserve)


templates = st.builds(
    _template_result,
    height=st.integers(1, 10**6),
    amount=st.integers(1, 10**15),
    reserve=st.integers(8, 32),
    txs=st.integers(0, 5),
    difficulty=st.integers(1, 1 << 100),
    seed=st.binary(min_size=32, max_size=32),
    upcoming=st.booleans(),
)


@settings(max_examples=60, deadline=None)
@given(made=templates)
def test_a_template_parses_to_its_block(made: _Made) -> None:
    parts = parse_template(made.result, made.reserve)
    assert parts.block == made.block and parts.height == made.result["height"]
    assert parts.difficulty == int(made.result["wide_difficulty"], 16)
    assert parts.seed_hash.hex() == made.result["seed_hash"]
    upcoming = made.result["next_seed_hash"]
    changes = upcoming and upcoming != made.result["seed_hash"]
    assert parts.next_seed_hash == (bytes.fromhex(upcoming) if changes else None)
    assert parts.txs == {}
    narrow = {k: v for k, v in made.result.items() if k != "wide_difficulty"}
    assert parse_template(narrow, made.reserve).difficulty == parts.difficulty


@settings(max_examples=60, deadline=None)
@given(
    made=templates,
    field=st.sampled_from(
        ["blockhashing_blob", "prev_hash", "reserved_offset", "height", "seed_hash", "blob"]
    ),
)
def test_an_inconsistent_template_is_refused(made: _Made, field: str) -> None:
    result = dict(made.result)
    if field == "reserved_offset" or field == "height":
        result[field] += 1
    elif field == "blob":
        result["blocktemplate_blob"] = result["blocktemplate_blob"][:-2]
    elif field == "seed_hash":
        result[field] = "00"
    else:  # one byte changed
        data = bytearray.fromhex(result[field])
        data[0] ^= 0xFF
        result[field] = data.hex()
    with pytest.raises(NodeAnswerError, match="unusable template"):
        parse_template(result, made.reserve)


def test_a_template_without_room_for_the_extra_nonce_is_refused() -> None:
    for reserve in (0, 4, 9):
        made = _template_result(5, 10, reserve, 0, 1, bytes(32), False)
        with pytest.raises(NodeAnswerError, match="reserved bytes"):
            parse_template(made.result, 8)
