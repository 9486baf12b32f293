"""The interfaces that hooks register, and the node handle that hooks receive.

Everything here is a :class:`typing.Protocol` or a small frozen value type, so a plugin
never needs to import the kernel. Every registered object carries a ``name``: the key
under which the kernel's registry stores it and under which configuration selects it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from anyio.abc import ByteStream, Listener

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
T_contra = TypeVar("T_contra", contravariant=True)


class Named(Protocol):
    """Anything a registry can hold: it has a stable, user-facing ``name``."""

    @property
    def name(self) -> str: ...


class Register(Protocol[T_contra]):
    """The callable that a ``zion_register_*`` hook receives.

    Call it once per object; the object's ``name`` is its registry key. Registering a
    name that another plugin already registered is an error naming both plugins.
    """

    def __call__(self, obj: T_contra, /) -> None: ...


class RegisterConfigSection(Protocol):
    """The callable that :func:`~zion_hookspecs.lifecycle.zion_register_config` receives.

    ``section`` is the TOML table name (``[stratum]``), ``cls`` an attrs class (or a
    dataclass) whose fields all have defaults. The kernel structures the table into an
    instance, rejecting unknown keys and bad values with an error naming the key.
    """

    def __call__(self, section: str, cls: type[Any], /) -> None: ...


class ReadySignal(Protocol):
    """The readiness handshake passed to :meth:`Service.run` (anyio's ``TaskStatus``)."""

    def started(self, value: Any = None, /) -> None: ...


@runtime_checkable
class Service(Protocol):
    """A long-running task that the runtime starts in its task group.

    ``run`` must call ``task_status.started()`` once it is ready (listening, loaded...),
    then keep running until it is cancelled. Services start in registration order and
    stop in reverse order. An optional ``async def drain(self) -> None`` is awaited,
    with a deadline, before the service is cancelled: stop accepting work, flush what
    was acknowledged. Cleanup after cancellation must be shielded and bounded.
    """

    @property
    def name(self) -> str: ...

    async def run(self, *, task_status: ReadySignal) -> None: ...


class RegistryView(Protocol[T_co]):
    """Read access to one of the kernel's name-keyed registries."""

    def names(self) -> list[str]:
        """The registered names, sorted."""
        ...

    def get(self, name: str) -> T_co:
        """The object registered under ``name``; an error listing the names otherwise."""
        ...

    def select(self, name: str | None) -> T_co:
        """The configured backend.

        ``name`` is what configuration asked for. ``None`` is accepted only when exactly
        one object is registered; otherwise the error lists the choices.
        """
        ...


RegistryKind = Literal[
    "service",
    "consensus",
    "hasher",
    "storage",
    "transport",
    "pool_policy",
    "vardiff_policy",
    "ban_policy",
    "share_verification_policy",
    "bridge",
    "sync_source",
    "rpc_method",
    "http_route",
    "status_panel",
    "metrics",
]


class Node(Protocol):
    """The running node as hooks and services see it (the kernel's public handle)."""

    @property
    def network(self) -> str:
        """``mainnet``, ``testnet`` or ``devnet``."""
        ...

    @property
    def data_dir(self) -> Path:
        """The node's data directory; ``zion run`` creates it and holds its lock while running."""
        ...

    def config_section(self, section: str) -> Any:
        """The structured configuration object of ``section`` (``node``, ``stratum``...)."""
        ...

    def registry(self, kind: RegistryKind) -> RegistryView[Any]:
        """One of the name-keyed registries; filled once all plugins have registered."""
        ...

    def emit(self, event: str, /, **kwargs: Any) -> None:
        """Call the event hook ``zion_<event>`` on every plugin and subscribed listener.

        A plugin whose handler raises is logged and does not stop the others. Safe to
        call from any thread: while the node is served, an event emitted in a worker
        thread is handed to the event loop (in order) and delivered there.
        """
        ...

    def subscribe(self, listener: object, *, name: str) -> Callable[[], None]:
        """Deliver this node's events to ``listener``, an object whose methods named
        ``zion_<event>`` are marked ``@hookimpl``; returns the function that unsubscribes it.

        Unlike a plugin module's event hooks, a listener belongs to one node (a service
        subscribes itself in ``run`` and unsubscribes when it stops). A method named after
        a hook that is not an event is a ``ValueError``.
        """
        ...

    def request_shutdown(self, reason: str) -> None:
        """Ask the runtime to stop every service gracefully."""
        ...


# ---------------------------------------------------------------------------- backends


@dataclass(frozen=True, slots=True)
class HashCapabilities:
    """What a hashing backend can do.

    ``exact``: results are bit-exact RandomX (a GPU backend may not be trusted to be);
    ``can_mine``: supports :meth:`HashBackend.search`; ``can_verify``: may be used to
    check blocks and shares.
    """

    exact: bool
    can_mine: bool
    can_verify: bool


class HashBackend(Protocol):
    """A proof-of-work hashing backend (``randomx-cpu``, ``randomx-gpu``...).

    Methods are synchronous and may take milliseconds: callers run them in worker
    threads, never on the event loop.
    """

    @property
    def name(self) -> str: ...

    @property
    def capabilities(self) -> HashCapabilities: ...

    def set_key(self, key: bytes) -> None:
        """Switch to the seed ``key`` (prepares cache/dataset; may be slow)."""
        ...

    def hash(self, blob: bytes) -> bytes:
        """The 32-byte hash of one hashing blob under the current key."""
        ...

    def hash_batch(self, blobs: Sequence[bytes]) -> list[bytes]:
        """The hashes of several blobs, in order."""
        ...

    def search(
        self, blob: bytes, *, nonce_offset: int, start: int, count: int, target: int
    ) -> list[tuple[int, bytes]]:
        """Try nonces ``start .. start+count-1`` (u32 little-endian at ``nonce_offset``).

        Returns the ``(nonce, hash)`` pairs whose hash, read as a little-endian 256-bit
        integer, is at most ``target``.
        """
        ...

    def close(self) -> None:
        """Release the cache, dataset and VMs."""
        ...


class ConsensusRules(Protocol):
    """The chain rules of one consensus implementation, registered by name."""

    @property
    def name(self) -> str: ...

    def networks(self) -> Iterable[str]:
        """The network names these rules define (``mainnet``, ``testnet``, ``devnet``)."""
        ...


class Storage(Protocol):
    """An open key-value store with atomic batches (keys and values are bytes)."""

    def get(self, key: bytes) -> bytes | None: ...

    def iter_prefix(self, prefix: bytes) -> Iterable[tuple[bytes, bytes]]:
        """Pairs whose key starts with ``prefix``, in key order."""
        ...

    def write_batch(self, puts: Mapping[bytes, bytes], deletes: Iterable[bytes] = ()) -> None:
        """Apply all puts and deletes atomically and durably, or none of them."""
        ...

    def close(self) -> None: ...


class StorageBackend(Protocol):
    """A storage engine (``sqlite``, ``lmdb``...): opens the store kept at a path (the node
    passes one inside its data directory, such as ``chain.sqlite``)."""

    @property
    def name(self) -> str: ...

    def open(self, path: Path, *, create: bool = True) -> Storage: ...


class Transport(Protocol):
    """A byte-stream transport (plain TCP, TLS, a SOCKS proxy...) for networking plugins.

    A transport whose ``connect`` also takes a keyword ``local_host`` (the address an
    outbound connection leaves from) says so with a true ``binds_local_host``
    attribute; the ``p2p`` plugin then dials from the address it listens on.
    """

    @property
    def name(self) -> str: ...

    async def connect(self, host: str, port: int) -> ByteStream: ...

    async def listen(self, host: str, port: int) -> Listener[ByteStream]: ...


@dataclass(frozen=True, slots=True)
class ShareRecord:
    """One accepted pool share, as payout policies see it."""

    address: str
    difficulty: int
    timestamp: float
    worker: str = ""


class PoolPolicy(Protocol):
    """A payout scheme for the pool (``pplns``, ``solo``...)."""

    @property
    def name(self) -> str: ...

    def split_reward(self, reward: int, shares: Sequence[ShareRecord]) -> Mapping[str, int]:
        """Divide ``reward`` (atomic units) among addresses; the parts sum to at most ``reward``."""
        ...


class DifficultyState(Protocol):
    """One miner's variable-difficulty state: what :meth:`VardiffPolicy.new_state` returns.

    The pool reads ``difficulty`` (the miner's current share difficulty) whenever it
    makes the miner a job; the rest of the object is the policy's own.
    """

    @property
    def difficulty(self) -> int: ...


class VardiffPolicy(Protocol):
    """A variable share-difficulty rule for the pool (``default``...).

    One object serves every miner; each miner's state is what :meth:`new_state` returned,
    passed back to the other methods. Times are the pool's monotonic clock, in seconds.
    Methods are called on the event loop and must be quick.
    """

    @property
    def name(self) -> str: ...

    def new_state(self, difficulty: int, now: float) -> DifficultyState:
        """The state of a miner logging in at ``now`` and asking for ``difficulty`` (the
        port's start difficulty, or a fixed one); the policy may clamp it."""
        ...

    def on_share(self, state: Any, now: float, difficulty: int) -> int | None:
        """Record an accepted share of ``difficulty``; the new difficulty (already set
        in ``state.difficulty``) when the miner must get a new job, else None."""
        ...

    def on_idle(self, state: Any, now: float) -> int | None:
        """Called for every miner when a new job goes out: lower the difficulty of a
        miner whose shares stopped coming, like :meth:`on_share`."""
        ...


class BanPolicy(Protocol):
    """A misbehaviour rule for the pool (``score``...): which IP addresses it refuses.

    The object keeps the state of one node's pool. ``now`` is the pool's monotonic clock,
    in seconds. Methods are called on the event loop and must be quick; the state they
    keep should be bounded.
    """

    @property
    def name(self) -> str: ...

    def admit(self, ip: str, now: float) -> bool:
        """Whether a new connection from ``ip`` may be served (False while it is banned)."""
        ...

    def fault(self, ip: str, now: float, reason: str) -> bool:
        """Count one fault of ``ip``: ``reason`` is the error answered (``Invalid share``,
        ``Low difficulty share``...) or ``malformed`` for a bad request line. True when
        this fault got ``ip`` banned: the pool then closes the connection."""
        ...

    def accepted(self, ip: str, now: float) -> None:
        """Count one accepted share of ``ip`` (a policy may forgive faults for it)."""
        ...

    def banned_count(self, now: float) -> int:
        """How many IP addresses are banned at ``now`` (for statistics)."""
        ...


class ShareVerificationPolicy(Protocol):
    """Which shares the pool checks with RandomX (``all``, ``sampled``...).

    A share passes every cheap check first (job, nonce, duplicate, the claimed result
    against the share target). The pool then asks :meth:`should_verify`, once per share,
    and reports each RandomX check with :meth:`record`. A share not verified is accepted
    with the miner's claimed result. The pool verifies a block candidate (a claimed
    result meeting the network difficulty) whatever this answers. The object keeps the
    state of one node's pool, and that state should be bounded.
    """

    @property
    def name(self) -> str: ...

    def should_verify(self, address: str, ip: str, *, difficulty: int, candidate: bool) -> bool:
        """Whether to hash the share of ``address`` from ``ip`` at share ``difficulty``;
        ``candidate``: its claimed result meets the network difficulty."""
        ...

    def record(self, address: str, ip: str, *, valid: bool) -> None:
        """The outcome of one RandomX check: ``valid`` False means the share was fake
        (the miner is also charged a fault by the ban policy)."""
        ...


@dataclass(frozen=True, slots=True)
class BridgeStatus:
    """A bridge's health, for status panels and RPC."""

    chain: str
    connected: bool
    detail: str = ""


class Bridge(Protocol):
    """A bridge between ZION and another chain (``solana-bridge``...)."""

    @property
    def name(self) -> str: ...

    @property
    def chain(self) -> str:
        """The other chain's name (``solana``, ``stellar``...)."""
        ...

    def status(self) -> BridgeStatus: ...


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """How far the node's chain has caught up with its network, as one source sees it.

    ``synchronized``: the chain is as good as the network's (nothing left to download,
    no peer claims more work); block templates wait for it outside devnet.
    ``height``: the number of blocks of the node's main chain (tip height + 1, as
    ``get_info``'s ``height``); ``target_height``: the most blocks a peer claims (at least
    ``height`` once known; 0 when unknown). ``busy``: blocks or headers are being
    downloaded now (``get_info``'s ``busy_syncing``). ``outgoing``/``incoming``: connected
    peers by direction. ``detail``: one line for people (``3 peers, downloading blocks
    121-152``).
    """

    synchronized: bool
    height: int
    target_height: int
    busy: bool
    outgoing: int
    incoming: int
    detail: str = ""

    @property
    def peers(self) -> int:
        """Connected peers, both directions."""
        return self.outgoing + self.incoming


class SyncSource(Protocol):
    """Something that brings the node's chain up to date with its network (the ``p2p``
    plugin's service), registered by name.

    ``sync_status`` is read on the event loop and from worker threads (every
    ``get_info``, every template): it must be cheap and must not block, such as a few
    attribute reads.
    """

    @property
    def name(self) -> str: ...

    def sync_status(self) -> SyncStatus: ...


# ---------------------------------------------------------------------------- lifecycle


@dataclass(frozen=True, slots=True)
class RpcMethod:
    """A JSON-RPC method contributed by a plugin.

    ``handler`` receives the decoded ``params`` and returns a JSON-shaped result. A plain
    function may block (store reads): the server calls it in a worker thread; a coroutine
    function runs on the event loop. It raises ``ValueError`` or ``TypeError`` for bad
    params (answered as an "invalid params" error with the message). ``restricted``
    methods are admin-only, as in monerod's restricted mode. ``aliases`` are extra names
    (``getblockcount`` for ``get_block_count``). ``params_schema`` and ``result_schema``
    are JSON Schemas (draft 2020-12) published in the node's API description and checked
    by its fuzz tests; ``None`` means "any JSON".
    """

    name: str
    handler: Callable[[Any], Any | Awaitable[Any]]
    restricted: bool = False
    aliases: tuple[str, ...] = ()
    description: str = ""
    params_schema: Mapping[str, Any] | None = None
    result_schema: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class HttpRoute:
    """An HTTP endpoint contributed by a plugin to the node's HTTP server.

    The server is the ``jsonrpc`` plugin's (Starlette, served by Hypercorn, next to
    ``/json_rpc`` and ``/ws``). ``path`` starts with ``/``:

    - an exact path (``/metrics``) is served by ``endpoint`` for the listed ``methods``
      (``GET`` also answers ``HEAD``; another method is answered 405). A plain function
      or method is a request handler, ``async def endpoint(request) -> Response`` with
      Starlette's request and response types; any other callable object is an ASGI
      application (``async __call__(scope, receive, send)``);
    - a path ending with ``/`` (``/dashboard/``) mounts ``endpoint``, an ASGI application,
      at that prefix, as Starlette's ``Mount`` does: it serves every path below the prefix
      (Starlette's ``StaticFiles`` fits), ``scope["root_path"]`` ends with the prefix
      (without its slash) and ``scope["path"]`` stays the full path. The prefix without its
      slash is redirected to it. ``methods`` is not checked.

    ``name`` is the registry key. A path the server already serves, or that another
    route claims, stops the server from starting, naming both.
    """

    path: str
    endpoint: Callable[..., Any]
    methods: tuple[str, ...] = ("GET",)
    name: str = field(kw_only=True)

    @property
    def is_mount(self) -> bool:
        """Whether this route mounts an ASGI application at a prefix (``path`` ends with ``/``)."""
        return self.path.endswith("/")


class StatusPanel(Protocol):
    """A status panel: a title and a JSON-shaped snapshot of key/value rows."""

    @property
    def name(self) -> str: ...

    @property
    def title(self) -> str: ...

    def snapshot(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class MetricSample:
    """One metric value, in Prometheus terms (``kind``: counter or gauge).

    ``name`` follows Prometheus conventions: ``zion_`` prefix, base units (seconds,
    bytes), ``_total`` for counters. Samples of one name share ``kind`` and ``help`` and
    differ by ``labels``.
    """

    name: str
    kind: Literal["counter", "gauge"]
    help: str
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HistogramSample:
    """One histogram, in Prometheus terms: a distribution of observed values.

    ``buckets`` are ``(upper bound, cumulative count)`` pairs in increasing order of the
    bound: how many observations were at most that bound. The ``+Inf`` bucket is not
    listed: it is ``count``, the number of observations; ``sum`` is their total. A
    plugin usually keeps a :class:`zion_core.metrics.Histogram` and yields its
    ``sample(...)``.
    """

    kind: ClassVar[Literal["histogram"]] = "histogram"

    name: str
    help: str
    buckets: tuple[tuple[float, int], ...]
    count: int
    sum: float
    labels: Mapping[str, str] = field(default_factory=dict)


class MetricsSource(Protocol):
    """A source of metric samples, read on every scrape (must be cheap: no IO, no walk
    over every miner or transaction; keep counters up to date where things happen)."""

    @property
    def name(self) -> str: ...

    def collect(self) -> Iterable[MetricSample | HistogramSample]: ...


class DiagnosticsReport(Protocol):
    """What :func:`~zion_hookspecs.lifecycle.zion_diagnose` writes into."""

    def add(self, key: str, value: object, /) -> None:
        """Add one line ``key: value`` to the calling plugin's section."""
        ...


__all__ = [
    "BanPolicy",
    "Bridge",
    "BridgeStatus",
    "ConsensusRules",
    "DiagnosticsReport",
    "DifficultyState",
    "HashBackend",
    "HashCapabilities",
    "HistogramSample",
    "HttpRoute",
    "MetricSample",
    "MetricsSource",
    "Named",
    "Node",
    "PoolPolicy",
    "ReadySignal",
    "Register",
    "RegisterConfigSection",
    "RegistryKind",
    "RegistryView",
    "RpcMethod",
    "Service",
    "ShareRecord",
    "ShareVerificationPolicy",
    "StatusPanel",
    "Storage",
    "StorageBackend",
    "SyncSource",
    "SyncStatus",
    "Transport",
    "VardiffPolicy",
]
