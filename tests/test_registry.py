"""Name-keyed registries: duplicates rejected, selection by configured name only."""

from __future__ import annotations

import attrs
import pytest

from zion_core.errors import PluginConflictError, PluginError, RegistryError, UnknownBackendError
from zion_core.registry import Registry


@attrs.frozen
class Backend:
    name: str
    aliases: tuple[str, ...] = ()

    def open(self) -> None:
        pass


def test_duplicate_names_name_both_plugins() -> None:
    registry: Registry[Backend] = Registry("storage", config_key="backends.storage")
    registry.bind("sqlite-plugin")(Backend("sqlite"))
    with pytest.raises(PluginConflictError) as info:
        registry.bind("other-plugin")(Backend("sqlite"))
    assert "'sqlite-plugin'" in str(info.value) and "'other-plugin'" in str(info.value)
    assert registry.names() == ["sqlite"] and registry.owner("sqlite") == "sqlite-plugin"


def test_select_by_name_never_by_order() -> None:
    registry: Registry[Backend] = Registry("hasher", config_key="backends.hasher")
    a, b = Backend("a"), Backend("b")
    registry.add(a, owner="p1")
    registry.add(b, owner="p2")
    assert registry.select("b") is b and registry.select("a") is a
    with pytest.raises(
        RegistryError,
        match=r"several hasher backends .*\(a, b\); choose one \(set backends.hasher\)",
    ):
        registry.select(None)


def test_select_none_with_a_single_backend() -> None:
    registry: Registry[Backend] = Registry("transport")
    only = Backend("tcp")
    registry.add(only, owner="p")
    assert registry.select(None) is only


def test_select_none_with_nothing_registered() -> None:
    with pytest.raises(RegistryError, match="no storage is registered"):
        Registry[Backend]("storage").select(None)


def test_unknown_name_lists_the_choices() -> None:
    registry: Registry[Backend] = Registry("storage", config_key="backends.storage")
    registry.add(Backend("sqlite"), owner="p")
    with pytest.raises(
        UnknownBackendError,
        match=r"unknown storage 'lmdb' \(from backends.storage\); available: sqlite",
    ):
        registry.get("lmdb")


@pytest.mark.parametrize("bad", [None, "", "has space", "x" * 65, 5])
def test_registered_objects_need_a_valid_name(bad: object) -> None:
    class Thing:
        name = bad

    with pytest.raises(PluginError, match="without a valid name"):
        Registry[object]("bridge").add(Thing(), owner="p")


def test_required_attributes_are_checked_at_registration() -> None:
    registry: Registry[object] = Registry("storage", required=("open", "close"))
    with pytest.raises(PluginError, match="storage 'sqlite' without 'close'"):
        registry.add(Backend("sqlite"), owner="p")


def test_aliases_are_names_too() -> None:
    registry: Registry[Backend] = Registry("rpc method", extra_keys=lambda m: m.aliases)
    method = Backend("get_block_count", aliases=("getblockcount",))
    registry.add(method, owner="jsonrpc")
    assert registry.get("getblockcount") is method
    with pytest.raises(PluginConflictError, match="'getblockcount'"):
        registry.add(Backend("getblockcount"), owner="other")
    assert "get_block_count" in registry and len(registry) == 2
