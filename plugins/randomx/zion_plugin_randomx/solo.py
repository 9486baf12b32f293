"""The node's built-in solo miner: the ``miner`` service (``[miner] address = ...``).

It mines blocks of the node's own chain, paid to ``miner.address``:

- A block template (with the pooled transactions that fit) is built from the ``chain``
  service in a worker thread, under the service's lock. It is rebuilt when the tip
  changes, whoever found the block (the tip is polled every :data:`POLL_SECONDS`), after
  every block found here, and every :data:`REFRESH_SECONDS` (new pooled transactions, a
  fresh timestamp).
- The hashing threads are the ones of ``zion mine`` (:class:`~.miner.HashingThreads` over
  a :class:`~.miner.WorkBoard`), on the miner's own ``randomx-cpu`` backend: its own VMs
  and its own cache (light mode) or dataset (fast mode), next to the node's verifier,
  which it never waits for nor holds up. A new RandomX key is set in place while the
  threads pause; with ``[randomx] prepare_next`` the next key is built in advance.
- The first hit of a template pauses the threads; the block goes to
  ``chain_service.submit_block`` in a worker thread, and once the node has connected it
  the ``block_found`` event is emitted and the block logged (height, id, reward).
- The hash rate is logged every :data:`STATUS_SECONDS`.
- While the node may not mine (:func:`zion_core.sync.mining_allowed`: not synchronized
  with its network, outside devnet), no template is built and the threads pause; the
  reason is logged at once and every :data:`SYNC_LOG_SECONDS`, and mining resumes by
  itself once the node has caught up.

The chain service belongs to the consensus plugin; this module reaches it through the
node's service registry and uses it through the small protocols below.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Final, Protocol

import anyio
import anyio.to_thread
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from zion_core import ConfigError, ValidationError, mining_allowed
from zion_core.chain.address import Address
from zion_core.chain.block import Block
from zion_core.chain.transaction import ATOMIC_UNITS_PER_ZION, Transaction
from zion_hookspecs import Node, ReadySignal

from .backend import RandomXCpu
from .config import RandomXConfig, SoloMinerConfig
from .miner import HashingThreads, HashrateMeter, MinerError, WorkBoard, available_cpus
from .progress import dataset_feed

logger = logging.getLogger(__name__)

POLL_SECONDS: Final = 0.5
"""How often the chain's tip is checked: a block found elsewhere restarts the work."""
REFRESH_SECONDS: Final = 30.0
"""How often the template is rebuilt on the same tip (new pooled transactions, time)."""
STATUS_SECONDS: Final = 30.0
"""How often the hash rate is logged."""
SYNC_LOG_SECONDS: Final = 60.0
"""How often the reason is logged again while the miner waits for the node to synchronize."""
CLOSE_SECONDS: Final = 5.0
"""The most the miner waits, when stopping, for its RandomX memory to be freed."""
RECENT_BLOCKS: Final = 16
"""How many of the last blocks found ``mining_status`` lists."""
TEMPLATE_ROOM: Final = 8192
"""Bytes of the maximum block size kept free of pooled transactions (header, miner
transaction)."""
POW_LIMIT: Final = 1 << 256
NONCES: Final = 1 << 32


class ChainLike(Protocol):
    """What the miner reads from the consensus plugin's chain."""

    params: Any

    @property
    def tip_id(self) -> bytes: ...

    def seed_hash(self, height: int, prev_id: bytes | None = None) -> bytes: ...

    def template(
        self,
        spend_key: bytes,
        view_key: bytes,
        txs: Sequence[Transaction] = (),
        *,
        reserve_size: int = 0,
        timestamp: int | None = None,
    ) -> Any: ...


class MempoolLike(Protocol):
    """What the miner reads from the chain service's mempool."""

    def select(self, max_bytes: int) -> list[Transaction]: ...


class ChainServiceLike(Protocol):
    """The ``chain`` service as the miner uses it."""

    @property
    def chain(self) -> Any: ...

    @property
    def mempool(self) -> Any: ...

    @property
    def lock(self) -> AbstractContextManager[Any]: ...

    def submit_block(self, block: Block, txs: Mapping[bytes, Transaction] = ..., /) -> Any: ...


def block_target(difficulty: int) -> int:
    """The largest hash (a little-endian 256-bit integer) that meets ``difficulty``:
    ``hash * difficulty < 2^256`` exactly when ``hash <= (2^256 - 1) // difficulty``."""
    return (POW_LIMIT - 1) // max(1, difficulty)


def zion_amount(atomic: int) -> str:
    """``atomic`` units as ZION, without trailing zeros: ``17.5``."""
    whole, fraction = divmod(atomic, ATOMIC_UNITS_PER_ZION)
    digits = len(str(ATOMIC_UNITS_PER_ZION)) - 1
    text = f"{whole}.{fraction:0{digits}d}".rstrip("0").rstrip(".")
    return text


@attrs.frozen(eq=False)
class BlockWork:
    """A block template as the hashing threads' work (:class:`~.miner.Work`)."""

    serial: int
    block: Block
    height: int
    difficulty: int
    seed_hash: bytes
    reward: int
    """What the miner transaction pays: the block reward plus the fees."""
    txs: tuple[Transaction, ...]
    next_seed_hash: bytes | None
    built: float
    """When it was built (``time.monotonic``)."""
    blob: bytes = attrs.field()
    target256: int = attrs.field()

    @blob.default
    def _blob(self) -> bytes:
        return self.block.hashing_blob()

    @target256.default
    def _target(self) -> int:
        return block_target(self.difficulty)

    @property
    def prev_id(self) -> bytes:
        return self.block.header.prev_id

    def nonce_range(self, index: int, parts: int) -> tuple[int, int]:
        """The ``index``-th of ``parts`` slices of the 32-bit header nonce."""
        return NONCES * index // parts, NONCES * (index + 1) // parts

    def label(self) -> str:
        return f"the block template at height {self.height}"


@attrs.frozen(eq=False)
class Found:
    """A nonce of ``work`` whose hash meets the block's difficulty."""

    work: BlockWork
    nonce: int
    hash: bytes


class SoloMiner:
    """The ``miner`` service: mines the node's chain on ``threads`` hashing threads."""

    name = "miner"

    def __init__(self, node: Node, config: SoloMinerConfig, randomx: RandomXConfig) -> None:
        self.node = node
        self.config = config
        self.address: Address = config.parsed_address(node.network)
        self.threads = config.threads or available_cpus()
        self.rx_config = attrs.evolve(
            randomx, mode=config.mode or randomx.mode, threads=self.threads
        )
        self.poll_seconds = POLL_SECONDS
        self.refresh_seconds = REFRESH_SECONDS
        self.status_seconds = STATUS_SECONDS
        self.sync_log_seconds = SYNC_LOG_SECONDS
        self.meter = HashrateMeter()
        self.board: WorkBoard[BlockWork] = WorkBoard(self.threads)
        self.backend: RandomXCpu | None = None
        self.hashers: HashingThreads[BlockWork] | None = None
        self.work: BlockWork | None = None
        """The template being mined (None before the first, and while waiting)."""
        self.waiting: str | None = None
        """Why the miner waits for the node to synchronize (None while it may mine)."""
        self.blocks_found = 0
        self.blocks_rejected = 0
        self._serial = 0
        self._claim = threading.Lock()
        self._claimed = 0  # serial of the last template a hit was taken from
        self._key: bytes | None = None
        self._prepared: bytes | None = None
        self._send: MemoryObjectSendStream[Found] | None = None
        self._dataset_feed = dataset_feed("solo miner: RandomX dataset")
        self.recent_blocks: deque[tuple[int, str]] = deque(maxlen=RECENT_BLOCKS)
        """(height, block id) of the last blocks found, oldest first."""

    # -- the service ----------------------------------------------------------------------

    async def run(self, *, task_status: ReadySignal) -> None:
        """Mine until cancelled; the hashing threads are joined and the miner's RandomX
        memory freed on the way out."""
        service = self._chain_service()
        backend = RandomXCpu(self.rx_config, progress=self._dataset_feed)
        self.backend = backend
        hashers = HashingThreads(backend, self.board, self.meter, self._on_hit)
        self.hashers = hashers
        send, receive = anyio.create_memory_object_stream[Found](math.inf)
        self._send = send
        memory = "256 MiB cache" if self.rx_config.mode == "light" else "2080 MiB dataset"
        logger.info(
            "solo mining to %s on %d thread(s), RandomX %s mode (its own %s)",
            self.address,
            self.threads,
            self.rx_config.mode,
            memory,
        )
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(hashers.run)
                tg.start_soon(self._report)
                task_status.started()
                await self._mine(service, backend, receive)
        finally:
            self.board.shutdown()
            send.close()
            receive.close()
            with anyio.CancelScope(shield=True), anyio.move_on_after(CLOSE_SECONDS):
                await anyio.to_thread.run_sync(backend.close, abandon_on_cancel=True)
            logger.info(
                "solo miner stopped: %d block(s) found, %d hashes",
                self.blocks_found,
                self.meter.total,
            )

    async def drain(self) -> None:
        """Stop hashing (the threads return within one hash); the node stops it next."""
        self.board.shutdown()

    @property
    def key(self) -> bytes | None:
        """The RandomX key the hashing threads use (None before the first template)."""
        return self._key

    def snapshot(self) -> dict[str, Any]:
        """The miner's numbers: address, threads, hash rate, blocks found, current work."""
        work = self.work
        return {
            "address": str(self.address),
            "threads": self.threads,
            "mode": self.rx_config.mode,
            "hashes": self.meter.total,
            "hashrate_10s": round(self.meter.rate(10.0), 2),
            "hashrate_60s": round(self.meter.rate(60.0), 2),
            "blocks_found": self.blocks_found,
            "blocks_rejected": self.blocks_rejected,
            "height": work.height if work is not None else None,
            "difficulty": work.difficulty if work is not None else None,
            "waiting": self.waiting,
        }

    def _target_seconds(self) -> int | None:
        services = self.node.registry("service")
        if "chain" not in services.names():
            return None
        chain = services.get("chain").chain
        return None if chain is None else int(chain.params.target_seconds)

    def mining_status(self) -> dict[str, Any]:
        """monerod's ``mining_status`` fields for this miner, and ZION's own numbers."""
        work = self.work
        difficulty = work.difficulty if work is not None else 0
        return {
            "active": work is not None,
            "address": str(self.address),
            "threads_count": self.threads,
            "speed": round(self.meter.rate(60.0)),
            "pow_algorithm": "RandomX",
            "block_target": self._target_seconds(),
            "block_reward": work.reward if work is not None else 0,
            "difficulty": difficulty & ((1 << 64) - 1),
            "difficulty_top64": difficulty >> 64,
            "wide_difficulty": hex(difficulty),
            "height": work.height if work is not None else None,
            "is_background_mining_enabled": False,
            "blocks_found": self.blocks_found,
            "blocks_rejected": self.blocks_rejected,
            "hashes": self.meter.total,
            "mode": self.rx_config.mode,
            "waiting": self.waiting,
            "recent_blocks": [
                {"height": height, "hash": block_id}
                for height, block_id in reversed(list(self.recent_blocks))
            ],
        }

    # -- the loop -------------------------------------------------------------------------

    def _chain_service(self) -> ChainServiceLike:
        services = self.node.registry("service")
        if "chain" not in services.names():
            raise ConfigError(
                "miner.address is set, but this node keeps no chain to mine: "
                "load a storage plugin and a hasher (--plugin sqlite --plugin randomx)"
            )
        service: ChainServiceLike = services.get("chain")
        return service

    async def _wait_for_chain(self, service: ChainServiceLike) -> ChainLike:
        while True:
            chain: ChainLike | None = service.chain
            if chain is not None:
                return chain
            await anyio.sleep(self.poll_seconds)  # the chain service has not opened it yet

    async def _mine(
        self,
        service: ChainServiceLike,
        backend: RandomXCpu,
        found: MemoryObjectReceiveStream[Found],
    ) -> None:
        chain = await self._wait_for_chain(service)
        stale = True
        while True:
            if await self._wait_for_sync():
                stale = True
            tip = await anyio.to_thread.run_sync(lambda: chain.tip_id)
            work = self.work
            if (
                stale
                or work is None
                or work.prev_id != tip
                or time.monotonic() - work.built >= self.refresh_seconds
            ):
                work = await anyio.to_thread.run_sync(self._build_work, service)
                await self._use_key(backend, work)
                self._publish(work)
                stale = False
            hit: Found | None = None
            with anyio.move_on_after(self.poll_seconds):
                hit = await found.receive()
            if hit is not None:
                await self._submit(service, hit)
                stale = True

    async def _wait_for_sync(self) -> bool:
        """Pause while the node may not mine (not synchronized with its network); the
        reason is logged at once and every ``sync_log_seconds``. True when it waited."""
        allowed, reason = mining_allowed(self.node)
        if allowed:
            return False
        with self._claim:
            self.work = None
            self.board.publish(None)  # the threads pause
        self.waiting = reason
        logger.info("solo miner: waiting for the node to synchronize (%s)", reason)
        logged = time.monotonic()
        while not allowed:
            await anyio.sleep(self.poll_seconds)
            allowed, reason = mining_allowed(self.node)
            if not allowed:
                self.waiting = reason
                if time.monotonic() - logged >= self.sync_log_seconds:
                    logger.info("solo miner: still waiting for the node (%s)", reason)
                    logged = time.monotonic()
        self.waiting = None
        logger.info("solo miner: mining resumes (%s)", reason)
        return True

    def _build_work(self, service: ChainServiceLike) -> BlockWork:
        """A template on the current tip (worker thread, under the chain service's lock)."""
        with service.lock:
            chain: ChainLike = service.chain
            mempool: MempoolLike = service.mempool
            txs = mempool.select(max(0, chain.params.max_block_size - TEMPLATE_ROOM))
            template = chain.template(self.address.spend_key, self.address.view_key, txs)
            prev_id = template.block.header.prev_id
            upcoming = chain.seed_hash(template.height + chain.params.seed_lag, prev_id)
        self._serial += 1
        return BlockWork(
            serial=self._serial,
            block=template.block,
            height=template.height,
            difficulty=template.difficulty,
            seed_hash=template.seed_hash,
            reward=template.block.miner_tx.amount,
            txs=tuple(txs),
            next_seed_hash=upcoming if upcoming != template.seed_hash else None,
            built=time.monotonic(),
        )

    async def _use_key(self, backend: RandomXCpu, work: BlockWork) -> None:
        """Make the template's seed the miner's RandomX key (the threads pause meanwhile),
        and have the next seed prepared when the backend does that."""
        if work.seed_hash != self._key:
            self.board.publish(None)  # the old key's work is stale
            logger.info(
                "solo miner: RandomX key %s (height %d)", work.seed_hash.hex()[:16], work.height
            )
            # abandoned on cancel: a cache or dataset build cannot be interrupted, and
            # closing the backend afterwards stops a dataset build
            try:
                await anyio.to_thread.run_sync(
                    functools.partial(backend.set_key, work.seed_hash, in_place=True),
                    abandon_on_cancel=True,
                )
            except Exception as exc:
                raise MinerError(
                    f"the solo miner cannot set up RandomX ({self.rx_config.mode} mode): {exc}"
                ) from exc
            self._key = work.seed_hash
        upcoming = work.next_seed_hash
        if upcoming is not None and upcoming not in (self._prepared, self._key):
            self._prepared = upcoming
            await anyio.to_thread.run_sync(backend.prepare_key, upcoming, abandon_on_cancel=True)

    def _publish(self, work: BlockWork) -> None:
        with self._claim:
            self.work = work
            self.board.publish(work)
        logger.debug(
            "solo miner: template at height %d, difficulty %d, %d transaction(s)",
            work.height,
            work.difficulty,
            len(work.txs),
        )

    def _on_hit(self, work: BlockWork, nonce: int, hash_: bytes) -> None:
        """A hashing thread found a block (runs in that thread)."""
        with self._claim:
            if work.serial <= self._claimed:
                return  # this template's block is on its way already
            self._claimed = work.serial
            if self.board.job is work:
                self.board.publish(None)  # pause until the next template
        send = self._send
        if send is None:
            return
        try:
            anyio.from_thread.run_sync(send.send_nowait, Found(work, nonce, hash_))
        except (RuntimeError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            logger.debug("block found while stopping; dropped")

    async def _submit(self, service: ChainServiceLike, hit: Found) -> None:
        work = hit.work
        if int.from_bytes(hit.hash, "little") * work.difficulty >= POW_LIMIT:
            logger.error(
                "the backend returned nonce %d above the target of height %d; dropped",
                hit.nonce,
                work.height,
            )
            return
        block = work.block.with_nonce(hit.nonce)
        txs = {tx.txid: tx for tx in work.txs}
        try:
            result = await anyio.to_thread.run_sync(service.submit_block, block, txs)
        except ValidationError as exc:
            self.blocks_rejected += 1
            logger.warning(
                "the node refused the block the miner found at height %d: %s", work.height, exc
            )
            return
        status = str(result.status)
        if status == "connected":
            self.blocks_found += 1
            self.recent_blocks.append((result.height, block.id.hex()))
            logger.info(
                "mined block %d %s: reward %s ZION, difficulty %d (%d found)",
                result.height,
                block.id.hex(),
                zion_amount(work.reward),
                work.difficulty,
                self.blocks_found,
            )
            self.node.emit("block_found", block=block, height=result.height)
        elif status == "side":
            logger.info(
                "the block the miner found at height %d is a side block: another block "
                "took that height first",
                result.height,
            )

    # -- progress -------------------------------------------------------------------------

    async def _report(self) -> None:
        while True:
            await anyio.sleep(self.status_seconds)
            work = self.work
            if self.meter.started is None or work is None:
                continue
            logger.info(
                "solo miner: %.1f H/s (10 s), %.1f H/s (60 s), height %d, difficulty %d, "
                "%d block(s) found",
                self.meter.rate(10.0),
                self.meter.rate(60.0),
                work.height,
                work.difficulty,
                self.blocks_found,
            )


__all__ = ["BlockWork", "ChainServiceLike", "SoloMiner", "block_target"]
