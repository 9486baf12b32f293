"""The randomx plugin as a node loads it, and its commands as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from rx_vectors import VECTORS
from zion_plugin_randomx.backend import RandomXCpu
from zion_plugin_randomx.config import RandomXConfig

from zion_core import ConfigError


def test_node_registers_the_backend_from_config(make_node) -> None:
    node = make_node(
        installed=["randomx"], sets=["randomx.threads=3", "backends.hasher=randomx-cpu"]
    )
    assert node.config_section("randomx") == RandomXConfig(threads=3)
    hasher = node.registry("hasher").select(node.config.backends.hasher)
    assert isinstance(hasher, RandomXCpu)
    assert hasher.capabilities.exact and hasher.capabilities.can_verify
    assert hasher.threads == 3
    key, data, expected = VECTORS[0]
    assert hasher.hash(data, key=key).hex() == expected


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("randomx.mode=turbo", "expected one of 'light', 'fast'"),
        ("randomx.threads=-1", "'threads' must be >= 0"),
        ("randomx.jit=yes", "expected true or false"),
    ],
)
def test_bad_config(make_node, setting: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_node(installed=["randomx"], sets=[setting])


@pytest.mark.anyio
async def test_node_shutdown_releases_the_backend(make_node) -> None:
    node = make_node(installed=["randomx"])
    hasher = node.registry("hasher").get("randomx-cpu")
    hasher.set_key(VECTORS[0][0])
    node.request_shutdown("test over")
    assert await node.serve() == 0
    assert hasher._keys is None  # zion_unconfigure closed it


def run_zion(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zion_core", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_diagnose_shows_library_flags_and_cpu() -> None:
    result = run_zion("diagnose", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)["randomx"]
    assert "librandomx" in report["library"]
    assert report["jit"] in {"yes", "no"} and report["hard aes"] in {"yes", "no"}
    assert "cpu features" in report and "large pages" in report


def test_bench_prints_hashes_per_second() -> None:
    result = run_zion(
        "bench", "randomx", "--mode", "light", "--threads", "1", "--seconds", "1", "--json"
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["hashes_per_second"] > 0
    assert data["hashes"] >= 1 and data["mode"] == "light" and data["threads"] == 1
    batch = run_zion("bench", "randomx", "--op", "batch", "--seconds", "1", "--json")
    assert json.loads(batch.stdout)["op"] == "batch"


def test_bench_rejects_bad_options() -> None:
    result = run_zion("bench", "randomx", "--mode", "turbo")
    assert result.returncode == 2
    assert "turbo" in result.stderr
