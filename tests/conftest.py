"""Fixtures of the kernel's tests (the async-backend fixtures live in ../conftest.py)."""

from __future__ import annotations

import importlib
import os
import sys
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest


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
