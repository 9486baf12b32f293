"""The ``stratum`` service: a Monero-style Stratum server (XMRig 6.x) over the node's chain.

- One block template per tip, paid to ``[stratum] pool_address``, is built from the
  ``chain`` service (with the pooled transactions, under the service's lock, in a worker
  thread), with :data:`RESERVE_SIZE` bytes reserved in the miner transaction's extra
  field. It is rebuilt when a block is connected and every ``refresh_seconds``. With
  ``[stratum] node`` set, templates come from that remote node's API instead, and blocks
  go back to it (:mod:`.upstream`).
- Every job gets its own extra nonce (4 random bytes of this server and a 4-byte
  counter) written into the reserved space, so no two jobs, of one miner or of two,
  share a hashing blob.
- ``submit`` is checked cheapest first: session, job id, nonce and result shapes,
  duplicate, the submitted hash against the share target, then RandomX over the job's
  blob with the nonce, in a worker thread behind a bounded limiter, when the
  share-verification policy (``[stratum] verification_policy``, every share by default)
  asks for it; a block candidate is always verified. A verified hash that meets the
  network difficulty makes the full block, which goes to ``chain_service.submit_block``
  at once.
- While the node may not mine (:func:`zion_core.mining_allowed`: not synchronized with
  its network, outside devnet), the pool builds no template: logins are refused with the
  reason (``synchronizing: height 120 of 500 (3 peers)``), no job goes out, shares of
  the last jobs count as stale (within the grace period, never as blocks), and jobs come
  back once the node has caught up. With a remote node, its ``Core is busy`` answer and
  reason do the same.
- Each miner's share difficulty follows the vardiff policy (``[stratum] vardiff_policy``,
  :class:`~.vardiff.Vardiff` by default) unless the login fixed it (``ADDRESS+DIFF`` or a
  ``d=N`` password). Faults count towards the ban policy (``[stratum] ban_policy``).
"""

from __future__ import annotations

import functools
import json
import logging
import secrets
import ssl
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Protocol

import anyio
import anyio.to_thread
import attrs
from anyio.abc import SocketAttribute
from anyio.streams.tls import TLSListener

from zion_core import ConfigError, Histogram, ValidationError, mining_allowed
from zion_core.chain.address import Address, InvalidAddressError
from zion_core.chain.block import Block, patch_nonce
from zion_core.chain.transaction import Transaction
from zion_core.netaddr import parse_endpoint
from zion_hookspecs import (
    BanPolicy,
    DifficultyState,
    Node,
    ReadySignal,
    ShareRecord,
    ShareVerificationPolicy,
    VardiffPolicy,
    hookimpl,
)
from zion_hookspecs.types import RegistryKind

from . import connection, protocol, tls
from .bans import ScoreBan
from .config import PortConfig, StratumConfig
from .connection import (
    Connection,
    LineTooLongError,
    PlainListener,
    SocketConnection,
    StreamListener,
)
from .jobs import BlobMaker
from .upstream import (
    AdminToken,
    ChainServiceLike,
    InProcessSource,
    NodeBusyError,
    NodeClient,
    NodeUnavailableError,
    RemoteSource,
    TemplateParts,
    TemplateSource,
    UpstreamError,
)
from .vardiff import default_vardiff
from .verification import VerifyAll

logger = logging.getLogger(__name__)

RESERVE_SIZE: Final = 8
"""Bytes reserved in each template's miner transaction for the per-job extra nonce."""
TEMPLATE_ROOM: Final = 8192
"""Bytes of the maximum block size kept free of pooled transactions."""
SEND_TIMEOUT: Final = 10.0
"""Seconds a miner's socket may take to accept one message before it is dropped."""
EXPIRED_IDS: Final = 64
"""Ids of replaced jobs remembered per miner (their shares get "Block expired")."""
HASHRATE_WINDOW: Final = 600.0
"""Seconds of accepted shares behind a worker's hash rate estimate."""
TLS_CERT: Final = "stratum-tls.crt"
TLS_KEY: Final = "stratum-tls.key"
"""The TLS certificate and key in the data directory when ``tls_cert``/``tls_key`` are empty."""
RETRY_SECONDS: Final = 1.0
"""Wait before building a template again after a failure."""
MAX_RETRY_SECONDS: Final = 8.0
"""The longest wait between two tries of a remote node that gives no template (the wait
doubles from :data:`RETRY_SECONDS`; the node's tip moving cuts it short)."""
BROADCAST_SENDERS: Final = 256
"""Tasks that write one broadcast's job lines (a miner slow to read holds up one)."""
INLINE_JOBS: Final = 64
"""Jobs made on the event loop at most; more are made in a worker thread."""
BROADCAST_CHUNK: Final = 1024
"""Miners whose jobs are made in one go during a broadcast (the next chunk is made while
this one is sent)."""
BROADCASTS_KEPT: Final = 64
"""Recent broadcasts (miners, seconds) kept for statistics."""
SYNC_POLL_SECONDS: Final = 1.0
"""How often the pool asks again, while it waits, whether its node may mine."""
SYNC_LOG_SECONDS: Final = 60.0
"""How often the reason is logged again while the pool waits for its node to synchronize."""
NOT_READY: Final = "Pool not ready, try again later"


class KeyedHasher(Protocol):
    """The node's hasher as the pool uses it: a hash under a given RandomX key."""

    def hash(self, blob: bytes, *, key: bytes | None = None) -> bytes: ...


@attrs.frozen(eq=False)
class Template:
    """A block template on one tip, with room for an extra nonce."""

    serial: int
    block: Block
    height: int
    difficulty: int
    seed_hash: bytes
    next_seed_hash: bytes | None
    txs: Mapping[bytes, Transaction]
    maker: BlobMaker
    """Per-job hashing blobs and ``job`` lines of :attr:`block`."""

    @property
    def prev_id(self) -> bytes:
        return self.block.header.prev_id


@attrs.define(eq=False)
class Job:
    """One job sent to one miner."""

    job_id: str
    template: Template
    extra_nonce: bytes
    """What this job writes into the template's reserved space."""
    blob: bytes
    difficulty: int
    """The share difficulty credited for this job (at most the network's)."""
    nonces: set[int] = attrs.field(factory=set)

    @property
    def block(self) -> Block:
        """The template with this job's extra nonce."""
        return self.template.block.with_extra_nonce(self.extra_nonce)

    def line(self) -> bytes:
        """The encoded ``job`` notification of this job."""
        return self.template.maker.job_line(self.blob, self.job_id, self.difficulty)

    def to_json(self) -> dict[str, Any]:
        """The ``job`` object miners receive."""
        job: dict[str, Any] = {
            "blob": self.blob.hex(),
            "job_id": self.job_id,
            "target": protocol.target_hex(self.difficulty),
            "algo": protocol.ALGO,
            "height": self.template.height,
            "seed_hash": self.template.seed_hash.hex(),
        }
        if self.template.next_seed_hash is not None:
            job["next_seed_hash"] = self.template.next_seed_hash.hex()
        return job


class Session:
    """One connection: its peer, its login and its jobs.

    ``send`` writes one encoded line to the peer; ``close`` ends the connection. ``write``,
    when given, starts sending a line without waiting: True when all of it was sent, False
    when the rest is queued for ``send`` (called with no data) to finish.
    """

    def __init__(
        self,
        ip: str,
        send: Callable[[bytes], Awaitable[None]],
        close: Callable[[], Awaitable[None]] | None = None,
        *,
        write: Callable[[bytes], bool] | None = None,
    ) -> None:
        self.ip = ip
        self._send = send
        self._close = close
        self._write = write
        self._lock = anyio.Lock()
        self.id: str | None = None
        self.address = ""
        self.worker = ""
        self.agent = ""
        self.fixed = False
        self.vardiff: DifficultyState | None = None
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.expired: OrderedDict[str, None] = OrderedDict()
        self.connected = time.monotonic()
        self.closed = False
        self.start_difficulty: int | None = None
        """The start difficulty of the port the miner came in on, if it has its own."""

    @property
    def logged_in(self) -> bool:
        return self.id is not None

    @property
    def difficulty(self) -> int:
        return self.vardiff.difficulty if self.vardiff is not None else 0

    @property
    def worker_key(self) -> str:
        return f"{self.address}.{self.worker or 'default'}"

    async def send(self, message: dict[str, Any]) -> None:
        """Send one message; a peer that does not take it in time is disconnected."""
        if self.closed:
            return
        await self.send_line(protocol.encode(message))

    def write_line(self, line: bytes) -> bytes | None:
        """Start sending ``line`` without waiting; None when nothing is left to do, else
        what :meth:`send_line` must still send (``b""``: only wait for the queued rest)."""
        if self.closed:
            return None
        if self._write is None or self._lock.locked():
            return line
        return None if self._write(line) else b""

    async def send_line(self, line: bytes) -> None:
        """Send one encoded line, like :meth:`send`."""
        rest = self.write_line(line)
        if rest is not None:
            await self.send_line_rest(rest)

    async def send_line_rest(self, rest: bytes) -> None:
        """Finish what :meth:`write_line` left to send."""
        if self.closed:
            return
        try:
            async with self._lock:
                with anyio.fail_after(SEND_TIMEOUT):
                    await self._send(rest)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, TimeoutError):
            await self.close()

    async def close(self) -> None:
        """End the connection (once)."""
        if self.closed:
            return
        self.closed = True
        if self._close is not None:
            with anyio.CancelScope(shield=True):
                await self._close()

    def add_job(self, job: Job, keep: int) -> None:
        """Make ``job`` the newest; the oldest beyond ``keep`` expire."""
        self.jobs[job.job_id] = job
        while len(self.jobs) > keep:
            old, _ = self.jobs.popitem(last=False)
            self.expired[old] = None
        while len(self.expired) > EXPIRED_IDS:
            self.expired.popitem(last=False)


@attrs.define
class WorkerStats:
    """Accepted work of one ``address.worker``."""

    shares: int = 0
    difficulty: int = 0
    recent: deque[tuple[float, int]] = attrs.field(factory=deque)
    recent_difficulty: int = 0
    """The sum of the difficulties in :attr:`recent`."""
    first: float | None = None

    def add(self, now: float, difficulty: int) -> None:
        self.shares += 1
        self.difficulty += difficulty
        self.recent.append((now, difficulty))
        self.recent_difficulty += difficulty
        if self.first is None:
            self.first = now
        self.trim(now)

    def trim(self, now: float) -> None:
        recent = self.recent
        while recent and recent[0][0] < now - HASHRATE_WINDOW:
            self.recent_difficulty -= recent.popleft()[1]

    def hashrate(self, now: float) -> float:
        """Hashes per second: accepted difficulty over the window (or since the first share)."""
        self.trim(now)
        if self.first is None:
            return 0.0
        span = min(HASHRATE_WINDOW, max(1.0, now - self.first))
        return self.recent_difficulty / span


class _Close(Exception):
    """The connection must be closed after the reply already sent."""


class StratumServer:
    """The ``stratum`` service (see the module's description)."""

    name = "stratum"

    def __init__(self, node: Node, config: StratumConfig) -> None:
        self.node = node
        self.config = config
        self.address: Address = config.parsed_address(node.network)
        # The built-in policies until run() selects the configured ones.
        self.vardiff: VardiffPolicy = default_vardiff(config)
        self.bans: BanPolicy = ScoreBan(config.ban_score, config.ban_seconds)
        self.verification: ShareVerificationPolicy = VerifyAll()
        self.host: str | None = None
        self.port: int | None = None
        self.bound: list[tuple[str, int, bool]] = []
        """Each listening (host, port, TLS), ``bind`` first."""
        self.tls_fingerprint: str | None = None
        self.template: Template | None = None
        self.waiting: str | None = None
        """Why the pool has no jobs while its node may not mine (None otherwise)."""
        self.sync_poll_seconds = SYNC_POLL_SECONDS
        self.sync_log_seconds = SYNC_LOG_SECONDS
        self._waiting_logged = 0.0
        self._previous_tip: bytes | None = None
        self._tip_changed = 0.0
        self.clock: Callable[[], float] = time.monotonic
        self.sessions: set[Session] = set()
        self.miners: dict[str, Session] = {}
        self.workers: dict[str, WorkerStats] = {}
        self.counters: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self._per_ip: Counter[str] = Counter()
        self._instance = secrets.token_bytes(4)
        self.broadcasts: deque[tuple[int, float]] = deque(maxlen=BROADCASTS_KEPT)
        """(miners, seconds) of the recent new-job broadcasts."""
        self.broadcast_seconds = Histogram()
        """Seconds of every new-job broadcast (the ``pool`` metrics source)."""
        self.verify_seconds = Histogram()
        """Seconds of every share verification, the wait for a thread included."""
        self._job_counter = 0
        self._serial = 0
        self._pending = 0
        self._source: TemplateSource | None = None
        self._hasher: KeyedHasher | None = None
        self._limiter: anyio.CapacityLimiter | None = None
        self._wake: anyio.Event | None = None
        self._accept_scope: anyio.CancelScope | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self._idle: anyio.Event | None = None
        self._not_accepting: anyio.Event | None = None
        self.on_share: Callable[[ShareRecord, Template], Awaitable[None]] | None = None
        """Awaited with each accepted share and its template before the miner's OK; if it
        raises, the share is not acknowledged and the connection is closed."""
        self.on_candidate: Callable[[Template, Block, str], Awaitable[None]] | None = None
        """Awaited with the template, the block and the finder's address before a block is
        handed to the node (the accounting writes it ahead); if it raises, the error is
        logged and the block submitted all the same."""
        self.on_block: Callable[[Template, Block, int, str], Awaitable[None]] | None = None
        """Awaited with the template, the block, its height and the finder's address when
        a block of the pool was connected."""
        self.on_tip: Callable[[], None] | None = None
        """Called once a template on another tip is in place (what follows a remote
        node's tip: no chain events come from there)."""

    # -- the service ----------------------------------------------------------------------

    async def run(self, *, task_status: ReadySignal) -> None:
        """Listen, report ready once bound, serve miners until cancelled."""
        self._select_policies()
        self._source = source = self._template_source()
        self._hasher = self._select_hasher()
        self._limiter = anyio.CapacityLimiter(self.config.verify_threads)
        self._not_accepting = anyio.Event()
        ports = [PortConfig(self.config.address(self.node.network)), *self.config.ports]
        context = self._tls_context() if any(p.tls for p in ports) else None
        listeners: list[PlainListener | StreamListener] = []
        try:
            for port_config in ports:
                host, port = parse_endpoint(port_config.bind, what="stratum bind")
                handler = functools.partial(self._handle, start=port_config.start_difficulty)
                listener: PlainListener | StreamListener
                if port_config.tls and context is not None:
                    tcp = await anyio.create_tcp_listener(local_host=host, local_port=port)
                    bound = tcp.extra(SocketAttribute.local_address)
                    tls_listener = TLSListener(tcp, context, standard_compatible=False)
                    address = (str(bound[0]), int(bound[1]))
                    listener = StreamListener(tls_listener, address, handler)
                else:
                    sock = connection.listen(host, port)
                    listener = PlainListener(sock, handler)
                listeners.append(listener)
                bound_host, bound_port = listener.local_address
                self.bound.append((bound_host, bound_port, port_config.tls))
            self.host, self.port = self.bound[0][0], self.bound[0][1]
            async with source:
                await self._serve(listeners, task_status)
        finally:
            for listener in listeners:
                with anyio.CancelScope(shield=True):
                    await listener.aclose()

    async def _serve(
        self,
        listeners: Sequence[PlainListener | StreamListener],
        task_status: ReadySignal,
    ) -> None:
        source, not_accepting = self._source, self._not_accepting
        if source is None or not_accepting is None:
            raise RuntimeError("the stratum service is not running")
        unsubscribe = self.node.subscribe(self, name="stratum")
        try:
            async with anyio.create_task_group() as tg:
                self._task_group = tg
                tg.start_soon(self._templates, source)
                for host, port, tls in self.bound:
                    logger.info(
                        "Stratum pool listening on %s:%d%s, blocks pay %s",
                        host,
                        port,
                        " (TLS)" if tls else "",
                        self.address,
                    )
                with anyio.CancelScope() as scope:
                    self._accept_scope = scope
                    task_status.started()
                    async with anyio.create_task_group() as serving:
                        for listener in listeners:
                            serving.start_soon(listener.serve, tg)
                # drained: no new connections; the open ones are being closed
                for listener in listeners:
                    await listener.aclose()
                not_accepting.set()
                await anyio.sleep_forever()
        finally:
            unsubscribe()
            self._task_group = None

    def _tls_context(self) -> ssl.SSLContext:
        """The TLS ports' context; a self-signed certificate is made when none exists."""
        data = Path(self.node.data_dir)
        cert = Path(self.config.tls_cert) if self.config.tls_cert else data / TLS_CERT
        key = Path(self.config.tls_key) if self.config.tls_key else data / TLS_KEY
        if not cert.exists() and not key.exists():
            tls.generate(cert, key)
            logger.info("pool: made a self-signed TLS certificate %s", cert)
        elif not cert.exists() or not key.exists():
            raise ConfigError(f"stratum TLS needs both {cert} and {key}; one is missing")
        self.tls_fingerprint = tls.fingerprint(cert)
        logger.info("pool TLS certificate SHA-256 (--tls-fingerprint): %s", self.tls_fingerprint)
        return tls.server_context(cert, key)

    async def drain(self) -> None:
        """Stop accepting connections and close the miners' connections."""
        if self._accept_scope is not None and self._not_accepting is not None:
            self._accept_scope.cancel()
            await self._not_accepting.wait()
        sessions = list(self.sessions)
        for session in sessions:
            await session.close()
        if self.sessions:
            self._idle = anyio.Event()
            await self._idle.wait()

    @hookimpl
    def zion_block_connected(self, block: Any, height: int) -> None:
        """A new tip: rebuild the template at once."""
        self._new_tip()

    def _new_tip(self) -> None:
        """Rebuild the template at once (the tip may have changed)."""
        if self._wake is not None:
            self._wake.set()

    # -- statistics -----------------------------------------------------------------------

    @property
    def verify_pending(self) -> int:
        """Shares waiting for or under RandomX verification (at most ``verify_queue``)."""
        return self._pending

    def stats(self) -> dict[str, Any]:
        """The pool's counters as a plain dict."""
        now = self.clock()
        template = self.template
        return {
            "pool_address": str(self.address),
            "port": self.port,
            "connections": len(self.sessions),
            "connections_total": self.counters["connections"],
            "connections_refused": self.counters["refused"],
            "miners": len(self.miners),
            "height": template.height if template is not None else None,
            "network_difficulty": template.difficulty if template is not None else None,
            "waiting": self.waiting,
            "shares_accepted": self.counters["accepted"],
            "shares_accepted_stale": self.counters["accepted_stale"],
            "shares_rejected": dict(self.rejected),
            "difficulty_accepted": self.counters["difficulty"],
            "blocks_found": self.counters["blocks_found"],
            "blocks_rejected": self.counters["blocks_rejected"],
            "malformed": self.counters["malformed"],
            "last_broadcast": (
                {"miners": self.broadcasts[-1][0], "ms": round(self.broadcasts[-1][1] * 1000, 2)}
                if self.broadcasts
                else None
            ),
            "banned": self.bans.banned_count(now),
            "shares_verified": self.counters["verified"],
            "shares_unverified": self.counters["verify_skipped"],
            "shares_verify_failed": self.counters["verify_failed"],
            "policies": {
                "vardiff": self.vardiff.name,
                "ban": self.bans.name,
                "verification": self.verification.name,
            },
            "workers": {
                key: {
                    "shares": worker.shares,
                    "difficulty": worker.difficulty,
                    "hashrate": round(worker.hashrate(now), 2),
                }
                for key, worker in self.workers.items()
            },
        }

    # -- templates and jobs ---------------------------------------------------------------

    def _chain_service(self) -> ChainServiceLike:
        services = self.node.registry("service")
        if "chain" not in services.names():
            raise ConfigError(
                "stratum.pool_address is set, but this node keeps no chain to mine: "
                "load a storage plugin and a hasher (--plugin sqlite --plugin randomx)"
            )
        service: ChainServiceLike = services.get("chain")
        return service

    def _template_source(self) -> TemplateSource:
        """The remote node of ``[stratum] node``, or else this node's chain service."""
        if self.config.node:
            client = NodeClient(self.config.node, AdminToken.of(self.config))
            return RemoteSource(
                client, self.address, network=self.node.network, reserve_size=RESERVE_SIZE
            )
        return InProcessSource(
            self._chain_service(), self.address, reserve_size=RESERVE_SIZE, room=TEMPLATE_ROOM
        )

    def _select_policies(self) -> None:
        """The configured vardiff, ban and verification policies; a ConfigError naming
        the key and the registered names for an unknown one."""
        self.vardiff = self._policy("vardiff_policy", "vardiff_policy")
        self.bans = self._policy("ban_policy", "ban_policy")
        self.verification = self._policy("share_verification_policy", "verification_policy")

    def _policy(self, kind: RegistryKind, key: str) -> Any:
        registry = self.node.registry(kind)
        name: str = getattr(self.config, key)
        names = registry.names()
        if name not in names:
            known = ", ".join(names) or "none registered"
            raise ConfigError(
                f"[stratum] {key}: unknown {kind.replace('_', ' ')} {name!r}; available: {known}"
            )
        return registry.get(name)

    def _select_hasher(self) -> KeyedHasher:
        hasher: KeyedHasher = self.node.registry("hasher").select(
            self.node.config_section("backends").hasher
        )
        return hasher

    async def _templates(self, source: TemplateSource) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(source.follow, self._new_tip)
            await source.wait_ready()
            delay, failure = RETRY_SECONDS, ""
            while True:
                self._wake = wake = anyio.Event()
                reason = self._sync_reason()
                if reason is not None:
                    self._hold(reason)
                    await anyio.sleep(self.sync_poll_seconds)
                    continue
                try:
                    parts = await source.template()
                    self._serial += 1
                    template = await anyio.to_thread.run_sync(_make_template, self._serial, parts)
                except NodeBusyError as exc:  # the remote node is not synchronized
                    self._hold(exc.reason)
                    await anyio.sleep(self.sync_poll_seconds)
                    continue
                except UpstreamError as exc:
                    # the source logs a node going away and coming back
                    if not isinstance(exc, NodeUnavailableError) and str(exc) != failure:
                        logger.error(
                            "the pool got no block template from %s: %s", source.description, exc
                        )
                    failure = str(exc)
                    with anyio.move_on_after(delay):
                        await wake.wait()
                    delay = min(2 * delay, MAX_RETRY_SECONDS)
                    continue
                except Exception:
                    logger.exception("the pool could not build a block template")
                    await anyio.sleep(RETRY_SECONDS)
                    continue
                delay, failure = RETRY_SECONDS, ""
                current = self.template
                moved = current is None or current.prev_id != template.prev_id
                if current is not None and moved and self.waiting is None:
                    self._previous_tip, self._tip_changed = current.prev_id, self.clock()
                self.template = template
                if self.waiting is not None:
                    logger.info("pool: the node is synchronized; jobs go out again")
                    self.waiting = None
                logger.debug(
                    "pool template %d at height %d, difficulty %d, %d transaction(s)",
                    template.serial,
                    template.height,
                    template.difficulty,
                    len(template.block.tx_hashes),
                )
                await self._broadcast(template)
                if moved and self.on_tip is not None:
                    self.on_tip()
                with anyio.move_on_after(self.config.refresh_seconds):
                    await self._next_round(wake)

    def _sync_reason(self) -> str | None:
        """Why the pool's own node may not mine now (None: it may). A remote node
        decides for itself: its ``get_block_template`` answers ``Core is busy``."""
        if self.config.node:
            return None
        allowed, reason = mining_allowed(self.node)
        return None if allowed else reason

    async def _next_round(self, wake: anyio.Event) -> None:
        """Wait for ``wake`` (a new tip), or, with the node's own chain, for the node to
        fall behind its network (checked every ``sync_poll_seconds``)."""
        if self.config.node:
            await wake.wait()
            return
        while not wake.is_set():
            with anyio.move_on_after(self.sync_poll_seconds):
                await wake.wait()
            if self._sync_reason() is not None:
                return

    def _hold(self, reason: str) -> None:
        """No jobs while the node may not mine: logins are refused with ``reason``, and
        the last jobs are stale (a share is taken within the grace period, never as a
        block); logged at once and every ``sync_log_seconds``."""
        now = time.monotonic()
        if self.waiting is None:
            current = self.template
            if current is not None:
                self._previous_tip, self._tip_changed = current.prev_id, self.clock()
            logger.info("pool: no jobs until the node is synchronized (%s)", reason)
            self._waiting_logged = now
        elif now - self._waiting_logged >= self.sync_log_seconds:
            logger.info("pool: still waiting for the node (%s)", reason)
            self._waiting_logged = now
        self.waiting = reason

    def _next_ids(self, count: int) -> list[tuple[str, bytes]]:
        """``count`` fresh (job id, extra nonce) pairs."""
        pairs = []
        for _ in range(count):
            self._job_counter = (self._job_counter + 1) & 0xFFFFFFFF
            nonce = self._instance + self._job_counter.to_bytes(4, "big")
            pairs.append((nonce.hex(), nonce))
        return pairs

    def _jobs_for(
        self, template: Template, sessions: Sequence[Session]
    ) -> Callable[[], list[tuple[Job, bytes]]]:
        """A function making the next job of each of ``sessions``, with its line (it may run
        in a worker thread: the ids and difficulties are taken now)."""
        ids = self._next_ids(len(sessions))
        difficulties = [min(s.difficulty, template.difficulty) for s in sessions]
        maker = template.maker

        def build() -> list[tuple[Job, bytes]]:
            made = []
            for (job_id, nonce), difficulty in zip(ids, difficulties, strict=True):
                blob = maker.hashing_blob(nonce)
                job = Job(job_id, template, nonce, blob, difficulty)
                made.append((job, maker.job_line(blob, job_id, difficulty)))
            return made

        return build

    async def _make_jobs(
        self, template: Template, sessions: Sequence[Session]
    ) -> list[tuple[Session, Job, bytes]]:
        """The next job of each of ``sessions`` (now theirs), with its line."""
        build = self._jobs_for(template, sessions)
        made = build() if len(sessions) <= INLINE_JOBS else await anyio.to_thread.run_sync(build)
        keep = self.config.jobs_per_miner
        for session, (job, _) in zip(sessions, made, strict=True):
            session.add_job(job, keep)
        return [(session, job, line) for session, (job, line) in zip(sessions, made, strict=True)]

    async def _broadcast(self, template: Template) -> None:
        """A new job for every miner: made in chunks in a worker thread, each chunk sent
        while the next is made."""
        began = time.perf_counter()
        now = self.clock()
        sessions = [s for s in self.miners.values() if not s.closed]
        for session in sessions:
            if not session.fixed and session.vardiff is not None:
                self.vardiff.on_idle(session.vardiff, now)
        chunks = [
            sessions[i : i + BROADCAST_CHUNK] for i in range(0, len(sessions), BROADCAST_CHUNK)
        ]
        if len(chunks) <= 1:
            made = await self._make_jobs(template, sessions)
            await _deliver([(session, line) for session, _, line in made])
        else:
            send, receive = anyio.create_memory_object_stream[list[tuple[Session, Job, bytes]]](1)

            async def produce() -> None:
                async with send:
                    for chunk in chunks:
                        await send.send(await self._make_jobs(template, chunk))

            async with anyio.create_task_group() as tg:
                tg.start_soon(produce)
                async with receive:
                    async for made in receive:
                        await _deliver([(session, line) for session, _, line in made])
        elapsed = time.perf_counter() - began
        self.broadcasts.append((len(sessions), elapsed))
        self.broadcast_seconds.observe(elapsed)

    async def _push_job(self, session: Session) -> None:
        template = self.template
        if template is None or session.closed or self.waiting is not None:
            return
        ((_, _, line),) = await self._make_jobs(template, [session])
        await session.send_line(line)

    # -- connections ----------------------------------------------------------------------

    def _admit(self, ip: str) -> bool:
        if not self.bans.admit(ip, self.clock()):
            return False
        if len(self.sessions) >= self.config.max_connections:
            return False
        return self._per_ip[ip] < self.config.max_connections_per_ip

    async def _handle(self, conn: Connection, start: int | None = None) -> None:
        ip = conn.ip
        if not self._admit(ip):
            self.counters["refused"] += 1
            with anyio.CancelScope(shield=True):
                await conn.aclose()
            return
        write = conn.write if isinstance(conn, SocketConnection) else None
        session = Session(ip, conn.send, conn.aclose, write=write)
        session.start_difficulty = start
        self.sessions.add(session)
        self._per_ip[ip] += 1
        self.counters["connections"] += 1
        try:
            await self._serve_session(session, conn)
        except (
            anyio.EndOfStream,
            anyio.BrokenResourceError,
            anyio.ClosedResourceError,
            ssl.SSLError,
            _Close,
        ):
            pass
        finally:
            self._forget(session)
            await session.close()

    def _forget(self, session: Session) -> None:
        self.sessions.discard(session)
        if session.id is not None:
            self.miners.pop(session.id, None)
        self._per_ip[session.ip] -= 1
        if self._per_ip[session.ip] <= 0:
            del self._per_ip[session.ip]
        if not self.sessions and self._idle is not None:
            self._idle.set()

    async def _serve_session(self, session: Session, conn: Connection) -> None:
        limit = self.config.max_line_bytes
        while not session.closed:
            if session.logged_in:
                wait = self.config.idle_timeout
            else:
                wait = session.connected + self.config.login_timeout - self.clock()
            line: bytes | None = None
            with anyio.move_on_after(max(0.0, wait)):
                try:
                    line = await conn.receive_line(limit)
                except LineTooLongError:
                    self.counters["malformed"] += 1
                    self._misbehave(session.ip)
                    await session.send(
                        protocol.error(None, "Line too long", protocol.INVALID_REQUEST)
                    )
                    return
            if line is None:
                self.counters["timeouts"] += 1
                return
            if not await self.handle_line(session, line):
                return

    # -- requests -------------------------------------------------------------------------

    async def handle_line(self, session: Session, line: bytes) -> bool:
        """Answer one request line; False when the connection must be closed."""
        line = line.strip()
        if not line:
            return True
        try:
            message = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return await self._malformed(session, None, protocol.PARSE_ERROR, "Parse error")
        if not isinstance(message, dict):
            return await self._malformed(session, None, protocol.INVALID_REQUEST, "Invalid Request")
        req_id = message.get("id")
        if not (req_id is None or isinstance(req_id, int | str)) or isinstance(req_id, bool):
            req_id = None
        method = message.get("method")
        if not isinstance(method, str):
            return await self._malformed(
                session, req_id, protocol.INVALID_REQUEST, "Invalid Request"
            )
        params = message.get("params")
        try:
            if method == "login":
                await self._login(session, req_id, params)
            elif method == "submit":
                await self._submit(session, req_id, params)
            elif method == "keepalived":
                await session.send(protocol.reply(req_id, {"status": "KEEPALIVED"}))
            else:
                self.counters["unknown_method"] += 1
                await session.send(
                    protocol.error(req_id, "Method not found", protocol.METHOD_NOT_FOUND)
                )
        except _Close:
            return False
        return not session.closed

    async def _malformed(self, session: Session, req_id: Any, code: int, message: str) -> bool:
        self.counters["malformed"] += 1
        self._misbehave(session.ip)
        await session.send(protocol.error(req_id, message, code))
        return False

    def _misbehave(self, ip: str, reason: str = "malformed") -> bool:
        """Charge ``ip`` a fault with the ban policy; True when that got it banned."""
        if not self.bans.fault(ip, self.clock(), reason):
            return False
        self.counters["bans"] += 1
        return True

    async def _fail_login(self, session: Session, req_id: Any, message: str) -> None:
        self.counters["login_failed"] += 1
        await session.send(protocol.error(req_id, message))
        raise _Close

    async def _login(self, session: Session, req_id: Any, params: Any) -> None:
        if session.logged_in:
            await session.send(protocol.error(req_id, "Already logged in"))
            return
        if not isinstance(params, dict) or not isinstance(params.get("login"), str):
            await self._fail_login(session, req_id, "Invalid params: login is required")
            return
        algos = params.get("algo")
        if algos is not None and (not isinstance(algos, list) or protocol.ALGO not in algos):
            await self._fail_login(
                session, req_id, f"Unsupported algorithm: this pool mines {protocol.ALGO}"
            )
        try:
            name = protocol.parse_login(params["login"])
        except ValueError as exc:
            await self._fail_login(session, req_id, f"Invalid login: {exc}")
            return
        try:
            address = _parse_address(name.address, self.node.network)
        except InvalidAddressError as exc:
            await self._fail_login(session, req_id, f"Invalid address: {exc}")
            return
        template = self.template
        if template is None or self.waiting is not None:
            await self._fail_login(session, req_id, self.waiting or NOT_READY)
            return
        worker = name.worker
        rigid = params.get("rigid")
        if not worker and protocol.is_worker_name(rigid):
            worker = str(rigid)
        fixed = name.difficulty
        if fixed is None:
            fixed = protocol.password_difficulty(params.get("pass"))
        agent = params.get("agent")
        session.address = str(address)
        session.worker = worker
        session.agent = agent[:128] if isinstance(agent, str) else ""
        session.fixed = fixed is not None and self.config.allow_fixed_difficulty
        start = session.start_difficulty or self.config.start_difficulty
        if session.fixed and fixed is not None:
            start = fixed
        session.vardiff = self.vardiff.new_state(start, self.clock())
        session.id = secrets.token_hex(16)
        self.miners[session.id] = session
        self.counters["logins"] += 1
        ((_, job, _),) = await self._make_jobs(template, [session])
        logger.debug(
            "pool: %s logged in from %s (%s), difficulty %d%s",
            session.worker_key,
            session.ip,
            session.agent or "no agent",
            session.difficulty,
            " (fixed)" if session.fixed else "",
        )
        await session.send(
            protocol.reply(
                req_id,
                {
                    "id": session.id,
                    "job": job.to_json(),
                    "extensions": list(protocol.EXTENSIONS),
                    "status": "OK",
                },
            )
        )

    async def _reject(
        self, session: Session, req_id: Any, message: str, *, fault: bool = False
    ) -> None:
        self.rejected[message] += 1
        if fault and self._misbehave(session.ip, message):
            await session.send(protocol.error(req_id, protocol.BANNED))
            raise _Close
        await session.send(protocol.error(req_id, message))

    async def _submit(self, session: Session, req_id: Any, params: Any) -> None:
        if not session.logged_in or not isinstance(params, dict) or params.get("id") != session.id:
            await self._reject(session, req_id, protocol.UNAUTHENTICATED)
            return
        job_id = params.get("job_id")
        job = session.jobs.get(job_id) if isinstance(job_id, str) else None
        if job is None:
            if isinstance(job_id, str) and job_id in session.expired:
                await self._reject(session, req_id, protocol.BLOCK_EXPIRED)
            else:
                await self._reject(session, req_id, protocol.INVALID_JOB_ID, fault=True)
            return
        template = self.template
        stale = (
            template is None or self.waiting is not None or job.template.prev_id != template.prev_id
        )
        if stale and not self._in_grace(job):
            await self._reject(session, req_id, protocol.BLOCK_EXPIRED)
            return
        nonce_hex, result_hex = params.get("nonce"), params.get("result")
        if not protocol.is_nonce(nonce_hex):
            await self._reject(session, req_id, protocol.INVALID_NONCE, fault=True)
            return
        if not protocol.is_result(result_hex):
            await self._reject(session, req_id, protocol.INVALID_RESULT, fault=True)
            return
        nonce = int.from_bytes(bytes.fromhex(str(nonce_hex)), "little")
        result = bytes.fromhex(str(result_hex))
        if nonce in job.nonces:
            await self._reject(session, req_id, protocol.DUPLICATE)
            return
        if not protocol.meets(result, job.difficulty):
            await self._reject(session, req_id, protocol.LOW_DIFFICULTY, fault=True)
            return
        if self._pending >= self.config.verify_queue:
            await self._reject(session, req_id, protocol.SERVER_BUSY)
            return
        job.nonces.add(nonce)
        pow_hash = await self._check_pow(session, job, nonce, result)
        if pow_hash is None:
            await self._reject(session, req_id, protocol.INVALID_SHARE, fault=True)
            return
        await self._accept(session, job, nonce, pow_hash, stale=stale)
        self.bans.accepted(session.ip, self.clock())
        await session.send(protocol.reply(req_id, {"status": "OK"}))
        if (
            not session.fixed
            and session.vardiff is not None
            and self.vardiff.on_share(session.vardiff, self.clock(), job.difficulty) is not None
        ):
            await self._push_job(session)

    async def _check_pow(
        self, session: Session, job: Job, nonce: int, result: bytes
    ) -> bytes | None:
        """The share's hash: verified with RandomX when the verification policy asks (a
        block candidate always is), else the claimed ``result``; None when it is fake."""
        candidate = protocol.meets(result, job.template.difficulty)
        wanted = self.verification.should_verify(
            session.address, session.ip, difficulty=job.difficulty, candidate=candidate
        )
        if not (wanted or candidate):
            self.counters["verify_skipped"] += 1
            return result
        pow_hash = await self._verify(patch_nonce(job.blob, nonce), job.template.seed_hash)
        valid = pow_hash == result
        self.counters["verified"] += 1
        self.verification.record(session.address, session.ip, valid=valid)
        if not valid:
            self.counters["verify_failed"] += 1
            logger.info(
                "pool: a fake share from %s (%s): the RandomX hash differs from its result",
                session.worker_key,
                session.ip,
            )
            return None
        return pow_hash

    async def _verify(self, blob: bytes, key: bytes) -> bytes:
        hasher, limiter = self._hasher, self._limiter
        if hasher is None or limiter is None:
            raise RuntimeError("the stratum service is not running")
        self._pending += 1
        began = time.perf_counter()
        try:
            return await anyio.to_thread.run_sync(
                functools.partial(hasher.hash, blob, key=key), limiter=limiter
            )
        finally:
            self._pending -= 1
            self.verify_seconds.observe(time.perf_counter() - began)

    def _in_grace(self, job: Job) -> bool:
        """Whether ``job`` belongs to the tip just replaced, within the grace period."""
        return (
            self._previous_tip is not None
            and job.template.prev_id == self._previous_tip
            and self.clock() - self._tip_changed <= self.config.stale_grace_seconds
        )

    async def _accept(
        self, session: Session, job: Job, nonce: int, pow_hash: bytes, *, stale: bool = False
    ) -> None:
        """Count and announce an accepted share; a block candidate of the current tip goes
        to the node (a share of the replaced tip, ``stale``, cannot make a block)."""
        record = ShareRecord(
            address=session.address,
            difficulty=job.difficulty,
            timestamp=time.time(),
            worker=session.worker,
        )
        if self.on_share is not None:
            try:
                await self.on_share(record, job.template)
            except Exception:
                logger.exception("pool: a share of %s was not recorded", session.worker_key)
                raise _Close from None
        now = self.clock()
        self.counters["accepted"] += 1
        if stale:
            self.counters["accepted_stale"] += 1
        self.counters["difficulty"] += job.difficulty
        self.workers.setdefault(session.worker_key, WorkerStats()).add(now, job.difficulty)
        self.node.emit("share_accepted", share=record)
        if not stale and protocol.meets(pow_hash, job.template.difficulty):
            block = job.block.with_nonce(nonce)
            if self._task_group is not None:
                self._task_group.start_soon(self._submit_block, job.template, block, session)

    async def _submit_block(self, template: Template, block: Block, session: Session) -> None:
        source = self._source
        if source is None:
            return
        if self.on_candidate is not None:
            try:
                await self.on_candidate(template, block, session.address)
            except Exception:
                logger.exception(
                    "pool: the block at height %d was not written ahead", template.height
                )
        try:
            result = await source.submit(block, template.txs)
        except ValidationError as exc:
            self.counters["blocks_rejected"] += 1
            logger.warning(
                "the node refused the pool's block at height %d: %s", template.height, exc
            )
            return
        except UpstreamError as exc:
            logger.error(
                "the pool's block at height %d (%s) could not be handed to %s: %s",
                template.height,
                block.id.hex(),
                source.description,
                exc,
            )
            return
        status = str(result.status)
        if status == "connected":
            self.counters["blocks_found"] += 1
            logger.info(
                "pool found block %d %s (by %s), difficulty %d",
                result.height,
                block.id.hex(),
                session.worker_key,
                template.difficulty,
            )
            if self.on_block is not None:
                await self.on_block(template, block, result.height, session.address)
            self.node.emit("block_found", block=block, height=result.height)
        else:
            logger.info(
                "the pool's block at height %d was not connected (%s)", template.height, status
            )


async def _deliver(lines: Sequence[tuple[Session, bytes]]) -> None:
    """Send each session its line: written at once where the socket takes it, the rest
    with at most :data:`BROADCAST_SENDERS` tasks."""
    rest: list[tuple[Session, bytes]] = []
    for session, line in lines:
        left = session.write_line(line)
        if left is not None:
            rest.append((session, left))
    if not rest:
        return
    pending = iter(rest)

    async def sender() -> None:
        for session, line in pending:
            await session.send_line_rest(line)

    async with anyio.create_task_group() as tg:
        for _ in range(min(len(rest), BROADCAST_SENDERS)):
            tg.start_soon(sender)


def _make_template(serial: int, parts: TemplateParts) -> Template:
    """The template of a source's ``parts``, with its blob maker (worker thread)."""
    return Template(
        serial=serial,
        block=parts.block,
        height=parts.height,
        difficulty=parts.difficulty,
        seed_hash=parts.seed_hash,
        next_seed_hash=parts.next_seed_hash,
        txs=parts.txs,
        maker=BlobMaker(
            parts.block,
            height=parts.height,
            seed_hash=parts.seed_hash,
            next_seed_hash=parts.next_seed_hash,
        ),
    )


@functools.lru_cache(maxsize=1024)
def _parse_address(text: str, network: str) -> Address:
    return Address.parse(text, network)


__all__ = [
    "RESERVE_SIZE",
    "ChainServiceLike",
    "Job",
    "KeyedHasher",
    "Session",
    "StratumServer",
    "Template",
]
