"""The chain: blocks accepted or rejected, the best chain chosen, reorganisations undone.

:class:`Chain` keeps the main chain and side branches in a key-value store (see
:mod:`.store`). A block is checked context-free first (:mod:`.validation`), then against
its parent (timestamp, difficulty, proof of work, seed), then, when it extends the main
chain, against the coins it spends. A branch that becomes heavier than the main chain
(cumulative difficulty) replaces it: the main chain's blocks back to the fork are
disconnected with their undo data and the branch's blocks connected, each as one atomic
batch, so a crash at any instant leaves a valid chain behind.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Literal, Protocol

import attrs

from zion_core.chain.block import Block, BlockHeader, MinerTx
from zion_core.chain.transaction import OutPoint, Transaction
from zion_core.progress import progress
from zion_hookspecs import Storage

from . import errors
from .difficulty import next_difficulty
from .emission import block_reward
from .params import NetworkParams
from .seeds import seed_height
from .store import (
    ADDRESS,
    BLOCK,
    INVALID,
    META,
    TIP,
    TX,
    TX_BLOCK,
    UNDO,
    BlockMeta,
    ChainStore,
    Coin,
    address_key,
    coin_key,
    encode_undo,
    height_key,
    stored_key,
    stored_prefix,
)
from .timestamps import check_timestamp, minimum_timestamp
from .validation import check_block, check_transaction, verify_signatures

logger = logging.getLogger(__name__)

POW_LIMIT = 1 << 256
REORG_PROGRESS_BLOCKS = 32
"""A reorganisation of at least this many blocks (disconnected plus connected) shows
its progress: a bar on a terminal, log lines elsewhere."""
MAX_LOCATOR = 64
"""The most block ids :meth:`Chain.locator` gives."""
MAX_HEADER_BLOBS = 2000
"""The most hashing blobs :meth:`Chain.header_blobs` gives at once."""


class Hasher(Protocol):
    """What the chain needs from a hashing backend: RandomX with an explicit key."""

    def hash(self, blob: bytes, *, key: bytes | None = None) -> bytes: ...


def meets_difficulty(pow_hash: bytes, difficulty: int) -> bool:
    """CryptoNote's check: the hash, read as a little-endian integer, times the
    difficulty stays below 2^256."""
    return int.from_bytes(pow_hash, "little") * difficulty < POW_LIMIT


@attrs.frozen
class BlockTemplate:
    """A block to mine: find a nonce whose RandomX hash (key ``seed_hash``) meets
    ``difficulty``."""

    block: Block
    height: int
    difficulty: int
    seed_hash: bytes
    reward: int


@attrs.frozen
class AddResult:
    """What became of a block given to :meth:`Chain.add_block`."""

    status: Literal["connected", "side", "known"]
    block_id: bytes
    height: int
    disconnected: tuple[bytes, ...] = ()
    """Main-chain block ids removed by a reorganisation, tip first."""
    connected: tuple[bytes, ...] = ()
    """Block ids added to the main chain, in order (the new block last)."""
    returned_txs: tuple[Transaction, ...] = ()
    """Transactions of disconnected blocks that are not in the new chain (for the mempool)."""


@attrs.frozen
class BatchResult:
    """What became of the blocks given to ``ChainService.submit_blocks``: one result per
    block added, in order, up to the first invalid block (``failed``, refused with
    ``error``); the blocks after it were not tried."""

    results: tuple[AddResult, ...]
    failed: bytes | None = None
    error: errors.ConsensusError | None = None


class Chain:
    """The block chain of one network over one store; thread-safe (one writer at a time)."""

    def __init__(
        self,
        params: NetworkParams,
        storage: Storage,
        hasher: Hasher,
        *,
        clock: Callable[[], float] = time.time,
        genesis: Block | None = None,
    ) -> None:
        self.params = params
        self.storage = storage
        self.store = ChainStore(storage)
        self.hasher = hasher
        self.clock = clock
        self._lock = threading.RLock()
        self.genesis = genesis if genesis is not None else build_genesis(params)
        tip = self.store.tip_id()
        if tip is None:
            self._store_genesis()
        elif self.store.id_at(0) != self.genesis.id:
            raise errors.WrongGenesisError(
                f"the store holds another chain (genesis {self.store.id_at(0)!r:.20}); "
                f"this is {params.name}, genesis {self.genesis.id.hex()}"
            )
        else:
            self._adopt_best()  # a reorganisation cut short by a crash is finished now

    # -- reading --------------------------------------------------------------------------

    @property
    def tip_id(self) -> bytes:
        tip = self.store.tip_id()
        assert tip is not None
        return tip

    @property
    def tip(self) -> BlockMeta:
        meta = self.store.meta(self.tip_id)
        assert meta is not None
        return meta

    @property
    def height(self) -> int:
        return self.tip.height

    def block(self, block_id: bytes) -> Block | None:
        raw = self.store.block_bytes(block_id)
        return Block.from_bytes(raw) if raw is not None else None

    def block_at(self, height: int) -> Block | None:
        block_id = self.store.id_at(height)
        return self.block(block_id) if block_id is not None else None

    def transaction(self, txid: bytes) -> Transaction | None:
        raw = self.store.tx_bytes(txid)
        return Transaction.from_bytes(raw) if raw is not None else None

    def coin(self, outpoint: OutPoint) -> Coin | None:
        return self.store.coin(outpoint)

    def is_main(self, block_id: bytes) -> bool:
        meta = self.store.meta(block_id)
        return meta is not None and self.store.id_at(meta.height) == block_id

    def has_block(self, block_id: bytes) -> bool:
        """Whether the block is stored (on the main chain or a side branch)."""
        with self._lock:
            return self.store.meta(block_id) is not None

    def is_invalid(self, block_id: bytes) -> bool:
        """Whether the block was found invalid once stored (a branch whose reorganisation
        failed: the failing block and its descendants). A block refused by
        :meth:`add_block` is not stored, so not remembered."""
        with self._lock:
            return self.storage.get(INVALID + block_id) is not None

    # -- synchronising with peers -----------------------------------------------------------

    def locator(self) -> list[bytes]:
        """Main-chain block ids for a peer to find where our chains part: the tip and the
        nine blocks below it, then blocks at doubling steps further down, always ending
        with the genesis block (at most :data:`MAX_LOCATOR`)."""
        with self._lock:
            heights: list[int] = []
            height, step = self.height, 1
            while height > 0 and len(heights) < MAX_LOCATOR - 1:
                heights.append(height)
                if len(heights) >= 10:
                    step *= 2
                height -= step
            heights.append(0)
            ids = [self.store.id_at(h) for h in heights]
        return [block_id for block_id in ids if block_id is not None]  # all are main

    def find_fork(self, locator: Sequence[bytes]) -> int | None:
        """The height of the first id of a peer's ``locator`` that is on our main chain
        (where the peer's chain leaves ours), or None when none is."""
        with self._lock:
            for block_id in locator:
                meta = self.store.meta(block_id)
                if meta is not None and self.store.id_at(meta.height) == block_id:
                    return meta.height
        return None

    def header_blobs(self, start_height: int, count: int) -> list[bytes]:
        """The hashing blobs of up to ``count`` main-chain blocks from ``start_height``
        (at most :data:`MAX_HEADER_BLOBS`; fewer at the tip, none above it), all read
        while the main chain cannot move."""
        if start_height < 0 or count < 0:
            raise ValueError(
                f"start height and count must not be negative, got {start_height}, {count}"
            )
        blobs: list[bytes] = []
        with self._lock:
            end = min(start_height + min(count, MAX_HEADER_BLOBS), self.height + 1)
            for height in range(start_height, end):
                block_id = self.store.id_at(height)
                raw = self.store.block_bytes(block_id) if block_id is not None else None
                assert raw is not None, f"main-chain block {height} is stored"
                blobs.append(Block.from_bytes(raw).hashing_blob())
        return blobs

    def pow_seeds(
        self, blocks: Sequence[Block], pending: Mapping[bytes, tuple[int, bytes]] = {}
    ) -> list[tuple[int, bytes] | None]:
        """The height and RandomX key of each of ``blocks`` (a batch about to be added, in
        order) that is not stored and whose parent is stored, an earlier block of the
        batch, or in ``pending`` (id -> (height, parent id) of blocks of earlier batches on
        their way into the chain); None for the others (stored blocks, orphans).

        A block's height and key follow from its ancestry alone, so they hold whatever
        the main chain does until the block is added.
        """
        epoch, lag = self.params.seed_epoch, self.params.seed_lag
        links = dict(pending)
        out: list[tuple[int, bytes] | None] = []
        with self._lock:
            for block in blocks:
                block_id, prev_id = block.id, block.header.prev_id
                planned: tuple[int, bytes] | None = None
                parent = self.store.meta(prev_id)
                if self.store.meta(block_id) is not None:
                    pass  # known: nothing to hash
                elif parent is not None:
                    height = parent.height + 1
                    planned = height, self.seed_hash(height, prev_id)
                elif prev_id in links:
                    height = links[prev_id][0] + 1
                    # back through the unstored blocks to the seed height or a stored block
                    target = seed_height(height, epoch, lag)
                    current, current_height = prev_id, height - 1
                    while current_height > target and current in links:
                        current, current_height = links[current][1], current_height - 1
                    if current_height == target:
                        planned = height, current
                    elif self.store.meta(current) is not None:
                        planned = height, self.seed_hash(height, current)
                if planned is not None:
                    links[block_id] = (planned[0], prev_id)
                out.append(planned)
        return out

    # -- the rules that depend on the branch ------------------------------------------------

    def _ancestors(self, block_id: bytes, count: int) -> list[BlockMeta]:
        """Up to ``count`` metas ending at ``block_id``, oldest first."""
        out: list[BlockMeta] = []
        current: bytes | None = block_id
        while current is not None and len(out) < count:
            if self.is_main(current):  # the rest is on the main chain: read by height
                meta = self.store.meta(current)
                assert meta is not None
                first = max(0, meta.height - (count - len(out)) + 1)
                for h in range(meta.height, first - 1, -1):
                    main_id = self.store.id_at(h)
                    main = self.store.meta(main_id) if main_id is not None else None
                    assert main is not None
                    out.append(main)
                break
            meta = self.store.meta(current)
            if meta is None:
                break
            out.append(meta)
            current = meta.prev_id if meta.height > 0 else None
        out.reverse()
        return out

    def next_difficulty(self, prev_id: bytes) -> int:
        """The difficulty of the block after ``prev_id`` (LWMA-1 over its branch)."""
        window = self.params.difficulty_window
        history = self._ancestors(prev_id, window + 1)
        return next_difficulty(
            [m.timestamp for m in history],
            [m.cumulative_difficulty for m in history],
            target=self.params.target_seconds,
            window=window,
            guess=self.params.initial_difficulty,
        )

    def seed_hash(self, height: int, prev_id: bytes | None = None) -> bytes:
        """The RandomX key of a block at ``height`` on the branch ending at ``prev_id``."""
        seed = seed_height(height, self.params.seed_epoch, self.params.seed_lag)
        prev_id = self.tip_id if prev_id is None else prev_id
        prev = self.store.meta(prev_id)
        assert prev is not None
        current = prev_id
        meta = prev
        while meta.height > seed:
            if self.is_main(current):
                main = self.store.id_at(seed)
                assert main is not None
                return main
            current = meta.prev_id
            parent_meta = self.store.meta(current)
            assert parent_meta is not None
            meta = parent_meta
        return current

    def median_timestamps(self, prev_id: bytes) -> list[int]:
        history = self._ancestors(prev_id, self.params.timestamp_window)
        return [m.timestamp for m in history]

    # -- templates ----------------------------------------------------------------------------

    def template(
        self,
        spend_key: bytes,
        view_key: bytes,
        txs: Sequence[Transaction] = (),
        *,
        reserve_size: int = 0,
        timestamp: int | None = None,
    ) -> BlockTemplate:
        """A block on top of the tip paying the reward and ``txs``' fees to the address
        with these keys; the caller finds a nonce (and fills the reserved space)."""
        with self._lock:
            tip_id = self.tip_id
            tip = self.tip
            height = tip.height + 1
            minimum = minimum_timestamp(self.median_timestamps(tip_id), self.params)
            now = int(self.clock()) if timestamp is None else timestamp
            reward = block_reward(tip.generated, self.params)
            miner = MinerTx.build(
                height=height,
                amount=reward + sum(tx.fee for tx in txs),
                spend_key=spend_key,
                view_key=view_key,
                reserve_size=reserve_size,
                unlock_window=self.params.coinbase_maturity,
            )
            header = BlockHeader(
                major_version=self.params.major_version,
                minor_version=self.params.minor_version,
                timestamp=max(now, minimum),
                prev_id=tip_id,
                nonce=0,
            )
            block = Block(header=header, miner_tx=miner, tx_hashes=tuple(tx.txid for tx in txs))
            return BlockTemplate(
                block=block,
                height=height,
                difficulty=self.next_difficulty(tip_id),
                seed_hash=self.seed_hash(height, tip_id),
                reward=reward,
            )

    # -- adding blocks ----------------------------------------------------------------------

    def add_block(
        self,
        block: Block,
        txs: Mapping[bytes, Transaction] = {},
        *,
        pow_hash: bytes | None = None,
    ) -> AddResult:
        """Check ``block`` (with the transactions it names, found in ``txs`` or stored) and
        add it; raises a :class:`~.errors.ConsensusError` subclass naming the broken rule,
        leaving the chain as it was.

        ``pow_hash``: the block's RandomX hash under its seed, computed beforehand (by a
        batch that hashes many blocks in parallel); it is trusted, not recomputed."""
        with self._lock:
            block_id = block.id
            known = self.store.meta(block_id)
            if known is not None:
                if (
                    not self.is_main(block_id)
                    and known.cumulative_difficulty > self.tip.cumulative_difficulty
                ):
                    result = self._adopt_best()
                    if result is not None:
                        return result
                return AddResult("known", block_id, known.height)
            check_block(block, self.params)
            if self.storage.get(INVALID + block.header.prev_id) is not None:
                raise errors.InvalidAncestorError(
                    f"block {block_id.hex()} builds on invalid block {block.header.prev_id.hex()}"
                )
            parent = self.store.meta(block.header.prev_id)
            if parent is None:
                raise errors.OrphanBlockError(
                    f"block {block_id.hex()} builds on unknown block {block.header.prev_id.hex()}"
                )
            height = parent.height + 1
            if block.miner_tx.height != height:
                raise errors.WrongCoinbaseHeightError(
                    f"the miner transaction says height {block.miner_tx.height}; "
                    f"the block is at height {height}"
                )
            if self.tip.height - parent.height >= self.params.reorg_limit:
                raise errors.ReorgTooDeepError(
                    f"block {block_id.hex()} forks {self.tip.height - parent.height} blocks "
                    f"below the tip; the limit is {self.params.reorg_limit}"
                )
            block_txs = self._collect(block, txs)
            for tx in block_txs:
                check_transaction(tx, self.params)
            check_timestamp(
                block.header.timestamp,
                self.median_timestamps(block.header.prev_id),
                int(self.clock()),
                self.params,
            )
            fees = sum(tx.fee for tx in block_txs)
            reward = block_reward(parent.generated, self.params)
            if block.miner_tx.amount != reward + fees:
                raise errors.WrongCoinbaseAmountError(
                    f"the miner transaction pays {block.miner_tx.amount}; the reward is "
                    f"{reward} plus {fees} in fees"
                )
            # the expensive check last: RandomX
            difficulty = self.next_difficulty(block.header.prev_id)
            if pow_hash is None:
                seed = self.seed_hash(height, block.header.prev_id)
                pow_hash = self.hasher.hash(block.hashing_blob(), key=seed)
            if not meets_difficulty(pow_hash, difficulty):
                raise errors.InsufficientWorkError(
                    f"block {block_id.hex()}: proof of work {pow_hash.hex()} does not meet "
                    f"difficulty {difficulty}"
                )
            meta = BlockMeta(
                height=height,
                prev_id=block.header.prev_id,
                timestamp=block.header.timestamp,
                difficulty=difficulty,
                cumulative_difficulty=parent.cumulative_difficulty + difficulty,
                generated=parent.generated + reward,
                reward=reward,
                size=len(block.to_bytes()),
            )
            if block.header.prev_id == self.tip_id:
                self._connect(block, block_txs, meta)
                return AddResult("connected", block_id, height, connected=(block_id,))
            self._store_side(block, block_txs, meta)
            if meta.cumulative_difficulty > self.tip.cumulative_difficulty:
                return self._reorganize(block_id)
            return AddResult("side", block_id, height)

    def _collect(self, block: Block, txs: Mapping[bytes, Transaction]) -> list[Transaction]:
        if len(set(block.tx_hashes)) != len(block.tx_hashes):
            raise errors.DuplicateTransactionError(
                f"block {block.id.hex()} lists a transaction twice"
            )
        out = []
        for txid in block.tx_hashes:
            tx = txs.get(txid)
            if tx is None:
                tx = self.transaction(txid)
            if tx is None:
                raise errors.MissingTransactionError(
                    f"transaction {txid.hex()} of block {block.id.hex()} is not known"
                )
            if tx.txid != txid:
                raise errors.MissingTransactionError(
                    f"the transaction given for {txid.hex()} has id {tx.txid.hex()}"
                )
            out.append(tx)
        return out

    # -- the main chain's state -------------------------------------------------------------

    def _spend_plan(
        self, height: int, txs: Sequence[Transaction]
    ) -> tuple[list[tuple[OutPoint, Coin]], dict[OutPoint, Coin]]:
        """Check every input against the coins (and earlier outputs of the same block);
        the coins spent and the coins created."""
        created: dict[OutPoint, Coin] = {}
        spent: list[tuple[OutPoint, Coin]] = []
        seen: set[OutPoint] = set()
        for tx in txs:
            txid = tx.txid
            if self.store.tx_block(txid) is not None:
                raise errors.DuplicateTransactionError(
                    f"transaction {txid.hex()} is already in the chain"
                )
            total_in = 0
            owners: list[bytes] = []
            for outpoint in tx.inputs:
                if outpoint in seen:
                    raise errors.DoubleSpendError(
                        f"output {outpoint.txid.hex()}:{outpoint.index} is spent twice"
                    )
                seen.add(outpoint)
                coin = created.pop(outpoint, None) or self.store.coin(outpoint)
                if coin is None:
                    raise errors.UnknownInputError(
                        f"transaction {txid.hex()} spends {outpoint.txid.hex()}:"
                        f"{outpoint.index}, which is unknown or already spent"
                    )
                check_spendable(coin, height, self.params, outpoint)
                total_in += coin.amount
                owners.append(coin.spend_key)
                spent.append((outpoint, coin))
            if total_in != sum(o.amount for o in tx.outputs) + tx.fee:
                raise errors.UnbalancedTransactionError(
                    f"transaction {txid.hex()} spends {total_in} but pays "
                    f"{sum(o.amount for o in tx.outputs)} plus a fee of {tx.fee}"
                )
            verify_signatures(tx, owners)
            for index, output in enumerate(tx.outputs):
                created[OutPoint(txid=txid, index=index)] = Coin(
                    amount=output.amount,
                    spend_key=output.spend_key,
                    view_key=output.view_key,
                    height=height,
                    unlock_time=tx.unlock_time,
                    coinbase=False,
                )
        return spent, created

    def _connect(self, block: Block, txs: Sequence[Transaction], meta: BlockMeta) -> None:
        """Connect ``block`` on top of the tip in one batch (raises, writing nothing, if a
        transaction is invalid against the coins)."""
        block_id = block.id
        spent, created = self._spend_plan(meta.height, txs)
        miner = block.miner_tx
        created[OutPoint(txid=miner.hash, index=0)] = Coin(
            amount=miner.amount,
            spend_key=miner.key,
            view_key=miner.tx_public_key or bytes(32),
            height=meta.height,
            unlock_time=miner.unlock_time,
            coinbase=True,
        )
        puts: dict[bytes, bytes] = {
            BLOCK + block_id: block.to_bytes(),
            META + block_id: meta.to_bytes(),
            stored_key(meta.height, block_id): b"",
            height_key(meta.height): block_id,
            UNDO + block_id: encode_undo(spent),
            TIP: block_id,
            TX_BLOCK + miner.hash: block_id,
        }
        deletes: list[bytes] = []
        for tx in txs:
            puts[TX + tx.txid] = tx.to_bytes()
            puts[TX_BLOCK + tx.txid] = block_id
        for outpoint, coin in spent:
            deletes.append(coin_key(outpoint))
            puts[address_key(*_owner(coin), meta.height, outpoint.txid, outpoint.index, True)] = (
                coin.amount.to_bytes(8, "big")
            )
        for outpoint, coin in created.items():
            puts[coin_key(outpoint)] = coin.to_bytes()
            puts[address_key(*_owner(coin), meta.height, outpoint.txid, outpoint.index, False)] = (
                coin.amount.to_bytes(8, "big")
            )
        self.store.write(puts, deletes)
        logger.info("connected block %d %s", meta.height, block_id.hex()[:16])

    def _disconnect_tip(self) -> tuple[Block, list[Transaction]]:
        """Undo the tip block in one batch; its block and transactions stay stored."""
        block_id = self.tip_id
        meta = self.tip
        block = self.block(block_id)
        assert block is not None
        assert meta.height > 0
        txs = [self.transaction(txid) for txid in block.tx_hashes]
        assert all(tx is not None for tx in txs)
        puts: dict[bytes, bytes] = {TIP: meta.prev_id}
        deletes: list[bytes] = [height_key(meta.height), UNDO + block_id]
        miner = block.miner_tx
        deletes.append(TX_BLOCK + miner.hash)
        deletes.append(coin_key(OutPoint(txid=miner.hash, index=0)))
        deletes.append(
            address_key(
                miner.key, miner.tx_public_key or bytes(32), meta.height, miner.hash, 0, False
            )
        )
        for tx in txs:
            assert tx is not None
            deletes.append(TX_BLOCK + tx.txid)
            for index, output in enumerate(tx.outputs):
                deletes.append(coin_key(OutPoint(txid=tx.txid, index=index)))
                deletes.append(
                    address_key(
                        output.spend_key, output.view_key, meta.height, tx.txid, index, False
                    )
                )
        for outpoint, coin in self.store.undo(block_id):
            puts[coin_key(outpoint)] = coin.to_bytes()
            deletes.append(
                address_key(*_owner(coin), meta.height, outpoint.txid, outpoint.index, True)
            )
        self.store.write(puts, deletes)
        logger.info("disconnected block %d %s", meta.height, block_id.hex()[:16])
        return block, [tx for tx in txs if tx is not None]

    def _store_side(self, block: Block, txs: Sequence[Transaction], meta: BlockMeta) -> None:
        puts = {
            BLOCK + block.id: block.to_bytes(),
            META + block.id: meta.to_bytes(),
            stored_key(meta.height, block.id): b"",
        }
        for tx in txs:
            puts[TX + tx.txid] = tx.to_bytes()
        self.store.write(puts)
        logger.info("stored side block %d %s", meta.height, block.id.hex()[:16])

    def _best_stored(self) -> bytes:
        """The stored, not invalid block with the most cumulative difficulty within the
        reorganisation limit (the tip when nothing beats it)."""
        tip_id = self.tip_id
        best_id, best = tip_id, self.tip.cumulative_difficulty
        height = max(1, self.tip.height - self.params.reorg_limit + 1)
        while True:
            entries = list(self.storage.iter_prefix(stored_prefix(height)))
            if not entries and height > self.tip.height:
                return best_id
            for key, _ in entries:
                block_id = key[-32:]
                if self.storage.get(INVALID + block_id) is not None:
                    continue
                meta = self.store.meta(block_id)
                if meta is not None and meta.cumulative_difficulty > best:
                    best_id, best = block_id, meta.cumulative_difficulty
            height += 1

    def _adopt_best(self) -> AddResult | None:
        """Reorganise to the heaviest stored branch if it is not the main chain (after a
        crash or a storage error in the middle of a reorganisation)."""
        for _ in range(8):  # each failed attempt marks a branch invalid
            best = self._best_stored()
            if best == self.tip_id:
                return None
            try:
                return self._reorganize(best)
            except errors.ConsensusError as exc:
                logger.warning("stored branch %s is invalid: %s", best.hex()[:16], exc)
        return None

    def _branch(self, block_id: bytes) -> list[tuple[bytes, BlockMeta]]:
        """The side branch ending at ``block_id``, from its first block off the main chain."""
        branch = []
        current = block_id
        while not self.is_main(current):
            meta = self.store.meta(current)
            assert meta is not None
            branch.append((current, meta))
            current = meta.prev_id
        branch.reverse()
        return branch

    def _reorganize(self, block_id: bytes) -> AddResult:
        branch = self._branch(block_id)
        fork_height = branch[0][1].height - 1
        steps = self.height - fork_height + len(branch)
        with progress(
            f"reorganisation to {block_id.hex()[:16]}",
            total=steps,
            unit="blocks",
            logger=logger,
            enabled=steps >= REORG_PROGRESS_BLOCKS,
        ) as replay:
            old: list[tuple[Block, list[Transaction]]] = []
            while self.height > fork_height:
                old.append(self._disconnect_tip())
                replay.advance()
            connected: list[bytes] = []
            failed = block_id
            try:
                for side_id, meta in branch:
                    failed = side_id
                    block = self.block(side_id)
                    assert block is not None
                    txs = self._collect(block, {})
                    self._connect(block, txs, meta)
                    connected.append(side_id)
                    replay.advance()
            except errors.ConsensusError as exc:
                # the branch is invalid from ``failed`` on: back to the old main chain
                logger.warning(
                    "reorganisation to %s failed at block %s (%s); restoring the chain",
                    block_id.hex(),
                    failed.hex(),
                    exc,
                )
                while self.height > fork_height:
                    self._disconnect_tip()
                for old_block, old_txs in reversed(old):
                    old_meta = self.store.meta(old_block.id)
                    assert old_meta is not None
                    self._connect(old_block, old_txs, old_meta)
                ids = [side_id for side_id, _ in branch]
                bad = ids[ids.index(failed) :]  # the failed block and its descendants
                self.store.write({INVALID + side_id: b"" for side_id in bad})
                raise
        in_new = {
            txid for side_id in connected for txid in (self.block(side_id) or _never()).tx_hashes
        }
        returned = tuple(tx for _, txs in old for tx in txs if tx.txid not in in_new)
        logger.warning(
            "reorganised: %d block(s) replaced by %d, new tip %d %s",
            len(old),
            len(connected),
            self.height,
            block_id.hex()[:16],
        )
        return AddResult(
            "connected",
            block_id,
            self.height,
            disconnected=tuple(b.id for b, _ in old),
            connected=tuple(connected),
            returned_txs=returned,
        )

    # -- genesis ------------------------------------------------------------------------------

    def _store_genesis(self) -> None:
        block = self.genesis
        reward = block.miner_tx.amount
        meta = BlockMeta(
            height=0,
            prev_id=bytes(32),
            timestamp=block.header.timestamp,
            difficulty=1,
            cumulative_difficulty=1,
            generated=reward,
            reward=reward,
            size=len(block.to_bytes()),
        )
        self._connect(block, [], meta)


def check_spendable(coin: Coin, height: int, params: NetworkParams, outpoint: OutPoint) -> None:
    """Coinbase maturity, the spendable age of ordinary outputs, and unlock times."""
    age = height - coin.height
    needed = params.coinbase_maturity if coin.coinbase else params.spendable_age
    if age < needed:
        kind = "coinbase" if coin.coinbase else "output"
        raise errors.ImmatureSpendError(
            f"{kind} {outpoint.txid.hex()}:{outpoint.index} from height {coin.height} "
            f"can be spent from height {coin.height + needed}, not {height}"
        )
    if coin.unlock_time > height:
        raise errors.LockedSpendError(
            f"output {outpoint.txid.hex()}:{outpoint.index} is locked until height "
            f"{coin.unlock_time}"
        )


def build_genesis(params: NetworkParams) -> Block:
    """The network's genesis block, from its parameters (no proof of work is checked)."""
    miner = MinerTx.build(
        height=0,
        amount=block_reward(0, params),
        spend_key=params.genesis_key,
        view_key=params.genesis_key,
        unlock_window=params.coinbase_maturity,
    )
    header = BlockHeader(
        major_version=params.major_version,
        minor_version=params.minor_version,
        timestamp=params.genesis_timestamp,
        prev_id=bytes(32),
        nonce=params.genesis_nonce,
    )
    return Block(header=header, miner_tx=miner, tx_hashes=())


def _owner(coin: Coin) -> tuple[bytes, bytes]:
    return coin.spend_key, coin.view_key


def _never() -> Block:
    raise AssertionError("a connected block is stored")


def history_prefix(spend_key: bytes, view_key: bytes) -> bytes:
    return ADDRESS + spend_key + view_key


__all__ = [
    "AddResult",
    "BatchResult",
    "BlockTemplate",
    "Chain",
    "build_genesis",
    "meets_difficulty",
]
