"""Several ZION nodes in one process, each on its own loopback address (127.0.0.N).

Each node keeps its own data directory and chain (sqlite, light-mode RandomX at
difficulty 1) and runs the ``p2p`` service; a test starts them in one task group, mines
on any of them, and waits for the others to agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread

from zion_core.chain.keys import WalletKeys
from zion_core.chain.transaction import OutPoint, Transaction, TxOutput

INSTALLED = ["consensus", "sqlite", "randomx", "p2p"]
BASE_SETS = [
    "chain.initial_difficulty=1",
    "chain.seed_epoch=256",
    "chain.seed_lag=4",
    "chain.difficulty_window=128",
    "chain.coinbase_maturity=2",
    "chain.spendable_age=1",
    "randomx.threads=2",
    "p2p.ipv4_prefix=32",
    "p2p.max_per_ip=4",
    "p2p.request_timeout=10",
    "p2p.handshake_timeout=5",
    "p2p.tx_relay_delay=0.05",
]
MAX_NONCES = 1 << 16
MINER = WalletKeys.from_seed(bytes([7]) * 32)


def meets(pow_hash: bytes, difficulty: int) -> bool:
    return int.from_bytes(pow_hash, "little") * difficulty < (1 << 256)


class TestNode:
    """One node of the test network."""

    __test__ = False

    def __init__(self, net: TestNet, index: int, sets: Sequence[str]) -> None:
        self.net = net
        self.index = index
        self.host = f"127.0.0.{index + 1}"
        self.data_dir = net.root / f"node{index}"
        self.extra_sets = list(sets)
        self.node: Any = None
        self._stopped: anyio.Event | None = None

    @property
    def chain_service(self) -> Any:
        return self.node.registry("service").get("chain")

    @property
    def p2p(self) -> Any:
        return self.node.registry("service").get("p2p")

    @property
    def chain(self) -> Any:
        return self.chain_service.chain

    @property
    def height(self) -> int:
        return int(self.chain.tip.height)

    @property
    def tip(self) -> bytes:
        return bytes(self.chain.tip_id)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.p2p.listen_port}"

    def sets(self, peers: Iterable[str]) -> list[str]:
        peer_list = ",".join(f'"{p}"' for p in peers)
        return [
            *BASE_SETS,
            f"p2p.bind={self.host}:0",
            f"p2p.peers=[{peer_list}]",
            *self.extra_sets,
        ]

    async def start(self, peers: Iterable[str] = ()) -> None:
        self.node = self.net.make_node(
            {}, installed=INSTALLED, data_dir=self.data_dir, sets=self.sets(peers)
        )
        self._stopped = anyio.Event()
        await self.net.tg.start(self._serve, self.node, self._stopped)

    @staticmethod
    async def _serve(node: Any, stopped: anyio.Event, *, task_status: Any) -> None:
        try:
            await node.serve(task_status=task_status)
        finally:
            stopped.set()

    async def stop(self) -> None:
        assert self._stopped is not None
        self.node.request_shutdown("test: node stops")
        with anyio.fail_after(30):
            await self._stopped.wait()

    # -- mining ----------------------------------------------------------------------------

    def mine_blocks(
        self, count: int, keys: WalletKeys = MINER, *, with_pool: bool = True
    ) -> list[bytes]:
        """``count`` blocks on this node's chain (blocking); their ids."""
        service = self.chain_service
        hasher = self.node.registry("hasher").select(None)
        ids: list[bytes] = []
        for _ in range(count):
            with service.lock:
                txs = service.mempool.select(1 << 20) if with_pool else []
                made = service.chain.template(keys.spend.public_key, keys.view.public_key, txs)
                for nonce in range(MAX_NONCES):
                    block = made.block.with_nonce(nonce)
                    if meets(
                        hasher.hash(block.hashing_blob(), key=made.seed_hash), made.difficulty
                    ):
                        break
                else:
                    raise RuntimeError(f"no nonce meets difficulty {made.difficulty}")
                result = service.submit_block(block, {tx.txid: tx for tx in txs})
                assert str(result.status) == "connected", result
                ids.append(block.id)
        return ids

    async def mine(
        self, count: int = 1, keys: WalletKeys = MINER, *, with_pool: bool = True
    ) -> list[bytes]:
        return await anyio.to_thread.run_sync(
            lambda: self.mine_blocks(count, keys, with_pool=with_pool)
        )

    def payment(self, owner: WalletKeys, to: WalletKeys, amount: int) -> Transaction:
        """A signed transaction from ``owner``'s oldest spendable coin (blocking)."""
        chain = self.chain
        fee = chain.params.min_fee
        for _, txid, index, spent in chain.store.history(
            owner.spend.public_key, owner.view.public_key
        ):
            if spent:
                continue
            outpoint = OutPoint(txid=txid, index=index)
            coin = chain.coin(outpoint)
            if coin is None or coin.amount < amount + fee:
                continue
            if coin.coinbase and chain.height + 1 - coin.height < chain.params.coinbase_maturity:
                continue
            if outpoint in {
                i for tx in self.chain_service.mempool.transactions() for i in tx.inputs
            }:
                continue
            outputs = (
                TxOutput(amount=amount, spend_key=to.spend.public_key, view_key=to.view.public_key),
                TxOutput(
                    amount=coin.amount - amount - fee,
                    spend_key=owner.spend.public_key,
                    view_key=owner.view.public_key,
                ),
            )
            tx = Transaction(unlock_time=0, inputs=(outpoint,), outputs=outputs, fee=fee)
            return tx.with_signatures((owner.spend.sign(tx.signing_message),))
        raise AssertionError("no spendable coin")


class TestNet:
    """Nodes started in one task group (``tg``)."""

    __test__ = False

    def __init__(self, make_node: Callable[..., Any], root: Path, tg: anyio.abc.TaskGroup) -> None:
        self.make_node = make_node
        self.root = root
        self.tg = tg
        self.nodes: list[TestNode] = []

    def add(self, sets: Sequence[str] = ()) -> TestNode:
        node = TestNode(self, len(self.nodes) + 1, sets)
        self.nodes.append(node)
        return node

    async def stop_all(self) -> None:
        for node in self.nodes:
            if node.node is not None and node._stopped is not None and not node._stopped.is_set():
                await node.stop()


async def wait_for(predicate: Callable[[], bool], timeout: float = 60, what: str = "") -> None:  # noqa: ASYNC109
    try:
        with anyio.fail_after(timeout):
            while not predicate():
                await anyio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(
            f"timed out after {timeout} s waiting for {what or predicate}"
        ) from None


def same_tip(*nodes: TestNode) -> Callable[[], bool]:
    return lambda: len({n.tip for n in nodes}) == 1


class ScriptedPeer:
    """A hand-driven peer speaking the wire protocol (for misbehaviour tests)."""

    __test__ = False

    def __init__(self, stream: Any, magic: bytes) -> None:
        from zion_plugin_p2p.messages import FrameReader

        self.stream = stream
        self.magic = magic
        self.reader = FrameReader(magic)

    async def send(self, message: Any) -> None:
        from zion_plugin_p2p.messages import encode_frame

        await self.stream.send(encode_frame(self.magic, message))

    async def receive(self, timeout: float = 10) -> Any:  # noqa: ASYNC109
        with anyio.fail_after(timeout):
            while True:
                message = self.reader.next()
                if message is not None:
                    return message
                self.reader.feed(await self.stream.receive(65536))

    async def receive_type(self, kind: type, timeout: float = 10) -> Any:  # noqa: ASYNC109
        """The next message of ``kind`` (others are skipped)."""
        with anyio.fail_after(timeout):
            while True:
                message = await self.receive(timeout)
                if isinstance(message, kind):
                    return message

    async def closed(self, timeout: float = 10) -> bool:  # noqa: ASYNC109
        """Whether the other side closes within ``timeout`` (messages are skipped)."""
        try:
            with anyio.fail_after(timeout):
                while True:
                    await self.receive(timeout)
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            return True
        except TimeoutError:
            return False


def hello_for(node: TestNode, **changes: Any) -> Any:
    """A valid handshake for ``node``'s network (fields overridable)."""
    import os

    from zion_plugin_p2p.messages import Hello

    chain = node.chain
    fields: dict[str, Any] = {
        "version": 1,
        "network": "devnet",
        "genesis_id": chain.genesis.id,
        "services": 1,
        "top_id": chain.genesis.id,
        "height": 0,
        "cumulative_difficulty": 1,
        "listen_port": 0,
        "nonce": os.urandom(8),
        "timestamp": 0,
        "user_agent": "scripted",
    }
    fields.update(changes)
    return Hello(**fields)


def free_port(host: str) -> int:
    """A TCP port on ``host`` that nothing listens on now: for a node whose address must
    be known before it starts, or for an address that refuses connections."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def connect_scripted(node: TestNode, local_host: str, hello: Any = None) -> ScriptedPeer:
    """A :class:`ScriptedPeer` connected to ``node`` from ``local_host`` (an address of
    127.0.0.0/8 that no test node uses), which sent ``hello`` first when one is given."""
    from zion_plugin_p2p.messages import network_magic

    stream = await anyio.connect_tcp(node.host, node.p2p.listen_port, local_host=local_host)
    peer = ScriptedPeer(stream, network_magic(node.chain.genesis.id))
    if hello is not None:
        await peer.send(hello)
    return peer


class ScriptedServer:
    """A listener whose first connection is served by ``handler`` (a :class:`ScriptedPeer`
    for it); later connections are closed at once and counted in ``refused``.

    Run it in a task group: ``port = await tg.start(server.serve)``; :meth:`stop` ends it.
    """

    __test__ = False

    def __init__(self, host: str, magic: bytes, handler: Callable[[ScriptedPeer], Any]) -> None:
        self.host = host
        self.magic = magic
        self.handler = handler
        self.port = 0
        self.accepted = 0
        self.refused = 0
        self._scope = anyio.CancelScope()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def serve(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        with self._scope:
            listener = await anyio.create_tcp_listener(local_host=self.host, local_port=0)
            async with listener:
                self.port = int(listener.extra(anyio.abc.SocketAttribute.local_port))
                task_status.started(self.port)
                await listener.serve(self._handle)

    def stop(self) -> None:
        self._scope.cancel()

    async def _handle(self, stream: Any) -> None:
        async with stream:
            if self.accepted:
                self.refused += 1
                return
            self.accepted += 1
            import contextlib

            # the node hung up, or the script waited long enough
            with contextlib.suppress(
                anyio.EndOfStream,
                anyio.BrokenResourceError,
                anyio.ClosedResourceError,
                OSError,
                TimeoutError,
            ):
                await self.handler(ScriptedPeer(stream, self.magic))
