"""How the wallet talks to a node: one protocol, :class:`NodeAccess`, two implementations.

- :class:`HttpNode`: a node's HTTP API (``POST /json_rpc`` and the REST endpoints), for
  ``zion wallet balance | send | history``.
- :class:`LocalNode`: the node the wallet runs in (the wallet RPC): the ``chain`` service
  from the node's service registry and the address methods from its ``rpc_method``
  registry, called directly, with no HTTP to itself.

Both read the consensus plugin's address methods (``get_address_outputs``,
``get_address_history``), whose JSON results are parsed here, once, into the values below;
the wallet logic (:mod:`.session`) sees only those.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol

import attrs
import httpx

from zion_core import ZionError
from zion_core.chain.transaction import OutPoint, Transaction
from zion_core.progress import ProgressTask, progress
from zion_hookspecs import Node

from .errors import NodeError, NodeUnreachableError, TransactionRefusedError

#: The RPC port of each network's node (``[rpc] bind``'s default).
DEFAULT_RPC_PORTS: Final = {"mainnet": 19181, "testnet": 29181, "devnet": 39181}
#: Seconds an HTTP request to the node may take.
HTTP_TIMEOUT: Final = 30.0
#: History entries asked for per ``get_address_history`` call.
HISTORY_PAGE: Final = 1000


def default_node_url(network: str) -> str:
    """``http://127.0.0.1:<the network's RPC port>``."""
    return f"http://127.0.0.1:{DEFAULT_RPC_PORTS.get(network, DEFAULT_RPC_PORTS['devnet'])}"


def start_hint(network: str) -> str:
    """How to start a node the wallet can use."""
    return (
        f"start one with `zion run --network {network} --plugin sqlite --plugin randomx "
        "--plugin jsonrpc`, or give --node URL"
    )


# ----------------------------------------------------------------------------- values


@attrs.frozen
class AddressOutput:
    """An unspent output of the wallet's address (``get_address_outputs``)."""

    outpoint: OutPoint
    amount: int
    height: int
    unlock_height: int
    coinbase: bool
    spendable: bool
    spent_in_pool: bool


@attrs.frozen
class PoolOutput:
    """An output of a pooled transaction paying the wallet's address."""

    outpoint: OutPoint
    amount: int


@attrs.frozen
class AddressOutputs:
    """The address's unspent outputs at one tip; ``height`` is the number of blocks."""

    outputs: tuple[AddressOutput, ...]
    pool_outputs: tuple[PoolOutput, ...]
    height: int
    top_block_hash: str


@attrs.frozen
class HistoryEntry:
    """One output received (``in``) or spent (``out``) on the chain, or in the pool.

    ``txid`` is the transaction that received or spent it, ``outpoint`` the output;
    ``fee`` is the spending transaction's fee (0 for ``in``). Pool entries have height 0
    and no confirmations.
    """

    type: str
    txid: str
    amount: int
    fee: int
    outpoint: OutPoint
    height: int = 0
    timestamp: int = 0
    confirmations: int = 0
    coinbase: bool = False
    in_pool: bool = False


@attrs.frozen
class AddressHistory:
    """Every history entry of an address, oldest first, and its pool entries."""

    entries: tuple[HistoryEntry, ...]
    pool: tuple[HistoryEntry, ...]
    height: int


@attrs.frozen
class TxStatus:
    """Where the node has a transaction: in its pool, or mined at ``height``."""

    in_pool: bool
    height: int = 0
    confirmations: int = 0
    timestamp: int = 0


class NodeAccess(Protocol):
    """What the wallet needs from a node."""

    @property
    def location(self) -> str:
        """The node, for messages (its URL)."""
        ...

    def network(self) -> str:
        """The network the node runs."""
        ...

    def fee_estimate(self) -> int:
        """The fee a transaction should pay now (atomic units)."""
        ...

    def address_outputs(self, address: str) -> AddressOutputs:
        """The unspent outputs of ``address``."""
        ...

    def address_history(self, address: str, *, limit: int | None = None) -> AddressHistory:
        """Every history entry of ``address`` (or the first ``limit``)."""
        ...

    def transactions(self, txids: Sequence[str]) -> dict[str, TxStatus]:
        """Where the node has each of ``txids`` (absent: the node does not know it)."""
        ...

    def submit(self, tx: Transaction) -> None:
        """Give ``tx`` to the node; :class:`TransactionRefusedError` if it refuses it."""
        ...


# ----------------------------------------------------------------------------- parsing


def _answer_error(location: str, method: str, detail: str) -> NodeError:
    return NodeError(
        f"unexpected answer from the node at {location} to {method} ({detail}); "
        "is it a ZION node of this version?"
    )


def _int(data: Mapping[str, Any], key: str) -> int:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"{key} is not a non-negative integer")
    return value


def _bool(data: Mapping[str, Any], key: str) -> bool:
    value = data[key]
    if not isinstance(value, bool):
        raise TypeError(f"{key} is not a boolean")
    return value


def _hash(data: Mapping[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str) or len(value) != 64:
        raise TypeError(f"{key} is not a 32-byte hex string")
    bytes.fromhex(value)
    return value


def _outpoint(data: Mapping[str, Any]) -> OutPoint:
    return OutPoint(txid=bytes.fromhex(_hash(data, "txid")), index=_int(data, "index"))


def parse_outputs(result: Any, *, location: str) -> AddressOutputs:
    """The value of a ``get_address_outputs`` result."""
    try:
        outputs = tuple(
            AddressOutput(
                outpoint=_outpoint(item),
                amount=_int(item, "amount"),
                height=_int(item, "height"),
                unlock_height=_int(item, "unlock_height"),
                coinbase=_bool(item, "coinbase"),
                spendable=_bool(item, "spendable"),
                spent_in_pool=_bool(item, "spent_in_pool"),
            )
            for item in result["outputs"]
        )
        pool = tuple(
            PoolOutput(outpoint=_outpoint(item), amount=_int(item, "amount"))
            for item in result["pool_outputs"]
        )
        return AddressOutputs(outputs, pool, _int(result, "height"), str(result["top_block_hash"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise _answer_error(location, "get_address_outputs", str(exc)) from None


def parse_history_entry(item: Any, *, in_pool: bool) -> HistoryEntry:
    """One entry of a ``get_address_history`` result (``entries`` or ``pool``)."""
    kind = item["type"]
    if kind not in ("in", "out"):
        raise ValueError(f"unknown entry type {kind!r}")
    return HistoryEntry(
        type=kind,
        txid=_hash(item, "txid"),
        amount=_int(item, "amount"),
        fee=_int(item, "fee"),
        outpoint=_outpoint(item["outpoint"]),
        height=0 if in_pool else _int(item, "height"),
        timestamp=0 if in_pool else _int(item, "timestamp"),
        confirmations=0 if in_pool else _int(item, "confirmations"),
        coinbase=False if in_pool else _bool(item, "coinbase"),
        in_pool=in_pool,
    )


class _AddressMethods:
    """``address_outputs`` and ``address_history`` over a JSON-RPC ``call``."""

    location: str

    def call(self, method: str, params: dict[str, Any]) -> Any:
        raise NotImplementedError

    def address_outputs(self, address: str) -> AddressOutputs:
        result = self.call("get_address_outputs", {"address": address})
        return parse_outputs(result, location=self.location)

    def address_history(self, address: str, *, limit: int | None = None) -> AddressHistory:
        entries: list[HistoryEntry] = []
        offset = 0
        page_size = HISTORY_PAGE if limit is None else max(1, min(limit, HISTORY_PAGE))
        with contextlib.ExitStack() as stack:
            scan: ProgressTask | None = None  # shown once the history takes several pages
            while True:
                result = self.call(
                    "get_address_history",
                    {"address": address, "offset": offset, "limit": page_size},
                )
                try:
                    page = [parse_history_entry(e, in_pool=False) for e in result["entries"]]
                    total = _int(result, "total")
                    if offset + len(page) >= total or not page or limit is not None:
                        pool = tuple(parse_history_entry(e, in_pool=True) for e in result["pool"])
                        entries.extend(page)
                        if scan is not None:
                            scan.update(len(entries), total=max(total, len(entries)))
                        return AddressHistory(tuple(entries), pool, _int(result, "height"))
                except (KeyError, TypeError, ValueError) as exc:
                    raise _answer_error(self.location, "get_address_history", str(exc)) from None
                entries.extend(page)
                offset += len(page)
                if scan is None:
                    scan = stack.enter_context(
                        progress("wallet scan", total, unit="entries", logger=__name__)
                    )
                scan.update(len(entries), total=total)


# ----------------------------------------------------------------------------- over HTTP


class HttpNode(_AddressMethods):
    """A node's HTTP API at ``url`` (``http://host:port``).

    ``network`` is the wallet's, for the hint in :class:`NodeUnreachableError`.
    ``transport`` replaces httpx's (tests). Close it with :meth:`close` or ``with``.
    """

    def __init__(
        self,
        url: str,
        network: str,
        *,
        timeout: float = HTTP_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.location = self.url
        self.wallet_network = network
        self._client = httpx.Client(base_url=self.url, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpNode:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _post(self, path: str, payload: Mapping[str, Any]) -> Any:
        try:
            response = self._client.post(path, json=payload)
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            raise NodeUnreachableError(
                f"cannot reach the node at {self.url} ({reason}); "
                + start_hint(self.wallet_network)
            ) from None
        if response.status_code != 200:
            raise NodeError(
                f"the node at {self.url} answered HTTP {response.status_code} to {path}; "
                "is it a ZION node with the jsonrpc plugin?"
            )
        try:
            return response.json()
        except ValueError:
            raise NodeError(
                f"the node at {self.url} did not answer JSON to {path}; is it a ZION node?"
            ) from None

    def call(self, method: str, params: dict[str, Any]) -> Any:
        """One JSON-RPC call; its ``result``, or a :class:`NodeError` saying what failed."""
        answer = self._post(
            "/json_rpc", {"jsonrpc": "2.0", "id": "0", "method": method, "params": params}
        )
        if not isinstance(answer, dict):
            raise _answer_error(self.url, method, "not a JSON-RPC response")
        error = answer.get("error")
        if isinstance(error, dict):
            code, message = error.get("code"), str(error.get("message", ""))
            if code == -32601:
                raise NodeError(
                    f"the node at {self.url} does not serve {method}: it needs a zion whose "
                    "consensus plugin has the address methods"
                )
            data = error.get("data")
            detail = data if isinstance(data, str) else message
            raise NodeError(f"the node at {self.url} answered {method}: {detail}")
        if "result" not in answer:
            raise _answer_error(self.url, method, "no result")
        return answer["result"]

    def network(self) -> str:
        info = self.call("get_info", {})
        nettype = info.get("nettype") if isinstance(info, dict) else None
        if not isinstance(nettype, str):
            raise _answer_error(self.url, "get_info", "no nettype")
        return nettype

    def fee_estimate(self) -> int:
        result = self.call("get_fee_estimate", {})
        try:
            return _int(result, "fee")
        except (KeyError, TypeError) as exc:
            raise _answer_error(self.url, "get_fee_estimate", str(exc)) from None

    def transactions(self, txids: Sequence[str]) -> dict[str, TxStatus]:
        if not txids:
            return {}
        answer = self._post("/get_transactions", {"txs_hashes": list(txids)})
        if not isinstance(answer, dict) or answer.get("status") != "OK":
            reason = answer.get("reason", "") if isinstance(answer, dict) else ""
            raise NodeError(f"the node at {self.url} answered get_transactions: {reason}")
        found: dict[str, TxStatus] = {}
        try:
            for item in answer.get("txs") or ():
                txid = _hash(item, "tx_hash")
                if _bool(item, "in_pool"):
                    found[txid] = TxStatus(in_pool=True)
                else:
                    found[txid] = TxStatus(
                        in_pool=False,
                        height=_int(item, "block_height"),
                        confirmations=_int(item, "confirmations"),
                        timestamp=_int(item, "block_timestamp"),
                    )
        except (KeyError, TypeError, ValueError) as exc:
            raise _answer_error(self.url, "get_transactions", str(exc)) from None
        return found

    def submit(self, tx: Transaction) -> None:
        answer = self._post(
            "/send_raw_transaction", {"tx_as_hex": tx.to_bytes().hex(), "do_not_relay": False}
        )
        status = answer.get("status") if isinstance(answer, dict) else None
        if status == "OK":
            return
        reason = str(answer.get("reason") or "no reason given") if isinstance(answer, dict) else ""
        if status == "Failed":
            raise TransactionRefusedError(
                f"the node refused the transaction: {reason}",
                reason=reason,
                txid=tx.txid.hex(),
            )
        raise NodeError(f"the node at {self.url} could not take the transaction now: {reason}")


# ----------------------------------------------------------------------------- in process


class _ChainServiceLike(Protocol):
    """The ``chain`` service as the wallet uses it (duck-typed: another plugin's object)."""

    @property
    def chain(self) -> Any: ...

    @property
    def mempool(self) -> Any: ...

    @property
    def lock(self) -> Any: ...

    def submit_transaction(self, tx: Transaction, /) -> bool: ...


class LocalNode(_AddressMethods):
    """The node the wallet runs in: its ``chain`` service and ``rpc_method`` registry."""

    location = "this node"

    def __init__(self, node: Node) -> None:
        self.node = node

    def _service(self) -> _ChainServiceLike:
        services = self.node.registry("service")
        if "chain" not in services.names():
            raise NodeError(
                "this node keeps no chain, so the wallet cannot work: run it with "
                "--plugin sqlite --plugin randomx"
            )
        service: _ChainServiceLike = services.get("chain")
        if service.chain is None or service.mempool is None:
            raise NodeError("the node is starting: its chain is not open yet; retry in a moment")
        return service

    def call(self, method: str, params: dict[str, Any]) -> Any:
        """The node's registered RPC method ``method``, called directly."""
        methods = self.node.registry("rpc_method")
        if method not in methods.names():
            raise NodeError(
                f"this node has no {method} method: the wallet needs the consensus plugin's "
                "address methods"
            )
        handler = methods.get(method).handler
        try:
            result = handler(params)
        except ZionError as exc:
            raise NodeError(str(exc)) from None
        if inspect.isawaitable(result):  # pragma: no cover - the address methods are plain
            raise NodeError(f"{method} is asynchronous; the wallet calls it from a thread")
        return result

    def network(self) -> str:
        return self.node.network

    def fee_estimate(self) -> int:
        fee: int = self._service().chain.params.min_fee
        return fee

    def transactions(self, txids: Sequence[str]) -> dict[str, TxStatus]:
        service = self._service()
        found: dict[str, TxStatus] = {}
        with service.lock:
            chain, mempool = service.chain, service.mempool
            top = chain.tip.height
            for text in txids:
                txid = bytes.fromhex(text)
                if mempool.get(txid) is not None:
                    found[text] = TxStatus(in_pool=True)
                    continue
                block_id = chain.store.tx_block(txid)
                meta = chain.store.meta(block_id) if block_id is not None else None
                if meta is None or not chain.is_main(block_id):
                    continue
                found[text] = TxStatus(
                    in_pool=False,
                    height=meta.height,
                    confirmations=top - meta.height + 1,
                    timestamp=meta.timestamp,
                )
        return found

    def submit(self, tx: Transaction) -> None:
        service = self._service()
        try:
            service.submit_transaction(tx)
        except ZionError as exc:
            raise TransactionRefusedError(
                f"the node refused the transaction: {exc}", reason=str(exc), txid=tx.txid.hex()
            ) from None


__all__ = [
    "DEFAULT_RPC_PORTS",
    "AddressHistory",
    "AddressOutput",
    "AddressOutputs",
    "HistoryEntry",
    "HttpNode",
    "LocalNode",
    "NodeAccess",
    "PoolOutput",
    "TxStatus",
    "default_node_url",
    "parse_history_entry",
    "parse_outputs",
    "start_hint",
]
