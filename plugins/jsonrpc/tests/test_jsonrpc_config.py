"""The ``[rpc]`` section: defaults per network and validation."""

from __future__ import annotations

from typing import Any

import pytest

from zion_plugin_jsonrpc.config import RpcConfig


@pytest.mark.parametrize(
    ("network", "bind"),
    [("mainnet", "127.0.0.1:19181"), ("testnet", "127.0.0.1:29181"), ("devnet", "127.0.0.1:39181")],
)
def test_the_default_bind_is_the_networks_port_on_loopback(network: str, bind: str) -> None:
    assert RpcConfig().address(network) == bind
    assert RpcConfig(bind="127.0.0.1:0").address(network) == "127.0.0.1:0"


@pytest.mark.parametrize("bind", ["nohost", "127.0.0.1:", ":80", "127.0.0.1:70000", "h:x"])
def test_bad_binds_are_refused(bind: str) -> None:
    with pytest.raises(ValueError, match="bind"):
        RpcConfig(bind=bind)


def test_the_section_is_registered(make_node: Any) -> None:
    node = make_node(installed=["jsonrpc"], network="testnet", sets=["rpc.max_body_bytes=4096"])
    config = node.config_section("rpc")
    assert config.max_body_bytes == 4096 and config.address(node.network) == "127.0.0.1:29181"
    assert "rpc" in node.registry("service").names()
