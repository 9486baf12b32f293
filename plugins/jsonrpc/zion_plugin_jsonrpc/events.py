"""Live events over WebSocket (``/ws``): new tip, reorganisation, new pooled transaction,
block found.

The node's events reach :class:`EventListener` on the event loop (it subscribes to its
node with ``Node.subscribe``); it turns them into JSON messages and hands each to every
subscriber's bounded queue without waiting. A subscriber whose queue is full has fallen
behind: it is dropped and its WebSocket closed with code 1008, so a slow client can never
hold the node back.

Messages are JSON objects ``{"event": NAME, "data": {...}}``:

- ``hello`` (first message): ``network``, ``height`` and ``hash`` of the tip, ``events``
  (the names this client receives);
- ``new_tip``: ``height``, ``hash``, ``prev_hash``, ``timestamp``, ``reward``,
  ``num_txes``, ``nonce`` of a block that became the tip;
- ``reorg``: ``fork_height`` (the last block both chains share), ``depth`` and
  ``disconnected`` (``[{height, hash}]``, old tip first), sent before the new branch's
  ``new_tip`` messages;
- ``mempool_tx``: ``tx_hash``, ``fee``, ``size`` of a transaction that entered the pool;
- ``block_found``: ``height``, ``hash``, ``reward`` of a block this node's miner or pool
  found.

A client picks events with ``/ws?events=new_tip,reorg`` (default: all of them).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Final

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from starlette.websockets import WebSocket, WebSocketDisconnect

from zion_hookspecs import hookimpl

logger = logging.getLogger(__name__)

EVENT_NAMES: Final = ("new_tip", "reorg", "mempool_tx", "block_found")
SLOW_CLIENT: Final = 1008
"""The close code sent to a subscriber that fell behind (policy violation)."""
TRY_AGAIN_LATER: Final = 1013
GOING_AWAY: Final = 1001
SEND_TIMEOUT_S: Final = 10.0
"""A send to a client that takes longer than this drops the client."""


class Subscription:
    """One subscriber: the events it wants and its bounded queue of messages."""

    def __init__(self, events: frozenset[str], size: int) -> None:
        self.events = events
        send, receive = anyio.create_memory_object_stream[str](size)
        self.send: MemoryObjectSendStream[str] = send
        self.receive: MemoryObjectReceiveStream[str] = receive
        self.dropped = False


class TooManySubscribersError(Exception):
    """``ws_max_clients`` subscribers are connected already."""


class EventHub:
    """Fans messages out to the subscribers; call it on the event loop only."""

    def __init__(self, *, max_clients: int, queue_size: int) -> None:
        self.max_clients = max_clients
        self.queue_size = queue_size
        self.subscriptions: set[Subscription] = set()
        self.published = 0
        self.dropped = 0
        self.closing = False

    def subscribe(self, events: frozenset[str]) -> Subscription:
        if self.closing or len(self.subscriptions) >= self.max_clients:
            raise TooManySubscribersError
        subscription = Subscription(events, self.queue_size)
        self.subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self.subscriptions.discard(subscription)
        subscription.send.close()

    def close(self) -> None:
        """End every subscription (the server is stopping): their sockets close with 1001."""
        self.closing = True
        for subscription in list(self.subscriptions):
            self.unsubscribe(subscription)

    def publish(self, event: str, data: dict[str, Any]) -> None:
        """Queue ``{"event", "data"}`` for every subscriber of ``event``; never waits."""
        message: str | None = None
        for subscription in list(self.subscriptions):
            if event not in subscription.events:
                continue
            if message is None:
                message = json.dumps({"event": event, "data": data}, separators=(",", ":"))
            try:
                subscription.send.send_nowait(message)
            except anyio.WouldBlock:
                subscription.dropped = True
                self.dropped += 1
                self.unsubscribe(subscription)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                self.unsubscribe(subscription)
        self.published += 1


def _block_fields(block: Any, height: int) -> dict[str, Any]:
    return {
        "height": height,
        "hash": block.id.hex(),
        "prev_hash": block.header.prev_id.hex(),
        "timestamp": block.header.timestamp,
        "reward": block.miner_tx.amount,
        "num_txes": len(block.tx_hashes),
        "nonce": block.header.nonce,
    }


class EventListener:
    """The node's event hooks, turned into hub messages (subscribed per node)."""

    def __init__(self, hub: EventHub) -> None:
        self.hub = hub
        self._disconnected: list[dict[str, Any]] = []

    @hookimpl
    def zion_block_disconnected(self, block: Any, height: int) -> None:
        self._disconnected.append({"height": height, "hash": block.id.hex()})

    @hookimpl
    def zion_block_connected(self, block: Any, height: int) -> None:
        if self._disconnected:
            gone, self._disconnected = self._disconnected, []
            fork = min(item["height"] for item in gone) - 1
            self.hub.publish(
                "reorg", {"fork_height": fork, "depth": len(gone), "disconnected": gone}
            )
        self.hub.publish("new_tip", _block_fields(block, height))

    @hookimpl
    def zion_tx_accepted(self, tx: Any) -> None:
        self.hub.publish(
            "mempool_tx", {"tx_hash": tx.txid.hex(), "fee": tx.fee, "size": len(tx.to_bytes())}
        )

    @hookimpl
    def zion_block_found(self, block: Any, height: int) -> None:
        self.hub.publish(
            "block_found",
            {"height": height, "hash": block.id.hex(), "reward": block.miner_tx.amount},
        )


def parse_events(query: str | None) -> frozenset[str]:
    """The event names of ``?events=a,b`` (all when absent); ValueError for unknown ones."""
    if query is None or not query.strip():
        return frozenset(EVENT_NAMES)
    names = {part.strip() for part in query.split(",") if part.strip()}
    unknown = sorted(names - set(EVENT_NAMES))
    if unknown:
        raise ValueError(f"unknown event(s) {', '.join(unknown)}; known: {', '.join(EVENT_NAMES)}")
    return frozenset(names)


async def serve_subscriber(websocket: WebSocket, hub: EventHub, hello: dict[str, Any]) -> None:
    """Run one WebSocket subscriber until it leaves, falls behind or the server stops."""
    try:
        events = parse_events(websocket.query_params.get("events"))
    except ValueError as exc:
        await websocket.close(code=SLOW_CLIENT, reason=str(exc)[:120])
        return
    try:
        subscription = hub.subscribe(events)
    except TooManySubscribersError:
        await websocket.close(code=TRY_AGAIN_LATER, reason="too many subscribers")
        return
    try:
        await websocket.accept()
        hello = {**hello, "events": sorted(events)}
        await websocket.send_text(json.dumps({"event": "hello", "data": hello}))
        async with anyio.create_task_group() as tg:

            async def watch_client() -> None:
                # clients have nothing to say; reading notices when they leave
                try:
                    while True:
                        await websocket.receive_text()
                except (WebSocketDisconnect, RuntimeError, KeyError):
                    pass
                tg.cancel_scope.cancel()

            tg.start_soon(watch_client)
            async with subscription.receive:
                async for message in subscription.receive:
                    with anyio.fail_after(SEND_TIMEOUT_S):
                        await websocket.send_text(message)
            if subscription.dropped:
                await websocket.close(code=SLOW_CLIENT, reason="client too slow: events dropped")
            elif hub.closing:
                await websocket.close(code=GOING_AWAY, reason="the node is stopping")
            tg.cancel_scope.cancel()
    except (WebSocketDisconnect, TimeoutError, OSError, RuntimeError):
        pass
    finally:
        hub.unsubscribe(subscription)


__all__ = [
    "EVENT_NAMES",
    "EventHub",
    "EventListener",
    "Subscription",
    "TooManySubscribersError",
    "parse_events",
    "serve_subscriber",
]
