"""Test doubles for the node-backed wallet: a node in memory, and one behind HTTP.

:class:`FakeNode` implements :class:`~zion_plugin_wallet.node.NodeAccess` over a list of
outputs and a pool, with switches to make it unreachable or refuse transactions.
:func:`fake_http_node` serves the same node over ``httpx.MockTransport`` with the JSON
the real node answers, for :class:`~zion_plugin_wallet.node.HttpNode` and the CLI.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import attrs
import httpx

from zion_core.chain.address import Address
from zion_core.chain.transaction import OutPoint, Transaction
from zion_plugin_wallet.errors import NodeUnreachableError, TransactionRefusedError
from zion_plugin_wallet.node import (
    AddressHistory,
    AddressOutput,
    AddressOutputs,
    HistoryEntry,
    HttpNode,
    PoolOutput,
    TxStatus,
)

ZION = 10**12
FEE = 10**8


def outpoint(n: int) -> OutPoint:
    return OutPoint(txid=hashlib.sha256(f"coin {n}".encode()).digest(), index=0)


class FakeNode:
    """A node that knows one address's outputs; a pool; mined transactions by txid."""

    location = "http://fake.node"

    def __init__(self, address: Address, *, network: str = "devnet", height: int = 100) -> None:
        self.address = address
        self.net = network
        self.height = height
        self.fee = FEE
        self.outputs: list[AddressOutput] = []
        self.pool: dict[str, Transaction] = {}
        self.mined: dict[str, int] = {}
        self.refuse: str = ""
        self.down = False
        self.submitted: list[Transaction] = []
        self.calls: list[str] = []
        self.before_submit: Any = None

    def add_output(
        self, n: int, amount: int, *, height: int = 1, unlock: int = 0, coinbase: bool = True
    ) -> OutPoint:
        point = outpoint(n)
        unlock = unlock or height + 10
        self.outputs.append(
            AddressOutput(point, amount, height, unlock, coinbase, unlock <= self.height, False)
        )
        return point

    def _check(self, what: str) -> None:
        self.calls.append(what)
        if self.down:
            raise NodeUnreachableError(f"cannot reach the node at {self.location} (refused)")

    def network(self) -> str:
        self._check("network")
        return self.net

    def fee_estimate(self) -> int:
        self._check("fee")
        return self.fee

    def address_outputs(self, address: str) -> AddressOutputs:
        self._check("outputs")
        assert address == str(self.address)
        spent = {i for tx in self.pool.values() for i in tx.inputs}
        own = (self.address.spend_key, self.address.view_key)
        outputs = tuple(attrs.evolve(o, spent_in_pool=o.outpoint in spent) for o in self.outputs)
        pool = tuple(
            PoolOutput(OutPoint(txid=tx.txid, index=i), out.amount)
            for tx in self.pool.values()
            for i, out in enumerate(tx.outputs)
            if (out.spend_key, out.view_key) == own
        )
        return AddressOutputs(outputs, pool, self.height, "00" * 32)

    def address_history(self, address: str, *, limit: int | None = None) -> AddressHistory:
        self._check("history")
        entries = tuple(
            HistoryEntry(
                type="in",
                txid=o.outpoint.txid.hex(),
                amount=o.amount,
                fee=0,
                outpoint=o.outpoint,
                height=o.height,
                timestamp=1_800_000_000 + o.height,
                confirmations=self.height - o.height,
                coinbase=o.coinbase,
            )
            for o in self.outputs
        )
        return AddressHistory(entries[:limit] if limit else entries, (), self.height)

    def transactions(self, txids: Sequence[str]) -> dict[str, TxStatus]:
        self._check("transactions")
        found = {}
        for txid in txids:
            if txid in self.pool:
                found[txid] = TxStatus(in_pool=True)
            elif txid in self.mined:
                height = self.mined[txid]
                found[txid] = TxStatus(False, height, self.height - height, 0)
        return found

    def submit(self, tx: Transaction) -> None:
        self._check("submit")
        if self.before_submit is not None:
            self.before_submit(tx)
        self.submitted.append(tx)
        if self.refuse:
            raise TransactionRefusedError(
                f"the node refused the transaction: {self.refuse}",
                reason=self.refuse,
                txid=tx.txid.hex(),
            )
        self.pool[tx.txid.hex()] = tx

    def mine(self) -> None:
        """Mine the pool: spent outputs go, outputs paying the address come (unlocked)."""
        self.height += 1
        own = (self.address.spend_key, self.address.view_key)
        for txid, tx in self.pool.items():
            self.mined[txid] = self.height
            self.outputs = [o for o in self.outputs if o.outpoint not in tx.inputs]
            for i, out in enumerate(tx.outputs):
                if (out.spend_key, out.view_key) == own:
                    self.outputs.append(
                        AddressOutput(
                            OutPoint(txid=tx.txid, index=i),
                            out.amount,
                            self.height,
                            self.height + 10,
                            False,
                            False,
                            False,
                        )
                    )
        self.pool.clear()


def _output_json(o: AddressOutput) -> dict[str, Any]:
    return {
        "txid": o.outpoint.txid.hex(),
        "index": o.outpoint.index,
        "amount": o.amount,
        "height": o.height,
        "unlock_height": o.unlock_height,
        "coinbase": o.coinbase,
        "spendable": o.spendable,
        "spent_in_pool": o.spent_in_pool,
    }


def _entry_json(e: HistoryEntry) -> dict[str, Any]:
    return {
        "type": e.type,
        "txid": e.txid,
        "height": e.height,
        "timestamp": e.timestamp,
        "confirmations": e.confirmations,
        "amount": e.amount,
        "fee": e.fee,
        "coinbase": e.coinbase,
        "outpoint": {"txid": e.outpoint.txid.hex(), "index": e.outpoint.index},
    }


def serve(fake: FakeNode, request: httpx.Request) -> httpx.Response:
    """``fake`` as the node's HTTP API answers (JSON-RPC and the REST endpoints)."""
    if fake.down:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
    body = json.loads(request.content or b"{}")
    path = request.url.path
    ok = {"status": "OK", "untrusted": False}
    if path == "/send_raw_transaction":
        tx = Transaction.from_bytes(bytes.fromhex(body["tx_as_hex"]))
        try:
            fake.submit(tx)
        except TransactionRefusedError as exc:
            return httpx.Response(200, json={"status": "Failed", "reason": exc.reason})
        return httpx.Response(200, json={**ok, "reason": "", "tx_hash": tx.txid.hex()})
    if path == "/get_transactions":
        found = fake.transactions(body["txs_hashes"])
        txs = [
            {
                "tx_hash": txid,
                "in_pool": s.in_pool,
                "block_height": s.height,
                "confirmations": s.confirmations,
                "block_timestamp": s.timestamp,
            }
            for txid, s in found.items()
        ]
        missed = [t for t in body["txs_hashes"] if t not in found]
        return httpx.Response(200, json={**ok, "txs": txs, "missed_tx": missed})
    assert path == "/json_rpc", path
    method, params = body["method"], body.get("params") or {}
    result: dict[str, Any]
    if method == "get_info":
        result = {**ok, "nettype": fake.net, "height": fake.height}
    elif method == "get_fee_estimate":
        result = {**ok, "fee": fake.fee}
    elif method == "get_address_outputs":
        if params["address"] != str(fake.address):
            error = {"code": -32602, "message": "Invalid params", "data": "not this address"}
            return httpx.Response(200, json={"jsonrpc": "2.0", "id": "0", "error": error})
        snapshot = fake.address_outputs(params["address"])
        result = {
            **ok,
            "address": params["address"],
            "outputs": [_output_json(o) for o in snapshot.outputs],
            "pool_outputs": [
                {"txid": p.outpoint.txid.hex(), "index": p.outpoint.index, "amount": p.amount}
                for p in snapshot.pool_outputs
            ],
            "height": snapshot.height,
            "top_block_hash": snapshot.top_block_hash,
        }
    elif method == "get_address_history":
        history = fake.address_history(params["address"])
        start, count = params.get("offset", 0), params.get("limit", 100)
        result = {
            **ok,
            "entries": [_entry_json(e) for e in history.entries[start : start + count]],
            "total": len(history.entries),
            "pool": [],
            "height": history.height,
        }
    else:
        error = {"code": -32601, "message": "Method not found"}
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": "0", "error": error})
    return httpx.Response(200, json={"jsonrpc": "2.0", "id": "0", "result": result})


def fake_http_node(fake: FakeNode, url: str = "http://127.0.0.1:39181") -> HttpNode:
    """An :class:`HttpNode` whose requests ``fake`` answers (no socket)."""
    return HttpNode(url, fake.net, transport=httpx.MockTransport(lambda r: serve(fake, r)))
