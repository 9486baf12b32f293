"""One connected peer: framed messages over a byte stream, budgets, a bounded send queue.

A :class:`Peer` reads frames with :class:`~.messages.FrameReader` (whose caps are checked
from the header, before the payload is buffered), charges every frame to the peer's byte
and message token buckets, and sends through a bounded queue drained by its own writer
task, so a peer that stops reading is dropped instead of holding everybody up.
"""

from __future__ import annotations

import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

import anyio
from anyio.abc import ByteStream

from .address import PeerAddress
from .messages import FrameReader, Hello, Message, P2PError, ProtocolViolation, encode_frame

logger = logging.getLogger(__name__)

READ_CHUNK = 64 * 1024
SEND_QUEUE_MESSAGES = 512
"""Messages queued for one peer before it counts as not reading (and is dropped)."""
KNOWN_TXS = 50_000
KNOWN_BLOCKS = 2_048

K = TypeVar("K", bound=Hashable)


class BudgetExceededError(ProtocolViolation):
    """The peer sent more bytes or messages than its token buckets allow."""


class PeerGoneError(P2PError):
    """The connection closed, or the peer is too slow to take what we send."""


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; :meth:`take` spends them."""

    __slots__ = ("burst", "clock", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.clock = clock
        self.stamp = clock()

    def take(self, amount: float) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if amount > self.tokens:
            return False
        self.tokens -= amount
        return True


class LruSet(Generic[K]):
    """A set that forgets its oldest members beyond ``capacity``."""

    __slots__ = ("_items", "capacity")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[K, None] = OrderedDict()

    def add(self, item: K) -> None:
        items = self._items
        if item in items:
            items.move_to_end(item)
            return
        items[item] = None
        if len(items) > self.capacity:
            items.popitem(last=False)

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def __len__(self) -> int:
        return len(self._items)


class Peer:
    """A connection that completed (or is doing) the handshake."""

    def __init__(
        self,
        stream: ByteStream,
        host: str,
        port: int,
        *,
        inbound: bool,
        magic: bytes,
        byte_rate: float,
        byte_burst: float,
        message_rate: float,
        message_burst: float,
    ) -> None:
        self.stream = stream
        self.host = host
        self.port = port
        self.inbound = inbound
        self.reader = FrameReader(magic)
        self.magic = magic
        self.bytes_in = TokenBucket(byte_rate, byte_burst)
        self.messages_in = TokenBucket(message_rate, message_burst)
        self.hello: Hello | None = None
        self.dialled: PeerAddress | None = None
        """The address we dialled (outbound peers)."""
        self.connected_at = time.time()
        self.last_received = time.monotonic()
        self.received_bytes = 0
        self.sent_bytes = 0
        self.received_messages = 0
        self.sent_messages = 0
        # what the peer claims (handshake, then Tip messages)
        self.top_id = bytes(32)
        self.height = 0
        self.cumulative_difficulty = 0
        # relay state
        self.known_txs: LruSet[bytes] = LruSet(KNOWN_TXS)
        self.known_blocks: LruSet[bytes] = LruSet(KNOWN_BLOCKS)
        self.asked_blocks: LruSet[bytes] = LruSet(KNOWN_BLOCKS)
        """Blocks asked of this peer (an answer that comes after its request was given to
        another peer, or dropped, is not unsolicited)."""
        self.inv_queue: set[bytes] = set()
        self.next_inv_at = 0.0
        # requests in flight: what -> deadline (monotonic)
        self.deadlines: dict[Hashable, float] = {}
        self.requested_txs: dict[bytes, float] = {}
        self.headers_pending = False
        self.spans: set[int] = set()
        """Download spans (their numbers) assigned to this peer."""
        self.addr_budget = TokenBucket(1.0 / 10.0, 3.0)
        self.getaddr_answered = False
        self.closed = False
        self.close_reason = ""
        self.on_established: Callable[[], None] | None = None
        """Called once when the handshake passes (the service's inbound accounting)."""
        self.cancel: Callable[[], None] | None = None
        """Ends the peer's tasks (set by the service once the handshake passed)."""
        send, receive = anyio.create_memory_object_stream[bytes](SEND_QUEUE_MESSAGES)
        self._send = send
        self._outgoing = receive

    # -- identity ------------------------------------------------------------------------

    @property
    def nonce(self) -> bytes:
        return self.hello.nonce if self.hello is not None else b""

    @property
    def listen_address(self) -> PeerAddress | None:
        """Where the peer accepts connections: its IP and announced port (None: nowhere)."""
        if self.hello is None or not self.hello.listen_port:
            return None
        try:
            return PeerAddress(self.host, self.hello.listen_port, self.hello.services)
        except ValueError:
            return None

    @property
    def label(self) -> str:
        direction = "in" if self.inbound else "out"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port} ({direction})"

    def claims(self, top_id: bytes, height: int, cumulative_difficulty: int) -> None:
        self.top_id = top_id
        self.height = height
        self.cumulative_difficulty = cumulative_difficulty

    # -- receiving -----------------------------------------------------------------------

    async def receive(self) -> Message:
        """The next message; raises a ProtocolViolation (ban) or PeerGoneError."""
        while True:
            message = self.reader.next()
            if message is not None:
                self.received_messages += 1
                if not self.messages_in.take(1):
                    raise BudgetExceededError(
                        f"{self.label} sent more than its message budget "
                        f"({self.messages_in.rate:g}/s, burst {self.messages_in.burst:g})"
                    )
                self.last_received = time.monotonic()
                return message
            try:
                chunk = await self.stream.receive(READ_CHUNK)
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                raise PeerGoneError(f"{self.label} closed the connection") from None
            except OSError as exc:
                raise PeerGoneError(f"{self.label}: {exc}") from None
            self.received_bytes += len(chunk)
            if not self.bytes_in.take(len(chunk)):
                raise BudgetExceededError(
                    f"{self.label} sent more than its byte budget "
                    f"({self.bytes_in.rate:g} B/s, burst {self.bytes_in.burst:g} B)"
                )
            self.reader.feed(chunk)

    # -- sending -------------------------------------------------------------------------

    def send(self, message: Message) -> None:
        """Queue ``message``; a peer whose queue is full is closed (it does not read)."""
        if self.closed:
            return
        frame = encode_frame(self.magic, message)
        try:
            self._send.send_nowait(frame)
        except anyio.WouldBlock:
            self.close(f"does not read: {SEND_QUEUE_MESSAGES} messages queued")
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            self.closed = True

    async def send_now(self, message: Message) -> None:
        """Write ``message`` at once (the handshake, a goodbye), bypassing the queue."""
        frame = encode_frame(self.magic, message)
        try:
            await self.stream.send(frame)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            raise PeerGoneError(f"{self.label}: {exc}") from None
        self.sent_bytes += len(frame)
        self.sent_messages += 1

    async def write_loop(self, write_timeout: float) -> None:
        """Send queued frames until closed; a write that takes ``write_timeout`` s drops
        the peer."""
        async with self._outgoing:
            async for frame in self._outgoing:
                try:
                    with anyio.fail_after(write_timeout):
                        await self.stream.send(frame)
                except TimeoutError:
                    raise PeerGoneError(
                        f"{self.label}: a write took over {write_timeout:g} s"
                    ) from None
                except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
                    raise PeerGoneError(f"{self.label}: {exc}") from None
                self.sent_bytes += len(frame)
                self.sent_messages += 1

    def close(self, reason: str) -> None:
        """Stop queuing; the writer ends after what is queued (the service cancels it)."""
        if not self.closed:
            self.closed = True
            self.close_reason = reason
            self._send.close()

    def release(self) -> None:
        """Drop what is still queued (the connection is over)."""
        self.close(self.close_reason or "disconnected")
        self._outgoing.close()

    # -- requests ------------------------------------------------------------------------

    def expect(self, what: Hashable, timeout: float) -> None:
        self.deadlines[what] = time.monotonic() + timeout

    def fulfilled(self, what: Hashable) -> bool:
        return self.deadlines.pop(what, None) is not None

    def overdue(self, now: float | None = None) -> Hashable | None:
        now = time.monotonic() if now is None else now
        for what, deadline in self.deadlines.items():
            if deadline < now:
                return what
        return None

    def schedule_inv(self, txid: bytes, mean_delay: float, rng: random.Random) -> None:
        """Announce ``txid`` after a jittered (exponential) delay unless the peer knows it."""
        if txid in self.known_txs:
            return
        if not self.inv_queue:
            delay = rng.expovariate(1.0 / mean_delay) if mean_delay > 0 else 0.0
            self.next_inv_at = time.monotonic() + delay
        self.inv_queue.add(txid)

    def snapshot(self) -> dict[str, Any]:
        """The peer as ``get_connections`` shows it."""
        hello = self.hello
        return {
            "address": self.label.split(" ")[0],
            "host": self.host,
            "port": self.port,
            "incoming": self.inbound,
            "state": "normal" if hello is not None else "handshake",
            "height": self.height,
            "cumulative_difficulty": self.cumulative_difficulty,
            "top_id": self.top_id.hex(),
            "peer_id": self.nonce.hex(),
            "user_agent": hello.user_agent if hello is not None else "",
            "listen_port": hello.listen_port if hello is not None else 0,
            "live_time": int(time.time() - self.connected_at),
            "recv_count": self.received_bytes,
            "send_count": self.sent_bytes,
            "recv_messages": self.received_messages,
            "send_messages": self.sent_messages,
            "spans": len(self.spans),
        }
