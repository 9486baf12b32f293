"""The address methods of the node API: what an address holds, can spend and has done.

ZION's outputs are transparent (an amount and the recipient's two address keys), so the
node can answer for any address from its address index (:mod:`.store`, tag ``A``):

``get_address_balance {address}``
    The sums of the address's unspent outputs: ``balance``, ``unlocked_balance`` (what a
    transaction in the next block may spend), ``locked_balance`` with the number of locked
    outputs, ``next_unlock_height`` and ``unlocked_height`` (when the first and the last of
    them become spendable), and what the pool is about to add or spend.
``get_address_outputs {address}``
    The unspent outputs, each with ``txid``, ``index``, ``amount``, ``height``,
    ``unlock_height``, ``coinbase``, ``spendable`` and ``spent_in_pool``, and the pooled
    outputs paying the address: what a wallet needs to build a transfer.
``get_address_history {address, offset, limit}``
    One entry per output received (``in``) or spent (``out``), oldest first, a page at a
    time, with the transaction, height, amount and confirmations; and the pooled
    transactions that pay or spend the address.

Spendability follows the chain's own rule (:func:`.chain.check_spendable`, which the
mempool applies to a transaction meant for the next block): an output is spendable at
height ``H`` once ``H - height`` reaches the coinbase maturity (coinbase outputs) or the
spendable age (others) and ``H`` reaches its unlock height. ``unlock_height`` is the first
height where both hold; ``spendable`` says whether the next block (tip + 1) is one.

Each method reads under the chain service's lock, so its numbers agree with each other
and with ``height`` and ``top_block_hash`` (a block connected meanwhile waits). Bad params
(not an object, a missing or invalid address, an address of another network, a bad
``offset`` or ``limit``) raise :class:`ValueError` or :class:`TypeError`; a node whose chain
is not open yet, or that keeps no chain, raises :class:`~zion_core.ServiceError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Final, Protocol

import attrs

from zion_core import ServiceError
from zion_core.chain.address import Address
from zion_core.chain.block import Block
from zion_core.chain.transaction import OutPoint, Transaction
from zion_hookspecs import Node, Register, RpcMethod

from . import errors
from .chain import Chain, check_spendable
from .mempool import Mempool
from .params import NetworkParams
from .store import Coin, address_key

SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
DEFAULT_HISTORY_LIMIT: Final = 100
MAX_HISTORY_LIMIT: Final = 1000
"""The most history entries one ``get_address_history`` call returns."""
MAX_OFFSET: Final = 2**63 - 1

NO_CHAIN: Final = (
    "this node keeps no chain, so it knows no address: run it with --plugin sqlite --plugin randomx"
)
NOT_OPEN: Final = "the node is starting: its chain is not open yet; retry in a moment"


class ChainServiceView(Protocol):
    """What these methods read from the ``chain`` service (:class:`.service.ChainService`)."""

    @property
    def chain(self) -> Chain | None: ...

    @property
    def mempool(self) -> Mempool | None: ...

    @property
    def lock(self) -> AbstractContextManager[Any]: ...


# ----------------------------------------------------------------------------- the rules


def unlock_height(coin: Coin, params: NetworkParams) -> int:
    """The first height at which a block may include a transaction spending ``coin``
    (the age and unlock conditions of :func:`.chain.check_spendable`)."""
    age = params.coinbase_maturity if coin.coinbase else params.spendable_age
    return max(coin.height + age, coin.unlock_time)


def is_spendable(coin: Coin, height: int, params: NetworkParams, outpoint: OutPoint) -> bool:
    """Whether a block at ``height`` may spend ``coin`` (:func:`.chain.check_spendable`)."""
    try:
        check_spendable(coin, height, params, outpoint)
    except (errors.ImmatureSpendError, errors.LockedSpendError):
        return False
    return True


@attrs.frozen
class UnspentOutput:
    """An unspent output of an address, as the chain holds it, at one tip."""

    outpoint: OutPoint
    coin: Coin
    unlock_height: int
    spendable: bool
    spent_in_pool: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "txid": self.outpoint.txid.hex(),
            "index": self.outpoint.index,
            "amount": self.coin.amount,
            "height": self.coin.height,
            "unlock_height": self.unlock_height,
            "coinbase": self.coin.coinbase,
            "spendable": self.spendable,
            "spent_in_pool": self.spent_in_pool,
        }


@attrs.frozen
class PoolView:
    """The pooled transactions that concern one address."""

    incoming: tuple[tuple[Transaction, int, int], ...]
    """(transaction, output index, amount) of every pooled output paying the address."""
    outgoing: tuple[tuple[Transaction, OutPoint, int], ...]
    """(transaction, spent output, amount) of every input spending the address's coins."""

    @property
    def spent(self) -> frozenset[OutPoint]:
        return frozenset(outpoint for _, outpoint, _ in self.outgoing)


# ----------------------------------------------------------------------------- params


def _object(params: Any, shape: str) -> dict[str, Any]:
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise TypeError(f"params must be an object {shape}, not {type(params).__name__}")
    return params


def _integer(params: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = params.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low}..{high}, not {value}")
    return value


# ----------------------------------------------------------------------------- the methods


class AddressRpc:
    """The address methods over the chain service that ``locate`` returns."""

    def __init__(self, locate: Callable[[], ChainServiceView], network: str) -> None:
        self.locate = locate
        self.network = network

    @contextmanager
    def _reading(self) -> Iterator[tuple[Chain, Mempool]]:
        """The open chain and mempool, with the service's lock held."""
        service = self.locate()
        with service.lock:
            chain, mempool = service.chain, service.mempool
            if chain is None or mempool is None:
                raise ServiceError(NOT_OPEN)
            yield chain, mempool

    def _address(self, params: Any) -> Address:
        args = _object(params, "{address}")
        text = args.get("address")
        if text is None:
            raise ValueError("missing param: address (a ZION address)")
        if not isinstance(text, str):
            raise TypeError(f"address must be a string, not {type(text).__name__}")
        return Address.parse(text.strip(), self.network)

    # -- reading the chain ------------------------------------------------------------

    @staticmethod
    def _unspent(chain: Chain, address: Address, pool: PoolView) -> list[UnspentOutput]:
        height = chain.tip.height + 1
        spent_in_pool = pool.spent
        found = []
        for _, txid, index, spent in chain.store.history(address.spend_key, address.view_key):
            if spent:
                continue
            outpoint = OutPoint(txid=txid, index=index)
            coin = chain.store.coin(outpoint)
            if coin is None:  # spent since: its "-" entry comes at the spending height
                continue
            found.append(
                UnspentOutput(
                    outpoint=outpoint,
                    coin=coin,
                    unlock_height=unlock_height(coin, chain.params),
                    spendable=is_spendable(coin, height, chain.params, outpoint),
                    spent_in_pool=outpoint in spent_in_pool,
                )
            )
        return found

    @staticmethod
    def _pool(chain: Chain, mempool: Mempool, address: Address) -> PoolView:
        """The pooled outputs paying ``address`` and pooled inputs spending its outputs.

        One pass over the pool: an input is the address's when it spends a chain coin of
        the address or an output of a pooled transaction paying the address.
        """
        owner = (address.spend_key, address.view_key)
        pooled = mempool.transactions()
        incoming: list[tuple[Transaction, int, int]] = []
        ours: dict[OutPoint, int] = {}
        for tx in pooled:
            for index, output in enumerate(tx.outputs):
                if (output.spend_key, output.view_key) == owner:
                    incoming.append((tx, index, output.amount))
                    ours[OutPoint(txid=tx.txid, index=index)] = output.amount
        outgoing: list[tuple[Transaction, OutPoint, int]] = []
        for tx in pooled:
            for outpoint in tx.inputs:
                amount = ours.get(outpoint)
                if amount is None:
                    coin = chain.store.coin(outpoint)
                    if coin is None or (coin.spend_key, coin.view_key) != owner:
                        continue
                    amount = coin.amount
                outgoing.append((tx, outpoint, amount))
        return PoolView(tuple(incoming), tuple(outgoing))

    @staticmethod
    def _tip_fields(chain: Chain) -> dict[str, Any]:
        return {"height": chain.tip.height + 1, "top_block_hash": chain.tip_id.hex()}

    # -- get_address_balance -------------------------------------------------------------

    def get_address_balance(self, params: Any) -> dict[str, Any]:
        """``get_address_balance {address}`` (see the module docstring)."""
        address = self._address(params)
        with self._reading() as (chain, mempool):
            pool = self._pool(chain, mempool, address)
            outputs = self._unspent(chain, address, pool)
            tip = self._tip_fields(chain)
        locked = [o for o in outputs if not o.spendable]
        unlocks = [o.unlock_height for o in locked]
        return {
            "address": str(address),
            "balance": sum(o.coin.amount for o in outputs),
            "unlocked_balance": sum(o.coin.amount for o in outputs if o.spendable),
            "locked_balance": sum(o.coin.amount for o in locked),
            "outputs": len(outputs),
            "locked_outputs": len(locked),
            "next_unlock_height": min(unlocks, default=0),
            "unlocked_height": max(unlocks, default=0),
            "pool_incoming": sum(amount for _, _, amount in pool.incoming),
            "pool_outgoing": sum(amount for _, _, amount in pool.outgoing),
            **tip,
            "status": "OK",
            "untrusted": False,
        }

    # -- get_address_outputs -------------------------------------------------------------

    def get_address_outputs(self, params: Any) -> dict[str, Any]:
        """``get_address_outputs {address}`` (see the module docstring)."""
        address = self._address(params)
        with self._reading() as (chain, mempool):
            pool = self._pool(chain, mempool, address)
            outputs = self._unspent(chain, address, pool)
            tip = self._tip_fields(chain)
        return {
            "address": str(address),
            "outputs": [o.to_json() for o in outputs],
            "pool_outputs": [
                {"txid": tx.txid.hex(), "index": index, "amount": amount}
                for tx, index, amount in pool.incoming
            ],
            **tip,
            "status": "OK",
            "untrusted": False,
        }

    # -- get_address_history -------------------------------------------------------------

    def get_address_history(self, params: Any) -> dict[str, Any]:
        """``get_address_history {address, offset, limit}`` (see the module docstring)."""
        address = self._address(params)
        args = _object(params, "{address, offset, limit}")
        offset = _integer(args, "offset", 0, 0, MAX_OFFSET)
        limit = _integer(args, "limit", DEFAULT_HISTORY_LIMIT, 1, MAX_HISTORY_LIMIT)
        with self._reading() as (chain, mempool):
            rows = list(chain.store.history(address.spend_key, address.view_key))
            page = rows[offset : offset + limit]
            top = chain.tip.height
            blocks = _BlockCache(chain)
            entries = [self._entry(chain, blocks, address, top, *row) for row in page]
            pool = self._pool(chain, mempool, address)
            tip = self._tip_fields(chain)
        fees = {tx.txid: tx.fee for tx, _, _ in pool.outgoing}
        pool_entries = [
            {
                "type": "in",
                "txid": tx.txid.hex(),
                "amount": amount,
                "fee": 0,
                "outpoint": {"txid": tx.txid.hex(), "index": index},
            }
            for tx, index, amount in pool.incoming
        ] + [
            {
                "type": "out",
                "txid": tx.txid.hex(),
                "amount": amount,
                "fee": fees[tx.txid],
                "outpoint": {"txid": outpoint.txid.hex(), "index": outpoint.index},
            }
            for tx, outpoint, amount in pool.outgoing
        ]
        return {
            "address": str(address),
            "entries": entries,
            "total": len(rows),
            "offset": offset,
            "limit": limit,
            "pool": pool_entries,
            **tip,
            "status": "OK",
            "untrusted": False,
        }

    @staticmethod
    def _entry(
        chain: Chain,
        blocks: _BlockCache,
        address: Address,
        top: int,
        height: int,
        txid: bytes,
        index: int,
        spent: bool,
    ) -> dict[str, Any]:
        raw = chain.store.storage.get(
            address_key(address.spend_key, address.view_key, height, txid, index, spent)
        )
        amount = int.from_bytes(raw, "big") if raw is not None else 0
        block = blocks.block(height)
        outpoint = OutPoint(txid=txid, index=index)
        if spent:
            spender = blocks.spender(height, outpoint)
            tx_hash = spender.txid if spender is not None else bytes(32)
            fee = spender.fee if spender is not None else 0
            coinbase = False
        else:
            tx_hash = txid
            fee = 0
            coinbase = block is not None and block.miner_tx.hash == txid
        return {
            "type": "out" if spent else "in",
            "txid": tx_hash.hex(),
            "height": height,
            "timestamp": block.header.timestamp if block is not None else 0,
            "confirmations": top - height + 1,
            "amount": amount,
            "fee": fee,
            "coinbase": coinbase,
            "outpoint": {"txid": txid.hex(), "index": index},
        }


class _BlockCache:
    """Main-chain blocks by height and who spent what in them, read once per call."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self._blocks: dict[int, Block | None] = {}
        self._spenders: dict[int, dict[OutPoint, Transaction]] = {}

    def block(self, height: int) -> Block | None:
        if height not in self._blocks:
            self._blocks[height] = self.chain.block_at(height)
        return self._blocks[height]

    def spender(self, height: int, outpoint: OutPoint) -> Transaction | None:
        spenders = self._spenders.get(height)
        if spenders is None:
            spenders = {}
            block = self.block(height)
            for tx_hash in block.tx_hashes if block is not None else ():
                tx = self.chain.transaction(tx_hash)
                if tx is not None:
                    spenders.update(dict.fromkeys(tx.inputs, tx))
            self._spenders[height] = spenders
        return spenders.get(outpoint)


# ----------------------------------------------------------------------------- schemas

_U64: Final = {"type": "integer", "minimum": 0, "maximum": 2**64 - 1}
_HEIGHT: Final = {"type": "integer", "minimum": 0}
_HASH: Final = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_ADDRESS: Final = {"type": "string", "description": "a ZION address of the node's network"}
_OUTPOINT: Final = {
    "type": "object",
    "properties": {"txid": _HASH, "index": {"type": "integer", "minimum": 0}},
    "required": ["txid", "index"],
}
_TIP: Final = {
    "address": _ADDRESS,
    "height": {**_HEIGHT, "description": "the number of blocks (tip height + 1)"},
    "top_block_hash": _HASH,
    "status": {"const": "OK"},
    "untrusted": {"const": False},
}
_TIP_REQUIRED: Final = ["address", "height", "top_block_hash", "status", "untrusted"]


def _params(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "$schema": SCHEMA_DIALECT,
        "type": "object",
        "properties": properties,
        "required": required,
    }


def _result(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": SCHEMA_DIALECT,
        "type": "object",
        "properties": {**properties, **_TIP},
        "required": [*properties, *_TIP_REQUIRED],
    }


ADDRESS_PARAMS_SCHEMA: Final = _params({"address": _ADDRESS}, ["address"])

BALANCE_RESULT_SCHEMA: Final = _result(
    {
        "balance": _U64,
        "unlocked_balance": _U64,
        "locked_balance": _U64,
        "outputs": {"type": "integer", "minimum": 0},
        "locked_outputs": {"type": "integer", "minimum": 0},
        "next_unlock_height": {**_HEIGHT, "description": "0 when nothing is locked"},
        "unlocked_height": {**_HEIGHT, "description": "0 when nothing is locked"},
        "pool_incoming": _U64,
        "pool_outgoing": _U64,
    }
)

OUTPUTS_RESULT_SCHEMA: Final = _result(
    {
        "outputs": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "txid": _HASH,
                    "index": {"type": "integer", "minimum": 0},
                    "amount": _U64,
                    "height": _HEIGHT,
                    "unlock_height": _HEIGHT,
                    "coinbase": {"type": "boolean"},
                    "spendable": {"type": "boolean"},
                    "spent_in_pool": {"type": "boolean"},
                },
                "required": [
                    "txid",
                    "index",
                    "amount",
                    "height",
                    "unlock_height",
                    "coinbase",
                    "spendable",
                    "spent_in_pool",
                ],
            },
        },
        "pool_outputs": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "txid": _HASH,
                    "index": {"type": "integer", "minimum": 0},
                    "amount": _U64,
                },
                "required": ["txid", "index", "amount"],
            },
        },
    }
)

HISTORY_PARAMS_SCHEMA: Final = _params(
    {
        "address": _ADDRESS,
        "offset": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
        "limit": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_HISTORY_LIMIT,
            "default": DEFAULT_HISTORY_LIMIT,
        },
    },
    ["address"],
)

_TYPE: Final = {"enum": ["in", "out"]}
HISTORY_RESULT_SCHEMA: Final = _result(
    {
        "entries": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "type": _TYPE,
                    "txid": _HASH,
                    "height": _HEIGHT,
                    "timestamp": {"type": "integer", "minimum": 0},
                    "confirmations": {"type": "integer", "minimum": 1},
                    "amount": _U64,
                    "fee": _U64,
                    "coinbase": {"type": "boolean"},
                    "outpoint": _OUTPOINT,
                },
                "required": [
                    "type",
                    "txid",
                    "height",
                    "timestamp",
                    "confirmations",
                    "amount",
                    "fee",
                    "coinbase",
                    "outpoint",
                ],
            },
        },
        "total": {"type": "integer", "minimum": 0},
        "offset": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
        "limit": {"type": "integer", "minimum": 1, "maximum": MAX_HISTORY_LIMIT},
        "pool": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "type": _TYPE,
                    "txid": _HASH,
                    "amount": _U64,
                    "fee": _U64,
                    "outpoint": _OUTPOINT,
                },
                "required": ["type", "txid", "amount", "fee", "outpoint"],
            },
        },
    }
)


# ----------------------------------------------------------------------------- registration


def chain_service_locator(node: Node) -> Callable[[], ChainServiceView]:
    """A function returning the node's ``chain`` service (looked up at each call)."""

    def locate() -> ChainServiceView:
        services = node.registry("service")
        if "chain" not in services.names():
            raise ServiceError(NO_CHAIN)
        service: ChainServiceView = services.get("chain")
        return service

    return locate


def rpc_methods(api: AddressRpc) -> list[RpcMethod]:
    """The address methods of ``api`` with their descriptions and JSON Schemas."""
    return [
        RpcMethod(
            "get_address_balance",
            api.get_address_balance,
            description=(
                "The balance of an address: the sum of its unspent outputs, what the next "
                "block may spend (unlocked_balance), what is still locked and until which "
                "heights, and what pooled transactions add or spend (atomic units)."
            ),
            params_schema=ADDRESS_PARAMS_SCHEMA,
            result_schema=BALANCE_RESULT_SCHEMA,
        ),
        RpcMethod(
            "get_address_outputs",
            api.get_address_outputs,
            description=(
                "The unspent outputs of an address (txid, index, amount, height, "
                "unlock_height, coinbase, spendable, spent_in_pool) and the pooled outputs "
                "paying it: what a wallet needs to build a transfer."
            ),
            params_schema=ADDRESS_PARAMS_SCHEMA,
            result_schema=OUTPUTS_RESULT_SCHEMA,
        ),
        RpcMethod(
            "get_address_history",
            api.get_address_history,
            description=(
                "The outputs an address received (in) and spent (out), oldest first, a page "
                f"of at most {MAX_HISTORY_LIMIT} entries from offset, with the pooled "
                "transactions paying or spending it."
            ),
            params_schema=HISTORY_PARAMS_SCHEMA,
            result_schema=HISTORY_RESULT_SCHEMA,
        ),
    ]


def register_rpc_methods(register: Register[RpcMethod], node: Node) -> None:
    """Register the address methods over ``node``'s chain service."""
    for method in rpc_methods(AddressRpc(chain_service_locator(node), node.network)):
        register(method)


__all__ = [
    "BALANCE_RESULT_SCHEMA",
    "DEFAULT_HISTORY_LIMIT",
    "HISTORY_PARAMS_SCHEMA",
    "HISTORY_RESULT_SCHEMA",
    "MAX_HISTORY_LIMIT",
    "OUTPUTS_RESULT_SCHEMA",
    "AddressRpc",
    "ChainServiceView",
    "PoolView",
    "UnspentOutput",
    "chain_service_locator",
    "is_spendable",
    "register_rpc_methods",
    "rpc_methods",
    "unlock_height",
]
