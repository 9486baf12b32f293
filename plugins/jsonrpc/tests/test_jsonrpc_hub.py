"""Unit tests of the event hub, the event messages and the rate limiter's buckets."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from zion_plugin_jsonrpc.access import AdminGate, TokenBuckets
from zion_plugin_jsonrpc.events import (
    EventHub,
    EventListener,
    Subscription,
    TooManySubscribersError,
    parse_events,
)


@pytest.fixture
def hubs() -> Iterator[Callable[..., EventHub]]:
    """Make hubs; every stream they opened is closed at the end."""
    made: list[tuple[EventHub, list[Subscription]]] = []

    def make(**kwargs: int) -> EventHub:
        hub = EventHub(**kwargs)
        opened: list[Subscription] = []
        subscribe = hub.subscribe

        def tracking(events: frozenset[str]) -> Subscription:
            subscription = subscribe(events)
            opened.append(subscription)
            return subscription

        hub.subscribe = tracking  # type: ignore[method-assign]
        made.append((hub, opened))
        return hub

    yield make
    for hub, opened in made:
        hub.close()
        for subscription in opened:
            subscription.receive.close()


def fake_block(tag: int) -> Any:
    return SimpleNamespace(
        id=bytes([tag]) * 32,
        header=SimpleNamespace(prev_id=bytes([tag - 1]) * 32, timestamp=1000 + tag, nonce=tag),
        miner_tx=SimpleNamespace(amount=10 * tag),
        tx_hashes=[],
    )


def drain(hub: EventHub) -> list[dict[str, Any]]:
    (subscription,) = hub.subscriptions
    out = []
    while True:
        try:
            out.append(json.loads(subscription.receive.receive_nowait()))
        except Exception:
            return out


def test_a_reorg_is_announced_before_the_new_branch(hubs: Callable[..., EventHub]) -> None:
    hub = hubs(max_clients=4, queue_size=16)
    hub.subscribe(parse_events(None))
    listener = EventListener(hub)
    listener.zion_block_disconnected(fake_block(9), 9)  # old tip first
    listener.zion_block_disconnected(fake_block(8), 8)
    listener.zion_block_connected(fake_block(28), 8)
    listener.zion_block_connected(fake_block(29), 9)
    listener.zion_block_connected(fake_block(30), 10)
    messages = drain(hub)
    assert [m["event"] for m in messages] == ["reorg", "new_tip", "new_tip", "new_tip"]
    assert messages[0]["data"] == {
        "fork_height": 7,
        "depth": 2,
        "disconnected": [
            {"height": 9, "hash": (bytes([9]) * 32).hex()},
            {"height": 8, "hash": (bytes([8]) * 32).hex()},
        ],
    }
    assert [m["data"]["height"] for m in messages[1:]] == [8, 9, 10]


def test_pooled_transactions_are_announced(hubs: Callable[..., EventHub]) -> None:
    hub = hubs(max_clients=1, queue_size=4)
    hub.subscribe(frozenset({"mempool_tx"}))
    tx = SimpleNamespace(txid=b"\x01" * 32, fee=5, to_bytes=lambda: b"x" * 90)
    EventListener(hub).zion_tx_accepted(tx)
    EventListener(hub).zion_block_found(fake_block(3), 3)  # not subscribed to
    assert drain(hub) == [
        {"event": "mempool_tx", "data": {"tx_hash": "01" * 32, "fee": 5, "size": 90}}
    ]


def test_hub_limits_subscribers_and_drops_the_slow_one(hubs: Callable[..., EventHub]) -> None:
    hub = hubs(max_clients=2, queue_size=1)
    slow = hub.subscribe(frozenset({"new_tip"}))
    other = hub.subscribe(frozenset({"reorg"}))
    with pytest.raises(TooManySubscribersError):
        hub.subscribe(frozenset({"new_tip"}))
    hub.publish("new_tip", {"height": 1})
    hub.publish("new_tip", {"height": 2})  # the queue of one is full: dropped
    assert slow.dropped and hub.subscriptions == {other} and hub.dropped == 1
    hub.close()
    assert not hub.subscriptions
    with pytest.raises(TooManySubscribersError):
        hub.subscribe(frozenset({"new_tip"}))  # closing: no new subscribers


def test_unknown_event_names_are_refused() -> None:
    assert parse_events("new_tip, reorg") == {"new_tip", "reorg"}
    assert parse_events("") == parse_events(None)
    with pytest.raises(ValueError, match="unknown event"):
        parse_events("new_tip,blocks")


def test_token_buckets_refill_and_forget_the_oldest() -> None:
    now = [0.0]
    buckets = TokenBuckets(2.0, 3, capacity=2, clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)
    now[0] += 0.5  # one token back
    assert buckets.take("a") == 0.0
    buckets.take("b")
    buckets.take("c")  # capacity 2: "a" is forgotten (it comes back with a full bucket)
    assert len(buckets) == 2
    assert buckets.take("a") == 0.0


def test_admin_gate_compares_bearer_tokens() -> None:
    gate = AdminGate("tok", {"admin"})
    assert gate.is_admin("admin") and not gate.is_admin("get_info")
    assert gate.authorized({"authorization": "Bearer tok"})
    assert gate.authorized({"authorization": "bearer tok"})
    assert not gate.authorized({"authorization": "Bearer tok2"})
    assert not gate.authorized({"authorization": "Basic tok"})
    assert not gate.authorized({})
