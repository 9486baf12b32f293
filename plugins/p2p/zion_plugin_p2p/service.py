"""The ``p2p`` service: connections, handshake, discovery, sync, relay and bans.

Everything runs in one anyio task group: the listener, the dialler (configured peers,
anchors, then the address book, one network group per outbound connection), one task
per peer (its reader, and a writer draining its bounded send queue), the synchroniser's
connector, and a housekeeping tick (request deadlines, pings, transaction
announcements, saving the address book). Chain work (reads, block and transaction
submission) goes to worker threads; the chain's events come back through a portal.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final

import anyio
import anyio.abc
import anyio.from_thread
import anyio.to_thread
from anyio.abc import ByteStream, SocketAttribute

from zion_core.chain.block import Block
from zion_core.chain.transaction import Transaction
from zion_hookspecs import Node, ReadySignal, SyncStatus, hookimpl

from .address import PeerAddress, canonical_host
from .addrman import AddressBook, BanList, netgroup
from .config import P2PConfig
from .messages import (
    MAX_ADDR,
    MAX_INV,
    MAX_PAYLOAD,
    Addr,
    BlockEntry,
    Blocks,
    BlockTxs,
    CompactBlock,
    GetAddr,
    GetBlocks,
    GetBlockTxs,
    GetHeaders,
    GetTxs,
    Goodbye,
    Headers,
    Hello,
    Inv,
    Message,
    NotFound,
    Ping,
    Pong,
    ProtocolViolation,
    Tip,
    Txs,
    encode_frame,
    network_magic,
    short_id,
)
from .metrics import P2PMetrics
from .peer import Peer, PeerGoneError
from .sync import InvalidBlockError, Synchronizer, UnsolicitedError, is_benign

logger = logging.getLogger(__name__)

PROTOCOL_VERSION: Final = 1
SERVICES_FULL_NODE: Final = 1
TICK_SECONDS: Final = 0.05
PING_SECONDS: Final = 60.0
SAVE_SECONDS: Final = 300.0
DIAL_SECONDS: Final = 1.0
MAX_BACKOFF: Final = 15.0
"""The longest wait between two attempts to reach a configured peer."""
MAX_POOL_INV: Final = 5_000
"""Pooled transactions announced to a peer when it connects, at most."""
BLOCK_RESPONSE_BYTES: Final = MAX_PAYLOAD - 64 * 1024
"""A ``Blocks`` answer stops adding blocks past this size (the rest is asked again)."""

try:
    USER_AGENT = f"zion/{version('zion-plugin-p2p')}"
except PackageNotFoundError:  # pragma: no cover - a source checkout without metadata
    USER_AGENT = "zion/0"


class WrongNetworkError(ProtocolViolation):
    """The peer is on another network or chain (network id, genesis)."""


class P2PService:
    """The node's peer-to-peer network (see the module docstring)."""

    name = "p2p"

    def __init__(self, node: Node, config: P2PConfig) -> None:
        self.node = node
        self.config = config
        self.rng = random.Random()
        self.nonce = os.urandom(8)
        self.peers: dict[bytes, Peer] = {}
        """Established peers by their handshake nonce."""
        self.connecting: set[tuple[str, int]] = set()
        self.book: AddressBook | None = None
        self.bans: BanList | None = None
        self.sync = Synchronizer(self)
        self.metrics = P2PMetrics(self)
        self.listen_port = 0
        self.listen_host = ""
        self.magic = b""
        self.genesis_id = b""
        self.started_at = time.monotonic()
        self.ever_connected = False
        self._chain_service: Any = None
        self._tg: anyio.abc.TaskGroup | None = None
        self._portal: anyio.from_thread.BlockingPortal | None = None
        self._loop_thread = 0
        self._events: deque[tuple[str, Any]] = deque()
        self._wake = anyio.Event()
        self._backoff: dict[tuple[str, int], tuple[float, float]] = {}
        self._tip_dirty = False
        self._pending_compact: dict[bytes, tuple[Peer, CompactBlock, list[Transaction | None]]] = {}
        self._wanted_blocks: dict[bytes, Peer] = {}
        """Full blocks asked for outside sync (a compact block that did not rebuild)."""
        self._tx_inflight: dict[bytes, float] = {}
        self._handshaking: dict[str, int] = {}
        """Inbound connections still in their handshake, by IP."""
        self._self_addresses: set[tuple[str, int]] = set()
        """Addresses that led back to this node (never dialled again)."""

    # -- access --------------------------------------------------------------------------

    @property
    def chain_service(self) -> Any:
        if self._chain_service is None:
            self._chain_service = self.node.registry("service").get("chain")
        return self._chain_service

    def established(self) -> Sequence[Peer]:
        return [p for p in self.peers.values() if not p.closed]

    @property
    def outgoing(self) -> int:
        return sum(1 for p in self.established() if not p.inbound)

    @property
    def incoming(self) -> int:
        return sum(1 for p in self.established() if p.inbound)

    # -- sync status (the ``p2p`` sync source) -------------------------------------------

    def sync_status(self) -> SyncStatus:
        chain = self.chain_service.chain
        tip = chain.tip.height if chain is not None else -1
        best = max([tip, self.sync.target_height, *(p.height for p in self.established())])
        synchronized, detail = self._synchronized(chain)
        return SyncStatus(  # heights as block counts, like get_info's
            synchronized=synchronized,
            height=tip + 1,
            target_height=best + 1,
            busy=self.sync.busy,
            outgoing=self.outgoing,
            incoming=self.incoming,
            detail=detail,
        )

    def _synchronized(self, chain: Any) -> tuple[bool, str]:
        peers = self.established()
        if chain is None:
            return False, "the chain is not open yet"
        if self.sync.busy:
            return False, (
                f"downloading blocks: height {chain.tip.height} of {self.sync.target_height}, "
                f"{len(peers)} peer(s)"
            )
        tip_cd = chain.tip.cumulative_difficulty
        ahead = [p for p in peers if p.cumulative_difficulty > tip_cd]
        if ahead:
            best = max(p.height for p in ahead)
            return False, f"peers are ahead: height {chain.tip.height} of {best}"
        if peers or self.ever_connected:
            return True, f"synchronized with {len(peers)} peer(s)"
        configured = bool(self.config.peers or self.config.seeds)
        known = self.book is not None and (self.book.new_count + self.book.tried_count) > 0
        if not configured and not known:
            return True, "no peers configured: this node is alone"
        waited = time.monotonic() - self.started_at
        if waited >= self.config.sync_grace_seconds:
            return True, f"no peer reachable for {waited:.0f} s: mining on our own chain"
        return False, (
            f"looking for peers ({self.config.sync_grace_seconds - waited:.0f} s before "
            "mining without them)"
        )

    # -- events from the chain (any thread) ----------------------------------------------

    @hookimpl
    def zion_block_connected(self, block: Any, height: int) -> None:
        self._events.append(("block", block))
        self._notify()

    @hookimpl
    def zion_tx_accepted(self, tx: Any) -> None:
        self._events.append(("tx", tx))
        self._notify()

    def _notify(self) -> None:
        portal = self._portal
        if portal is None:
            return
        if threading.get_ident() == self._loop_thread:
            self._wake.set()
            return
        with contextlib.suppress(RuntimeError):  # the portal is closing: we are stopping
            portal.start_task_soon(self._set_wake)

    async def _set_wake(self) -> None:
        self._wake.set()

    def tip_changed(self) -> None:
        self._tip_dirty = True
        self._wake.set()

    # -- running -------------------------------------------------------------------------

    async def run(self, *, task_status: ReadySignal) -> None:
        await self._wait_for_chain()
        chain = self.chain_service.chain
        self.genesis_id = chain.genesis.id
        self.magic = network_magic(self.genesis_id)
        await anyio.to_thread.run_sync(self._open_books)
        unsubscribe = self.node.subscribe(self, name="p2p-relay")
        self._loop_thread = threading.get_ident()
        try:
            async with (
                anyio.from_thread.BlockingPortal() as portal,
                anyio.create_task_group() as tg,
            ):
                self._portal = portal
                self._tg = tg
                listener = await self._listen()
                if listener is not None:
                    tg.start_soon(self._serve_listener, listener)
                tg.start_soon(self._dial_loop)
                tg.start_soon(self._tick_loop)
                tg.start_soon(self._relay_loop)
                tg.start_soon(self.sync.connect_loop)
                task_status.started()
                await anyio.sleep_forever()
        finally:
            self._portal = None
            unsubscribe()
            with anyio.CancelScope(shield=True):
                # the peers are gone by now: keep the anchors ``drain`` saved
                await anyio.to_thread.run_sync(lambda: self._save_books(anchors=False))

    async def drain(self) -> None:
        """Before the node stops, while the outbound peers are still connected: save them
        as the anchors the next start dials first."""
        await anyio.to_thread.run_sync(self._save_books)

    async def _wait_for_chain(self) -> None:
        # the chain service starts first (the consensus plugin registers it before us);
        # a short bounded wait covers a chain still opening in its worker thread
        with anyio.fail_after(120):
            while getattr(self.chain_service, "chain", None) is None:  # noqa: ASYNC110
                await anyio.sleep(0.05)

    def _open_books(self) -> None:
        folder = self.node.data_dir / "p2p"
        folder.mkdir(parents=True, exist_ok=True)
        self.book = AddressBook(
            folder / "peers.json",
            ipv4_prefix=self.config.ipv4_prefix,
            ipv6_prefix=self.config.ipv6_prefix,
        )
        self.bans = BanList(folder / "bans.json")
        seeds = self.config.seed_addresses()
        if seeds:
            self.book.add(seeds, source="config")

    def _save_books(self, *, anchors: bool = True) -> None:
        if self.book is None:
            return
        if anchors:
            outbound = [p.dialled for p in self.established() if not p.inbound and p.dialled]
            self.book.set_anchors([a for a in outbound if a is not None][: self.config.anchors])
        try:
            self.book.save()
        except OSError as exc:
            logger.warning("could not save the address book: %s", exc)

    async def _listen(self) -> anyio.abc.Listener[ByteStream] | None:
        address = self.config.listen_address(self.node.network)
        if address is None:
            return None
        host, port = address
        listener: anyio.abc.Listener[ByteStream] = await self._transport().listen(host, port)
        sockname = listener.extra(SocketAttribute.local_address, None)
        if isinstance(sockname, tuple):
            self.listen_port = int(sockname[1])
        else:  # a transport without socket attributes: the port asked for
            self.listen_port = port
        self.listen_host = host
        logger.info("P2P listening on %s:%d", host, self.listen_port)
        return listener

    def _transport(self) -> Any:
        backends = self.node.config_section("backends")
        return self.node.registry("transport").select(backends.transport)

    async def _serve_listener(self, listener: anyio.abc.Listener[ByteStream]) -> None:
        async with listener:
            await listener.serve(self._inbound)

    # -- connections ---------------------------------------------------------------------

    async def _inbound(self, stream: ByteStream) -> None:
        remote = stream.extra(SocketAttribute.remote_address, None)
        if not isinstance(remote, tuple):
            await stream.aclose()
            return
        host, port = canonical_host(str(remote[0])), int(remote[1])
        assert self.bans is not None
        refusal = ""
        if self.bans.is_banned(host):
            refusal = "banned"
        elif self.incoming + sum(self._handshaking.values()) >= self.config.max_inbound:
            refusal = f"too many inbound connections ({self.config.max_inbound})"
        elif (
            sum(1 for p in self.established() if p.inbound and p.host == host)
            + self._handshaking.get(host, 0)
            >= self.config.max_per_ip
        ):
            refusal = f"too many connections from {host} ({self.config.max_per_ip})"
        if refusal:
            self.metrics.refused += 1
            logger.debug("refused %s:%d: %s", host, port, refusal)
            with anyio.move_on_after(1):
                with contextlib.suppress(
                    anyio.BrokenResourceError, anyio.ClosedResourceError, OSError
                ):
                    await stream.send(encode_frame(self.magic, Goodbye(refusal[:256])))
            await stream.aclose()
            return
        # connections still in their handshake count against the limits too
        self._handshaking[host] = self._handshaking.get(host, 0) + 1
        peer = self._make_peer(stream, host, port, inbound=True)
        peer.on_established = lambda: self._handshake_over(host)
        try:
            await self._serve_peer(peer)
        finally:
            if peer.on_established is not None:
                self._handshake_over(host)

    def _handshake_over(self, host: str) -> None:
        left = self._handshaking.get(host, 0) - 1
        if left > 0:
            self._handshaking[host] = left
        else:
            self._handshaking.pop(host, None)

    def _make_peer(self, stream: ByteStream, host: str, port: int, *, inbound: bool) -> Peer:
        c = self.config
        return Peer(
            stream,
            host,
            port,
            inbound=inbound,
            magic=self.magic,
            byte_rate=c.byte_rate,
            byte_burst=c.byte_burst,
            message_rate=c.message_rate,
            message_burst=c.message_burst,
        )

    async def _dial_loop(self) -> None:
        configured = self.config.peer_addresses()
        assert self.book is not None
        anchors = list(self.book.anchors())
        while True:
            now = time.monotonic()
            for address in configured:
                if not self._is_connected(address) and self._may_dial(address, now):
                    self._dial(address)
            while anchors and self._outbound_slots() > 0:
                address = anchors.pop()
                if not self._is_connected(address):
                    self._dial(address)
            picks = 0
            while self._outbound_slots() > 0 and picks < 8:
                picks += 1
                picked = self._pick()
                if picked is None:
                    break
                if self._may_dial(picked, now):
                    self._dial(picked)
            with anyio.move_on_after(DIAL_SECONDS):
                await self._dial_wake().wait()

    def _dial_wake(self) -> anyio.Event:
        self._dial_event = getattr(self, "_dial_event", None) or anyio.Event()
        if self._dial_event.is_set():
            self._dial_event = anyio.Event()
        return self._dial_event

    def _outbound_slots(self) -> int:
        pending = len(self.connecting)
        return self.config.max_outbound - self.outgoing - pending

    def _is_connected(self, address: PeerAddress) -> bool:
        if address.key in self.connecting:
            return True
        for peer in self.established():
            if (peer.dialled is not None and peer.dialled.key == address.key) or (
                peer.listen_address is not None and peer.listen_address.key == address.key
            ):
                return True
        return False

    def _is_self(self, address: PeerAddress) -> bool:
        if address.key in self._self_addresses:
            return True
        if address.port != self.listen_port:
            return False
        if self.listen_host in ("", "0.0.0.0", "::"):  # listening on every address
            return address.host in ("127.0.0.1", "::1")
        return address.host == self.listen_host

    def _pick(self) -> PeerAddress | None:
        assert self.book is not None
        assert self.bans is not None
        groups = {
            netgroup(
                p.host, ipv4_prefix=self.config.ipv4_prefix, ipv6_prefix=self.config.ipv6_prefix
            )
            for p in self.established()
            if not p.inbound
        }
        exclude = {p.listen_address.key for p in self.established() if p.listen_address} | set(
            self.connecting
        )
        for _ in range(10):
            address = self.book.select(exclude=exclude, exclude_groups=groups)
            if address is None:
                return None
            if self.bans.is_banned(address.host) or self._is_self(address):
                exclude.add(address.key)
                continue
            return address
        return None

    def _may_dial(self, address: PeerAddress, now: float) -> bool:
        assert self.bans is not None
        if self.bans.is_banned(address.host) or self._is_self(address):
            return False
        next_try, _ = self._backoff.get(address.key, (0.0, 0.0))
        return now >= next_try

    def _dial(self, address: PeerAddress) -> None:
        assert self._tg is not None
        self.connecting.add(address.key)
        self._tg.start_soon(self._outbound, address)

    async def _outbound(self, address: PeerAddress) -> None:
        assert self.book is not None
        established = False
        try:
            self.book.attempt(address)
            local = self.listen_host if self.listen_host not in ("", "0.0.0.0", "::") else None
            try:
                with anyio.fail_after(self.config.handshake_timeout):
                    stream = await self._connect(address, local)
            except (OSError, TimeoutError) as exc:
                logger.debug("could not connect to %s: %s", address, exc)
                self.book.failed(address)
                self._failed_dial(address)
                return
            peer = self._make_peer(stream, address.host, address.port, inbound=False)
            peer.dialled = address
            self.connecting.discard(address.key)
            established = await self._serve_peer(peer)
        finally:
            self.connecting.discard(address.key)
            if not established:
                self._failed_dial(address)
            else:
                self._backoff.pop(address.key, None)
            self._dial_wake().set()

    async def _connect(self, address: PeerAddress, local: str | None) -> ByteStream:
        transport = self._transport()
        stream: ByteStream
        if local is not None and getattr(transport, "binds_local_host", False):
            # outbound connections leave from the address we listen on, so that peers
            # (and their per-IP limits and bans) see one address per node
            stream = await transport.connect(address.host, address.port, local_host=local)
        else:
            stream = await transport.connect(address.host, address.port)
        return stream

    def _failed_dial(self, address: PeerAddress) -> None:
        _, delay = self._backoff.get(address.key, (0.0, 0.5))
        delay = min(MAX_BACKOFF, delay * 2)
        self._backoff[address.key] = (time.monotonic() + delay, delay)

    # -- one peer ------------------------------------------------------------------------

    def _hello(self) -> Hello:
        chain = self.chain_service.chain
        tip = chain.tip
        return Hello(
            version=PROTOCOL_VERSION,
            network=self.node.network,
            genesis_id=self.genesis_id,
            services=SERVICES_FULL_NODE,
            top_id=chain.tip_id,
            height=tip.height,
            cumulative_difficulty=tip.cumulative_difficulty,
            listen_port=self.listen_port,
            nonce=self.nonce,
            timestamp=int(time.time()),
            user_agent=USER_AGENT,
        )

    async def _serve_peer(self, peer: Peer) -> bool:
        """Handshake, then serve ``peer`` until it leaves; whether the handshake passed."""
        registered = False
        try:
            with anyio.fail_after(self.config.handshake_timeout):
                await peer.send_now(self._hello())
                first = await peer.receive()
            if isinstance(first, Goodbye):  # refused (limits, a ban): not misbehaviour
                logger.debug("%s refused us: %s", peer.label, first.reason)
                peer.close(f"refused: {first.reason}")
                return False
            if not isinstance(first, Hello):
                raise UnsolicitedError(f"{peer.label} did not start with a handshake")
            refusal = self._check_hello(peer, first)
            if refusal:
                with anyio.move_on_after(1):
                    await peer.send_now(Goodbye(refusal))
                return False
            peer.hello = first
            peer.claims(first.top_id, first.height, first.cumulative_difficulty)
            self.peers[first.nonce] = peer
            registered = True
            if peer.on_established is not None:
                peer.on_established()
                peer.on_established = None
            self.ever_connected = True
            self.metrics.handshakes += 1
            logger.info(
                "peer %s connected (%s, height %d)", peer.label, first.user_agent, first.height
            )
            async with anyio.create_task_group() as tg:
                peer.cancel = tg.cancel_scope.cancel
                tg.start_soon(self._write, peer)
                tg.start_soon(self._read, peer)
        except TimeoutError:
            logger.debug("%s: handshake timed out", peer.label)
        except ProtocolViolation as exc:
            self.misbehaved(peer, exc)
        except PeerGoneError as exc:
            logger.debug("%s", exc)
        finally:
            if registered:
                if self.peers.get(peer.nonce) is peer:  # not replaced (see _check_hello)
                    del self.peers[peer.nonce]
                self.sync.peer_gone(peer)
                self._drop_requests(peer)
                logger.info("peer %s left: %s", peer.label, peer.close_reason or "disconnected")
            banned = peer.close_reason.startswith("banned")
            peer.release()
            with anyio.CancelScope(shield=True), anyio.move_on_after(1):
                if banned:  # tell the peer why, at once (its queue was dropped)
                    with contextlib.suppress(PeerGoneError):
                        await peer.send_now(Goodbye(peer.close_reason[:256]))
                await peer.stream.aclose()
        return registered

    async def _read(self, peer: Peer) -> None:
        try:
            await self._established(peer)
            while True:
                message = await peer.receive()
                await self._dispatch(peer, message)
        except ProtocolViolation as exc:
            self.misbehaved(peer, exc)
        except PeerGoneError as exc:
            peer.close(str(exc))
        self._cancel(peer)

    async def _write(self, peer: Peer) -> None:
        try:
            await peer.write_loop(self.config.request_timeout)
        except PeerGoneError as exc:
            peer.close(str(exc))
        self._cancel(peer)

    def _cancel(self, peer: Peer) -> None:
        if peer.cancel is not None:
            peer.cancel()

    def drop(self, peer: Peer, reason: str) -> None:
        """Disconnect ``peer`` (with a goodbye when its queue has room)."""
        if not peer.closed:
            peer.send(Goodbye(reason[:256]))
        peer.close(reason)

    def misbehaved(self, peer: Peer, error: BaseException) -> None:
        """Ban the peer's IP for ``ban_seconds`` and disconnect every connection from it."""
        assert self.bans is not None
        reason = str(error)[:200] or type(error).__name__
        self.bans.ban(peer.host, self.config.ban_seconds, reason)
        self.metrics.bans += 1
        logger.warning("banned %s for %g s: %s", peer.host, self.config.ban_seconds, reason)
        for other in self.established():
            if other.host == peer.host:
                self.drop(other, f"banned: {reason}")
                self._cancel(other)
        self.drop(peer, f"banned: {reason}")
        self._cancel(peer)

    def _check_hello(self, peer: Peer, hello: Hello) -> str:
        if hello.network != self.node.network or hello.genesis_id != self.genesis_id:
            if peer.dialled is not None and self.book is not None:
                self.book.remove(peer.dialled)
            return f"wrong network: this is {self.node.network} {self.genesis_id.hex()[:16]}"
        if hello.nonce == self.nonce:
            if peer.dialled is not None and self.book is not None:
                self.book.remove(peer.dialled)
                self._self_addresses.add(peer.dialled.key)
            return "connected to itself"
        existing = self.peers.get(hello.nonce)
        if existing is not None and not existing.closed:
            # each of two nodes dialled the other: both sides keep the connection dialled
            # by the node with the smaller nonce (refusing the newer one on both sides
            # would close both, again and again)
            def dialler(p: Peer) -> bytes:
                return hello.nonce if p.inbound else self.nonce

            if dialler(peer) >= dialler(existing):
                return "already connected"
            self.drop(existing, "connected in the other direction")
            self._cancel(existing)
        if hello.version < PROTOCOL_VERSION:
            return f"protocol version {hello.version} is too old"
        return ""

    async def _established(self, peer: Peer) -> None:
        assert self.book is not None
        if not peer.inbound and peer.dialled is not None:
            self.book.good(peer.dialled)
            peer.send(GetAddr())
        elif peer.listen_address is not None:
            self.book.add([peer.listen_address], source=peer.host)
        # what our pool holds, announced like new transactions (after a partition, the
        # other side hears of transactions it missed)
        pooled = await anyio.to_thread.run_sync(self._pooled_txids)
        for txid in pooled:
            peer.schedule_inv(txid, self.config.tx_relay_delay, self.rng)
        await self._maybe_sync(peer)

    def _pooled_txids(self) -> list[bytes]:
        return [tx.txid for tx in self.chain_service.mempool.transactions()][:MAX_POOL_INV]

    async def _maybe_sync(self, peer: Peer) -> None:
        chain = self.chain_service.chain
        if peer.cumulative_difficulty > chain.tip.cumulative_difficulty and (
            self.sync.headers_peer is None
        ):
            await self.sync.request_headers(peer)

    def _drop_requests(self, peer: Peer) -> None:
        for block_id, owner in list(self._pending_compact.items()):
            if owner[0] is peer:
                del self._pending_compact[block_id]
        for block_id, owner2 in list(self._wanted_blocks.items()):
            if owner2 is peer:
                del self._wanted_blocks[block_id]
        for txid in peer.requested_txs:
            self._tx_inflight.pop(txid, None)

    # -- messages ------------------------------------------------------------------------

    async def _dispatch(self, peer: Peer, message: Message) -> None:
        self.metrics.received(message)
        match message:
            case Ping(nonce=nonce):
                peer.send(Pong(nonce))
            case Pong(nonce=nonce):
                peer.fulfilled(("ping", nonce))
            case GetAddr():
                if not peer.getaddr_answered:
                    peer.getaddr_answered = True
                    assert self.book is not None
                    peer.send(Addr(tuple(self.book.sample(MAX_ADDR))))
            case Addr(addresses=addresses):
                if peer.addr_budget.take(1):
                    assert self.book is not None
                    self.book.add(addresses, source=peer.host)
            case GetHeaders():
                blobs = await anyio.to_thread.run_sync(self._headers_for, message)
                peer.send(Headers(tuple(blobs)))
            case Headers(blobs=blobs):
                await self.sync.on_headers(peer, blobs)
            case GetBlocks(ids=ids):
                entries, missing = await anyio.to_thread.run_sync(self._blocks_for, ids)
                if entries:
                    peer.send(Blocks(tuple(entries)))
                if missing:
                    peer.send(NotFound(tuple(missing)))
            case Blocks(entries=entries):
                others = self.sync.on_blocks(peer, entries)
                for entry in others:
                    await self._on_block(peer, entry)
            case NotFound(ids=ids):
                self.sync.on_not_found(peer, ids)
                for item in ids:
                    if peer.requested_txs.pop(item, None) is not None:
                        self._tx_inflight.pop(item, None)
                    if self._wanted_blocks.get(item) is peer:
                        del self._wanted_blocks[item]
            case CompactBlock():
                await self._on_compact(peer, message)
            case GetBlockTxs(block_id=block_id, indexes=indexes):
                txs = await anyio.to_thread.run_sync(self._block_txs_for, block_id, indexes)
                if txs is None:
                    peer.send(NotFound((block_id,)))
                else:
                    peer.send(BlockTxs(block_id, tuple(txs)))
            case BlockTxs(block_id=block_id, txs=txs):
                await self._on_block_txs(peer, block_id, txs)
            case Inv(txids=txids):
                await self._on_inv(peer, txids)
            case GetTxs(txids=txids):
                found, missing = await anyio.to_thread.run_sync(self._txs_for, txids)
                if found:
                    peer.send(Txs(tuple(found)))
                if missing:
                    peer.send(NotFound(tuple(missing)))
            case Txs(txs=txs):
                await self._on_txs(peer, txs)
            case Tip(top_id=top_id, height=height, cumulative_difficulty=cd):
                peer.claims(top_id, height, cd)
                peer.known_blocks.add(top_id)
                await self._maybe_sync(peer)
            case Goodbye(reason=reason):
                peer.close(f"said goodbye: {reason}")
                self._cancel(peer)
            case Hello():
                raise UnsolicitedError(f"{peer.label} sent a second handshake")

    # chain reads (worker threads)

    def _headers_for(self, request: GetHeaders) -> list[bytes]:
        chain = self.chain_service.chain
        fork = chain.find_fork(request.locator)
        if fork is None:
            return []
        blobs: list[bytes] = chain.header_blobs(fork + 1, request.max_count)
        if request.stop != bytes(32):
            for index, blob in enumerate(blobs):
                if _blob_id(blob) == request.stop:
                    return blobs[: index + 1]
        return blobs

    def _blocks_for(self, ids: Sequence[bytes]) -> tuple[list[BlockEntry], list[bytes]]:
        chain = self.chain_service.chain
        entries: list[BlockEntry] = []
        missing: list[bytes] = []
        size = 0
        for block_id in ids:
            block = chain.block(block_id)
            if block is None:
                missing.append(block_id)
                continue
            txs = [chain.transaction(txid) for txid in block.tx_hashes]
            if any(tx is None for tx in txs):
                missing.append(block_id)
                continue
            entry = BlockEntry(block, tuple(tx for tx in txs if tx is not None))
            size += len(block.to_bytes()) + sum(len(tx.to_bytes()) for tx in entry.txs) + 16
            if entries and size > BLOCK_RESPONSE_BYTES:
                break  # the peer asks again for the rest
            entries.append(entry)
        return entries, missing

    def _block_txs_for(self, block_id: bytes, indexes: Sequence[int]) -> list[Transaction] | None:
        chain = self.chain_service.chain
        block = chain.block(block_id)
        if block is None or any(i >= len(block.tx_hashes) for i in indexes):
            return None
        txs = [chain.transaction(block.tx_hashes[i]) for i in indexes]
        if any(tx is None for tx in txs):
            return None
        return [tx for tx in txs if tx is not None]

    def _txs_for(self, txids: Sequence[bytes]) -> tuple[list[Transaction], list[bytes]]:
        mempool = self.chain_service.mempool
        found: list[Transaction] = []
        missing: list[bytes] = []
        for txid in txids:
            tx = mempool.get(txid)
            if tx is None:
                missing.append(txid)
            else:
                found.append(tx)
        return found, missing

    # -- blocks outside sync -------------------------------------------------------------

    async def _on_compact(self, peer: Peer, message: CompactBlock) -> None:
        peer.known_blocks.add(message.block_id)
        if message.block_id in self._pending_compact:
            return
        state, txs = await anyio.to_thread.run_sync(self._compact_state, message)
        if state == "known":
            logger.debug("compact block %s from %s: known", message.block_id.hex()[:16], peer.label)
            return
        if state == "orphan":
            await self._ask_headers(peer)
            return
        missing = tuple(i for i, tx in enumerate(txs) if tx is None)
        if missing:
            self._pending_compact[message.block_id] = (peer, message, txs)
            peer.expect(("blocktxs", message.block_id), self.config.request_timeout)
            peer.send(GetBlockTxs(message.block_id, missing))
            return
        await self._assemble(peer, message, [tx for tx in txs if tx is not None])

    def _compact_state(self, message: CompactBlock) -> tuple[str, list[Transaction | None]]:
        """Whether the block is known, an orphan, or rebuilt from the mempool (the
        transactions, None where missing), in one trip to a worker thread."""
        chain = self.chain_service.chain
        if chain.has_block(message.block_id):
            return "known", []
        if not chain.has_block(message.header.prev_id):
            return "orphan", []
        return "new", self._rebuild(message)

    def _rebuild(self, message: CompactBlock) -> list[Transaction | None]:
        """The block's transactions found in the mempool by short id (None: missing)."""
        if not message.short_ids:
            return []
        mempool = self.chain_service.mempool
        by_short: dict[bytes, Transaction | None] = {}
        for tx in mempool.transactions():
            key = short_id(message.salt, tx.txid)
            by_short[key] = None if key in by_short else tx  # a collision: fetch it
        return [by_short.get(s) for s in message.short_ids]

    async def _on_block_txs(self, peer: Peer, block_id: bytes, txs: Sequence[Transaction]) -> None:
        pending = self._pending_compact.get(block_id)
        if pending is None or pending[0] is not peer:
            raise UnsolicitedError(f"{peer.label} sent block transactions nobody asked for")
        del self._pending_compact[block_id]
        peer.fulfilled(("blocktxs", block_id))
        _, message, have = pending
        slots = [i for i, tx in enumerate(have) if tx is None]
        if len(slots) != len(txs):
            raise UnsolicitedError(f"{peer.label} sent {len(txs)} transactions, not {len(slots)}")
        filled = list(have)
        for index, tx in zip(slots, txs, strict=True):
            if short_id(message.salt, tx.txid) != message.short_ids[index]:
                raise InvalidBlockError(f"{peer.label} sent a transaction that is not the block's")
            filled[index] = tx
        await self._assemble(peer, message, [tx for tx in filled if tx is not None])

    async def _assemble(self, peer: Peer, message: CompactBlock, txs: list[Transaction]) -> None:
        block = Block(
            header=message.header, miner_tx=message.miner_tx, tx_hashes=tuple(t.txid for t in txs)
        )
        if block.id != message.block_id:  # a short-id collision (or a lie): get it whole
            self._wanted_blocks[message.block_id] = peer
            peer.asked_blocks.add(message.block_id)
            peer.expect(("block", message.block_id), self.config.request_timeout)
            peer.send(GetBlocks((message.block_id,)))
            return
        await self._submit(peer, block, {tx.txid: tx for tx in txs})

    async def _on_block(self, peer: Peer, entry: BlockEntry) -> None:
        block_id = entry.block.id
        if self._wanted_blocks.get(block_id) is not peer:
            if block_id in peer.asked_blocks:
                return  # a late answer to a span given to another peer or dropped
            raise UnsolicitedError(
                f"{peer.label} sent block {block_id.hex()[:16]} nobody asked for"
            )
        del self._wanted_blocks[block_id]
        peer.fulfilled(("block", block_id))
        await self._submit(peer, entry.block, {tx.txid: tx for tx in entry.txs})

    async def _submit(self, peer: Peer, block: Block, txs: dict[bytes, Transaction]) -> None:
        peer.known_blocks.add(block.id)
        for txid in txs:
            peer.known_txs.add(txid)
        service = self.chain_service
        try:
            result = await anyio.to_thread.run_sync(service.submit_block, block, txs)
        except Exception as exc:
            if type(exc).__name__ == "OrphanBlockError":
                await self._ask_headers(peer)
                return
            if is_benign(exc):
                logger.info("block %s from %s not taken: %s", block.id.hex()[:16], peer.label, exc)
                return
            if isinstance(exc, ValueError | ArithmeticError) or _is_zion_error(exc):
                raise InvalidBlockError(
                    f"{peer.label} relayed invalid block {block.id.hex()}: {exc}"
                ) from None
            raise
        self.metrics.relayed_in += 1
        if result.status == "connected":
            self.tip_changed()

    async def _ask_headers(self, peer: Peer) -> None:
        if self.sync.headers_peer is None:
            await self.sync.request_headers(peer)

    # -- transactions --------------------------------------------------------------------

    async def _on_inv(self, peer: Peer, txids: Sequence[bytes]) -> None:
        for txid in txids:
            peer.known_txs.add(txid)
        mempool = self.chain_service.mempool
        now = time.monotonic()
        wanted = [
            t
            for t in txids
            if t not in mempool
            and self._tx_inflight.get(t, 0.0) < now
            and t not in peer.requested_txs
        ]
        if not wanted:
            return
        have = await anyio.to_thread.run_sync(
            lambda: {t for t in wanted if self.chain_service.chain.store.tx_block(t) is not None}
        )
        wanted = [t for t in wanted if t not in have][:MAX_INV]
        if not wanted:
            return
        deadline = now + self.config.request_timeout
        for txid in wanted:
            self._tx_inflight[txid] = deadline
            peer.requested_txs[txid] = deadline
        peer.send(GetTxs(tuple(wanted)))

    async def _on_txs(self, peer: Peer, txs: Sequence[Transaction]) -> None:
        for tx in txs:
            txid = tx.txid
            if peer.requested_txs.pop(txid, None) is None:
                raise UnsolicitedError(
                    f"{peer.label} sent transaction {txid.hex()[:16]} nobody asked for"
                )
            self._tx_inflight.pop(txid, None)
            peer.known_txs.add(txid)
        service = self.chain_service

        def submit() -> int:
            taken = 0
            for tx in txs:
                try:
                    service.submit_transaction(tx)
                    taken += 1
                except Exception as exc:
                    if not _is_zion_error(exc):
                        raise
                    logger.debug(
                        "transaction %s from %s refused: %s", tx.txid.hex()[:16], peer.label, exc
                    )
            return taken

        self.metrics.txs_in += await anyio.to_thread.run_sync(submit)

    # -- the relay loop and the tick -----------------------------------------------------

    async def _relay_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            announced = False
            while self._events:
                kind, item = self._events.popleft()
                if kind == "block":
                    announced |= self._announce_block(item)
                else:
                    self._announce_tx(item)
            if self._tip_dirty or announced:
                self._tip_dirty = False
                self._send_tip()

    def _announce_block(self, block: Block) -> bool:
        if self.sync.busy:
            logger.debug("block %s not announced: downloading", block.id.hex()[:16])
            return False  # peers hear our tip when the download is over
        block_id = block.id
        salt = os.urandom(8)
        message = CompactBlock(
            block_id=block_id,
            header=block.header,
            miner_tx=block.miner_tx,
            salt=salt,
            short_ids=tuple(short_id(salt, h) for h in block.tx_hashes),
        )
        for peer in self.established():
            if block_id not in peer.known_blocks:
                peer.known_blocks.add(block_id)
                peer.send(message)
                self.metrics.relayed_out += 1
        return True

    def _announce_tx(self, tx: Transaction) -> None:
        txid = tx.txid
        for peer in self.established():
            peer.schedule_inv(txid, self.config.tx_relay_delay, self.rng)

    def _send_tip(self) -> None:
        chain = self.chain_service.chain
        tip = chain.tip
        message = Tip(chain.tip_id, tip.height, tip.cumulative_difficulty)
        for peer in self.established():
            peer.send(message)
        if not self.sync.busy:
            best = self.sync.best_peer()
            if best is not None and self.sync.headers_peer is None and self._tg is not None:
                self._tg.start_soon(self.sync.request_headers, best)

    async def _tick_loop(self) -> None:
        last_ping = last_save = time.monotonic()
        while True:
            await anyio.sleep(TICK_SECONDS)
            now = time.monotonic()
            for peer in self.established():
                overdue = peer.overdue(now)
                if overdue is not None:
                    self.metrics.timeouts += 1
                    self.drop(
                        peer, f"no answer to {overdue!r} within {self.config.request_timeout:g} s"
                    )
                    self._cancel(peer)
                    continue
                if peer.inv_queue and now >= peer.next_inv_at:
                    batch = sorted(peer.inv_queue)[:MAX_INV]
                    peer.inv_queue.difference_update(batch)
                    for txid in batch:
                        peer.known_txs.add(txid)
                    peer.send(Inv(tuple(batch)))
                    if peer.inv_queue:
                        peer.next_inv_at = now + self.config.tx_relay_delay
            for txid, deadline in list(self._tx_inflight.items()):
                if deadline < now:
                    del self._tx_inflight[txid]
            if now - last_ping >= PING_SECONDS:
                last_ping = now
                for peer in self.established():
                    nonce = os.urandom(8)
                    peer.expect(("ping", nonce), self.config.request_timeout)
                    peer.send(Ping(nonce))
            if now - last_save >= SAVE_SECONDS:
                last_save = now
                await anyio.to_thread.run_sync(self._save_books)
            if not self.sync.busy and self.sync.headers_peer is None:
                best = self.sync.best_peer()
                if best is not None:
                    await self.sync.request_headers(best)

    # -- status --------------------------------------------------------------------------

    def connections(self) -> list[dict[str, Any]]:
        return [peer.snapshot() for peer in self.established()]


def _blob_id(blob: bytes) -> bytes:
    from .messages import HeaderInfo

    return HeaderInfo.from_blob(blob).id


def _is_zion_error(exc: BaseException) -> bool:
    from zion_core import ZionError

    return isinstance(exc, ZionError)


__all__ = ["P2PService", "WrongNetworkError"]
