"""The node's sync status (``zion_core.sync``): sources combined, and when mining may start."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from zion_core import ConfigError, Registry, mining_allowed, node_sync_status
from zion_core.config import NodeConfig
from zion_core.sync import ALONE, waiting_reason
from zion_hookspecs import SyncStatus, hookimpl

BEHIND = SyncStatus(
    synchronized=False, height=120, target_height=500, busy=True, outgoing=2, incoming=1
)
CAUGHT_UP = SyncStatus(
    synchronized=True, height=500, target_height=500, busy=False, outgoing=8, incoming=3
)


class Source:
    """A sync source whose status the test sets."""

    def __init__(self, name: str, status: SyncStatus) -> None:
        self.name = name
        self.status = status

    def sync_status(self) -> SyncStatus:
        return self.status


class Broken:
    name = "broken"

    def sync_status(self) -> SyncStatus:
        raise RuntimeError("peer table locked")


class Sources:
    """A plugin registering sync sources."""

    def __init__(self, *sources: Any) -> None:
        self.sources = sources

    @hookimpl
    def zion_register_sync_sources(self, register: Any, node: Any) -> None:
        for source in self.sources:
            register(source)


@attrs.define
class FakeNode:
    """Just what ``zion_core.sync`` reads of a node (no plugins, no configuration files)."""

    sources: Sequence[Any] = ()
    network: str = "testnet"
    mine_before_sync: bool = False

    def registry(self, kind: str) -> Registry[Any]:
        assert kind == "sync_source"
        registry: Registry[Any] = Registry("sync source", required=("sync_status",))
        for source in self.sources:
            registry.add(source, owner="test")
        return registry

    def config_section(self, section: str) -> NodeConfig:
        assert section == "node"
        return NodeConfig(network="testnet", mine_before_sync=self.mine_before_sync)


def test_a_node_without_sources_is_its_own_network(make_node: Callable[..., Any]) -> None:
    node = make_node({}, network="testnet")
    status = node_sync_status(node)
    assert status == SyncStatus(True, 0, 0, False, 0, 0, ALONE)
    assert mining_allowed(node) == (True, ALONE)


def test_one_source_decides(make_node: Callable[..., Any]) -> None:
    source = Source("p2p", BEHIND)
    node = make_node({"net": Sources(source)}, network="testnet")
    assert node.registry("sync_source").names() == ["p2p"]
    assert node_sync_status(node) == BEHIND
    assert mining_allowed(node) == (False, "synchronizing: height 120 of 500 (3 peers)")
    source.status = CAUGHT_UP
    assert mining_allowed(node) == (True, "synchronized")
    source.status = replace(CAUGHT_UP, detail="11 peers")
    assert mining_allowed(node) == (True, "11 peers")


def test_devnet_and_mine_before_sync_do_not_wait(make_node: Callable[..., Any]) -> None:
    devnet = make_node({"net": Sources(Source("p2p", BEHIND))}, network="devnet")
    allowed, reason = mining_allowed(devnet)
    assert allowed and "devnet" in reason
    eager = make_node(
        {"net": Sources(Source("p2p", BEHIND))},
        network="mainnet",
        sets=["node.mine_before_sync=true"],
    )
    assert eager.config.node.mine_before_sync is True
    allowed, reason = mining_allowed(eager)
    assert allowed
    assert reason == (
        "[node] mine_before_sync is set: mining while synchronizing: height 120 of 500 (3 peers)"
    )
    assert node_sync_status(eager).synchronized is False  # get_info still tells the truth


def test_mine_before_sync_is_a_boolean(make_node: Callable[..., Any]) -> None:
    assert make_node({}).config.node.mine_before_sync is False
    with pytest.raises(ConfigError, match=r"node\.mine_before_sync.*expected true or false"):
        make_node({}, sets=["node.mine_before_sync=yes"])


def test_a_failing_source_counts_as_not_synchronized() -> None:
    node = FakeNode([Broken(), Source("p2p", CAUGHT_UP)])
    status = node_sync_status(node)  # type: ignore[arg-type]
    assert not status.synchronized
    assert "broken: no sync status (RuntimeError: peer table locked)" in status.detail
    allowed, reason = mining_allowed(node)  # type: ignore[arg-type]
    assert not allowed and "peer table locked" in reason


def test_reason_wording() -> None:
    one = replace(BEHIND, outgoing=1, incoming=0, detail="downloading blocks 121-152")
    assert waiting_reason(one) == (
        "synchronizing: height 120 of 500 (1 peer); downloading blocks 121-152"
    )
    alone = replace(BEHIND, target_height=0, outgoing=0, incoming=0)
    assert waiting_reason(alone) == "synchronizing: height 120 of 120 (0 peers)"


statuses = st.builds(
    SyncStatus,
    synchronized=st.booleans(),
    height=st.integers(0, 10**9),
    target_height=st.integers(0, 10**9),
    busy=st.booleans(),
    outgoing=st.integers(0, 100),
    incoming=st.integers(0, 100),
    detail=st.sampled_from(["", "a", "b c"]),
)


@given(st.lists(statuses, min_size=1, max_size=6), st.sampled_from(["mainnet", "testnet"]))
def test_sources_combine(parts: list[SyncStatus], network: str) -> None:
    node = FakeNode([Source(f"s{i}", s) for i, s in enumerate(parts)], network=network)
    status = node_sync_status(node)  # type: ignore[arg-type]
    assert status.synchronized == all(p.synchronized for p in parts)
    assert status.height == min(p.height for p in parts)
    assert status.target_height == max(p.target_height for p in parts)
    assert status.busy == any(p.busy for p in parts)
    assert status.outgoing == sum(p.outgoing for p in parts)
    assert status.incoming == sum(p.incoming for p in parts)
    assert status.detail == "; ".join(p.detail for p in parts if p.detail)
    allowed, reason = mining_allowed(node)  # type: ignore[arg-type]
    assert allowed == status.synchronized
    if not allowed:
        assert reason.startswith(f"synchronizing: height {status.height} of ")
