"""Helpers for the metrics tests: a served devnet node with the pool, the node API and the
metrics plugin, a scraper and a minimal Stratum miner."""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.to_thread
import httpx
from anyio.abc import SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import (
    generate_latest as openmetrics_generate_latest,
)
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from zion_core.chain.block import patch_nonce
from zion_core.chain.keys import WalletKeys

INSTALLED = ["consensus", "sqlite", "randomx", "jsonrpc", "stratum", "metrics"]
POOL_ADDRESS = str(WalletKeys.from_seed(bytes([7]) * 32).address("devnet"))
MINER_ADDRESS = str(WalletKeys.from_seed(bytes([9]) * 32).address("devnet"))
SETS = [
    "chain.initial_difficulty=1",
    "rpc.bind=127.0.0.1:0",
    "stratum.bind=127.0.0.1:0",
    f"stratum.pool_address={POOL_ADDRESS}",
    "stratum.start_difficulty=1",
    "stratum.min_difficulty=1",
    "stratum.stats_interval_seconds=0.2",
    "randomx.threads=1",
]
"""Difficulty 1: every valid share is a block."""


class Fixed(Collector):
    """A prometheus-client collector answering the same families every time."""

    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self.metrics


def reference(metrics: list[Metric], *, openmetrics: bool = False) -> bytes:
    """What prometheus-client's encoder of the text format (or OpenMetrics) writes."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Fixed(metrics))
    return openmetrics_generate_latest(registry) if openmetrics else generate_latest(registry)


class Scrape:
    """One parsed scrape: families by name, and sample values by name and labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.families = {f.name: f for f in text_string_to_metric_families(text)}
        self.samples = {
            (s.name, frozenset(s.labels.items())): s.value
            for family in self.families.values()
            for s in family.samples
        }

    def value(self, name: str, **labels: str) -> float | None:
        return self.samples.get((name, frozenset(labels.items())))

    def sample_names(self) -> set[str]:
        return {name for name, _ in self.samples}


class Served:
    """A served node: its services and an HTTP client of its API."""

    def __init__(self, node: Any, http: httpx.AsyncClient) -> None:
        self.node = node
        self.http = http
        services = node.registry("service")
        self.rpc = services.get("rpc")
        self.pool = services.get("stratum")
        self.hasher = node.registry("hasher").select(None)

    async def scrape(self, path: str = "/metrics") -> Scrape:
        response = await self.http.get(path)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        return Scrape(response.text)

    async def scrape_until(self, check: Callable[[Scrape], bool], timeout: float = 30) -> Scrape:  # noqa: ASYNC109
        with anyio.fail_after(timeout):
            while True:
                scrape = await self.scrape()
                if check(scrape):
                    return scrape
                await anyio.sleep(0.05)

    async def call(self, method: str, params: Any = None) -> dict[str, Any]:
        payload = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}
        response = await self.http.post("/json_rpc", json=payload)
        answer: dict[str, Any] = response.json()
        return answer

    async def pow_hash(self, job: dict[str, Any], nonce: int) -> bytes:
        blob = patch_nonce(bytes.fromhex(job["blob"]), nonce)
        key = bytes.fromhex(job["seed_hash"])
        result: bytes = await anyio.to_thread.run_sync(
            functools.partial(self.hasher.hash, blob, key=key)
        )
        return result


@asynccontextmanager
async def served_node(
    make_node: Callable[..., Any],
    *,
    sets: Sequence[str] = (),
    plugins: dict[str, Any] | None = None,
    installed: Iterable[str] = INSTALLED,
) -> AsyncIterator[Served]:
    node = make_node(plugins or {}, installed=list(installed), sets=[*SETS, *sets])
    async with anyio.create_task_group() as tg:
        await tg.start(node.serve)
        rpc = node.registry("service").get("rpc")
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{rpc.port}") as http:
                served = Served(node, http)
                with anyio.fail_after(30):
                    while served.pool.template is None:
                        await anyio.sleep(0.02)
                yield served
        finally:
            node.request_shutdown("test over")


class Miner:
    """A scripted Stratum client (newline-delimited JSON over TCP)."""

    def __init__(self, stream: SocketStream) -> None:
        self.stream = stream
        self.reader = BufferedByteReceiveStream(stream)
        self.session = ""
        self.job: dict[str, Any] = {}

    @classmethod
    async def connect(cls, port: int) -> Miner:
        return cls(await anyio.connect_tcp("127.0.0.1", port))

    async def call(self, req_id: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
        message = {"id": req_id, "jsonrpc": "2.0", "method": method, "params": params}
        await self.stream.send(json.dumps(message).encode() + b"\n")
        with anyio.fail_after(30):
            while True:
                reply: dict[str, Any] = json.loads(await self.reader.receive_until(b"\n", 1 << 20))
                if reply.get("method") == "job":
                    self.job = reply["params"]
                    continue
                return reply

    async def login(self, login: str = MINER_ADDRESS) -> None:
        reply = await self.call(1, "login", {"login": login, "pass": "x", "agent": "test/1.0"})
        self.session, self.job = reply["result"]["id"], reply["result"]["job"]

    async def submit(self, req_id: int, nonce: int, result: bytes) -> dict[str, Any]:
        params = {
            "id": self.session,
            "job_id": self.job["job_id"],
            "nonce": nonce.to_bytes(4, "little").hex(),
            "result": result.hex(),
        }
        return await self.call(req_id, "submit", params)

    async def aclose(self) -> None:
        await self.stream.aclose()
