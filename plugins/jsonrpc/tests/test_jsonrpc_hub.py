"""Unit tests of the event hub, the event messages (the pool's statistics and the miners'
included), the ``/ws`` query's parsing and the rate limiter's buckets."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from types import MappingProxyType, SimpleNamespace
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from zion_core.chain.keys import WalletKeys
from zion_plugin_jsonrpc.access import AdminGate, TokenBuckets
from zion_plugin_jsonrpc.events import (
    EVENT_NAMES,
    MAX_MINERS,
    EventHub,
    EventListener,
    Subscription,
    TooManySubscribersError,
    parse_events,
    parse_miners,
    parse_subscription,
)

ADDRESSES = [str(WalletKeys.from_seed(bytes([n]) * 32).address("devnet")) for n in range(10)]
MAINNET = str(WalletKeys.from_seed(bytes([1]) * 32).address("mainnet"))


@pytest.fixture
def hubs() -> Iterator[Callable[..., EventHub]]:
    """Make hubs; every stream they opened is closed at the end."""
    made: list[tuple[EventHub, list[Subscription]]] = []

    def make(**kwargs: int) -> EventHub:
        hub = EventHub(**kwargs)
        opened: list[Subscription] = []
        subscribe = hub.subscribe

        def tracking(events: frozenset[str], miners: tuple[str, ...] = ()) -> Subscription:
            subscription = subscribe(events, miners)
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


def drain(hub: EventHub, subscription: Subscription | None = None) -> list[dict[str, Any]]:
    if subscription is None:
        (subscription,) = hub.subscriptions
    out = []
    while True:
        try:
            out.append(json.loads(subscription.receive.receive_nowait()))
        except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
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


# -- the pool's statistics -------------------------------------------------------------------


def miner_stats(address: str, shares: int) -> dict[str, Any]:
    return {"address": address, "shares": shares, "workers": [{"name": "rig", "shares": shares}]}


POOL = {"hashrate": 12.5, "shares": {"accepted": 6}, "status": "OK"}


def test_pool_stats_go_to_subscribers_and_each_miner_only_to_its_followers(
    hubs: Callable[..., EventHub],
) -> None:
    a, b, c = ADDRESSES[:3]
    hub = hubs(max_clients=8, queue_size=16)
    one = hub.subscribe(*parse_subscription("pool_stats,pool_miner", [a], "devnet"))
    two = hub.subscribe(*parse_subscription("pool_miner", [f"{b},{a}"], "devnet"))
    everything = hub.subscribe(*parse_subscription(None, [], "devnet"))
    tips = hub.subscribe(*parse_subscription("new_tip", [], "devnet"))
    unknown = hub.subscribe(*parse_subscription(None, [ADDRESSES[5]], "devnet"))
    miners = MappingProxyType(  # read-only views are encoded like dicts
        {a: MappingProxyType(miner_stats(a, 4)), b: miner_stats(b, 2), c: miner_stats(c, 0)}
    )
    EventListener(hub).zion_pool_stats(MappingProxyType(POOL), miners)
    assert drain(hub, one) == [
        {"event": "pool_stats", "data": POOL},
        {"event": "pool_miner", "data": miner_stats(a, 4)},
    ]
    assert drain(hub, two) == [  # in the order asked for; no pool_stats
        {"event": "pool_miner", "data": miner_stats(b, 2)},
        {"event": "pool_miner", "data": miner_stats(a, 4)},
    ]
    assert drain(hub, everything) == [{"event": "pool_stats", "data": POOL}]
    assert drain(hub, tips) == []
    assert drain(hub, unknown) == [{"event": "pool_stats", "data": POOL}]  # not a pool miner


def test_a_miners_message_is_encoded_once_for_all_its_followers(
    hubs: Callable[..., EventHub],
) -> None:
    hub = hubs(max_clients=4, queue_size=4)
    followers = [hub.subscribe(frozenset({"pool_miner"}), (ADDRESSES[0],)) for _ in range(3)]
    hub.publish_miners({ADDRESSES[0]: miner_stats(ADDRESSES[0], 1)})
    first, second, third = (f.receive.receive_nowait() for f in followers)
    assert first is second is third


def test_a_follower_that_falls_behind_is_dropped(hubs: Callable[..., EventHub]) -> None:
    hub = hubs(max_clients=2, queue_size=2)
    slow = hub.subscribe(frozenset({"pool_stats", "pool_miner"}), tuple(ADDRESSES[:3]))
    steady = hub.subscribe(frozenset({"pool_miner"}), (ADDRESSES[0],))
    EventListener(hub).zion_pool_stats(
        POOL, {address: miner_stats(address, 1) for address in ADDRESSES}
    )
    # pool_stats and the first miner fill the queue of two: the second drops the client
    assert slow.dropped and hub.dropped == 1 and hub.subscriptions == {steady}
    assert [m["data"]["address"] for m in drain(hub, steady)] == [ADDRESSES[0]]


def test_ws_query_events_and_miners() -> None:
    a, b = ADDRESSES[:2]
    assert "pool_stats" in EVENT_NAMES and "pool_miner" in EVENT_NAMES
    events, miners = parse_subscription(None, [], "devnet")
    assert events == set(EVENT_NAMES) - {"pool_miner"} and miners == ()
    events, miners = parse_subscription("", [a, f" {b} ,{a}", b], "devnet")
    assert events == set(EVENT_NAMES) and miners == (a, b)
    assert parse_subscription("pool_miner", [a], "devnet") == (frozenset({"pool_miner"}), (a,))
    with pytest.raises(ValueError, match="pool_miner needs miner=ADDRESS"):
        parse_subscription("pool_stats,pool_miner", [], "devnet")
    with pytest.raises(ValueError, match="comes with the pool_miner event"):
        parse_subscription("new_tip", [a], "devnet")
    with pytest.raises(ValueError, match="unknown event"):
        parse_subscription("pool_miners", [a], "devnet")


def test_ws_query_refuses_bad_and_too_many_addresses() -> None:
    assert parse_miners(ADDRESSES[:MAX_MINERS], "devnet") == tuple(ADDRESSES[:MAX_MINERS])
    with pytest.raises(ValueError, match=f"at most {MAX_MINERS} addresses"):
        parse_miners(ADDRESSES[: MAX_MINERS + 1], "devnet")
    with pytest.raises(ValueError, match="at most"):
        parse_miners([",".join(ADDRESSES)], "devnet")
    with pytest.raises(ValueError, match="miner ZiBad: invalid address"):
        parse_miners(["ZiBad"], "devnet")
    with pytest.raises(ValueError, match="mainnet"):
        parse_miners([MAINNET], "devnet")
    mistyped = ADDRESSES[0][:-1] + ("1" if ADDRESSES[0][-1] != "1" else "2")
    with pytest.raises(ValueError, match="mistyped"):
        parse_miners([mistyped], "devnet")
    with pytest.raises(ValueError, match=r"not an address \(100000 characters\)"):
        parse_miners(["Z" * 100_000], "devnet")  # refused before any decoding


@given(st.lists(st.text(max_size=120), max_size=12))
def test_ws_query_miners_are_addresses_or_a_value_error(values: list[str]) -> None:
    try:
        miners = parse_miners(values, "devnet")
    except ValueError:
        return
    assert miners == ()  # random text is never an address


@given(st.lists(st.sampled_from(ADDRESSES[:MAX_MINERS]), max_size=20))
def test_ws_query_miners_keep_the_first_of_repeats(values: list[str]) -> None:
    assert parse_miners(values, "devnet") == tuple(dict.fromkeys(values))
