"""Headers-first synchronisation: find the fork, take the headers, download the blocks.

One peer at a time is asked for headers (``GetHeaders`` with our chain's locator); the
headers that link to a block we know are queued in chain order. Their blocks are
downloaded in spans of ``span_blocks`` ids from every peer that has them, at most
``spans_per_peer`` spans per peer and ``download_window`` blocks ahead of what is
connected. A connector task hands the blocks, in order, to the chain service in batches
(``submit_blocks``), which verifies their proof of work on all the hasher's threads.

A peer that sends headers that do not link, a block nobody asked it for, or an invalid
block is banned; a peer that misses a deadline is dropped and its spans go to others.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import time
from collections import deque
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import anyio.to_thread
import attrs

from zion_core.chain.block import Block
from zion_core.chain.transaction import Transaction
from zion_core.progress import ProgressTask, progress

from .messages import (
    MAX_HEADERS,
    BlockEntry,
    GetBlocks,
    GetHeaders,
    HeaderInfo,
    MalformedMessageError,
    ProtocolViolation,
)
from .peer import Peer

if TYPE_CHECKING:
    from .config import P2PConfig

logger = logging.getLogger(__name__)

CONNECT_BATCH = 64
"""Blocks handed to the chain service in one ``submit_blocks`` call at most."""
BATCHES_IN_FLIGHT = 2
BENIGN_BLOCK_ERRORS = frozenset(
    {"OrphanBlockError", "ReorgTooDeepError", "TimestampTooFarInFutureError"}
)
"""Consensus errors that do not prove a peer dishonest (a fork we will not follow, a
clock ahead of ours, a parent not yet here)."""


class UnlinkedHeadersError(ProtocolViolation):
    """Headers that do not form a chain from a block we know."""


class UnsolicitedError(ProtocolViolation):
    """A response to a request we did not make."""


class InvalidBlockError(ProtocolViolation):
    """A block that breaks a consensus rule."""


class Host(Protocol):
    """What the synchroniser needs from the service."""

    config: P2PConfig

    @property
    def chain_service(self) -> Any: ...

    def established(self) -> Sequence[Peer]: ...

    def misbehaved(self, peer: Peer, error: BaseException) -> None: ...

    def tip_changed(self) -> None: ...


@attrs.define
class Span:
    number: int
    ids: list[bytes]
    outstanding: set[bytes]
    peer: Peer


def is_benign(error: BaseException) -> bool:
    return type(error).__name__ in BENIGN_BLOCK_ERRORS


class Synchronizer:
    """The node's download state: queued headers, spans in flight, blocks received."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.config = host.config
        self.headers_peer: Peer | None = None
        self.seq: dict[bytes, int] = {}
        """Queued block ids (not yet connected) and their position in chain order."""
        self.heights: dict[bytes, int] = {}
        self.order: deque[bytes] = deque()
        self.unassigned: list[tuple[int, bytes]] = []  # heap of (seq, id)
        self.avoid: dict[bytes, set[int]] = {}
        """Peers (by id()) that said NotFound for a queued block."""
        self.spans: dict[int, Span] = {}
        self.span_of: dict[bytes, int] = {}
        self.received: dict[bytes, tuple[Block, dict[bytes, Transaction], Peer]] = {}
        self.next_seq = 0
        self.next_span = 0
        self.wake = anyio.Event()
        self.connected = 0
        """Blocks connected by downloads since start."""
        self.in_flight: set[bytes] = set()
        """Blocks handed to the chain service and not back yet."""
        self.batches_in_flight = 0
        self.target_height = 0
        self._progress: ProgressTask | None = None
        self._progress_stack: contextlib.ExitStack | None = None
        self.last_activity = time.monotonic()

    # -- state -----------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """Headers asked for, or blocks queued, downloading or being connected."""
        return self.headers_peer is not None or bool(self.order)

    @property
    def queued(self) -> int:
        return len(self.order)

    def _chain(self) -> Any:
        return self.host.chain_service.chain

    # -- headers ---------------------------------------------------------------------------

    async def request_headers(self, peer: Peer, *, after: bytes | None = None) -> None:
        """Ask ``peer`` for the headers after our chain (or after ``after``, continuing)."""
        if self.headers_peer is not None or peer.headers_pending or peer.closed:
            return  # one headers request at a time
        self.headers_peer = peer
        peer.headers_pending = True
        peer.expect("headers", self.config.request_timeout)
        locator: list[bytes] = await anyio.to_thread.run_sync(self._chain().locator)
        if after is not None:
            locator = [after, *locator][:64]
        peer.send(GetHeaders(tuple(locator), bytes(32), MAX_HEADERS))
        self.target_height = max(self.target_height, peer.height)

    async def on_headers(self, peer: Peer, blobs: Sequence[bytes]) -> None:
        if not peer.headers_pending:
            raise UnsolicitedError(f"{peer.label} sent headers nobody asked for")
        peer.headers_pending = False
        peer.fulfilled("headers")
        if self.headers_peer is peer:
            self.headers_peer = None
        self.last_activity = time.monotonic()
        if not blobs:
            self._no_more_headers(peer)
            return
        infos, known, parent_height = await anyio.to_thread.run_sync(self._link, peer, blobs)
        added = 0
        height = parent_height
        for info in infos:
            height += 1
            if info.id in known or info.id in self.seq:
                continue
            self.seq[info.id] = self.next_seq
            self.heights[info.id] = height
            heapq.heappush(self.unassigned, (self.next_seq, info.id))
            self.order.append(info.id)
            self.next_seq += 1
            added += 1
        self.target_height = max(self.target_height, height, peer.height)
        if added:
            self._show_progress()
        logger.debug("%d headers from %s, %d new", len(infos), peer.label, added)
        if len(blobs) >= MAX_HEADERS:
            await self.request_headers(peer, after=infos[-1].id)
        elif not added:
            self._no_more_headers(peer)
        self.schedule()

    def _link(self, peer: Peer, blobs: Sequence[bytes]) -> tuple[list[HeaderInfo], set[bytes], int]:
        """Parse the headers and check they chain from a block we know (worker thread)."""
        try:
            infos = [HeaderInfo.from_blob(blob) for blob in blobs]
        except MalformedMessageError:
            raise
        except (ValueError, ArithmeticError) as exc:  # a validator of the header's fields
            raise MalformedMessageError(f"a header from {peer.label}: {exc}") from None
        chain = self._chain()
        first = infos[0].header.prev_id
        parent_height = self.heights.get(first)
        if parent_height is None:
            meta = chain.store.meta(first)
            if meta is None:
                raise UnlinkedHeadersError(
                    f"{peer.label} sent headers starting at unknown block {first.hex()}"
                )
            parent_height = meta.height
        for before, after in itertools.pairwise(infos):
            if after.header.prev_id != before.id:
                raise UnlinkedHeadersError(f"{peer.label} sent headers that do not link")
        known = {info.id for info in infos if chain.has_block(info.id)}
        for info in infos:
            if chain.is_invalid(info.id):
                raise InvalidBlockError(
                    f"{peer.label} sent the header of invalid block {info.id.hex()}"
                )
        return infos, known, parent_height

    def _no_more_headers(self, peer: Peer) -> None:
        """The peer has nothing past our chain: its claim, if above ours, was wrong."""
        tip = self._chain().tip
        if peer.cumulative_difficulty > tip.cumulative_difficulty and not self.order:
            peer.claims(self._chain().tip_id, tip.height, tip.cumulative_difficulty)
        self._finish_if_done()

    # -- downloading -----------------------------------------------------------------------

    def _eligible(self, peer: Peer, height: int) -> bool:
        return (
            not peer.closed
            and peer.hello is not None
            and (peer.height >= height or peer is self.headers_peer)
        )

    def schedule(self) -> None:
        """Give spans of queued ids to peers with room, within the download window."""
        if not self.unassigned:
            return
        peers = sorted(self.host.established(), key=lambda p: len(p.spans))
        window_end = (self.order and self.seq.get(self.order[0], 0)) or 0
        window_end += self.config.download_window
        for peer in peers:
            while len(peer.spans) < self.config.spans_per_peer and self.unassigned:
                ids = self._take_span(peer, window_end)
                if not ids:
                    break
                number = self.next_span
                self.next_span += 1
                span = Span(number, ids, set(ids), peer)
                self.spans[number] = span
                for block_id in ids:
                    self.span_of[block_id] = number
                peer.spans.add(number)
                for block_id in ids:
                    peer.asked_blocks.add(block_id)
                peer.expect(("span", number), self.config.request_timeout)
                peer.send(GetBlocks(tuple(ids)))

    def _take_span(self, peer: Peer, window_end: int) -> list[bytes]:
        taken: list[bytes] = []
        skipped: list[tuple[int, bytes]] = []
        while self.unassigned and len(taken) < self.config.span_blocks:
            seq, block_id = self.unassigned[0]
            if block_id not in self.seq or block_id in self.span_of or block_id in self.received:
                heapq.heappop(self.unassigned)  # stale entry
                continue
            if seq >= window_end:
                break
            heapq.heappop(self.unassigned)
            if id(peer) in self.avoid.get(block_id, ()) or not self._eligible(
                peer, self.heights.get(block_id, 0)
            ):
                skipped.append((seq, block_id))
                if taken:
                    break  # spans stay contiguous
                continue
            taken.append(block_id)
        for item in skipped:
            heapq.heappush(self.unassigned, item)
        return taken

    def on_blocks(self, peer: Peer, entries: Iterable[BlockEntry]) -> list[BlockEntry]:
        """Take the downloaded blocks; returns the entries that belong to no span (the
        caller decides whether they were asked for otherwise)."""
        others: list[BlockEntry] = []
        touched: set[int] = set()
        for entry in entries:
            block_id = entry.block.id
            number = self.span_of.get(block_id)
            span = self.spans.get(number) if number is not None else None
            if span is None or span.peer is not peer or block_id not in span.outstanding:
                others.append(entry)
                continue
            span.outstanding.discard(block_id)
            del self.span_of[block_id]
            self.received[block_id] = (entry.block, {tx.txid: tx for tx in entry.txs}, peer)
            touched.add(span.number)
        for number in touched:
            span = self.spans[number]
            if not span.outstanding:
                self._span_done(span)
            else:  # the answer was cut at its size limit: ask for the rest
                peer.expect(("span", number), self.config.request_timeout)
                peer.send(GetBlocks(tuple(i for i in span.ids if i in span.outstanding)))
        if touched:
            self.last_activity = time.monotonic()
            self.wake.set()
            self.schedule()
        return others

    def on_not_found(self, peer: Peer, ids: Iterable[bytes]) -> None:
        for block_id in ids:
            number = self.span_of.get(block_id)
            span = self.spans.get(number) if number is not None else None
            if span is None or span.peer is not peer:
                continue
            span.outstanding.discard(block_id)
            del self.span_of[block_id]
            self.avoid.setdefault(block_id, set()).add(id(peer))
            heapq.heappush(self.unassigned, (self.seq[block_id], block_id))
            if not span.outstanding:
                self._span_done(span)
        if not any(self._eligible(p, 0) for p in self.host.established() if p is not peer):
            self._drop_unavailable()
        self.schedule()

    def _span_done(self, span: Span) -> None:
        self.spans.pop(span.number, None)
        span.peer.spans.discard(span.number)
        span.peer.fulfilled(("span", span.number))

    def _drop_unavailable(self) -> None:
        """Blocks every connected peer said it lacks: forget them and what follows."""
        peers = {id(p) for p in self.host.established()}
        for block_id in self.order:
            if peers and peers <= self.avoid.get(block_id, set()):
                self._truncate_from(block_id)
                return

    def peer_gone(self, peer: Peer) -> None:
        """Give the spans of a peer that left back to the queue."""
        for number in list(peer.spans):
            span = self.spans.pop(number, None)
            if span is None:
                continue
            for block_id in span.outstanding:
                self.span_of.pop(block_id, None)
                if block_id in self.seq:
                    heapq.heappush(self.unassigned, (self.seq[block_id], block_id))
        peer.spans.clear()
        if self.headers_peer is peer:
            self.headers_peer = None
        # blocks it sent that are still waiting are kept: they are checked like any other
        self.schedule()
        self._finish_if_done()

    def _truncate_from(self, block_id: bytes) -> None:
        """Forget ``block_id`` and every queued block after it."""
        start = self.seq.get(block_id)
        if start is None:
            return
        keep: deque[bytes] = deque()
        for queued in self.order:
            if self.seq[queued] < start:
                keep.append(queued)
                continue
            self.seq.pop(queued, None)
            self.heights.pop(queued, None)
            self.received.pop(queued, None)
            self.avoid.pop(queued, None)
            number = self.span_of.pop(queued, None)
            if number is not None:
                span = self.spans.get(number)
                if span is not None:
                    span.outstanding.discard(queued)
                    if not span.outstanding:
                        self._span_done(span)
        self.order = keep
        self.unassigned = [(s, i) for s, i in self.unassigned if i in self.seq]
        heapq.heapify(self.unassigned)
        self._finish_if_done()

    # -- connecting ------------------------------------------------------------------------

    async def connect_loop(self) -> None:
        """Hand received blocks to the chain, in chain order, until cancelled.

        Up to :data:`BATCHES_IN_FLIGHT` batches are handed over at once: the chain
        service hashes a batch while it adds the one before, and adds them in the order
        they were handed over."""
        async with anyio.create_task_group() as tg:
            while True:
                await self.wake.wait()
                self.wake = anyio.Event()
                while self.batches_in_flight < BATCHES_IN_FLIGHT:
                    batch = self._next_batch()
                    if not batch:
                        break
                    self.batches_in_flight += 1
                    self.in_flight.update(block_id for block_id, *_ in batch)
                    tg.start_soon(self._connect, batch)
                self._finish_if_done()

    def _next_batch(self) -> list[tuple[bytes, Block, dict[bytes, Transaction], Peer]]:
        """The received blocks that follow the ones handed over, in chain order."""
        batch: list[tuple[bytes, Block, dict[bytes, Transaction], Peer]] = []
        for block_id in self.order:
            if block_id in self.in_flight:
                if batch:
                    break
                continue
            got = self.received.get(block_id)
            if got is None or len(batch) >= CONNECT_BATCH:
                break
            batch.append((block_id, *got))
        return batch

    async def _connect(
        self, batch: list[tuple[bytes, Block, dict[bytes, Transaction], Peer]]
    ) -> None:
        service = self.host.chain_service
        entries = [(block, txs) for _, block, txs, _ in batch]
        try:
            result = await anyio.to_thread.run_sync(service.submit_blocks, entries)
        finally:
            self.batches_in_flight -= 1
            self.in_flight.difference_update(block_id for block_id, *_ in batch)
            self.wake.set()
        done = len(result.results)
        for block_id, *_ in batch[:done]:
            self._forget(block_id)
        self.connected += done
        if self._progress is not None:
            self._progress.advance(done)
        if done:
            self.host.tip_changed()
        if result.error is not None:
            block_id, _, _, sender = batch[done]
            if block_id not in self.seq:
                pass  # its branch was already dropped (an earlier batch failed)
            elif is_benign(result.error):
                logger.info(
                    "block %s from %s not taken: %s",
                    block_id.hex()[:16],
                    sender.label,
                    result.error,
                )
            else:
                self.host.misbehaved(
                    sender,
                    InvalidBlockError(
                        f"{sender.label} sent invalid block {block_id.hex()}: {result.error}"
                    ),
                )
            self._truncate_from(block_id)
            self._restart()
        self.schedule()
        self._finish_if_done()

    def _forget(self, block_id: bytes) -> None:
        self.seq.pop(block_id, None)
        self.heights.pop(block_id, None)
        self.received.pop(block_id, None)
        self.avoid.pop(block_id, None)
        while self.order and self.order[0] not in self.seq:
            self.order.popleft()

    def _restart(self) -> None:
        """After a failed batch: ask the best remaining peer for headers again."""
        best = self.best_peer()
        if best is not None and self.headers_peer is None:
            self.host.tip_changed()

    def best_peer(self) -> Peer | None:
        """The connected peer claiming the most cumulative difficulty above our tip."""
        tip_cd = self._chain().tip.cumulative_difficulty
        best: Peer | None = None
        for peer in self.host.established():
            if peer.cumulative_difficulty > tip_cd and (
                best is None or peer.cumulative_difficulty > best.cumulative_difficulty
            ):
                best = peer
        return best

    # -- progress --------------------------------------------------------------------------

    def _show_progress(self) -> None:
        if self._progress is None and len(self.order) >= 32:
            self._progress_stack = contextlib.ExitStack()
            self._progress = self._progress_stack.enter_context(
                progress("downloading blocks", total=len(self.order), unit="blocks", logger=logger)
            )
        elif self._progress is not None:
            self._progress.update(total=self._progress.completed + len(self.order))

    def _finish_if_done(self) -> None:
        if self.order or self.headers_peer is not None or self.batches_in_flight:
            return
        if self._progress_stack is not None:
            self._progress_stack.close()
            self._progress_stack = None
            self._progress = None
