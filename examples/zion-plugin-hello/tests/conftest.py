"""Fixtures for the plugin's tests.

``make_node`` comes from the ``zion`` pytest plugin, installed with the kernel: it
builds a configured node (not running) from in-process plugin objects, with a fresh
data directory and an empty environment.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import zion_plugin_hello


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every ``@pytest.mark.anyio`` test on both backends the kernel supports."""
    return str(request.param)


@pytest.fixture
def hello_node(make_node: Callable[..., Any]) -> Callable[..., Any]:
    """``hello_node(sets=[...])``: a node with this plugin loaded."""

    def factory(**kwargs: Any) -> Any:
        return make_node({"hello": zion_plugin_hello}, **kwargs)

    return factory
