"""The sqlite plugin as a node loads it: registration, configuration, diagnostics."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import zion_plugin_sqlite
from zion_core.cli import main
from zion_core.errors import ConfigError, PluginConflictError, UnknownBackendError
from zion_hookspecs import hookimpl
from zion_plugin_sqlite import SqliteBackend, SqliteConfig, SqliteStore


def test_node_registers_the_backend(make_node: Any) -> None:
    node = make_node(installed=["sqlite"])
    assert node.registry("storage").names() == ["sqlite"]
    assert node.registry("storage").owner("sqlite") == "sqlite"
    backend = node.registry("storage").select(node.config.backends.storage)  # the only one
    assert isinstance(backend, SqliteBackend)
    assert backend.config == SqliteConfig() == node.config_section("sqlite")
    with backend.open(node.data_dir / "chain.sqlite3") as store:
        assert isinstance(store, SqliteStore)
        store.write_batch({b"h:1": b"a", b"h:2": b"b", b"x": b"c"})
        store.write_batch({}, deletes=[b"h:1"])
        assert list(store.iter_prefix(b"h:")) == [(b"h:2", b"b")]
    assert (node.data_dir / "chain.sqlite3").is_file()


def test_in_process_module_and_backend_selection(make_node: Any) -> None:
    node = make_node({"sqlite": zion_plugin_sqlite}, sets=["backends.storage='sqlite'"])
    assert node.config.backends.storage == "sqlite"
    assert isinstance(node.registry("storage").select("sqlite"), SqliteBackend)


def test_configured_backend(make_node: Any) -> None:
    node = make_node(
        installed=["sqlite"],
        sets=["sqlite.synchronous='normal'", "sqlite.cache_size_mb=4", "sqlite.busy_timeout_ms=0"],
    )
    config = SqliteConfig(synchronous="normal", cache_size_mb=4, busy_timeout_ms=0)
    backend = node.registry("storage").get("sqlite")
    assert backend.config == config
    with backend.open(node.data_dir / "s.sqlite3") as store:
        assert store._conn is not None
        assert store._conn.execute("PRAGMA synchronous").fetchone() == (1,)


def test_config_from_environment(make_node: Any) -> None:
    node = make_node(installed=["sqlite"], environ={"ZION_SQLITE__CACHE_SIZE_MB": "32"})
    assert node.config_section("sqlite").cache_size_mb == 32


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("sqlite.synchronous='off'", "expected one of 'full', 'normal'"),
        ("sqlite.cache_size_mb=0", "'cache_size_mb' must be >= 1"),
        ("sqlite.busy_timeout_ms=-1", "'busy_timeout_ms' must be >= 0"),
        ("sqlite.journal='wal'", "journal"),
    ],
)
def test_bad_config(make_node: Any, setting: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_node(installed=["sqlite"], sets=[setting])


def test_unknown_storage_backend(make_node: Any) -> None:
    with pytest.raises(UnknownBackendError, match=r"unknown storage 'lmdb'.*available: sqlite"):
        make_node(installed=["sqlite"], sets=["backends.storage='lmdb'"])


def test_a_second_plugin_claiming_sqlite(make_node: Any) -> None:
    class Impostor:
        @hookimpl
        def zion_register_storages(self, register: Any, node: Any) -> None:
            register(SqliteBackend())

    with pytest.raises(PluginConflictError, match="storage 'sqlite' is registered by both"):
        make_node({"sqlite": zion_plugin_sqlite, "impostor": Impostor()})


def test_diagnose_reports_the_library(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for var in list(os.environ):
        if var.startswith("ZION_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("ZION_HOME", str(tmp_path / "zion-home"))
    assert main(["diagnose", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sqlite"] == {
        "sqlite library": sqlite3.sqlite_version,
        "threading": {0: "single-thread", 1: "multi-thread", 3: "serialized"}[sqlite3.threadsafety],
        "schema version": "1",  # values are shown with str()
    }
    assert "sqlite" not in report.get("diagnose failures", {})
