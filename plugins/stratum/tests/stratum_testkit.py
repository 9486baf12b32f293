"""Helpers for the stratum tests: a served devnet pool node and a scripted Stratum client."""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.to_thread
from anyio.abc import SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

from zion_core.chain.block import patch_nonce
from zion_core.chain.keys import WalletKeys

INSTALLED = ["consensus", "sqlite", "randomx", "stratum"]
POOL_KEYS = WalletKeys.from_seed(bytes([7]) * 32)
POOL_ADDRESS = str(POOL_KEYS.address("devnet"))
MINER_ADDRESS = str(WalletKeys.from_seed(bytes([9]) * 32).address("devnet"))
MAINNET_ADDRESS = str(WalletKeys.from_seed(bytes([9]) * 32).address("mainnet"))
BASE_SETS = [
    "chain.initial_difficulty=1",
    "stratum.bind=127.0.0.1:0",
    f"stratum.pool_address={POOL_ADDRESS}",
    "stratum.start_difficulty=1",
    "stratum.min_difficulty=1",
    "randomx.threads=1",
]


class Pool:
    """A served node with its ``stratum`` and ``chain`` services."""

    def __init__(self, node: Any) -> None:
        self.node = node
        services = node.registry("service")
        self.server = services.get("stratum")
        self.chain_service = services.get("chain")
        self.hasher = node.registry("hasher").select(None)
        self.clients: list[Client] = []

    @property
    def port(self) -> int:
        return int(self.server.port)

    async def ready(self) -> None:
        """Wait for the first template."""
        with anyio.fail_after(30):
            while self.server.template is None:
                await anyio.sleep(0.02)

    async def connect(self) -> Client:
        client = Client(await anyio.connect_tcp("127.0.0.1", self.port))
        self.clients.append(client)
        return client

    async def pow_hash(self, job: dict[str, Any], nonce: int) -> bytes:
        """The RandomX hash of ``job``'s blob with ``nonce``, by the node's hasher."""
        blob = patch_nonce(bytes.fromhex(job["blob"]), nonce)
        key = bytes.fromhex(job["seed_hash"])
        result: bytes = await anyio.to_thread.run_sync(
            functools.partial(self.hasher.hash, blob, key=key)
        )
        return result


@asynccontextmanager
async def served_pool(
    make_node: Callable[..., Any], sets: Sequence[str] = (), plugins: dict[str, Any] | None = None
) -> AsyncIterator[Pool]:
    node = make_node(plugins or {}, installed=INSTALLED, sets=[*BASE_SETS, *sets])
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


class Client:
    """A scripted Stratum client: newline JSON over TCP; pushed jobs are collected."""

    def __init__(self, stream: SocketStream) -> None:
        self.stream = stream
        self.reader = BufferedByteReceiveStream(stream)
        self.jobs: list[dict[str, Any]] = []
        self.session: str | None = None
        self.job: dict[str, Any] | None = None

    async def aclose(self) -> None:
        await self.stream.aclose()

    async def send_raw(self, data: bytes) -> None:
        await self.stream.send(data)

    async def send(self, message: dict[str, Any]) -> None:
        await self.send_raw(json.dumps(message).encode() + b"\n")

    async def receive(self, timeout: float = 20) -> dict[str, Any]:  # noqa: ASYNC109
        with anyio.fail_after(timeout):
            line = await self.reader.receive_until(b"\n", 1 << 20)
        message: dict[str, Any] = json.loads(line)
        return message

    async def call(self, req_id: Any, method: str, params: Any = None) -> dict[str, Any]:
        """Send a request; the response with that id (job pushes meanwhile are kept)."""
        await self.send({"id": req_id, "jsonrpc": "2.0", "method": method, "params": params})
        while True:
            message = await self.receive()
            if message.get("method") == "job":
                self.jobs.append(message["params"])
                self.job = message["params"]
                continue
            return message

    async def login(self, login: str = MINER_ADDRESS, **params: Any) -> dict[str, Any]:
        params = {"login": login, "pass": "x", "agent": "test/1.0", "algo": ["rx/0"], **params}
        reply = await self.call(1, "login", params)
        if reply.get("result"):
            self.session = reply["result"]["id"]
            self.job = reply["result"]["job"]
        return reply

    async def submit(
        self, req_id: int, job: dict[str, Any], nonce: int, result: bytes | str
    ) -> dict[str, Any]:
        return await self.call(
            req_id,
            "submit",
            {
                "id": self.session,
                "job_id": job["job_id"],
                "nonce": nonce.to_bytes(4, "little").hex(),
                "result": result if isinstance(result, str) else result.hex(),
                "algo": "rx/0",
            },
        )

    async def next_job(self, timeout: float = 20) -> dict[str, Any]:  # noqa: ASYNC109
        while True:
            message = await self.receive(timeout)
            if message.get("method") == "job":
                self.job = message["params"]
                self.jobs.append(self.job)
                return self.job

    async def closed(self, timeout: float = 10) -> bool:  # noqa: ASYNC109
        """Whether the server closes the connection (after any pending lines)."""
        try:
            with anyio.fail_after(timeout):
                while True:
                    await self.reader.receive_until(b"\n", 1 << 20)
        except (anyio.IncompleteRead, anyio.EndOfStream, anyio.BrokenResourceError):
            return True
        except TimeoutError:
            return False
