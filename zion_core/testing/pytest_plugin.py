"""The ``zion`` pytest plugin: fixtures for testing ZION plugins.

- ``make_node(plugins=None, **kwargs)``: :func:`zion_core.testing.make_node` with a
  fresh data directory under ``tmp_path``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from ..node import ZionNode
from . import make_node as _make_node


@pytest.fixture
def make_node(tmp_path: Path) -> Callable[..., ZionNode]:
    counter = iter(range(1_000_000))

    def factory(plugins: Mapping[str, Any] | None = None, **kwargs: Any) -> ZionNode:
        kwargs.setdefault("data_dir", tmp_path / f"node{next(counter)}")
        return _make_node(plugins, **kwargs)

    return factory
