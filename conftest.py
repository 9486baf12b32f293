"""Fixtures for every test suite in the repository (kernel and plugins).

Async tests run on asyncio (debug mode) and trio. ``ZION_TEST_BACKENDS``
(comma-separated) narrows the async backends; with ``ZION_TEST_ASYNC_ONLY=1`` only
tests that run on an async backend are collected, so a second backend's session does
not repeat the synchronous tests.
"""

from __future__ import annotations

import os
from importlib.metadata import version
from typing import Any

import pytest

ALL_BACKENDS = {
    "asyncio": pytest.param(("asyncio", {"debug": True}), id="asyncio"),
    "trio": pytest.param(("trio", {}), id="trio"),
}
SELECTED = [
    name for name in os.environ.get("ZION_TEST_BACKENDS", "asyncio,trio").split(",") if name
]


@pytest.fixture(params=[ALL_BACKENDS[name] for name in SELECTED])
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return request.param


@pytest.fixture
def backend_name(anyio_backend: Any) -> str:
    """The async backend's name, for tests that start `zion run` in a subprocess."""
    return str(anyio_backend[0])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("ZION_TEST_ASYNC_ONLY") != "1":
        return
    keep, drop = [], []
    for item in items:
        (keep if "anyio_backend" in getattr(item, "fixturenames", ()) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"zion {version('zion')}, zion-hookspecs {version('zion-hookspecs')}, "
        f"async backends: {', '.join(SELECTED)}"
    ]
