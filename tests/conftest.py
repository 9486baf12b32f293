"""Shared fixtures: async tests run on asyncio (debug mode) and trio.

``ZION_TEST_BACKENDS`` (comma-separated) narrows the async backends; with
``ZION_TEST_ASYNC_ONLY=1`` only tests that run on an async backend are collected, so a
second backend's session does not repeat the synchronous tests.
"""

from __future__ import annotations

import importlib
import os
import sys
import textwrap
from collections.abc import Callable, Mapping
from importlib.metadata import version
from pathlib import Path
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


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """An environment without ZION_* variables and with ZION_HOME under tmp_path."""
    for var in list(os.environ):
        if var.startswith("ZION_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("ZION_HOME", str(tmp_path / "zion-home"))
    return {"ZION_HOME": str(tmp_path / "zion-home")}


class FakeDists:
    """Writes real (minimal) installed distributions into a directory on sys.path."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        monkeypatch.syspath_prepend(str(root))
        self._monkeypatch = monkeypatch

    def add(
        self,
        dist: str,
        plugins: Mapping[str, str],
        modules: Mapping[str, str] | None = None,
        *,
        version: str = "1.0",
        root: Path | None = None,
    ) -> Path:
        root = root or self.root
        info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8"
        )
        lines = ["[zion.plugins]", *(f"{name} = {value}" for name, value in plugins.items())]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        for module, source in (modules or {}).items():
            (root / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
            self._monkeypatch.delitem(sys.modules, module, raising=False)
        importlib.invalidate_caches()
        return info


@pytest.fixture
def fake_dists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeDists:
    return FakeDists(tmp_path / "site", monkeypatch)


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Unique module names, so that tests never share an imported module."""
    counter = iter(range(1_000_000))
    return lambda prefix: f"{prefix}_{os.getpid()}_{next(counter)}"
