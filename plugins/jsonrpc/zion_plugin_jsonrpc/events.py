"""Live events over WebSocket (``/ws``): new tip, reorganisation, new pooled transaction,
block found, the pool's statistics and a miner's.

The node's events reach :class:`EventListener` on the event loop (it subscribes to its
node with ``Node.subscribe``); it turns them into JSON messages and hands each to every
subscriber's bounded queue without waiting. A subscriber whose queue is full has fallen
behind: it is dropped and its WebSocket closed with code 1008, so a slow client can never
hold the node back.

Messages are JSON objects ``{"event": NAME, "data": {...}}``:

- ``hello`` (first message): ``network``, ``height`` and ``hash`` of the tip, ``events``
  (the names this client receives), ``miners`` (the addresses it follows);
- ``new_tip``: ``height``, ``hash``, ``prev_hash``, ``timestamp``, ``reward``,
  ``num_txes``, ``nonce`` of a block that became the tip;
- ``reorg``: ``fork_height`` (the last block both chains share), ``depth`` and
  ``disconnected`` (``[{height, hash}]``, old tip first), sent before the new branch's
  ``new_tip`` messages;
- ``mempool_tx``: ``tx_hash``, ``fee``, ``size`` of a transaction that entered the pool;
- ``block_found``: ``height``, ``hash``, ``reward`` of a block this node's miner or pool
  found;
- ``pool_stats``: the pool's statistics (what the ``pool_stats`` RPC method returns, with
  ``connected``, ``time`` and ``interval_seconds``), every ``[stratum]
  stats_interval_seconds`` and after a block found, when this node runs a pool (the
  ``pool_stats`` event);
- ``pool_miner``: one address's statistics (``address``, ``hashrate``, ``shares``,
  ``workers``, ``balance``, ``blocks_found``, ``last_share_at``, ``time``) from the same
  snapshot, sent right after its ``pool_stats``, only to clients that follow the address.

A client picks events with ``/ws?events=new_tip,reorg`` (default: all of them) and follows
miners with ``miner=ADDRESS`` (repeated or comma-separated, at most :data:`MAX_MINERS`),
which comes with ``pool_miner``: ``/ws?events=pool_stats,pool_miner&miner=Zi...``. Without
``miner=``, ``pool_miner`` is not among the defaults and asking for it is an error. A
request that names an unknown event, a malformed address or too many addresses is refused
before the handshake with HTTP 400 and a JSON body ``{"status": "Failed", "reason": ...}``
(on a server without the WebSocket denial-response extension: closed with code 1008 and
the reason).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any, Final

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from zion_core.chain.address import ADDRESS_LENGTH, Address, InvalidAddressError
from zion_hookspecs import hookimpl

logger = logging.getLogger(__name__)

MINER_EVENT: Final = "pool_miner"
EVENT_NAMES: Final = ("new_tip", "reorg", "mempool_tx", "block_found", "pool_stats", MINER_EVENT)
MAX_MINERS: Final = 8
"""The most addresses one client follows (``miner=``)."""
POLICY_VIOLATION: Final = 1008
SLOW_CLIENT: Final = POLICY_VIOLATION
"""The close code sent to a subscriber that fell behind (policy violation)."""
BAD_REQUEST: Final = 400
"""The HTTP status of a refused handshake (bad ``events=`` or ``miner=``)."""
TRY_AGAIN_LATER: Final = 1013
GOING_AWAY: Final = 1001
SEND_TIMEOUT_S: Final = 10.0
"""A send to a client that takes longer than this drops the client."""


class Subscription:
    """One subscriber: the events it wants, the miners it follows, its bounded queue."""

    def __init__(self, events: frozenset[str], size: int, miners: tuple[str, ...] = ()) -> None:
        self.events = events
        self.miners = miners
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

    def subscribe(self, events: frozenset[str], miners: tuple[str, ...] = ()) -> Subscription:
        if self.closing or len(self.subscriptions) >= self.max_clients:
            raise TooManySubscribersError
        subscription = Subscription(events, self.queue_size, miners)
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
                message = _message(event, data)
            self._offer(subscription, message)
        self.published += 1

    def publish_miners(self, miners: Mapping[str, Mapping[str, Any]]) -> None:
        """Queue a ``pool_miner`` message of each followed address found in ``miners`` for
        its followers only (each message is encoded once); never waits."""
        messages: dict[str, str | None] = {}
        for subscription in list(self.subscriptions):
            if not subscription.miners or MINER_EVENT not in subscription.events:
                continue
            for address in subscription.miners:
                if address not in messages:
                    data = miners.get(address)
                    messages[address] = None if data is None else _message(MINER_EVENT, data)
                message = messages[address]
                if message is not None and not self._offer(subscription, message):
                    break
        self.published += 1

    def _offer(self, subscription: Subscription, message: str) -> bool:
        """Queue ``message``; a full queue drops the subscriber. Whether it is still on."""
        try:
            subscription.send.send_nowait(message)
        except anyio.WouldBlock:
            subscription.dropped = True
            self.dropped += 1
            self.unsubscribe(subscription)
            return False
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            self.unsubscribe(subscription)
            return False
        return True


def _plain(value: Any) -> Any:
    """JSON for the mappings (read-only views included) inside event data."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _message(event: str, data: Mapping[str, Any]) -> str:
    return json.dumps({"event": event, "data": data}, separators=(",", ":"), default=_plain)


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

    @hookimpl
    def zion_pool_stats(
        self, stats: Mapping[str, Any], miners: Mapping[str, Mapping[str, Any]]
    ) -> None:
        self.hub.publish("pool_stats", dict(stats))
        self.hub.publish_miners(miners)


def parse_events(query: str | None) -> frozenset[str]:
    """The event names of ``?events=a,b`` (all when absent); ValueError for unknown ones."""
    if query is None or not query.strip():
        return frozenset(EVENT_NAMES)
    names = {part.strip() for part in query.split(",") if part.strip()}
    unknown = sorted(names - set(EVENT_NAMES))
    if unknown:
        raise ValueError(f"unknown event(s) {', '.join(unknown)}; known: {', '.join(EVENT_NAMES)}")
    return frozenset(names)


def parse_miners(values: Iterable[str], network: str | None) -> tuple[str, ...]:
    """The addresses of ``?miner=A&miner=B`` (or ``miner=A,B``), in order, without repeats;
    ValueError for more than :data:`MAX_MINERS` or one that is not an address of
    ``network`` (each is checked once: length, then base58 and checksum)."""
    addresses: list[str] = []
    for value in values:
        for part in value.split(","):
            address = part.strip()
            if address and address not in addresses:
                if len(addresses) == MAX_MINERS:
                    raise ValueError(f"miner: at most {MAX_MINERS} addresses per client")
                addresses.append(address)
    for address in addresses:
        shown = address if len(address) <= 24 else f"{address[:12]}...{address[-8:]}"
        if len(address) > 2 * ADDRESS_LENGTH:
            raise ValueError(f"miner {shown}: not an address ({len(address)} characters)")
        try:
            Address.parse(address, network)
        except InvalidAddressError as exc:
            raise ValueError(f"miner {shown}: {exc}") from None
    return tuple(addresses)


def parse_subscription(
    events: str | None, miners: Iterable[str], network: str | None
) -> tuple[frozenset[str], tuple[str, ...]]:
    """The events and followed addresses of a ``/ws`` query; ValueError says what is wrong.

    ``pool_miner`` goes with ``miner=``: it is among the defaults only when addresses are
    given, naming it without any is an error, and so is ``miner=`` with events that leave
    it out.
    """
    names = parse_events(events)
    followed = parse_miners(miners, network)
    explicit = events is not None and bool(events.strip())
    if not followed:
        if explicit and MINER_EVENT in names:
            raise ValueError(f"{MINER_EVENT} needs miner=ADDRESS (at most {MAX_MINERS})")
        return names - {MINER_EVENT}, followed
    if MINER_EVENT not in names:
        raise ValueError(f"miner=ADDRESS comes with the {MINER_EVENT} event: add it to events=")
    return names, followed


async def refuse(websocket: WebSocket, reason: str) -> None:
    """Refuse the handshake: HTTP 400 with ``{"status": "Failed", "reason"}`` where the
    server can answer over HTTP, else a close with code 1008 and the reason."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        body = json.dumps({"status": "Failed", "reason": reason, "untrusted": False})
        response = Response(body, status_code=BAD_REQUEST, media_type="application/json")
        await websocket.send_denial_response(response)
    else:
        await websocket.close(code=POLICY_VIOLATION, reason=reason[:120])


async def serve_subscriber(websocket: WebSocket, hub: EventHub, hello: dict[str, Any]) -> None:
    """Run one WebSocket subscriber until it leaves, falls behind or the server stops."""
    query = websocket.query_params
    try:
        events, miners = parse_subscription(
            query.get("events"), query.getlist("miner"), hello.get("network")
        )
    except ValueError as exc:
        await refuse(websocket, str(exc))
        return
    try:
        subscription = hub.subscribe(events, miners)
    except TooManySubscribersError:
        await websocket.close(code=TRY_AGAIN_LATER, reason="too many subscribers")
        return
    try:
        await websocket.accept()
        hello = {**hello, "events": sorted(events), "miners": list(miners)}
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
    "MAX_MINERS",
    "MINER_EVENT",
    "EventHub",
    "EventListener",
    "Subscription",
    "TooManySubscribersError",
    "parse_events",
    "parse_miners",
    "parse_subscription",
    "refuse",
    "serve_subscriber",
]
