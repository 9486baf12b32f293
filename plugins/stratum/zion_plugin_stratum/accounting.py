"""The ``pool-accounting`` service: the pool's ledger and payouts, fed by the ``stratum`` service.

A separate service, registered before ``stratum`` so that it starts first and stops
last: every share the server accepts is written to the ledger before the miner's OK, and
the ledger is closed only once the server has stopped.

- The ledger (:class:`~.ledger.PoolLedger`) lives in ``<data_dir>/pool.<backend>``, on
  the node's configured storage backend, with the chain's ``coinbase_maturity``. Its
  policy is the ``pool_policy`` registry's entry named by ``[stratum] payout_policy``.
- Shares: the server awaits :meth:`PoolAccounting.on_share` before it answers a
  ``submit``. One ``record_shares`` call (one fsync, in a worker thread) runs at a time:
  a share that finds the ledger idle is written at once, and the shares that arrive
  during a write are written together by the next one (group commit). Every waiter is
  released after its write; if the write fails, none of its shares is acknowledged.
- Blocks, written ahead: before the server hands a block to the node it awaits
  :meth:`PoolAccounting.on_candidate`, which records the *candidate* (block id, height,
  finder, the template's network difficulty, the coinbase amount, and the credits of the
  share window at that instant); once the node connected the block, it awaits
  :meth:`PoolAccounting.on_block`, which turns the candidate into a found block. At
  start, and on every new tip, candidates left open are settled against the chain
  (:meth:`~.ledger.PoolLedger.resolve_candidates`): a crash between the node connecting
  a pool block and the ledger recording it loses no block and credits none twice.
- The chain's tip: ``block_connected`` and ``block_disconnected`` wake a task that calls
  ``on_tip`` (under the chain service's lock, in a worker thread), which credits mature
  blocks and reverses orphaned ones, then prunes old shares.
- Payouts, when on (see ``[stratum] payouts``): ``reconcile()`` at start, then
  ``run_once()`` every ``payout_interval_seconds``, through :class:`WalletRpcClient`,
  the wallet plugin's RPC method handlers called in process. A round pays only what the
  wallet can spend now (its unlocked balance less the network fee); the rest waits.
- Live statistics: at start, every ``stats_interval_seconds`` and soon after a block is
  found, one snapshot of the pool and of every miner it knows is built (the server's
  counters read on the event loop, the ledger read and the miners' snapshots assembled in
  a worker thread) and emitted as the ``pool_stats`` event, which the jsonrpc plugin
  forwards to WebSocket subscribers.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Final, Protocol

import anyio
import anyio.abc
import anyio.to_thread
import attrs

from zion_core import ConfigError, ZionError
from zion_core.chain.address import Address, InvalidAddressError
from zion_core.chain.block import Block
from zion_hookspecs import Node, ReadySignal, RpcMethod, ShareRecord, Storage, hookimpl

from .config import StratumConfig
from .ledger import Balance, PoolLedger
from .payouts import Destination, PayoutConfig, PayoutEngine, TransferRefusedError
from .policies import AccountingPolicy
from .server import StratumServer, Template
from .upstream import RemoteChainView

logger = logging.getLogger(__name__)

BATCH_SECONDS: Final = 0.0
"""How long a batch waits for more shares before it is written (none: a batch is written
as soon as the previous write is done, and collects the shares that arrive meanwhile)."""
DRAIN_POLL_SECONDS: Final = 0.005
"""How often :meth:`PoolAccounting.drain` looks whether the last writes are done."""
BATCH_MAX: Final = 4096
"""The most shares in one batch; a full batch is closed and the next share opens another."""
TRANSFER_METHOD: Final = "transfer"
TRANSFERS_METHOD: Final = "get_transfers"
BALANCE_METHOD: Final = "get_balance"
TRANSFER_CATEGORIES: Final = {"out": True, "pending": True, "failed": True}
"""What ``get_transfers`` is asked for: the wallet's own payments, not what it received."""
ACCOUNTING_METHODS: Final = ("split_block", "window_difficulty", "share_value", "fee_bps")
STATS_MIN_GAP: Final = 1.0
"""The shortest time between two statistics snapshots (blocks found in a burst)."""


class ShareNotRecordedError(ZionError):
    """The ledger could not record a share: it must not be acknowledged."""


class ChainServiceView(Protocol):
    """The ``chain`` service as the accounting uses it."""

    @property
    def chain(self) -> Any: ...

    @property
    def lock(self) -> AbstractContextManager[Any]: ...


class RpcMethodRegistry(Protocol):
    """The node's ``rpc_method`` registry as the wallet client uses it."""

    def names(self) -> list[str]: ...

    def get(self, name: str) -> Any: ...


class WalletUnansweredError(ZionError):
    """The wallet's answer to a transfer could not be told apart from a lost one."""


class WalletRpcClient:
    """A :class:`~.payouts.WalletClient` over the wallet plugin's RPC handlers, in process.

    The handlers are blocking functions (call this from a worker thread). A wallet error
    (a :class:`~zion_core.ZionError`) or bad params (``ValueError``, ``TypeError``) from
    ``transfer`` is checked against the wallet's transfer list before it counts as a
    refusal: when the wallet journaled a transaction under the key anyway (it signed it
    but could not hand it to the node, say), that transaction is the answer, since the
    wallet may still send it; listed as failed or not listed at all, it is a refusal,
    :class:`~.payouts.TransferRefusedError`. Anything else (an I/O error, a crash inside
    the handler, a list that cannot be read) leaves the outcome unknown and propagates.

    ``fee_estimate`` is the network fee of one transfer (the wallet pays the node's
    minimum fee): :meth:`spendable` deducts it.
    """

    def __init__(
        self, methods: RpcMethodRegistry, fee_estimate: Callable[[], int] = lambda: 0
    ) -> None:
        self.methods = methods
        self.fee_estimate = fee_estimate

    def _call(self, name: str, params: Mapping[str, Any]) -> Any:
        result = self.methods.get(name).handler(dict(params))
        if not isinstance(result, Mapping):
            raise TypeError(f"the wallet's {name} answered {type(result).__name__}, not an object")
        return result

    def transfer(self, destinations: Sequence[Destination], idempotency_key: str) -> str:
        """Pay ``destinations`` under ``idempotency_key``; the transaction hash."""
        params = {
            "destinations": [
                {"address": d["address"], "amount": int(d["amount"])} for d in destinations
            ],
            "idempotency_key": idempotency_key,
        }
        try:
            result = self._call(TRANSFER_METHOD, params)
        except (ZionError, ValueError, TypeError) as refusal:
            txid = self._journaled(idempotency_key, refusal)
            if txid is None:
                raise TransferRefusedError(str(refusal)) from refusal
            return txid
        return str(result["tx_hash"])

    def _journaled(self, key: str, error: BaseException) -> str | None:
        """The transaction the wallet lists under ``key`` though ``transfer`` failed, or
        ``None`` (a refusal: not listed, or listed as failed)."""
        try:
            transfers = self.get_transfers()
        except Exception as lookup:
            raise WalletUnansweredError(
                f"the wallet answered the transfer {key!r} with an error ({error}) and its "
                f"transfer list cannot be read ({lookup}): the outcome is unknown"
            ) from lookup
        for entries in transfers.values():
            for entry in entries:
                if entry.get("idempotency_key") == key and entry.get("type") != "failed":
                    return str(entry["txid"])
        return None

    def get_transfers(self) -> Mapping[str, Sequence[Mapping[str, Any]]]:
        """The wallet's payments by category (``out``, ``pending``, ``failed``)."""
        result: Mapping[str, Sequence[Mapping[str, Any]]] = self._call(
            TRANSFERS_METHOD, TRANSFER_CATEGORIES
        )
        return result

    def spendable(self) -> int | None:
        """What one transfer may pay now: the unlocked balance less the network fee
        (``None``: the wallet does not say)."""
        if BALANCE_METHOD not in self.methods.names():
            return None
        unlocked = self._call(BALANCE_METHOD, {})["unlocked_balance"]
        return max(0, int(unlocked) - int(self.fee_estimate()))


def wallet_available(node: Node) -> bool:
    """Whether the node registers the wallet RPC methods the payouts need."""
    names = node.registry("rpc_method").names()
    return TRANSFER_METHOD in names and TRANSFERS_METHOD in names


@attrs.define(eq=False)
class _Batch:
    """Shares waiting to be written together, and the event that releases their waiters."""

    done: anyio.Event
    shares: list[tuple[ShareRecord, int, int]] = attrs.field(factory=list)
    error: BaseException | None = None


class PoolAccounting:
    """The ``pool-accounting`` service (see the module's description)."""

    name = "pool-accounting"

    def __init__(self, node: Node, config: StratumConfig, server: StratumServer) -> None:
        self.node = node
        self.config = config
        self.server = server
        self.ledger: PoolLedger | None = None
        self.policy: AccountingPolicy | None = None
        self.engine: PayoutEngine | None = None
        self.payouts_enabled = False
        self.batch_seconds: float = BATCH_SECONDS
        self.writes = 0
        """``record_shares`` batches written (each one fsync)."""
        self._storage: Storage | None = None
        self._service: ChainServiceView | None = None
        self._batch: _Batch | None = None
        self._writing = 0
        self._write_lock = anyio.Lock()
        self._opened: anyio.Event | None = None
        self._tip: anyio.Event | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self._payout_lock: anyio.Lock | None = None
        self.next_payout_at: float | None = None
        """When the next payout round runs (Unix time), while payouts are on."""
        self._last_share: dict[str, float] = {}
        self._stats_wake: anyio.Event | None = None

    # -- the service ----------------------------------------------------------------------

    def _check(self) -> None:
        """The policy and the wallet, or a ConfigError naming the key."""
        policies = self.node.registry("pool_policy")
        name = self.config.payout_policy
        if name not in policies.names():
            known = ", ".join(policies.names()) or "none registered"
            raise ConfigError(f"[stratum] payout_policy: unknown pool policy {name!r}; {known}")
        policy = policies.get(name)
        missing = [m for m in ACCOUNTING_METHODS if not hasattr(policy, m)]
        if missing:
            raise ConfigError(
                f"[stratum] payout_policy: pool policy {name!r} cannot keep a ledger "
                f"(it lacks {', '.join(missing)})"
            )
        self.policy = policy
        if self.config.node:  # the remote node's wallet: when asked for, with its token
            has_wallet = bool(self.config.node_token or self.config.node_token_file)
            how = "set [stratum] node_token or node_token_file (the admin token of that node)"
            unset = False
        else:
            has_wallet = wallet_available(self.node)
            how = "set [wallet] file (the wallet plugin's transfer and get_transfers methods)"
            unset = has_wallet
        if self.config.payouts and not has_wallet:
            raise ConfigError(
                f"[stratum] payouts is true, but this node has no wallet to pay from: {how}"
            )
        self.payouts_enabled = unset if self.config.payouts is None else self.config.payouts

    async def run(self, *, task_status: ReadySignal) -> None:
        """Hook into the server, report ready, open the ledger once the chain is open."""
        self._check()
        self._opened = opened = anyio.Event()
        self._tip = anyio.Event()
        self._payout_lock = anyio.Lock()
        unsubscribe = self.node.subscribe(self, name=self.name)
        try:
            async with anyio.create_task_group() as tg:
                self._task_group = tg
                self.server.on_share = self.on_share
                self.server.on_candidate = self.on_candidate
                self.server.on_block = self.on_block
                if self.config.node:  # no chain events from a remote node: follow the pool's
                    self.server.on_tip = self._wake
                task_status.started()
                service = await self._chain_service()
                await anyio.to_thread.run_sync(self._open, service)
                opened.set()
                tg.start_soon(self._follow_tip)
                if self.engine is not None:
                    tg.start_soon(self._payouts)
                tg.start_soon(self._statistics)
                await anyio.sleep_forever()
        finally:
            unsubscribe()
            self.server.on_share = None
            self.server.on_candidate = None
            self.server.on_block = None
            self.server.on_tip = None
            self._task_group = None
            if self._storage is not None:
                self._storage.close()
                self._storage = None
                logger.info("pool ledger closed")

    async def drain(self) -> None:
        """Wait until every share handed over has been written."""
        while True:
            if self._batch is None and not self._writing:
                return
            await anyio.sleep(DRAIN_POLL_SECONDS)

    async def _chain_service(self) -> ChainServiceView:
        service: ChainServiceView
        if self.config.node:  # the remote node's chain, at the tip of the pool's template
            service = RemoteChainView.of(self.config, lambda: self.server.template)
        else:
            services = self.node.registry("service")
            if "chain" not in services.names():
                raise ConfigError(
                    "the pool's accounting needs the node's chain (a storage backend)"
                )
            service = services.get("chain")
        while True:
            if service.chain is not None:
                self._service = service
                return service
            await anyio.sleep(0.05)

    def _open(self, service: ChainServiceView) -> None:
        backend = self.node.config_section("backends").storage
        storage = self.node.registry("storage").select(backend)
        path = self.node.data_dir / f"pool.{storage.name}"
        store: Storage = storage.open(path, create=True)
        try:
            assert self.policy is not None
            ledger = PoolLedger(store, self.policy, maturity=service.chain.params.coinbase_maturity)
            if self.payouts_enabled:
                engine = PayoutEngine(
                    ledger,
                    WalletRpcClient(
                        service.wallet_methods()
                        if isinstance(service, RemoteChainView)
                        else self.node.registry("rpc_method"),
                        functools.partial(_min_fee, service),
                    ),
                    PayoutConfig(threshold=self.config.payout_threshold),
                )
                try:
                    report = engine.reconcile()
                except Exception:
                    logger.exception("pool payouts: reconciling with the wallet failed")
                else:
                    if report.sent or report.failed or report.settled or report.unresolved:
                        logger.info("pool payouts reconciled: %s", report)
                self.engine = engine
        except BaseException:
            store.close()
            raise
        self._storage, self.ledger = store, ledger
        self._settle(restart=True)
        logger.info(
            "pool ledger %s: policy %s, fee %d bps, payouts %s",
            path,
            self.config.payout_policy,
            self.policy.fee_bps,
            "on" if self.engine is not None else "off",
        )

    # -- shares ---------------------------------------------------------------------------

    async def on_share(self, share: ShareRecord, template: Template) -> None:
        """Write ``share`` (in a batch); returns once it is durable."""
        opened, tg = self._opened, self._task_group
        if opened is None or tg is None:
            raise ShareNotRecordedError("the pool's accounting is not running")
        await opened.wait()
        batch = self._batch
        if batch is None:
            batch = self._batch = _Batch(anyio.Event())
            tg.start_soon(self._flush, batch)
        batch.shares.append((share, template.difficulty, template.block.miner_tx.amount))
        if len(batch.shares) >= BATCH_MAX:
            self._batch = None
        await batch.done.wait()
        if batch.error is not None:
            raise ShareNotRecordedError(f"the share was not recorded: {batch.error}")

    async def _flush(self, batch: _Batch) -> None:
        with anyio.CancelScope(shield=True):
            self._writing += 1
            try:
                async with self._write_lock:  # the shares arriving meanwhile join this batch
                    if self.batch_seconds > 0:
                        await anyio.sleep(self.batch_seconds)
                    if self._batch is batch:
                        self._batch = None
                    await anyio.to_thread.run_sync(self._write, batch.shares)
            except Exception as exc:
                logger.exception("the pool ledger could not record %d share(s)", len(batch.shares))
                batch.error = exc
            finally:
                self._writing -= 1
                batch.done.set()

    def _write(self, shares: Sequence[tuple[ShareRecord, int, int]]) -> None:
        ledger = self.ledger
        if ledger is None:
            raise ShareNotRecordedError("the pool ledger is not open")
        groups: dict[tuple[int, int], list[ShareRecord]] = {}
        for share, difficulty, reward in shares:
            groups.setdefault((difficulty, reward), []).append(share)
        for (difficulty, reward), group in groups.items():
            ledger.record_shares(group, network_difficulty=difficulty, block_reward=reward)
            self.writes += 1

    # -- blocks and the tip ---------------------------------------------------------------

    async def on_candidate(self, template: Template, block: Block, finder: str) -> None:
        """Write ahead a block the server is about to hand to the node (see the module).

        Errors are logged, never raised: the block is submitted all the same, and
        :meth:`on_block` then records it from the window as it is by then.
        """
        ledger = self.ledger
        if ledger is None:
            logger.error("pool block %d found before the ledger was open", template.height)
            return
        record = functools.partial(
            ledger.record_candidate,
            block.id,
            template.height,
            block.miner_tx.amount,
            network_difficulty=template.difficulty,
            finder=finder,
        )
        try:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(record)
        except Exception:
            logger.exception("the pool ledger could not write ahead block %d", template.height)

    async def on_block(self, template: Template, block: Block, height: int, finder: str) -> None:
        """Record a block of the pool the chain connected, then settle against the tip."""
        ledger = self.ledger
        if ledger is None:
            logger.error("pool block %d found before the ledger was open", height)
            return
        record = functools.partial(
            ledger.record_block,
            block.id,
            height,
            block.miner_tx.amount,
            network_difficulty=template.difficulty,
            finder=finder,
        )
        try:
            with anyio.CancelScope(shield=True):
                found = await anyio.to_thread.run_sync(record)
        except Exception:
            logger.exception("the pool ledger could not record block %d", height)
            return
        logger.info(
            "pool block %d recorded: %d credit(s) of %d, pending maturity",
            height,
            len(found.credits),
            found.reward,
        )
        self._wake()

    def _wake(self) -> None:
        if self._tip is not None:
            self._tip.set()

    @hookimpl
    def zion_block_connected(self, block: Any, height: int) -> None:
        """A new tip: settle the pool's blocks."""
        self._wake()

    @hookimpl
    def zion_block_disconnected(self, block: Any, height: int) -> None:
        """A block left the main chain: settle the pool's blocks."""
        self._wake()

    async def _follow_tip(self) -> None:
        while True:
            self._tip = tip = anyio.Event()
            await tip.wait()
            try:
                await anyio.to_thread.run_sync(self._settle)
            except Exception:
                logger.exception("the pool ledger could not follow the chain's tip")

    def _settle(self, *, restart: bool = False) -> None:
        """Open candidates and ``on_tip`` against the main chain, then share pruning
        (worker thread). ``restart``: nothing is being submitted (at start)."""
        ledger, service = self.ledger, self._service
        if ledger is None or service is None:
            return
        with service.lock:
            chain = service.chain
            candidates = ledger.resolve_candidates(
                chain.height,
                chain.is_main,
                lambda block_id: chain.block(block_id) is not None,
                restart=restart,
            )
            report = ledger.on_tip(chain.height, chain.is_main)
        # at start, a candidate recorded is a block recovered; later, usually one whose new
        # tip the follower saw before on_block recorded it (on_block then changes nothing)
        level = logging.INFO if restart else logging.DEBUG
        for block_id in candidates.recorded:
            logger.log(level, "pool block %s recorded from its candidate", block_id.hex()[:16])
        for block_id in candidates.dropped:
            logger.info("pool block candidate %s dropped: never main", block_id.hex()[:16])
        for what, ids in (
            ("credited", report.credited),
            ("orphaned", report.orphaned),
            ("back on the main chain", report.reinstated),
        ):
            for block_id in ids:
                logger.info("pool block %s %s", block_id.hex()[:16], what)
        template = self.server.template
        if template is not None:
            ledger.prune_shares(template.difficulty)

    # -- payouts --------------------------------------------------------------------------

    async def _payouts(self) -> None:
        while True:
            self.next_payout_at = time.time() + self.config.payout_interval_seconds
            await anyio.sleep(self.config.payout_interval_seconds)
            await self.pay()

    async def pay(self) -> None:
        """One payout round (``run_once`` in a worker thread); errors are logged."""
        engine, lock = self.engine, self._payout_lock
        if engine is None or lock is None:
            return
        async with lock:
            try:
                report = await anyio.to_thread.run_sync(engine.run_once)
            except Exception:
                logger.exception("pool payouts failed")
                return
        if report.sent or report.failed or report.unresolved:
            logger.info(
                "pool payouts: %d sent, %d refused, %d unresolved",
                len(report.sent),
                len(report.failed),
                len(report.unresolved),
            )

    # -- statistics -----------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """The ledger's blocks and payments for ``pool_stats`` (blocking reads)."""
        ledger = self.ledger
        blocks = sorted(ledger.blocks(), key=lambda b: (b.height, b.found_at)) if ledger else []
        payments = ledger.payments() if ledger else []
        counts = {status: 0 for status in ("pending", "credited", "orphaned")}
        for block in blocks:
            counts[block.status] += 1
        paid = [p for p in payments if p.status in ("sent", "settled")]
        return {
            "blocks": {"found": len(blocks), **counts},
            "recent_blocks": [_block_json(b) for b in reversed(blocks[-20:])],
            "last_block": _block_json(blocks[-1]) if blocks else None,
            "payments": {
                "count": len(paid),
                "total_paid": sum(p.total for p in paid),
                "in_flight": sum(p.total for p in payments if p.status == "intent"),
                "last": _payment_json(max(paid, key=lambda p: p.created_at)) if paid else None,
            },
        }

    def miner_summary(self, address: str) -> dict[str, Any]:
        """One address's balances, payments and blocks (blocking reads)."""
        ledger = self.ledger
        if ledger is None:
            return {
                "balance": {"immature": 0, "credited": 0, "in_flight": 0, "paid": 0},
                "payments": [],
                "blocks_found": 0,
            }
        balance = ledger.balance(address)
        payments = [
            {**_payment_json(p), "amount": amount}
            for p in sorted(ledger.payments(), key=lambda p: p.created_at, reverse=True)
            for dest, amount in p.destinations
            if dest == address
        ]
        return {
            "balance": {
                "immature": balance.immature,
                "credited": balance.balance,
                "in_flight": balance.in_flight,
                "paid": balance.paid,
            },
            "payments": payments,
            "blocks_found": sum(1 for b in ledger.blocks() if b.finder == address),
        }

    # -- live statistics ------------------------------------------------------------------

    @hookimpl
    def zion_share_accepted(self, share: ShareRecord) -> None:
        """Note the worker's last share (the statistics' ``last_share_at``)."""
        self._last_share[f"{share.address}.{share.worker or 'default'}"] = share.timestamp

    @hookimpl
    def zion_block_found(self, block: Any, height: int) -> None:
        """A block found: publish the statistics soon."""
        if self._stats_wake is not None:
            self._stats_wake.set()

    async def _statistics(self) -> None:
        """Publish at once, then every ``stats_interval_seconds`` or after a block is found,
        but never twice within :data:`STATS_MIN_GAP` (or the interval, if shorter)."""
        interval = self.config.stats_interval_seconds
        while True:
            self._stats_wake = wake = anyio.Event()  # a block found from now on: next round
            started = anyio.current_time()
            await self.publish_stats()
            await anyio.sleep(min(interval, STATS_MIN_GAP))
            with anyio.move_on_after(started + interval - anyio.current_time()):
                await wake.wait()

    async def publish_stats(self) -> None:
        """Build one snapshot and emit it as the ``pool_stats`` event; errors are logged."""
        try:
            stats, miners = await self.snapshot()
        except Exception:
            logger.exception("the pool's statistics could not be built")
            return
        self.node.emit("pool_stats", stats=stats, miners=miners)

    async def snapshot(self) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """The ``pool_stats`` event's arguments: the pool's statistics and its miners'.

        The server's counters are read here, on the event loop; the ledger is read and the
        snapshots are assembled in a worker thread.
        """
        counters = self.server.stats()
        online = [session.worker_key for session in self.server.miners.values()]
        last_share = dict(self._last_share)
        return await anyio.to_thread.run_sync(self._assemble, counters, online, last_share)

    def _assemble(
        self, counters: Mapping[str, Any], online: Sequence[str], last_share: Mapping[str, float]
    ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        ledger = self.ledger
        summary = self.summary()
        balances = ledger.balances() if ledger is not None else []
        finders = Counter(b.finder for b in ledger.blocks() if b.finder) if ledger else Counter()
        now = time.time()
        miners = miner_snapshots(
            counters["workers"], online, balances, finders, last_share, now=now
        )
        stats = {
            **pool_json(counters, summary, self),
            "connected": {
                "miners": len({_split_worker(key)[0] for key in online}),
                "workers": len(online),
            },
            "time": now,
            "interval_seconds": self.config.stats_interval_seconds,
        }
        return stats, miners


def _min_fee(service: ChainServiceView) -> int:
    """The network fee the wallet pays for one transfer: the chain's minimum fee."""
    fee = getattr(service.chain.params, "min_fee", 0)
    return int(fee)


def _block_json(block: Any) -> dict[str, Any]:
    return {
        "height": block.height,
        "block_id": block.block_id.hex(),
        "status": block.status,
        "reward": block.reward,
        "network_difficulty": block.network_difficulty,
        "found_at": block.found_at,
    }


def _payment_json(payment: Any) -> dict[str, Any]:
    return {
        "batch_id": payment.batch_id,
        "status": payment.status,
        "tx_hash": payment.tx_hash,
        "amount": payment.total,
        "created_at": payment.created_at,
    }


_COUNT: Final = {"type": "integer", "minimum": 0}
_BLOCK_SCHEMA: Final = {
    "type": "object",
    "required": ["height", "block_id", "status", "reward", "network_difficulty", "found_at"],
    "properties": {
        "height": _COUNT,
        "block_id": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "status": {"enum": ["pending", "credited", "orphaned"]},
        "reward": _COUNT,
        "network_difficulty": {"type": "integer", "minimum": 1},
        "found_at": {"type": "number"},
    },
}
_PAYMENT_SCHEMA: Final = {
    "type": "object",
    "required": ["batch_id", "status", "tx_hash", "amount", "created_at"],
    "properties": {
        "batch_id": {"type": "string"},
        "status": {"enum": ["intent", "sent", "settled", "failed"]},
        "tx_hash": {"type": "string"},
        "amount": _COUNT,
        "created_at": {"type": "number"},
    },
}
_WORKER_SCHEMA: Final = {
    "type": "object",
    "required": ["name", "hashrate", "shares", "difficulty"],
    "properties": {
        "name": {"type": "string"},
        "hashrate": {"type": "number", "minimum": 0},
        "shares": _COUNT,
        "difficulty": _COUNT,
    },
}
POOL_STATS_SCHEMA: Final = {
    "type": "object",
    "required": [
        "pool_address",
        "policy",
        "fee_bps",
        "hashrate",
        "miners",
        "workers",
        "connections",
        "height",
        "network_difficulty",
        "shares",
        "blocks",
        "last_block",
        "recent_blocks",
        "payments",
        "payouts",
        "status",
    ],
    "properties": {
        "pool_address": {"type": "string"},
        "policy": {"type": "string"},
        "fee_bps": _COUNT,
        "hashrate": {"type": "number", "minimum": 0},
        "miners": _COUNT,
        "workers": _COUNT,
        "connections": _COUNT,
        "height": {"type": ["integer", "null"], "minimum": 0},
        "network_difficulty": {"type": ["integer", "null"], "minimum": 1},
        "shares": {
            "type": "object",
            "required": ["accepted", "stale", "rejected", "difficulty"],
            "properties": {
                "accepted": _COUNT,
                "stale": _COUNT,
                "rejected": _COUNT,
                "difficulty": _COUNT,
            },
        },
        "blocks": {
            "type": "object",
            "required": ["found", "pending", "credited", "orphaned"],
            "properties": {k: _COUNT for k in ("found", "pending", "credited", "orphaned")},
        },
        "last_block": {"oneOf": [{"type": "null"}, _BLOCK_SCHEMA]},
        "recent_blocks": {"type": "array", "items": _BLOCK_SCHEMA},
        "payments": {
            "type": "object",
            "required": ["count", "total_paid", "in_flight", "last"],
            "properties": {
                "count": _COUNT,
                "total_paid": _COUNT,
                "in_flight": _COUNT,
                "last": {"oneOf": [{"type": "null"}, _PAYMENT_SCHEMA]},
            },
        },
        "payouts": {
            "type": "object",
            "required": ["enabled", "threshold", "interval_seconds", "next_at"],
            "properties": {
                "enabled": {"type": "boolean"},
                "threshold": {"type": "integer", "minimum": 1},
                "interval_seconds": {"type": "number"},
                "next_at": {"type": ["number", "null"]},
            },
        },
        "status": {"const": "OK"},
    },
}
POOL_MINER_PARAMS_SCHEMA: Final = {
    "type": "object",
    "required": ["address"],
    "properties": {"address": {"type": "string"}},
}
POOL_MINER_STATS_SCHEMA: Final = {
    "type": "object",
    "required": [
        "address",
        "hashrate",
        "shares",
        "workers",
        "balance",
        "payments",
        "blocks_found",
        "status",
    ],
    "properties": {
        "address": {"type": "string"},
        "hashrate": {"type": "number", "minimum": 0},
        "shares": _COUNT,
        "workers": {"type": "array", "items": _WORKER_SCHEMA},
        "balance": {
            "type": "object",
            "required": ["immature", "credited", "in_flight", "paid"],
            "properties": {k: _COUNT for k in ("immature", "credited", "in_flight", "paid")},
        },
        "payments": {"type": "array", "items": _PAYMENT_SCHEMA},
        "blocks_found": _COUNT,
        "status": {"const": "OK"},
    },
}


def _services(node: Node) -> tuple[StratumServer, PoolAccounting]:
    services = node.registry("service")
    server: StratumServer = services.get(StratumServer.name)
    accounting: PoolAccounting = services.get(PoolAccounting.name)
    return server, accounting


def _split_worker(key: str) -> tuple[str, str]:
    address, _, worker = key.partition(".")
    return address, worker


def pool_json(
    counters: Mapping[str, Any], summary: Mapping[str, Any], accounting: PoolAccounting
) -> dict[str, Any]:
    """``pool_stats``'s result: the server's counters (``StratumServer.stats()``) and the
    ledger's summary (:meth:`PoolAccounting.summary`)."""
    workers: Mapping[str, Mapping[str, Any]] = counters["workers"]
    policy = accounting.policy
    return {
        "pool_address": counters["pool_address"],
        "policy": accounting.config.payout_policy,
        "fee_bps": policy.fee_bps if policy is not None else accounting.config.fee_bps,
        "hashrate": round(sum(w["hashrate"] for w in workers.values()), 2),
        "miners": len({_split_worker(k)[0] for k, w in workers.items() if w["hashrate"]}),
        "workers": sum(1 for w in workers.values() if w["hashrate"]),
        "connections": counters["connections"],
        "height": counters["height"],
        "network_difficulty": counters["network_difficulty"],
        "shares": {
            "accepted": counters["shares_accepted"],
            "stale": counters["shares_accepted_stale"],
            "rejected": sum(counters["shares_rejected"].values()),
            "difficulty": counters["difficulty_accepted"],
        },
        **summary,
        "payouts": {
            "enabled": accounting.engine is not None,
            "threshold": accounting.config.payout_threshold,
            "interval_seconds": accounting.config.payout_interval_seconds,
            "next_at": accounting.next_payout_at if accounting.engine is not None else None,
        },
        "status": "OK",
    }


def miner_snapshots(
    workers: Mapping[str, Mapping[str, Any]],
    online: Iterable[str],
    balances: Iterable[Balance],
    finders: Mapping[str, int],
    last_share: Mapping[str, float],
    *,
    now: float,
) -> dict[str, dict[str, Any]]:
    """Every known miner's statistics by address, in one pass over each source.

    ``workers``: the server's counters by ``address.worker``; ``online``: the worker keys
    of the logged-in connections; ``balances``, ``finders`` (blocks found by address):
    the ledger's; ``last_share``: the time of each worker's last accepted share. A miner
    is known when it is connected, has had a share accepted or has a balance.
    """
    miners: dict[str, dict[str, Any]] = {}
    rigs: dict[str, dict[str, Any]] = {}

    def miner(address: str) -> dict[str, Any]:
        entry = miners.get(address)
        if entry is None:
            entry = miners[address] = {
                "address": address,
                "hashrate": 0.0,
                "shares": 0,
                "workers": [],
                "balance": {"immature": 0, "credited": 0, "in_flight": 0, "paid": 0},
                "blocks_found": 0,
                "last_share_at": None,
                "time": now,
            }
        return entry

    def rig(key: str) -> dict[str, Any]:
        entry = rigs.get(key)
        if entry is None:
            address, name = _split_worker(key)
            entry = rigs[key] = {
                "name": name,
                "online": False,
                "hashrate": 0.0,
                "shares": 0,
                "difficulty": 0,
                "last_share_at": last_share.get(key),
            }
            miner(address)["workers"].append(entry)
        return entry

    for key, counted in workers.items():
        entry = rig(key)
        entry["hashrate"] = counted["hashrate"]
        entry["shares"] = counted["shares"]
        entry["difficulty"] = counted["difficulty"]
    for key in online:
        rig(key)["online"] = True
    for balance in balances:
        miner(balance.address)["balance"] = {
            "immature": balance.immature,
            "credited": balance.balance,
            "in_flight": balance.in_flight,
            "paid": balance.paid,
        }
    for address, count in finders.items():
        miner(address)["blocks_found"] = count
    for entry in miners.values():
        rigs_of = entry["workers"]
        if not rigs_of:
            continue
        rigs_of.sort(key=lambda w: w["name"])
        entry["hashrate"] = round(sum(w["hashrate"] for w in rigs_of), 2)
        entry["shares"] = sum(w["shares"] for w in rigs_of)
        times = [w["last_share_at"] for w in rigs_of if w["last_share_at"] is not None]
        entry["last_share_at"] = max(times, default=None)
    return miners


def rpc_methods(node: Node) -> list[RpcMethod]:
    """``pool_stats`` and ``pool_miner_stats`` (what a pool's website shows)."""

    async def pool_stats(params: Any) -> dict[str, Any]:
        server, accounting = _services(node)
        counters = server.stats()
        summary = await anyio.to_thread.run_sync(accounting.summary)
        return pool_json(counters, summary, accounting)

    async def pool_miner_stats(params: Any) -> dict[str, Any]:
        if not isinstance(params, Mapping) or not isinstance(params.get("address"), str):
            raise TypeError("params must be an object {address}")
        address = params["address"]
        try:
            Address.parse(address, node.network)
        except InvalidAddressError as exc:
            raise ValueError(f"address: {exc}") from None
        server, accounting = _services(node)
        stats = server.stats()
        workers = [
            {"name": _split_worker(key)[1], **worker}
            for key, worker in sorted(stats["workers"].items())
            if _split_worker(key)[0] == address
        ]
        summary = await anyio.to_thread.run_sync(accounting.miner_summary, address)
        return {
            "address": address,
            "hashrate": round(sum(w["hashrate"] for w in workers), 2),
            "shares": sum(w["shares"] for w in workers),
            "workers": workers,
            **summary,
            "status": "OK",
        }

    return [
        RpcMethod(
            "pool_stats",
            pool_stats,
            description="The mining pool: hash rate (hashes per second over the last 10 "
            "minutes of accepted shares), miners and workers hashing, shares, blocks found "
            "(pending, credited, orphaned), the last ones, payments, policy and fee.",
            params_schema={},
            result_schema=POOL_STATS_SCHEMA,
        ),
        RpcMethod(
            "pool_miner_stats",
            pool_miner_stats,
            description="One miner of the pool by address: its workers' hash rates and "
            "shares, its balances in atomic units (immature, credited, in_flight, paid) and "
            "its payments.",
            params_schema=POOL_MINER_PARAMS_SCHEMA,
            result_schema=POOL_MINER_STATS_SCHEMA,
        ),
    ]


__all__ = [
    "BATCH_SECONDS",
    "PoolAccounting",
    "ShareNotRecordedError",
    "WalletRpcClient",
    "WalletUnansweredError",
    "miner_snapshots",
    "pool_json",
    "rpc_methods",
    "wallet_available",
]
