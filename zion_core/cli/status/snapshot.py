"""What ``zion status`` shows: one JSON-shaped snapshot of a running node, gathered from
its HTTP API.

Two round trips: a JSON-RPC batch of ``get_info``, ``mining_status``, ``pool_stats``,
``randomx_status`` and ``status_panels``, then ``get_block_headers_range`` for the last
blocks (and ``/get_transaction_pool`` for the mempool's bytes while it is small). A
method the node does not serve (no pool, no miner plugin) leaves its section ``null``.
The keys are stable; docs/status.md describes them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import urlsplit

import attrs
import httpx

from ...errors import ZionError

__all__ = [
    "DEFAULT_BLOCKS",
    "DEFAULT_RPC_PORTS",
    "NodeAnswerError",
    "NodeClient",
    "NodeUnreachableError",
    "RpcCallError",
    "collect",
    "default_node_url",
]

DEFAULT_RPC_PORTS: Final = {"mainnet": 19181, "testnet": 29181, "devnet": 39181}
"""The RPC port of each network's node (the jsonrpc plugin's ``[rpc] bind`` default)."""
DEFAULT_BLOCKS: Final = 10
"""How many of the last blocks a snapshot lists."""
MAX_BLOCKS: Final = 100
MEMPOOL_DETAIL_MAX: Final = 500
"""Up to this many pooled transactions, their sizes are read (``mempool.bytes``)."""
HTTP_TIMEOUT: Final = 5.0
METHOD_NOT_FOUND: Final = -32601
FIRST_BATCH: Final = ("get_info", "mining_status", "pool_stats", "randomx_status", "status_panels")


def default_node_url(network: str) -> str:
    """``http://127.0.0.1:<the network's RPC port>``."""
    return f"http://127.0.0.1:{DEFAULT_RPC_PORTS.get(network, DEFAULT_RPC_PORTS['mainnet'])}"


class NodeUnreachableError(ZionError):
    """Nothing answers at the node's URL (not started, stopped, restarting, wrong port)."""


class NodeAnswerError(ZionError):
    """Something answered, but not as a ZION node's API does."""


@attrs.frozen
class RpcCallError:
    """A JSON-RPC error answered to one call of a batch."""

    code: int
    message: str


class NodeClient:
    """The node's HTTP API at ``url`` (``http://host:port``), over one keep-alive
    connection; ``transport`` replaces httpx's (tests)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = HTTP_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the node URL must be http://HOST:PORT, not {url!r}")
        self._client = httpx.AsyncClient(base_url=self.url, timeout=timeout, transport=transport)
        self._next_id = 0

    async def _request(self, method: str, path: str, payload: Any = None) -> Any:
        try:
            response = await self._client.request(method, path, json=payload)
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            raise NodeUnreachableError(f"cannot reach the node at {self.url}: {reason}") from exc
        if response.status_code != 200:
            raise NodeAnswerError(
                f"the node at {self.url} answered {path} with HTTP {response.status_code}"
            )
        try:
            return response.json()
        except ValueError:
            raise NodeAnswerError(
                f"the node at {self.url} answered {path} with something that is not JSON"
            ) from None

    async def batch(self, calls: Sequence[tuple[str, Any]]) -> list[Any]:
        """Results of a JSON-RPC batch, in order: each the call's result or an
        :class:`RpcCallError`."""
        ids = []
        payload = []
        for method, params in calls:
            self._next_id += 1
            ids.append(self._next_id)
            call: dict[str, Any] = {"jsonrpc": "2.0", "id": self._next_id, "method": method}
            if params is not None:
                call["params"] = params
            payload.append(call)
        answer = await self._request("POST", "/json_rpc", payload)
        if isinstance(answer, dict) and "error" in answer:  # the batch itself was refused
            raise NodeAnswerError(f"the node refused the request: {answer['error']}")
        if not isinstance(answer, list):
            raise NodeAnswerError(f"the node at {self.url} did not answer a JSON-RPC batch")
        by_id = {item.get("id"): item for item in answer if isinstance(item, dict)}
        results: list[Any] = []
        for call_id in ids:
            item = by_id.get(call_id)
            if item is None:
                results.append(RpcCallError(0, "no answer"))
            elif "error" in item:
                error = item["error"] if isinstance(item["error"], dict) else {}
                results.append(
                    RpcCallError(int(error.get("code", 0)), str(error.get("message", "")))
                )
            else:
                results.append(item.get("result"))
        return results

    async def get(self, path: str) -> Any:
        """A REST endpoint's answer (``/get_transaction_pool``)."""
        return await self._request("GET", path)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> NodeClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


# ----------------------------------------------------------------------------- sections


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _num(value: Any, default: float = 0.0) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return default


def _wide(data: Mapping[str, Any], low: str, top: str, wide: str) -> int:
    text = data.get(wide)
    if isinstance(text, str) and text.startswith("0x"):
        try:
            return int(text, 16)
        except ValueError:
            pass
    return (_int(data.get(top)) << 64) | _int(data.get(low))


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _ok(result: Any) -> Mapping[str, Any] | None:
    """A call's result object, or None for an error (a method the node lacks)."""
    return result if isinstance(result, Mapping) else None


def chain_section(
    info: Mapping[str, Any], headers: Sequence[Mapping[str, Any]], finders: Mapping[str, str]
) -> dict[str, Any]:
    difficulty = _wide(info, "difficulty", "difficulty_top64", "wide_difficulty")
    target = _int(info.get("target"))
    height = _int(info.get("height"))
    blocks = [
        {
            "height": _int(h.get("height")),
            "hash": str(h.get("hash", "")),
            "timestamp": _int(h.get("timestamp")),
            "size": _int(h.get("block_size")),
            "num_txes": _int(h.get("num_txes")),
            "reward": _int(h.get("reward")),
            "difficulty": _wide(h, "difficulty", "difficulty_top64", "wide_difficulty"),
            "finder": finders.get(str(h.get("hash", ""))),
        }
        for h in sorted(headers, key=lambda h: _int(h.get("height")), reverse=True)
    ]
    return {
        "height": height,
        "top_height": max(0, height - 1),
        "top_block_hash": str(info.get("top_block_hash", "")),
        "difficulty": difficulty,
        "cumulative_difficulty": _wide(
            info,
            "cumulative_difficulty",
            "cumulative_difficulty_top64",
            "wide_cumulative_difficulty",
        ),
        "target_seconds": target,
        "hashrate": round(difficulty / target, 2) if target > 0 else None,
        "synchronized": bool(info.get("synchronized", True)),
        "last_blocks": blocks,
    }


def peers_section(info: Mapping[str, Any]) -> dict[str, int] | None:
    """The node's peer counts, or None while it has no P2P (it reports none at all)."""
    counts = {
        "incoming": _int(info.get("incoming_connections_count")),
        "outgoing": _int(info.get("outgoing_connections_count")),
        "white": _int(info.get("white_peerlist_size")),
        "grey": _int(info.get("grey_peerlist_size")),
    }
    if not any(counts.values()) and not info.get("p2p"):
        return None
    return counts


def pool_section(stats: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if stats is None:
        return None
    shares, blocks, payouts, payments = (
        _mapping(stats.get(key)) for key in ("shares", "blocks", "payouts", "payments")
    )
    last = stats.get("last_block") if isinstance(stats.get("last_block"), Mapping) else None
    return {
        "address": str(stats.get("pool_address", "")),
        "policy": str(stats.get("policy", "")),
        "fee_bps": _int(stats.get("fee_bps")),
        "hashrate": _num(stats.get("hashrate")),
        "miners": _int(stats.get("miners")),
        "workers": _int(stats.get("workers")),
        "connections": _int(stats.get("connections")),
        "shares": {k: _int(shares.get(k)) for k in ("accepted", "rejected", "stale")},
        "blocks": {k: _int(blocks.get(k)) for k in ("found", "pending", "credited", "orphaned")},
        "last_block": (
            {
                "height": _int(last.get("height")),
                "hash": str(last.get("block_id", "")),
                "status": str(last.get("status", "")),
                "found_at": _num(last.get("found_at")),
            }
            if last is not None
            else None
        ),
        "payouts": {
            "enabled": bool(payouts.get("enabled", False)),
            "threshold": _int(payouts.get("threshold")),
            "next_at": _num(payouts.get("next_at")) if payouts.get("next_at") else None,
            "paid_total": _int(payments.get("total_paid")),
            "count": _int(payments.get("count")),
        },
    }


def miner_section(status: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The built-in miner, or None when the node runs none."""
    if status is None or not status.get("address"):
        return None
    return {
        "active": bool(status.get("active")),
        "address": str(status.get("address", "")),
        "threads": _int(status.get("threads_count")),
        "hashrate": _num(status.get("speed")),
        "hashes": _int(status.get("hashes")),
        "blocks_found": _int(status.get("blocks_found")),
        "mode": status.get("mode"),
        "height": status.get("height") if isinstance(status.get("height"), int) else None,
        "difficulty": _wide(status, "difficulty", "difficulty_top64", "wide_difficulty"),
    }


def _backend(status: Any) -> dict[str, Any] | None:
    if not isinstance(status, Mapping):
        return None
    progress = status.get("dataset_progress")
    return {
        "mode": str(status.get("mode", "")),
        "threads": _int(status.get("threads")),
        "flags": [str(f) for f in status.get("flags", []) if isinstance(f, str)],
        "keys": _int(status.get("keys")),
        "memory_bytes": _int(status.get("memory_bytes")),
        "dataset_progress": (
            {"done": _int(progress.get("done")), "total": _int(progress.get("total"))}
            if isinstance(progress, Mapping)
            else None
        ),
    }


def randomx_section(status: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if status is None:
        return None
    return {"verifier": _backend(status.get("verifier")), "miner": _backend(status.get("miner"))}


def panels_section(result: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if result is None or not isinstance(result.get("panels"), list):
        return []
    panels = []
    for panel in result["panels"]:
        if not isinstance(panel, Mapping):
            continue
        rows = panel.get("rows")
        panels.append(
            {
                "name": str(panel.get("name", "")),
                "title": str(panel.get("title", panel.get("name", ""))),
                "plugin": str(panel.get("plugin", "")),
                "rows": dict(rows) if isinstance(rows, Mapping) else {},
                "error": panel.get("error") if isinstance(panel.get("error"), str) else None,
            }
        )
    return panels


def finders_of(
    pool: Mapping[str, Any] | None,
    mining: Mapping[str, Any] | None,
    found: Mapping[str, str],
) -> dict[str, str]:
    """Who found which block, where this node knows: ``pool`` (its pool's blocks),
    ``miner`` (its built-in miner's), ``node`` (a ``block_found`` event seen live)."""
    finders = dict(found)
    recent = mining.get("recent_blocks") if mining is not None else None
    for block in recent if isinstance(recent, list) else []:
        if isinstance(block, Mapping) and isinstance(block.get("hash"), str):
            finders[block["hash"]] = "miner"
    pool_blocks = pool.get("recent_blocks") if pool is not None else None
    for block in pool_blocks if isinstance(pool_blocks, list) else []:
        if isinstance(block, Mapping) and isinstance(block.get("block_id"), str):
            finders[block["block_id"]] = "pool"
    return finders


async def collect(
    client: NodeClient,
    *,
    blocks: int = DEFAULT_BLOCKS,
    found: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """One snapshot of the node behind ``client``; raises :class:`NodeUnreachableError`
    or :class:`NodeAnswerError` when there is no node to read.

    ``found`` maps block ids to finders seen live (``block_found`` events)."""
    blocks = max(0, min(blocks, MAX_BLOCKS))
    first = await client.batch([(method, None) for method in FIRST_BATCH])
    info_result, mining, pool, randomx, panels = first
    if isinstance(info_result, RpcCallError):
        raise NodeAnswerError(
            f"the node at {client.url} answered get_info with error {info_result.code}: "
            f"{info_result.message}"
        )
    info = _ok(info_result)
    if info is None or not isinstance(info.get("height"), int):
        raise NodeAnswerError(f"the node at {client.url} answered get_info without a height")
    errors: dict[str, str] = {}
    for name, result in zip(FIRST_BATCH[1:], first[1:], strict=True):
        if isinstance(result, RpcCallError) and result.code != METHOD_NOT_FOUND:
            errors[name] = f"{result.code}: {result.message}"
    top = info["height"] - 1
    headers: list[Mapping[str, Any]] = []
    if blocks and top >= 0:
        [answer] = await client.batch(
            [
                (
                    "get_block_headers_range",
                    {"start_height": max(0, top - blocks + 1), "end_height": top},
                )
            ]
        )
        if isinstance(answer, Mapping) and isinstance(answer.get("headers"), list):
            headers = [h for h in answer["headers"] if isinstance(h, Mapping)]
        elif isinstance(answer, RpcCallError):
            errors["get_block_headers_range"] = f"{answer.code}: {answer.message}"
    pooled = _int(info.get("tx_pool_size"))
    pool_bytes: int | None = 0 if pooled == 0 else None
    if 0 < pooled <= MEMPOOL_DETAIL_MAX:
        try:
            answer = await client.get("/get_transaction_pool")
            txs = answer.get("transactions") if isinstance(answer, Mapping) else None
            if isinstance(txs, list):
                pool_bytes = sum(_int(tx.get("blob_size")) for tx in txs if isinstance(tx, Mapping))
        except NodeAnswerError as exc:
            errors["get_transaction_pool"] = str(exc)
    now = clock()
    start_time = _int(info.get("start_time")) or None
    finders = finders_of(_ok(pool), _ok(mining), found or {})
    return {
        "node": {
            "url": client.url,
            "network": str(info.get("nettype", "")),
            "version": str(info.get("version", "")),
            "start_time": start_time,
            "uptime_seconds": round(now - start_time, 1) if start_time else None,
        },
        "time": round(now, 3),
        "chain": chain_section(info, headers, finders),
        "mempool": {"transactions": pooled, "bytes": pool_bytes},
        "peers": peers_section(info),
        "pool": pool_section(_ok(pool)),
        "miner": miner_section(_ok(mining)),
        "randomx": randomx_section(_ok(randomx)),
        "panels": panels_section(_ok(panels)),
        "errors": errors,
    }
