"""The address book and the ban list: network groups, table bounds under random use (a
hypothesis state machine), selection, failures, persistence (round trip, corrupt files,
a write failing half-way) and timed bans with an injected clock."""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from zion_plugin_p2p import addrman
from zion_plugin_p2p.address import InvalidPeerAddressError, PeerAddress
from zion_plugin_p2p.addrman import (
    MAX_FAILURES,
    RETRY_SECONDS,
    AddressBook,
    Ban,
    BanList,
    is_routable,
    netgroup,
)

NOW = 1_700_000_000.0


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def addr(text: str, *, last_seen: int = int(NOW) - 100, services: int = 1) -> PeerAddress:
    parsed = PeerAddress.parse(text)
    return PeerAddress(parsed.host, parsed.port, services=services, last_seen=last_seen)


def book(path: Path | None = None, clock: Clock | None = None, **kwargs: Any) -> AddressBook:
    kwargs.setdefault("rng", random.Random(7))
    return AddressBook(path, clock=clock or Clock(), **kwargs)


def group_sizes(b: AddressBook) -> Counter[str]:
    return Counter(b.group(a.host) for a in _new_addresses(b))


def _new_addresses(b: AddressBook) -> list[PeerAddress]:
    return [e.address for e in b._new.values()]


def _tried_addresses(b: AddressBook) -> list[PeerAddress]:
    return [e.address for e in b._tried.values()]


# -- network groups -------------------------------------------------------------------


def test_netgroup_ipv4_and_ipv6() -> None:
    assert netgroup("127.0.0.1") == "4:127.0.0.0/16"
    assert netgroup("10.20.30.40") == "4:10.20.0.0/16"
    assert netgroup("2001:db8:1:2::3") == "6:2001:db8::/32"
    assert netgroup("[2001:db8::1]") == "6:2001:db8::/32"
    assert netgroup("10.20.30.40", ipv4_prefix=24) == "4:10.20.30.0/24"
    assert netgroup("2001:db8:1:2::3", ipv6_prefix=48) == "6:2001:db8:1::/48"
    assert netgroup("10.20.30.40", ipv4_prefix=0) == "4:0.0.0.0/0"


def test_netgroup_v4_mapped_and_embedded_ipv4() -> None:
    assert netgroup("::ffff:10.1.2.3") == netgroup("10.1.2.3") == "4:10.1.0.0/16"
    # 6to4 and Teredo carry an IPv4 address: they are in that address's group
    assert netgroup("2002:c000:0204::1") == netgroup("192.0.2.4")
    teredo_client = ipaddress.IPv4Address("198.51.100.7")
    obfuscated = int(teredo_client) ^ 0xFFFFFFFF
    teredo = ipaddress.IPv6Address((0x20010000 << 96) | (0x01020304 << 64) | obfuscated)
    assert netgroup(str(teredo)) == netgroup("198.51.100.7")


def test_netgroup_with_ipv4_prefix_32_separates_loopback_nodes() -> None:
    groups = {netgroup(f"127.0.0.{i}", ipv4_prefix=32) for i in range(2, 12)}
    assert len(groups) == 10
    assert netgroup("127.0.0.2", ipv4_prefix=32) == "4:127.0.0.2/32"
    assert len({netgroup(f"127.0.0.{i}") for i in range(2, 12)}) == 1


def test_netgroup_refuses_bad_input() -> None:
    with pytest.raises(InvalidPeerAddressError):
        netgroup("example.com")
    with pytest.raises(ValueError, match="ipv4_prefix"):
        netgroup("1.2.3.4", ipv4_prefix=33)
    with pytest.raises(ValueError, match="ipv6_prefix"):
        netgroup("::1", ipv6_prefix=-1)
    with pytest.raises(ValueError, match="ipv4_prefix"):
        AddressBook(None, ipv4_prefix=40)


@settings(max_examples=200, deadline=None)
@given(
    a=st.integers(0, 2**32 - 1),
    b=st.integers(0, 2**32 - 1),
    prefix=st.integers(0, 32),
)
def test_netgroup_ipv4_matches_prefix_bits(a: int, b: int, prefix: int) -> None:
    ha, hb = str(ipaddress.IPv4Address(a)), str(ipaddress.IPv4Address(b))
    same = (a >> (32 - prefix)) == (b >> (32 - prefix)) if prefix else True
    assert (netgroup(ha, ipv4_prefix=prefix) == netgroup(hb, ipv4_prefix=prefix)) is same
    mapped = str(ipaddress.IPv6Address((0xFFFF << 32) | a))
    assert netgroup(mapped, ipv4_prefix=prefix) == netgroup(ha, ipv4_prefix=prefix)


@pytest.mark.parametrize(
    ("host", "routable"),
    [
        ("1.2.3.4", True),
        ("127.0.0.2", True),
        ("10.0.0.1", True),
        ("192.168.1.1", True),
        ("::1", True),
        ("2001:db8::1", True),
        ("0.0.0.0", False),
        ("0.1.2.3", False),
        ("224.0.0.1", False),
        ("239.255.255.250", False),
        ("255.255.255.255", False),
        ("240.0.0.1", False),
        ("169.254.1.1", False),
        ("::", False),
        ("ff02::1", False),
        ("fe80::1", False),
        ("::ffff:0.0.0.0", False),
        ("localhost", False),
    ],
)
def test_is_routable(host: str, routable: bool) -> None:
    assert is_routable(host) is routable


# -- adding ---------------------------------------------------------------------------


def test_add_counts_new_addresses_and_refuses_unroutable() -> None:
    b = book()
    seen = [addr("1.2.3.4:18080"), addr("5.6.7.8:18080"), addr("1.2.3.4:18080")]
    assert b.add(seen) == 2
    assert b.add([addr("0.0.0.0:18080"), PeerAddress("224.0.0.1", 18080)]) == 0
    assert b.add([addr("1.2.3.4:18080")]) == 0
    assert b.new_count == 2
    assert b.tried_count == 0
    assert len(b) == 2
    assert addr("1.2.3.4:18080") in b
    assert ("5.6.7.8", 18080) in b
    assert ("5.6.7.8", 1) not in b


def test_port_zero_cannot_be_added() -> None:
    with pytest.raises(InvalidPeerAddressError):
        PeerAddress("1.2.3.4", 0)


def test_add_clamps_future_last_seen_and_keeps_the_latest() -> None:
    clock = Clock()
    b = book(clock=clock)
    b.add([addr("1.2.3.4:1", last_seen=int(NOW) + 10_000)])
    [stored] = _new_addresses(b)
    assert stored.last_seen == int(NOW)
    b.add([addr("1.2.3.4:1", last_seen=5, services=9)])
    assert _new_addresses(b)[0].last_seen == int(NOW)
    clock.advance(100)
    b.add([addr("1.2.3.4:1", last_seen=int(NOW) + 50, services=9)])
    [stored] = _new_addresses(b)
    assert (stored.last_seen, stored.services) == (int(NOW) + 50, 9)


def test_per_group_limit_holds() -> None:
    b = book(per_group_new=3)
    flood = [
        addr(f"10.1.{i // 250}.{i % 250 + 1}:18080", last_seen=int(NOW) - i) for i in range(40)
    ]
    b.add(flood, source="10.1.0.1")
    assert b.new_count == 3
    assert b.add([addr("10.2.0.1:18080"), addr("10.3.0.1:18080")]) == 2
    assert group_sizes(b) == {"4:10.1.0.0/16": 3, "4:10.2.0.0/16": 1, "4:10.3.0.0/16": 1}


def test_new_capacity_holds() -> None:
    b = book(new_capacity=5, per_group_new=100)
    b.add([addr(f"10.{i}.0.1:18080") for i in range(20)])
    assert b.new_count == 5


def test_full_group_evicts_the_address_with_most_failures() -> None:
    clock = Clock()
    b = book(clock=clock, per_group_new=4)  # a sample covers the whole group
    members = [addr(f"10.1.0.{i}:18080") for i in range(1, 5)]
    b.add(members)
    b.failed(members[2])
    b.failed(members[2])
    b.failed(members[1])
    b.add([addr("10.1.0.99:18080")])
    keys = {a.key for a in _new_addresses(b)}
    assert members[2].key not in keys
    assert ("10.1.0.99", 18080) in keys
    assert b.new_count == 4


def test_full_group_refuses_an_older_address_than_all_it_holds() -> None:
    b = book(per_group_new=2)
    b.add(
        [addr("10.1.0.1:1", last_seen=int(NOW) - 10), addr("10.1.0.2:1", last_seen=int(NOW) - 20)]
    )
    assert b.add([addr("10.1.0.3:1", last_seen=int(NOW) - 500)]) == 0
    assert b.add([addr("10.1.0.4:1", last_seen=int(NOW) - 5)]) == 1
    assert {a.host for a in _new_addresses(b)} == {"10.1.0.1", "10.1.0.4"}


class BookMachine(RuleBasedStateMachine):
    """Random adds, goods, failures, attempts and removals over a few small groups: the
    bounds always hold, the tables never share an address and select obeys exclusions."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.book = AddressBook(
            None,
            new_capacity=12,
            tried_capacity=4,
            per_group_new=3,
            rng=random.Random(1),
            clock=self.clock,
        )

    addresses = st.builds(
        lambda g, h, port, age: PeerAddress(
            f"10.{g}.0.{h}", port, last_seen=max(int(NOW) - age, 0)
        ),
        st.integers(0, 6),
        st.integers(1, 6),
        st.sampled_from([1, 2]),
        st.integers(-1000, 100_000),
    )

    @rule(batch=st.lists(addresses, max_size=20))
    def add(self, batch: list[PeerAddress]) -> None:
        before = len(self.book)
        added = self.book.add(batch)
        assert 0 <= added <= len(batch)
        assert len(self.book) <= before + added

    @rule(address=addresses)
    def good(self, address: PeerAddress) -> None:
        self.book.good(address)
        assert self.book.is_tried(address)

    @rule(address=addresses)
    def failed(self, address: PeerAddress) -> None:
        self.book.failed(address)

    @rule(address=addresses)
    def attempt(self, address: PeerAddress) -> None:
        self.book.attempt(address)

    @rule(address=addresses)
    def remove(self, address: PeerAddress) -> None:
        self.book.remove(address)
        assert address not in self.book

    @rule(seconds=st.floats(0, 120))
    def tick(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @precondition(lambda self: len(self.book) > 0)
    @rule(
        exclude=st.lists(addresses, max_size=5),
        groups=st.lists(st.integers(0, 6), max_size=3),
        share=st.floats(0, 1),
    )
    def select(self, exclude: list[PeerAddress], groups: list[int], share: float) -> None:
        keys = {a.key for a in exclude}
        group_names = {f"4:10.{g}.0.0/16" for g in groups}
        chosen = self.book.select(exclude=keys, exclude_groups=group_names, tried_share=share)
        if chosen is not None:
            assert chosen.key not in keys
            assert self.book.group(chosen.host) not in group_names
            entry = self.book._get(chosen.key)
            assert entry is not None
            assert entry.last_attempt <= self.clock.now - RETRY_SECONDS

    @invariant()
    def bounded(self) -> None:
        b = self.book
        assert b.new_count <= 12
        assert b.tried_count <= 4
        assert all(size <= 3 for size in group_sizes(b).values())
        new_keys = {a.key for a in _new_addresses(b)}
        tried_keys = {a.key for a in _tried_addresses(b)}
        assert not new_keys & tried_keys
        assert len(new_keys) == b.new_count
        assert len(tried_keys) == b.tried_count
        assert sum(len(members) for members in b._new_groups.values()) == b.new_count
        assert all(a.last_seen <= self.clock.now for a in _new_addresses(b))


TestBookMachine = BookMachine.TestCase
TestBookMachine.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)


# -- good, failed, remove -------------------------------------------------------------


def test_good_moves_to_tried() -> None:
    clock = Clock()
    b = book(clock=clock)
    a = addr("1.2.3.4:18080", last_seen=5, services=0)
    b.add([a])
    b.failed(a)
    clock.advance(10)
    b.good(a)
    assert (b.new_count, b.tried_count) == (0, 1)
    assert b.is_tried(a)
    [entry] = b._tried.values()
    assert entry.failures == 0
    assert entry.address.last_seen == int(clock.now)
    assert entry.address.services == 0
    b.good(addr("1.2.3.4:18080", services=5))
    assert _tried_addresses(b)[0].services == 5
    # an address never heard of (a configured peer) goes straight to tried
    b.good(addr("5.6.7.8:18080"))
    assert b.tried_count == 2
    b.good(addr("0.0.0.0:18080"))
    assert b.tried_count == 2


def test_tried_overflow_goes_back_to_new() -> None:
    b = book(tried_capacity=2)
    peers = [addr(f"10.{i}.0.1:18080") for i in range(3)]
    for peer in peers:
        b.good(peer)
    assert (b.tried_count, b.new_count) == (2, 1)
    [demoted] = _new_addresses(b)
    assert demoted.key in {p.key for p in peers[:2]}
    assert b.is_tried(peers[2])


def test_failed_drops_a_new_address_after_max_failures() -> None:
    b = book()
    a = addr("1.2.3.4:18080")
    b.add([a])
    for _ in range(MAX_FAILURES - 1):
        b.failed(a)
    assert a in b
    b.failed(a)
    assert a not in b
    b.failed(a)  # unknown: nothing happens
    assert len(b) == 0


def test_failed_demotes_a_tried_address_then_drops_it() -> None:
    b = book()
    a = addr("1.2.3.4:18080")
    b.good(a)
    for _ in range(MAX_FAILURES):
        b.failed(a)
    assert not b.is_tried(a)
    assert a in b
    b.failed(a)
    assert a not in b


def test_good_resets_failures() -> None:
    b = book()
    a = addr("1.2.3.4:18080")
    b.add([a])
    for _ in range(MAX_FAILURES - 1):
        b.failed(a)
    b.good(a)
    for _ in range(MAX_FAILURES - 1):
        b.failed(a)
    assert b.is_tried(a)


def test_remove_forgets_everywhere() -> None:
    b = book()
    a, c = addr("1.2.3.4:1"), addr("5.6.7.8:1")
    b.add([a])
    b.good(c)
    b.set_anchors([a, c])
    b.remove(a)
    b.remove(c)
    assert len(b) == 0
    assert b.anchors() == []
    b.remove(a)


# -- select ---------------------------------------------------------------------------


def test_select_from_an_empty_book_is_none() -> None:
    assert book().select() is None


def test_select_respects_exclusions() -> None:
    b = book(ipv4_prefix=32)
    hosts = [addr(f"127.0.0.{i}:18080") for i in range(2, 6)]
    b.add(hosts)
    exclude = {hosts[0].key, hosts[1].key}
    groups = {b.group(hosts[2].host)}
    for _ in range(50):
        chosen = b.select(exclude=exclude, exclude_groups=groups)
        assert chosen is not None
        assert chosen.key == hosts[3].key
    everything = {h.key for h in hosts}
    assert b.select(exclude=everything) is None
    assert b.select(exclude_groups={b.group(h.host) for h in hosts}) is None
    with pytest.raises(ValueError, match="tried_share"):
        b.select(tried_share=1.5)


def test_select_skips_recent_attempts() -> None:
    clock = Clock()
    b = book(clock=clock)
    a = addr("1.2.3.4:18080")
    b.add([a])
    b.attempt(a)
    assert b.select() is None
    clock.advance(RETRY_SECONDS - 1)
    assert b.select() is None
    clock.advance(2)
    assert b.select() == _new_addresses(b)[0]
    b.failed(a)
    assert b.select() is None


def test_select_prefers_the_tried_table_by_share() -> None:
    b = book()
    b.add([addr("1.1.1.1:1")])
    b.good(addr("2.2.2.2:1"))
    picks = Counter(b.select(tried_share=0.7).host for _ in range(1000))  # type: ignore[union-attr]
    assert 600 < picks["2.2.2.2"] < 800
    assert {b.select(tried_share=1.0).host for _ in range(20)} == {"2.2.2.2"}  # type: ignore[union-attr]
    assert {b.select(tried_share=0.0).host for _ in range(20)} == {"1.1.1.1"}  # type: ignore[union-attr]
    # the chosen table has no candidate: the other one answers
    assert b.select(tried_share=1.0, exclude={("2.2.2.2", 1)}) == _new_addresses(b)[0]


def test_select_spreads_over_groups() -> None:
    b = book(per_group_new=100)
    crowd = [addr(f"10.1.{i}.1:18080") for i in range(60)]
    loners = [addr(f"10.{g}.0.1:18080") for g in range(2, 12)]
    b.add(crowd + loners)
    picks = Counter(b.group(b.select().host) for _ in range(2000))  # type: ignore[union-attr]
    assert len(picks) == 11
    # 60 of 70 addresses are in one group, yet it gets about 1/11 of the picks
    assert picks["4:10.1.0.0/16"] < 2000 * 0.2
    assert min(picks.values()) > 2000 / 11 * 0.5


def test_select_weighs_failures_down() -> None:
    clock = Clock()
    b = book(clock=clock, per_group_new=100)
    healthy, failing = addr("10.1.0.1:1"), addr("10.1.0.2:1")
    b.add([healthy, failing])
    for _ in range(6):
        b.failed(failing)
    clock.advance(RETRY_SECONDS + 1)
    picks = Counter(b.select().host for _ in range(1000))  # type: ignore[union-attr]
    assert picks["10.1.0.1"] > 850


def test_select_is_deterministic_with_a_seeded_rng() -> None:
    def run(seed: int) -> list[PeerAddress | None]:
        b = AddressBook(None, rng=random.Random(seed), clock=Clock(), ipv4_prefix=24)
        b.add([addr(f"10.{i % 7}.{i % 5}.{i}:18080") for i in range(1, 120)])
        for i in range(1, 120, 9):
            b.good(addr(f"10.{i % 7}.{i % 5}.{i}:18080"))
        return [b.select() for _ in range(30)]

    assert run(3) == run(3)
    assert run(3) != run(4)


# -- sample and anchors ---------------------------------------------------------------


def test_sample_is_recent_distinct_and_bounded() -> None:
    clock = Clock()
    b = book(clock=clock)
    fresh = [addr(f"10.{i}.0.1:1", last_seen=int(NOW) - 60) for i in range(30)]
    b.add(fresh)
    b.add([addr("20.0.0.1:1", last_seen=0), addr("20.1.0.1:1", last_seen=int(NOW) - 40 * 86_400)])
    flaky = addr("20.2.0.1:1")
    b.add([flaky])
    for _ in range(addrman.GOSSIP_MAX_FAILURES):
        b.failed(flaky)
    everything = b.sample()
    assert {a.key for a in everything} == {a.key for a in fresh}
    assert len(everything) == 30
    some = b.sample(10)
    assert len(some) == len({a.key for a in some}) == 10
    assert b.sample(0) == []
    assert b.sample(-5) == []
    assert b.sample(10) != some  # random


def test_anchors_are_deduplicated_and_capped() -> None:
    b = book()
    many = [addr(f"10.{i}.0.1:1") for i in range(addrman.MAX_ANCHORS + 5)]
    b.set_anchors([many[0], many[0], *many])
    assert b.anchors() == many[: addrman.MAX_ANCHORS]
    b.set_anchors([])
    assert b.anchors() == []


# -- persistence ----------------------------------------------------------------------


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "p2p" / "peers.json"
    clock = Clock()
    b = book(path, clock=clock)
    b.add([addr(f"10.{i}.0.1:18080", services=i) for i in range(10)], source="9.9.9.9")
    b.add([addr("[2001:db8::5]:18081")])
    b.good(addr("10.3.0.1:18080"))
    b.failed(addr("10.4.0.1:18080"))
    b.failed(addr("10.4.0.1:18080"))
    b.set_anchors([addr("10.3.0.1:18080"), addr("[2001:db8::5]:18081", services=0, last_seen=0)])
    b.save()
    document = json.loads(path.read_text())
    assert document["version"] == 1
    assert sorted(document) == ["anchors", "new", "tried", "version"]

    again = book(path, clock=clock)
    assert (again.new_count, again.tried_count) == (10, 1)
    assert sorted(_new_addresses(again), key=str) == sorted(_new_addresses(b), key=str)
    assert _tried_addresses(again) == _tried_addresses(b)
    assert again.anchors() == b.anchors()
    entry = again._get(("10.4.0.1", 18080))
    assert entry is not None
    assert (entry.failures, entry.source) == (2, "9.9.9.9")
    tried = again._get(("10.3.0.1", 18080))
    assert tried is not None
    assert tried.last_success == NOW
    assert not again._dirty


def test_save_without_changes_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "peers.json"
    b = book(path)
    b.save()
    assert not path.exists()  # nothing to write yet
    b.add([addr("1.2.3.4:1")])
    b.save()
    path.unlink()
    b.save()
    assert not path.exists()
    b.attempt(addr("1.2.3.4:1"))  # attempts are not persisted
    b.save()
    assert not path.exists()
    b.failed(addr("1.2.3.4:1"))
    b.save()
    assert path.exists()
    book(None).save()


def test_load_respects_smaller_capacities(tmp_path: Path) -> None:
    path = tmp_path / "peers.json"
    b = book(path, per_group_new=100)
    b.add([addr(f"10.1.0.{i}:1") for i in range(1, 30)])
    for i in range(1, 6):
        b.good(addr(f"10.2.0.{i}:1"))
    b.save()
    small = book(path, per_group_new=4, tried_capacity=2, new_capacity=100)
    assert small.tried_count == 2
    assert group_sizes(small)["4:10.1.0.0/16"] == 4
    assert group_sizes(small)["4:10.2.0.0/16"] == 3
    assert small._dirty


def test_load_clamps_future_times(tmp_path: Path) -> None:
    path = tmp_path / "peers.json"
    item = {"host": "1.2.3.4", "port": 1, "last_seen": int(NOW) + 999, "last_success": NOW + 999}
    path.write_text(json.dumps({"version": 1, "new": [], "tried": [item], "anchors": []}))
    b = book(path)
    [entry] = b._tried.values()
    assert entry.address.last_seen == int(NOW)
    assert entry.last_success == NOW


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\xff garbage",
        b'{"version": 1, "new": [',  # a write cut short
        b"[1, 2, 3]",
        b'{"version": 2, "new": [], "tried": [], "anchors": []}',
        b'{"version": true, "new": [], "tried": [], "anchors": []}',
        b'{"new": [], "tried": [], "anchors": []}',
        b'{"version": 1, "new": {}, "tried": [], "anchors": []}',
        b'{"version": 1, "new": [], "tried": []}',
        b"\xef\xbb\xbf\xc3\x28",
    ],
    ids=[
        "binary",
        "truncated",
        "array",
        "version2",
        "versionbool",
        "noversion",
        "newdict",
        "noanchors",
        "badutf8",
    ],
)
def test_corrupt_file_is_moved_aside(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "peers.json"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="zion_plugin_p2p.addrman"):
        b = book(path)
    assert len(b) == 0
    assert b.anchors() == []
    assert not path.exists()
    assert (tmp_path / "peers.json.corrupt").read_bytes() == content
    assert len(caplog.records) == 1
    assert "peers.json.corrupt" in caplog.text
    b.add([addr("1.2.3.4:1")])
    b.save()
    assert book(path).new_count == 1


def test_oversized_file_is_moved_aside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(addrman, "MAX_FILE_BYTES", 100)
    path = tmp_path / "peers.json"
    entries = [{"host": f"10.{i}.0.1", "port": 1} for i in range(10)]
    path.write_text(json.dumps({"version": 1, "new": entries, "tried": [], "anchors": []}))
    assert len(book(path)) == 0
    assert (tmp_path / "peers.json.corrupt").exists()


def test_bad_entries_are_skipped_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "peers.json"
    good = {"host": "1.2.3.4", "port": 18080, "services": 1, "last_seen": 5, "failures": 2}
    bad: list[Any] = [
        "1.2.3.4:5",
        None,
        {"host": "example.com", "port": 1},
        {"host": "1.2.3.5", "port": 0},
        {"host": "1.2.3.5", "port": 70_000},
        {"host": "1.2.3.5", "port": True},
        {"host": "1.2.3.5", "port": "1"},
        {"host": "::ffff:1.2.3.5", "port": 1},  # not canonical
        {"host": "0.0.0.0", "port": 1},
        {"host": "224.0.0.1", "port": 1},
        {"host": "1.2.3.5", "port": 1, "failures": -1},
        {"host": "1.2.3.5", "port": 1, "failures": MAX_FAILURES + 1},
        {"host": "1.2.3.5", "port": 1, "services": 2**64},
        {"host": "1.2.3.5", "port": 1, "last_seen": -1},
        {"host": "1.2.3.5", "port": 1, "last_success": "yesterday"},
        {"host": "1.2.3.5", "port": 1, "source": 7},
        dict(good),  # duplicate
    ]
    document = {
        "version": 1,
        "new": [good, *bad],
        "tried": [
            {"host": "5.6.7.8", "port": 1},
            {"host": "1.2.3.6", "port": 1, "last_success": 1e400},
        ],
        "anchors": [{"host": "5.6.7.8", "port": 1}, {"host": "5.6.7.8", "port": 1}, 3],
    }
    path.write_text(json.dumps(document))  # 1e400 is written as Infinity
    with caplog.at_level(logging.WARNING, logger="zion_plugin_p2p.addrman"):
        b = book(path)
    assert [a.key for a in _new_addresses(b)] == [("1.2.3.4", 18080)]
    assert [a.key for a in _tried_addresses(b)] == [("5.6.7.8", 1)]
    assert b.anchors() == [PeerAddress("5.6.7.8", 1)]
    assert len(caplog.records) == 1
    assert f"skipped {len(bad) + 1 + 2} " in caplog.text
    assert path.exists()  # kept, rewritten cleanly at the next save
    b.save()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="zion_plugin_p2p.addrman"):
        assert len(book(path)) == 2
    assert not caplog.records


def test_same_entry_in_both_tables_is_loaded_once(tmp_path: Path) -> None:
    path = tmp_path / "peers.json"
    item = {"host": "1.2.3.4", "port": 1}
    path.write_text(json.dumps({"version": 1, "new": [item], "tried": [item], "anchors": []}))
    b = book(path)
    assert (b.new_count, b.tried_count) == (0, 1)


@pytest.mark.parametrize("fail_at", ["replace", "fsync", "write"])
def test_failed_save_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: str
) -> None:
    path = tmp_path / "peers.json"
    b = book(path)
    b.add([addr("1.2.3.4:1")])
    b.save()
    before = path.read_bytes()
    b.add([addr(f"10.{i}.0.1:1") for i in range(50)])

    def boom(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    if fail_at == "write":
        real_fdopen = os.fdopen

        class HalfWriter:
            def __init__(self, handle: Any) -> None:
                self.handle = handle

            def __enter__(self) -> HalfWriter:
                return self

            def __exit__(self, *exc: object) -> None:
                self.handle.close()

            def write(self, data: bytes) -> None:
                self.handle.write(data[: len(data) // 2])
                self.handle.flush()
                raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "fdopen", lambda fd, mode: HalfWriter(real_fdopen(fd, mode)))
    else:
        monkeypatch.setattr(os, fail_at, boom)
    with pytest.raises(OSError, match="No space"):
        b.save()
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["peers.json"]  # no temporary left
    assert book(path).new_count == 1
    b.save()  # the change is still pending and written now
    assert book(path).new_count == 51


def test_save_creates_the_directory(tmp_path: Path) -> None:
    path = tmp_path / "data" / "p2p" / "peers.json"
    b = book(path)
    b.add([addr("1.2.3.4:1")])
    b.save()
    assert book(path).new_count == 1


def test_unreadable_path_raises(tmp_path: Path) -> None:
    (tmp_path / "peers.json").mkdir()
    with pytest.raises(IsADirectoryError):
        book(tmp_path / "peers.json")


# -- bans -----------------------------------------------------------------------------


def test_bans_expire_with_the_clock(tmp_path: Path) -> None:
    clock = Clock()
    bans = BanList(tmp_path / "bans.json", clock=clock)
    ban = bans.ban("1.2.3.4", 100, "bad checksum")
    assert ban == Ban("1.2.3.4", NOW + 100, "bad checksum")
    assert bans.is_banned("1.2.3.4")
    assert bans.is_banned("::ffff:1.2.3.4")
    assert not bans.is_banned("1.2.3.5")
    clock.advance(99)
    assert bans.entries() == [ban]
    clock.advance(1)
    assert not bans.is_banned("1.2.3.4")
    assert bans.entries() == []


def test_bans_persist_and_expired_ones_are_pruned_on_load(tmp_path: Path) -> None:
    path = tmp_path / "p2p" / "bans.json"
    clock = Clock()
    bans = BanList(path, clock=clock)
    bans.ban("1.2.3.4", 50, "short")
    bans.ban("[2001:db8::1]", 500, "long")
    assert json.loads(path.read_text())["version"] == 1
    assert [b.host for b in BanList(path, clock=clock).entries()] == ["1.2.3.4", "2001:db8::1"]
    clock.advance(60)
    reloaded = BanList(path, clock=clock)
    assert reloaded.entries() == [Ban("2001:db8::1", NOW + 500, "long")]
    assert reloaded._bans.keys() == {"2001:db8::1"}


def test_unban(tmp_path: Path) -> None:
    path = tmp_path / "bans.json"
    bans = BanList(path, clock=Clock())
    bans.ban("1.2.3.4", 100, "x")
    assert bans.unban("::ffff:1.2.3.4")
    assert not bans.unban("1.2.3.4")
    assert not bans.is_banned("1.2.3.4")
    assert BanList(path, clock=Clock()).entries() == []


def test_a_shorter_ban_does_not_shorten_a_longer_one() -> None:
    clock = Clock()
    bans = BanList(None, clock=clock)
    bans.ban("1.2.3.4", 1000, "first")
    assert bans.ban("1.2.3.4", 10, "second") == Ban("1.2.3.4", NOW + 1000, "second")
    assert bans.ban("1.2.3.4", 5000, "third").until == NOW + 5000
    assert len(bans.entries()) == 1


def test_ban_refuses_bad_arguments() -> None:
    bans = BanList(None, clock=Clock())
    for seconds in (0, -1, float("inf"), float("nan"), True):
        with pytest.raises(ValueError, match="positive"):
            bans.ban("1.2.3.4", seconds, "x")
    with pytest.raises(InvalidPeerAddressError):
        bans.ban("example.com", 10, "x")
    assert bans.ban("1.2.3.4", 10, "r" * 1000).reason == "r" * addrman.MAX_REASON


def test_ban_list_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(addrman, "MAX_BANS", 3)
    bans = BanList(None, clock=Clock())
    for i, seconds in enumerate([300, 100, 200, 400]):
        bans.ban(f"10.0.0.{i}", seconds, "x")
    assert [b.host for b in bans.entries()] == ["10.0.0.2", "10.0.0.0", "10.0.0.3"]


def test_corrupt_ban_file_is_moved_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "bans.json"
    path.write_text('{"version": 1, "bans": {}}')
    with caplog.at_level(logging.WARNING, logger="zion_plugin_p2p.addrman"):
        bans = BanList(path, clock=Clock())
    assert bans.entries() == []
    assert (tmp_path / "bans.json.corrupt").exists()
    assert len(caplog.records) == 1


def test_bad_bans_are_skipped_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "bans.json"
    items: list[Any] = [
        {"host": "1.2.3.4", "until": NOW + 10, "reason": "ok"},
        {"host": "1.2.3.4", "until": NOW + 5, "reason": "duplicate, shorter"},
        {"host": "example.com", "until": NOW + 10},
        {"host": "::ffff:1.2.3.4", "until": NOW + 10},
        {"host": "1.2.3.5", "until": "soon"},
        {"host": "1.2.3.5", "until": NOW + 10, "reason": 3},
        {"host": "1.2.3.6", "until": NOW - 10, "reason": "expired"},
        [],
    ]
    path.write_text(json.dumps({"version": 1, "bans": items}))
    with caplog.at_level(logging.WARNING, logger="zion_plugin_p2p.addrman"):
        bans = BanList(path, clock=Clock())
    assert bans.entries() == [Ban("1.2.3.4", NOW + 10, "ok")]
    assert len(caplog.records) == 1
    assert "skipped 6 " in caplog.text


def test_a_failed_ban_save_is_logged_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "bans.json"
    bans = BanList(path, clock=Clock())
    bans.ban("1.2.3.4", 100, "first")
    before = path.read_bytes()

    def boom(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with caplog.at_level(logging.WARNING, logger="zion_plugin_p2p.addrman"):
        bans.ban("5.6.7.8", 100, "second")
    assert bans.is_banned("5.6.7.8")
    assert "could not save" in caplog.text
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bans.json"]
