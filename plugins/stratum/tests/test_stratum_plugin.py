"""The stratum plugin is discovered and needs the chain's backends."""

from __future__ import annotations

from typing import Any


def test_the_plugin_loads_the_chain_backends_it_needs(make_node: Any) -> None:
    node = make_node(installed=["consensus", "sqlite", "randomx", "stratum"], requested=["stratum"])
    assert {"stratum", "sqlite", "randomx"} <= set(node.plugin_names())
