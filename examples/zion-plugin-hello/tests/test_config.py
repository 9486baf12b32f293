from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from zion_core import ConfigError

from zion_plugin_hello import HelloConfig


def test_defaults(hello_node: Callable[..., Any]) -> None:
    config = hello_node().config_section("hello")
    assert config == HelloConfig(greeting="Hello", name="miner", interval=10.0)
    assert config.message() == "Hello, miner!"


def test_set_overrides(hello_node: Callable[..., Any]) -> None:
    node = hello_node(sets=["hello.greeting='Good day'", "hello.name=Alice", "hello.interval=2"])
    config = node.config_section("hello")
    assert config == HelloConfig(greeting="Good day", name="Alice", interval=2.0)
    assert isinstance(config.interval, float)


def test_environment_overrides(hello_node: Callable[..., Any]) -> None:
    node = hello_node(environ={"ZION_HELLO__INTERVAL": "0.5"})
    assert node.config_section("hello").interval == 0.5


@pytest.mark.parametrize("value", ["0", "-1.5"])
def test_interval_must_be_positive(hello_node: Callable[..., Any], value: str) -> None:
    with pytest.raises(ConfigError, match=r"\[hello\] .*: interval must be greater than 0"):
        hello_node(sets=[f"hello.interval={value}"])


def test_interval_must_be_a_number(hello_node: Callable[..., Any]) -> None:
    with pytest.raises(ConfigError, match=r"hello\.interval .*expected a number"):
        hello_node(sets=["hello.interval=often"])


def test_unknown_key_is_rejected(hello_node: Callable[..., Any]) -> None:
    with pytest.raises(ConfigError, match=r"unknown key hello\.greting .*'greeting'"):
        hello_node(sets=["hello.greting=Hi"])
