"""The wallet RPC: Monero wallet-rpc methods served by the node the wallet runs in.

With ``[wallet] file`` set, the wallet plugin opens that wallet when the node is built
and registers, through ``zion_register_rpc_methods``, these methods (all ``restricted``:
admin-only, as they spend the wallet's money):

``get_balance``, ``get_address``, ``transfer``, ``get_transfers``, ``get_transfer_by_txid``

with monero-wallet-rpc's field names (one account, one address: index 0). They run in
the node's RPC worker threads over a :class:`~.session.WalletSession` whose node is
:class:`~.node.LocalNode` (the chain service and the consensus plugin's address methods,
in process). ``transfer`` takes an optional ``idempotency_key``: a retried call with the
same key returns the first call's ``tx_hash`` (sending that same transaction again if the
node lost it) and never builds a second transaction; the same key with other
destinations is an error. Bad params raise :class:`ValueError` or :class:`TypeError`
(JSON-RPC -32602); refusals (too little money, locked funds, a transaction the node
refuses) raise :class:`~.errors.WalletError`, answered with their message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from zion_core import ConfigError
from zion_core.chain.transaction import MAX_OUTPUTS
from zion_hookspecs import Node, Register, RpcMethod

from .config import WalletConfig
from .journal import MAX_KEY_LENGTH, Journal, journal_path
from .node import LocalNode
from .session import TransferRecord, WalletSession
from .wallet import Wallet

SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
CATEGORIES: Final = ("in", "out", "pending", "failed", "pool")
MAX_DESTINATIONS: Final = MAX_OUTPUTS - 1


def _object(params: Any) -> dict[str, Any]:
    if params is None or params == []:
        return {}
    if not isinstance(params, dict):
        raise TypeError(f"params must be an object, not {type(params).__name__}")
    return params


def _flag(args: dict[str, Any], name: str) -> bool:
    value = args.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be true or false, not {value!r:.40}")
    return value


def _uint(args: dict[str, Any], name: str, default: int, high: int = 2**64 - 1) -> int:
    value = args.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
    if not 0 <= value <= high:
        raise ValueError(f"{name} must be in 0..{high}, not {value}")
    return value


def _account(args: dict[str, Any]) -> None:
    if _uint(args, "account_index", 0) != 0:
        raise ValueError("this wallet has one account, index 0")


class WalletRpc:
    """The wallet methods over ``session`` (see the module docstring)."""

    def __init__(self, session: WalletSession) -> None:
        self.session = session

    @property
    def address(self) -> str:
        return str(self.session.address)

    def get_balance(self, params: Any) -> dict[str, Any]:
        """``get_balance {account_index?}``."""
        _account(_object(params))
        balance = self.session.balance()
        return {
            "balance": balance.balance,
            "unlocked_balance": balance.unlocked_balance,
            "locked_balance": balance.locked_balance,
            "blocks_to_unlock": balance.blocks_to_unlock,
            "multisig_import_needed": False,
            "height": balance.height,
            "per_subaddress": [
                {
                    "account_index": 0,
                    "address_index": 0,
                    "address": self.address,
                    "balance": balance.balance,
                    "unlocked_balance": balance.unlocked_balance,
                    "label": "",
                    "num_unspent_outputs": balance.outputs,
                    "blocks_to_unlock": balance.blocks_to_unlock,
                }
            ],
        }

    def get_address(self, params: Any) -> dict[str, Any]:
        """``get_address {account_index?}``: the wallet's one address."""
        _account(_object(params))
        history = self.session.node.address_history(self.address, limit=1)
        used = bool(history.entries or history.pool)
        return {
            "address": self.address,
            "addresses": [{"address": self.address, "address_index": 0, "label": "", "used": used}],
        }

    def transfer(self, params: Any) -> dict[str, Any]:
        """``transfer {destinations: [{amount, address}], idempotency_key?, get_tx_hex?}``."""
        args = _object(params)
        destinations = _destinations(args.get("destinations"))
        key = args.get("idempotency_key")
        if key is not None and not isinstance(key, str):
            raise TypeError(f"idempotency_key must be a string, not {type(key).__name__}")
        get_tx_hex = _flag(args, "get_tx_hex")
        result = self.session.transfer(destinations, idempotency_key=key)
        tx = result.entry.tx
        blob = tx.to_bytes()
        return {
            "tx_hash": result.txid,
            "amount": result.entry.amount,
            "fee": result.entry.fee,
            "tx_key": "",
            "tx_blob": blob.hex() if get_tx_hex else "",
            "tx_metadata": "",
            "multisig_txset": "",
            "unsigned_txset": "",
            "weight": len(blob),
            "idempotency_key": result.entry.key,
            "replayed": result.replayed,
        }

    def get_transfers(self, params: Any) -> dict[str, Any]:
        """``get_transfers {in, out, pending, failed, pool, filter_by_height, min_height,
        max_height}``: the asked categories (all of them when none is asked for)."""
        args = _object(params)
        _account(args)
        wanted = [c for c in CATEGORIES if _flag(args, c)] or list(CATEGORIES)
        by_height = _flag(args, "filter_by_height")
        low = _uint(args, "min_height", 0)
        high = _uint(args, "max_height", 2**64 - 1)
        result: dict[str, list[dict[str, Any]]] = {c: [] for c in wanted}
        for record in self.session.history():
            category = _category(record)
            if category not in result:
                continue
            if by_height and category in ("in", "out") and not low < record.height <= high:
                continue
            result[category].append(record.to_json(self.address))
        return result

    def get_transfer_by_txid(self, params: Any) -> dict[str, Any]:
        """``get_transfer_by_txid {txid}``."""
        args = _object(params)
        _account(args)
        txid = args.get("txid")
        if not isinstance(txid, str):
            raise TypeError("txid must be a transaction hash (64 hex digits)")
        txid = txid.strip().lower()
        if len(txid) != 64 or any(c not in "0123456789abcdef" for c in txid):
            raise ValueError(f"txid must be 64 hex digits, not {txid!r:.80}")
        found = [r.to_json(self.address) for r in self.session.history() if r.txid == txid]
        if not found:
            raise ValueError(f"no transfer of this wallet has txid {txid}")
        return {"transfer": found[0], "transfers": found}


def _category(record: TransferRecord) -> str:
    return "in" if record.type == "block" else record.type


def _destinations(value: Any) -> list[tuple[str, int]]:
    if not isinstance(value, list) or not value:
        raise ValueError("destinations must be a non-empty list of {amount, address}")
    if len(value) > MAX_DESTINATIONS:
        raise ValueError(f"at most {MAX_DESTINATIONS} destinations, not {len(value)}")
    out: list[tuple[str, int]] = []
    for item in value:
        if not isinstance(item, dict):
            raise TypeError("each destination is an object {amount, address}")
        address, amount = item.get("address"), item.get("amount")
        if not isinstance(address, str):
            raise TypeError("a destination's address must be a string")
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise TypeError("a destination's amount must be an integer (atomic units)")
        if not 0 < amount < 2**64:
            raise ValueError(f"a destination's amount must be in 1..2^64-1, not {amount}")
        out.append((address, amount))
    return out


# ----------------------------------------------------------------------------- schemas

_U64: Final = {"type": "integer", "minimum": 0, "maximum": 2**64 - 1}
_HASH: Final = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_ACCOUNT: Final = {"account_index": {"type": "integer", "const": 0}}


def _schema(properties: dict[str, Any], required: Sequence[str] = ()) -> dict[str, Any]:
    return {
        "$schema": SCHEMA_DIALECT,
        "type": "object",
        "properties": properties,
        "required": list(required),
    }


_TRANSFER_ENTRY: Final = {
    "type": "object",
    "properties": {
        "txid": _HASH,
        "type": {"enum": ["in", "block", "out", "pending", "pool", "failed"]},
        "amount": _U64,
        "amounts": {"type": "array", "items": _U64},
        "fee": _U64,
        "height": {"type": "integer", "minimum": 0},
        "timestamp": {"type": "integer", "minimum": 0},
        "confirmations": {"type": "integer", "minimum": 0},
        "unlock_time": {"type": "integer", "minimum": 0},
        "locked": {"type": "boolean"},
        "address": {"type": "string"},
        "payment_id": {"type": "string"},
        "note": {"type": "string"},
        "double_spend_seen": {"type": "boolean"},
        "destinations": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"address": {"type": "string"}, "amount": _U64},
                "required": ["address", "amount"],
            },
        },
        "idempotency_key": {"type": "string"},
        "reason": {"type": "string"},
    },
    "required": ["txid", "type", "amount", "fee", "height", "timestamp", "confirmations"],
}

BALANCE_PARAMS: Final = _schema(_ACCOUNT)
BALANCE_RESULT: Final = _schema(
    {
        "balance": _U64,
        "unlocked_balance": _U64,
        "locked_balance": _U64,
        "blocks_to_unlock": {"type": "integer", "minimum": 0},
        "multisig_import_needed": {"const": False},
        "height": {"type": "integer", "minimum": 0},
        "per_subaddress": {"type": "array", "items": {"type": "object"}},
    },
    ["balance", "unlocked_balance", "blocks_to_unlock", "per_subaddress"],
)
ADDRESS_PARAMS: Final = _schema(_ACCOUNT)
ADDRESS_RESULT: Final = _schema(
    {
        "address": {"type": "string"},
        "addresses": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "address": {"type": "string"},
                    "address_index": {"type": "integer"},
                    "label": {"type": "string"},
                    "used": {"type": "boolean"},
                },
                "required": ["address", "address_index", "label", "used"],
            },
        },
    },
    ["address", "addresses"],
)
TRANSFER_PARAMS: Final = _schema(
    {
        "destinations": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_DESTINATIONS,
            "items": {
                "type": "object",
                "properties": {
                    "amount": {**_U64, "minimum": 1, "description": "atomic units"},
                    "address": {"type": "string"},
                },
                "required": ["amount", "address"],
            },
        },
        "idempotency_key": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_KEY_LENGTH,
            "description": (
                "a client-chosen key: a retry with the same key returns the same tx_hash "
                "and never pays twice"
            ),
        },
        "get_tx_hex": {"type": "boolean", "default": False},
    },
    ["destinations"],
)
TRANSFER_RESULT: Final = _schema(
    {
        "tx_hash": _HASH,
        "amount": _U64,
        "fee": _U64,
        "tx_key": {"type": "string"},
        "tx_blob": {"type": "string"},
        "tx_metadata": {"type": "string"},
        "multisig_txset": {"type": "string"},
        "unsigned_txset": {"type": "string"},
        "weight": {"type": "integer", "minimum": 0},
        "idempotency_key": {"type": "string"},
        "replayed": {"type": "boolean"},
    },
    ["tx_hash", "amount", "fee", "idempotency_key", "replayed"],
)
TRANSFERS_PARAMS: Final = _schema(
    {
        **{c: {"type": "boolean", "default": False} for c in CATEGORIES},
        "filter_by_height": {"type": "boolean", "default": False},
        "min_height": {**_U64, "description": "exclusive"},
        "max_height": {**_U64, "description": "inclusive"},
        **_ACCOUNT,
    }
)
TRANSFERS_RESULT: Final = _schema(
    {c: {"type": "array", "items": _TRANSFER_ENTRY} for c in CATEGORIES}
)
TRANSFER_BY_TXID_PARAMS: Final = _schema({"txid": _HASH, **_ACCOUNT}, ["txid"])
TRANSFER_BY_TXID_RESULT: Final = _schema(
    {"transfer": _TRANSFER_ENTRY, "transfers": {"type": "array", "items": _TRANSFER_ENTRY}},
    ["transfer", "transfers"],
)


def rpc_methods(api: WalletRpc) -> list[RpcMethod]:
    """The wallet methods of ``api``, restricted, with descriptions and JSON Schemas."""
    return [
        RpcMethod(
            "get_balance",
            api.get_balance,
            restricted=True,
            description=(
                "The wallet's balance and unlocked balance (atomic units), pending "
                "transactions counted as monero-wallet-rpc does."
            ),
            params_schema=BALANCE_PARAMS,
            result_schema=BALANCE_RESULT,
        ),
        RpcMethod(
            "get_address",
            api.get_address,
            restricted=True,
            description="The wallet's address (one account, one address).",
            params_schema=ADDRESS_PARAMS,
            result_schema=ADDRESS_RESULT,
        ),
        RpcMethod(
            "transfer",
            api.transfer,
            restricted=True,
            description=(
                "Pay destinations [{amount, address}] from the wallet: the transaction is "
                "journaled before it is broadcast; idempotency_key makes a retry return the "
                "same tx_hash instead of paying again."
            ),
            params_schema=TRANSFER_PARAMS,
            result_schema=TRANSFER_RESULT,
        ),
        RpcMethod(
            "get_transfers",
            api.get_transfers,
            restricted=True,
            description=(
                "The wallet's transfers by category: in, out, pending, failed, pool "
                "(all of them when none is asked for)."
            ),
            params_schema=TRANSFERS_PARAMS,
            result_schema=TRANSFERS_RESULT,
        ),
        RpcMethod(
            "get_transfer_by_txid",
            api.get_transfer_by_txid,
            restricted=True,
            description="The wallet's transfer with transaction id txid.",
            params_schema=TRANSFER_BY_TXID_PARAMS,
            result_schema=TRANSFER_BY_TXID_RESULT,
        ),
    ]


def open_session(node: Node, config: WalletConfig) -> WalletSession:
    """The configured wallet, opened, over the node it runs in."""
    assert config.file is not None
    wallet = Wallet.open(config.file, config.password())
    if wallet.network != node.network:
        raise ConfigError(
            f"[wallet] file {config.file} is a {wallet.network} wallet; this node runs "
            f"{node.network}"
        )
    journal = Journal.open(journal_path(config.file), str(wallet.address), wallet.network)
    return WalletSession(wallet.address, LocalNode(node), keys=wallet.keys, journal=journal)


def register_wallet_rpc(register: Register[RpcMethod], node: Node, config: WalletConfig) -> None:
    """Open the configured wallet and register its methods."""
    for method in rpc_methods(WalletRpc(open_session(node, config))):
        register(method)


__all__ = [
    "CATEGORIES",
    "WalletRpc",
    "open_session",
    "register_wallet_rpc",
    "rpc_methods",
]
