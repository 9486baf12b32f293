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
    node = make_node(
        installed=["jsonrpc", "sqlite", "randomx"],
        network="testnet",
        sets=["rpc.max_body_bytes=4096"],
    )
    config = node.config_section("rpc")
    assert config.max_body_bytes == 4096 and config.address(node.network) == "127.0.0.1:29181"
    assert "rpc" in node.registry("service").names()


def test_access_settings_are_validated() -> None:
    config = RpcConfig(cors_origins="https://a.example, http://b.example:8080")
    assert config.cors_origins == ("https://a.example", "http://b.example:8080")
    assert RpcConfig().rate_limit_exempt == ("127.0.0.0/8", "::1")
    with pytest.raises(ValueError, match="cors_origins"):
        RpcConfig(cors_origins=("a.example",))
    with pytest.raises(ValueError, match="rate_limit_exempt"):
        RpcConfig(rate_limit_exempt=("10.0.0.0/33",))
    with pytest.raises(ValueError, match="rate_limit"):
        RpcConfig(rate_limit=-1)
    assert "s3cret" not in repr(RpcConfig(admin_token="s3cret"))
