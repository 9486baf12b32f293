"""The node API: monerod's daemon RPC methods over the node's chain service.

Every method here is synchronous and may block (store reads, RandomX verification of a
submitted block): the HTTP layer calls them in worker threads. They take decoded JSON
params and return JSON-shaped results with monerod's field names, or raise
:class:`~.errors.RpcError` with monerod's codes.

The chain service belongs to the consensus plugin; this module does not import it. It
uses the objects the service hands out (``chain``, ``mempool``, ``chain.params``,
``chain.store.meta(...)``) through the small protocols below.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final, Protocol

from zion_core import SerializationError, ValidationError, ZionError
from zion_core.chain.address import Address, InvalidAddressError
from zion_core.chain.block import Block
from zion_core.chain.transaction import Transaction
from zion_core.sync import ALONE, mining_allowed, node_sync_status
from zion_hookspecs import Node, SyncStatus

from . import codec
from .errors import (
    BLOCK_NOT_ACCEPTED,
    INTERNAL,
    TOO_BIG_HEIGHT,
    TOO_BIG_RESERVE_SIZE,
    WRONG_BLOCKBLOB,
    WRONG_PARAM,
    WRONG_WALLET_ADDRESS,
    RpcError,
    core_busy,
)

LOW64: Final = (1 << 64) - 1
MAX_RESERVE_SIZE: Final = 255
"""monerod's limit on ``reserve_size`` (and the extra nonce's length)."""
MAX_HEADERS_RANGE: Final = 1000
"""At most this many headers per ``get_block_headers_range`` (monerod's restricted limit)."""
TEMPLATE_ROOM: Final = 8192
"""Bytes of the maximum block size kept free of pooled transactions in a template
(header, miner transaction and its reserved space)."""
RPC_VERSION: Final = (3 << 16) | 14
"""What ``get_version`` reports: monerod's RPC version that these shapes follow (3.14)."""
STANDALONE: Final = SyncStatus(
    synchronized=True, height=0, target_height=0, busy=False, outgoing=0, incoming=0, detail=ALONE
)
"""The sync status of an API served without a node (tests): its own network."""

try:
    ZION_VERSION = version("zion")
except PackageNotFoundError:  # pragma: no cover - a source checkout without metadata
    ZION_VERSION = "0+unknown"


class ChainLike(Protocol):
    """What this plugin reads from the consensus plugin's chain."""

    params: Any
    store: Any

    @property
    def tip_id(self) -> bytes: ...

    @property
    def tip(self) -> Any: ...

    def block(self, block_id: bytes) -> Block | None: ...

    def transaction(self, txid: bytes) -> Transaction | None: ...

    def is_main(self, block_id: bytes) -> bool: ...

    def next_difficulty(self, prev_id: bytes) -> int: ...

    def template(
        self,
        spend_key: bytes,
        view_key: bytes,
        txs: Sequence[Transaction] = (),
        *,
        reserve_size: int = 0,
        timestamp: int | None = None,
    ) -> Any: ...


class ChainServiceLike(Protocol):
    """The ``chain`` service as this plugin uses it (``lock``: held around reads that
    must agree with each other, such as a template and the pooled transactions in it)."""

    lock: Any

    @property
    def chain(self) -> Any: ...

    @property
    def mempool(self) -> Any: ...

    def submit_block(self, block: Block, txs: Mapping[bytes, Transaction] = ..., /) -> Any: ...

    def submit_transaction(self, tx: Transaction, /) -> bool: ...


def seed_height(height: int, epoch: int, lag: int) -> int:
    """monerod's ``rx_seedheight``: the height whose block id keys RandomX at ``height``."""
    if height <= epoch + lag:
        return 0
    return (height - lag - 1) & ~(epoch - 1)


def wide(value: int) -> str:
    """monerod's ``wide_*`` form of a 128-bit number: ``0x`` and hex digits."""
    return hex(value)


def ok(**fields: Any) -> dict[str, Any]:
    """A result object with ``status: "OK"`` and ``untrusted: false``."""
    return {**fields, "status": "OK", "untrusted": False}


# the flags of /send_raw_transaction, by the consensus error's class name
_TX_FLAGS: Final = {
    "DoubleSpendError": "double_spend",
    "DuplicateTransactionError": "double_spend",
    "FeeTooLowError": "fee_too_low",
    "PoolFullError": "fee_too_low",
    "UnknownInputError": "invalid_input",
    "ImmatureSpendError": "invalid_input",
    "LockedSpendError": "invalid_input",
    "BadSignatureError": "invalid_input",
    "ZeroAmountError": "invalid_output",
    "AmountOverflowError": "invalid_output",
    "UnbalancedTransactionError": "overspend",
    "EmptyTransactionError": "too_few_outputs",
}
TX_FLAG_NAMES: Final = (
    "double_spend",
    "fee_too_low",
    "invalid_input",
    "invalid_output",
    "low_mixin",
    "not_relayed",
    "overspend",
    "sanity_check_failed",
    "too_big",
    "too_few_outputs",
    "tx_extra_too_big",
)


class NodeApi:
    """monerod's daemon RPC over a ``chain`` service, for one network.

    ``node``, when given, tells whether the chain is synchronized with its network
    (:func:`zion_core.sync.node_sync_status`): ``get_info`` reports it, and templates and
    blocks are refused with ``Core is busy`` while mining is not allowed
    (:func:`zion_core.sync.mining_allowed`). Without it the API is its own network.
    """

    INLINE: Final = frozenset(
        {
            "get_info",
            "getinfo",
            "get_block_count",
            "getblockcount",
            "get_last_block_header",
            "getlastblockheader",
            "get_fee_estimate",
            "get_version",
            "get_block_template",
            "getblocktemplate",
        }
    )
    """Methods cheap enough to run on the event loop: they read the chain's in-memory
    caches (the tip, its metadata, the difficulty window, the height index), the pool and
    this object's caches, and take microseconds (a template about 0.1 ms); a worker
    thread would cost more than the call."""

    def __init__(self, service: ChainServiceLike, network: str, node: Node | None = None) -> None:
        self.service = service
        self.network = network
        self.node = node
        self.start_time = int(time.time())
        # pools and miners send the same address with every template request
        self._parse_address = functools.lru_cache(maxsize=256)(self._address)
        self._difficulty: tuple[bytes, int] | None = None
        self._tip_header: tuple[bytes, dict[str, Any]] | None = None

    def _address(self, text: str) -> Address:
        return Address.parse(text, self.network)

    def _next_difficulty(self, chain: ChainLike, tip_id: bytes) -> int:
        """The difficulty of the block after ``tip_id``, kept while the tip stays."""
        cached = self._difficulty
        if cached is not None and cached[0] == tip_id:
            return cached[1]
        difficulty = chain.next_difficulty(tip_id)
        self._difficulty = (tip_id, difficulty)
        return difficulty

    # -- plumbing ------------------------------------------------------------------------

    def _chain(self) -> ChainLike:
        chain = self.service.chain
        if chain is None:
            raise core_busy()
        result: ChainLike = chain
        return result

    def _mempool(self) -> Any:
        mempool = self.service.mempool
        if mempool is None:
            raise core_busy()
        return mempool

    def _sync(self) -> SyncStatus:
        return STANDALONE if self.node is None else node_sync_status(self.node)

    def _check_mining(self) -> None:
        """``Core is busy`` (with the reason as ``data.reason``) while the node may not
        mine: not synchronized with its network, outside devnet (monerod's answer to
        templates and blocks while it synchronizes)."""
        if self.node is None:
            return
        allowed, reason = mining_allowed(self.node)
        if not allowed:
            raise core_busy(reason)

    def methods(self) -> dict[str, Callable[[Any], Any]]:
        """The JSON-RPC methods by name, squashed aliases included."""
        table: dict[str, Callable[[Any], Any]] = {
            "get_info": self.get_info,
            "get_block_count": self.get_block_count,
            "on_get_block_hash": self.on_get_block_hash,
            "get_block_template": self.get_block_template,
            "submit_block": self.submit_block,
            "get_last_block_header": self.get_last_block_header,
            "get_block_header_by_height": self.get_block_header_by_height,
            "get_block_header_by_hash": self.get_block_header_by_hash,
            "get_block_headers_range": self.get_block_headers_range,
            "get_block": self.get_block,
            "get_fee_estimate": self.get_fee_estimate,
            "get_version": self.get_version,
        }
        aliases = {
            "getinfo": "get_info",
            "getblockcount": "get_block_count",
            "on_getblockhash": "on_get_block_hash",
            "getblocktemplate": "get_block_template",
            "submitblock": "submit_block",
            "getlastblockheader": "get_last_block_header",
            "getblockheaderbyheight": "get_block_header_by_height",
            "getblockheaderbyhash": "get_block_header_by_hash",
            "getblockheadersrange": "get_block_headers_range",
            "getblock": "get_block",
        }
        return {**table, **{alias: table[name] for alias, name in aliases.items()}}

    def _meta(self, chain: ChainLike, block_id: bytes) -> Any:
        meta = chain.store.meta(block_id)
        if meta is None:
            raise RpcError(
                INTERNAL, f"Internal error: can't get block by hash. Hash = {block_id.hex()}."
            )
        return meta

    def _id_at(self, chain: ChainLike, height: int) -> bytes:
        if isinstance(height, bool) or not isinstance(height, int) or height < 0:
            raise RpcError(WRONG_PARAM, f"Wrong height {height!r}")
        top = chain.tip.height
        if height > top:
            raise RpcError(
                TOO_BIG_HEIGHT,
                f"Requested block height: {height} greater than current top block height: {top}",
            )
        block_id = chain.store.id_at(height)
        if block_id is None:  # a reorganisation between the two reads
            raise core_busy()
        result: bytes = block_id
        return result

    def block_header(
        self, chain: ChainLike, block_id: bytes, *, tip_height: int | None = None
    ) -> dict[str, Any]:
        """monerod's ``block_header_response`` of a stored block."""
        block = chain.block(block_id)
        meta = self._meta(chain, block_id)
        if block is None:
            raise RpcError(
                INTERNAL, f"Internal error: can't get block by hash. Hash = {block_id.hex()}."
            )
        top = chain.tip.height if tip_height is None else tip_height
        size = meta.size
        cumulative = meta.cumulative_difficulty
        difficulty = meta.difficulty
        return {
            "block_size": size,
            "block_weight": size,
            "long_term_weight": size,
            "cumulative_difficulty": cumulative & LOW64,
            "cumulative_difficulty_top64": cumulative >> 64,
            "wide_cumulative_difficulty": wide(cumulative),
            "depth": max(0, top - meta.height),
            "difficulty": difficulty & LOW64,
            "difficulty_top64": difficulty >> 64,
            "wide_difficulty": wide(difficulty),
            "hash": block_id.hex(),
            "height": meta.height,
            "major_version": block.header.major_version,
            "minor_version": block.header.minor_version,
            "miner_tx_hash": block.miner_tx.hash.hex(),
            "nonce": block.header.nonce,
            "num_txes": len(block.tx_hashes),
            "orphan_status": not chain.is_main(block_id),
            "pow_hash": "",
            "prev_hash": block.header.prev_id.hex(),
            "reward": block.miner_tx.amount,
            "timestamp": block.header.timestamp,
        }

    # -- chain state ---------------------------------------------------------------------

    def get_info(self, params: Any = None) -> dict[str, Any]:
        """``get_info`` (also ``GET /get_info``)."""
        chain = self._chain()
        mempool = self._mempool()
        tip_id = chain.tip_id
        tip = self._meta(chain, tip_id)
        difficulty = self._next_difficulty(chain, tip_id)
        cumulative = tip.cumulative_difficulty
        limit = chain.params.max_block_size
        height = tip.height + 1
        sync = self._sync()
        return ok(
            adjusted_time=int(time.time()),
            alt_blocks_count=0,
            block_size_limit=limit,
            block_size_median=limit // 2,
            block_weight_limit=limit,
            block_weight_median=limit // 2,
            bootstrap_daemon_address="",
            busy_syncing=sync.busy,
            credits=0,
            cumulative_difficulty=cumulative & LOW64,
            cumulative_difficulty_top64=cumulative >> 64,
            wide_cumulative_difficulty=wide(cumulative),
            database_size=0,
            difficulty=difficulty & LOW64,
            difficulty_top64=difficulty >> 64,
            wide_difficulty=wide(difficulty),
            free_space=0,
            grey_peerlist_size=0,
            height=height,
            height_without_bootstrap=height,
            incoming_connections_count=sync.incoming,
            mainnet=self.network == "mainnet",
            nettype=self.network,
            offline=False,
            outgoing_connections_count=sync.outgoing,
            restricted=False,
            rpc_connections_count=0,
            stagenet=False,
            start_time=self.start_time,
            synchronized=sync.synchronized,
            target=chain.params.target_seconds,
            target_height=max(height, sync.target_height),
            testnet=self.network == "testnet",
            top_block_hash=tip_id.hex(),
            top_hash="",
            tx_pool_size=len(mempool),
            update_available=False,
            version=ZION_VERSION,
            was_bootstrap_ever_used=False,
            white_peerlist_size=0,
        )

    def get_height(self) -> dict[str, Any]:
        """``GET /get_height``: the number of blocks (tip height + 1) and the tip's id."""
        chain = self._chain()
        tip_id = chain.tip_id
        meta = self._meta(chain, tip_id)
        return ok(height=meta.height + 1, hash=tip_id.hex())

    def get_block_count(self, params: Any = None) -> dict[str, Any]:
        """``get_block_count``: the number of blocks in the main chain."""
        return ok(count=self._chain().tip.height + 1)

    def on_get_block_hash(self, params: Any) -> str:
        """``on_get_block_hash [height]``: the id of the main-chain block at ``height``."""
        if not isinstance(params, list) or len(params) != 1:
            raise RpcError(WRONG_PARAM, "Wrong parameters, expected height")
        return self._id_at(self._chain(), params[0]).hex()

    def get_fee_estimate(self, params: Any = None) -> dict[str, Any]:
        """``get_fee_estimate``: the network's minimum fee (a flat fee, not per byte)."""
        fee = int(self._chain().params.min_fee)
        return ok(fee=fee, fees=[fee, fee, fee, fee], quantization_mask=1)

    def get_version(self, params: Any = None) -> dict[str, Any]:
        """``get_version``: the RPC version and the node's height."""
        chain = self._chain()
        height = chain.tip.height + 1
        return ok(
            version=RPC_VERSION,
            release=True,
            current_height=height,
            target_height=max(height, self._sync().target_height),
            hard_forks=[],
            zion_version=ZION_VERSION,
        )

    # -- headers and blocks --------------------------------------------------------------

    def get_last_block_header(self, params: Any = None) -> dict[str, Any]:
        """``get_last_block_header``."""
        chain = self._chain()
        tip_id = chain.tip_id
        cached = self._tip_header
        if cached is None or cached[0] != tip_id:
            cached = self._tip_header = (tip_id, self.block_header(chain, tip_id))
        return ok(block_header=dict(cached[1]))

    def get_block_header_by_height(self, params: Any) -> dict[str, Any]:
        """``get_block_header_by_height {height}``."""
        args = codec.structure(params, codec.HeightParams)
        chain = self._chain()
        return ok(block_header=self.block_header(chain, self._id_at(chain, args.height)))

    def get_block_header_by_hash(self, params: Any) -> dict[str, Any]:
        """``get_block_header_by_hash {hash}`` (side-chain blocks too: ``orphan_status``)."""
        args = codec.structure(params, codec.HashParams)
        chain = self._chain()
        return ok(block_header=self.block_header(chain, codec.parse_hash(args.hash, "block hash")))

    def get_block_headers_range(self, params: Any) -> dict[str, Any]:
        """``get_block_headers_range {start_height, end_height}`` (inclusive)."""
        args = codec.structure(params, codec.RangeParams)
        chain = self._chain()
        top = chain.tip.height
        if args.start_height < 0 or args.end_height < args.start_height or args.end_height > top:
            raise RpcError(TOO_BIG_HEIGHT, "Invalid start/end heights.")
        if args.end_height - args.start_height + 1 > MAX_HEADERS_RANGE:
            raise RpcError(TOO_BIG_HEIGHT, "Too many block headers requested.")
        headers = [
            self.block_header(chain, self._id_at(chain, h), tip_height=top)
            for h in range(args.start_height, args.end_height + 1)
        ]
        return ok(headers=headers)

    def get_block(self, params: Any) -> dict[str, Any]:
        """``get_block {height | hash}``: the blob, its JSON, the header and the tx ids."""
        args = codec.structure(params, codec.BlockParams)
        chain = self._chain()
        if args.hash:
            block_id = codec.parse_hash(args.hash, "block hash")
        elif args.height is not None:
            block_id = self._id_at(chain, args.height)
        else:
            raise RpcError(WRONG_PARAM, "Wrong parameters, expected height or hash")
        header = self.block_header(chain, block_id)
        block = chain.block(block_id)
        assert block is not None  # block_header checked it
        return ok(
            blob=block.to_bytes().hex(),
            block_header=header,
            json=json.dumps(block_json(block), indent=2),
            miner_tx_hash=block.miner_tx.hash.hex(),
            tx_hashes=[h.hex() for h in block.tx_hashes],
        )

    # -- mining --------------------------------------------------------------------------

    def get_block_template(self, params: Any) -> dict[str, Any]:
        """``get_block_template {wallet_address, reserve_size | extra_nonce}``; ``Core is
        busy`` while the node may not mine (not synchronized)."""
        self._check_mining()
        args = codec.structure(params, codec.BlockTemplateParams)
        try:
            address = self._parse_address(args.wallet_address)
        except InvalidAddressError:
            raise RpcError(WRONG_WALLET_ADDRESS, "Failed to parse wallet address") from None
        if args.reserve_size is not None and args.extra_nonce is not None:
            raise RpcError(
                TOO_BIG_RESERVE_SIZE, "Cannot specify both a reserve_size and an extra_nonce"
            )
        nonce = b""
        if args.extra_nonce is not None:
            try:
                nonce = bytes.fromhex(args.extra_nonce)
            except ValueError:
                raise RpcError(WRONG_PARAM, "Failed to parse extra nonce") from None
        reserve = len(nonce) if args.extra_nonce is not None else (args.reserve_size or 0)
        if not 0 <= reserve <= MAX_RESERVE_SIZE:
            raise RpcError(
                TOO_BIG_RESERVE_SIZE, f"Too big reserved size, maximum {MAX_RESERVE_SIZE}"
            )
        chain = self._chain()
        mempool = self._mempool()
        with self.service.lock:
            txs = mempool.select(max(0, chain.params.max_block_size - TEMPLATE_ROOM))
            template = chain.template(
                address.spend_key, address.view_key, txs, reserve_size=reserve
            )
        block: Block = template.block
        if nonce:
            block = block.with_extra_nonce(nonce)
        height: int = template.height
        epoch, lag = chain.params.seed_epoch, chain.params.seed_lag
        seed_meta = chain.store.meta(template.seed_hash)
        next_seed_hash = ""
        current_seed = seed_height(height, epoch, lag)
        upcoming = seed_height(height + lag, epoch, lag)
        if upcoming != current_seed:
            next_id = chain.store.id_at(upcoming)
            next_seed_hash = next_id.hex() if next_id is not None else ""
        difficulty: int = template.difficulty
        offset = block.reserved_offset
        return ok(
            blockhashing_blob=block.hashing_blob().hex(),
            blocktemplate_blob=block.to_bytes().hex(),
            difficulty=difficulty & LOW64,
            difficulty_top64=difficulty >> 64,
            wide_difficulty=wide(difficulty),
            expected_reward=block.miner_tx.amount,
            height=height,
            next_seed_hash=next_seed_hash,
            prev_hash=block.header.prev_id.hex(),
            reserved_offset=offset if offset is not None else 0,
            seed_hash=template.seed_hash.hex(),
            seed_height=seed_meta.height if seed_meta is not None else current_seed,
        )

    def submit_block(self, params: Any) -> dict[str, Any]:
        """``submit_block [blob]``: verify (RandomX) and add a mined block; ``Core is busy``
        while the node may not mine (not synchronized)."""
        self._check_mining()
        if not isinstance(params, list) or len(params) != 1:
            raise RpcError(WRONG_PARAM, "Wrong param")
        blob = params[0]
        try:
            if not isinstance(blob, str):
                raise ValueError
            block = Block.from_bytes(bytes.fromhex(blob))
        except (ValueError, SerializationError):
            raise RpcError(WRONG_BLOCKBLOB, "Wrong block blob") from None
        self._chain()
        try:
            result = self.service.submit_block(block, {})
        except ValidationError as exc:
            raise RpcError(
                BLOCK_NOT_ACCEPTED,
                "Block not accepted",
                {"reason": str(exc), "error": type(exc).__name__},
            ) from None
        except SerializationError:
            raise RpcError(WRONG_BLOCKBLOB, "Wrong block blob") from None
        return ok(block_id=block.id.hex(), block_status=str(result.status))

    # -- transactions --------------------------------------------------------------------

    def send_raw_transaction(self, params: Any) -> dict[str, Any]:
        """``POST /send_raw_transaction {tx_as_hex}``: add a transaction to the mempool.

        Always answers an object: ``status: "Failed"`` with ``reason`` and monerod's flags
        when the transaction is refused (flags chosen by the consensus error's class name).
        """
        flags = dict.fromkeys(TX_FLAG_NAMES, False)
        try:
            args = codec.structure(params, codec.SendRawTransactionParams)
        except RpcError as exc:
            return {
                **flags,
                "status": "Failed",
                "reason": f"{exc.message}: {exc.data}",
                "untrusted": False,
            }
        try:
            tx = Transaction.from_bytes(bytes.fromhex(args.tx_as_hex))
        except (ValueError, SerializationError) as exc:
            flags["too_big" if type(exc).__name__ == "TooLongError" else "sanity_check_failed"] = (
                True
            )
            return {
                **flags,
                "status": "Failed",
                "reason": f"Failed to parse transaction: {exc}",
                "untrusted": False,
            }
        self._mempool()
        try:
            pooled = self.service.submit_transaction(tx)
        except ValidationError as exc:
            flag = _TX_FLAGS.get(type(exc).__name__, "sanity_check_failed")
            flags[flag] = True
            return {**flags, "status": "Failed", "reason": str(exc), "untrusted": False}
        except ZionError as exc:
            flags["sanity_check_failed"] = True
            return {**flags, "status": "Failed", "reason": str(exc), "untrusted": False}
        flags["not_relayed"] = bool(args.do_not_relay)
        reason = "" if pooled else "kept as an orphan until its parent transaction arrives"
        return {
            **flags,
            "status": "OK",
            "reason": reason,
            "tx_hash": tx.txid.hex(),
            "untrusted": False,
        }

    def get_transactions(self, params: Any) -> dict[str, Any]:
        """``POST /get_transactions {txs_hashes}``: pooled and mined transactions."""
        args = codec.structure(params, codec.GetTransactionsParams)
        chain = self._chain()
        mempool = self._mempool()
        txs: list[dict[str, Any]] = []
        missed: list[str] = []
        top = chain.tip.height
        for text in args.txs_hashes:
            txid = codec.parse_hash(text, "transaction hash")
            pooled = mempool.get(txid)
            if pooled is not None:
                txs.append(_tx_entry(pooled, in_pool=True, height=0, confirmations=0, timestamp=0))
                continue
            tx = chain.transaction(txid)
            block_id = chain.store.tx_block(txid) if tx is not None else None
            meta = chain.store.meta(block_id) if block_id is not None else None
            if tx is None or block_id is None or meta is None or not chain.is_main(block_id):
                missed.append(text)
                continue
            txs.append(
                _tx_entry(
                    tx,
                    in_pool=False,
                    height=meta.height,
                    confirmations=top - meta.height + 1,
                    timestamp=meta.timestamp,
                )
            )
        return ok(txs=txs, txs_as_hex=[t["as_hex"] for t in txs], missed_tx=missed)

    def get_transaction_pool(self, params: Any = None) -> dict[str, Any]:
        """``/get_transaction_pool``: the pooled transactions (no key images: ZION has none)."""
        mempool = self._mempool()
        transactions = [
            {
                "id_hash": tx.txid.hex(),
                "tx_blob": tx.to_bytes().hex(),
                "blob_size": len(tx.to_bytes()),
                "weight": len(tx.to_bytes()),
                "fee": tx.fee,
                "relayed": True,
                "do_not_relay": False,
                "double_spend_seen": False,
                "kept_by_block": False,
            }
            for tx in mempool.transactions()
        ]
        return ok(transactions=transactions, spent_key_images=[])


def _tx_entry(
    tx: Transaction, *, in_pool: bool, height: int, confirmations: int, timestamp: int
) -> dict[str, Any]:
    return {
        "as_hex": tx.to_bytes().hex(),
        "as_json": "",
        "tx_hash": tx.txid.hex(),
        "in_pool": in_pool,
        "block_height": height,
        "block_timestamp": timestamp,
        "confirmations": confirmations,
        "double_spend_seen": False,
    }


def block_json(block: Block) -> dict[str, Any]:
    """The block as monerod's ``get_block`` ``json`` field describes it."""
    miner = block.miner_tx
    target: dict[str, Any] = (
        {"tagged_key": {"key": miner.key.hex(), "view_tag": f"{miner.view_tag:02x}"}}
        if miner.view_tag is not None
        else {"key": miner.key.hex()}
    )
    return {
        "major_version": block.header.major_version,
        "minor_version": block.header.minor_version,
        "timestamp": block.header.timestamp,
        "prev_id": block.header.prev_id.hex(),
        "nonce": block.header.nonce,
        "miner_tx": {
            "version": miner.version,
            "unlock_time": miner.unlock_time,
            "vin": [{"gen": {"height": miner.height}}],
            "vout": [{"amount": miner.amount, "target": target}],
            "extra": list(miner.extra),
            "rct_signatures": {"type": 0},
        },
        "tx_hashes": [h.hex() for h in block.tx_hashes],
    }


__all__ = ["ChainLike", "ChainServiceLike", "NodeApi", "block_json", "seed_height"]
