"""The ``zion`` command line, run as a user runs it: a real process, real signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

SERVICE_PLUGIN = """
import anyio
from dataclasses import dataclass
from pathlib import Path
from zion_hookspecs import hookimpl


@dataclass(frozen=True)
class Config:
    log: str = ""
    drain_seconds: float = 0.0
    fail_start: bool = False


class Recorder:
    def __init__(self, name, config):
        self.name = name
        self.config = config

    def note(self, event):
        with open(self.config.log, "a") as f:
            f.write(f"{event} {self.name}\\n")

    async def run(self, *, task_status):
        self.note("start")
        if self.config.fail_start and self.name == "second":
            raise OSError("address already in use")
        task_status.started()
        self.note("ready")
        try:
            await anyio.sleep_forever()
        finally:
            self.note("stop")

    async def drain(self):
        self.note("drain")
        await anyio.sleep(self.config.drain_seconds)
        self.note("drained")


@hookimpl
def zion_register_config(register):
    register("recorder", Config)


@hookimpl
def zion_register_services(register, node):
    config = node.config_section("recorder")
    register(Recorder("first", config))
    register(Recorder("second", config))
"""


class Zion:
    """Runs ``python -m zion_core`` with a private ZION_HOME and plugin directory."""

    def __init__(self, tmp_path: Path, site: Path) -> None:
        self.tmp_path = tmp_path
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ZION_")}
        self.env["ZION_HOME"] = str(tmp_path / "home")
        self.env["PYTHONPATH"] = os.pathsep.join(
            [str(site), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        self.env["PYTHONUNBUFFERED"] = "1"

    def __call__(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "zion_core", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "zion_core", *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@pytest.fixture
def zion(tmp_path: Path, fake_dists) -> Zion:
    fake_dists.add(
        "zion-plugin-recorder",
        {"recorder": "zion_test_recorder"},
        {"zion_test_recorder": SERVICE_PLUGIN},
    )
    fake_dists.add(
        "zion-plugin-quiet",
        {"quiet": "zion_test_quiet"},
        {"zion_test_quiet": "from zion_hookspecs import hookimpl\n"},
    )
    return Zion(tmp_path, fake_dists.root)


def listed(text: str, prefix: str, end: str = "\n") -> set[str]:
    """The comma-separated names after ``prefix`` (other installed plugins may be there)."""
    names = text.split(prefix, 1)[1].split(end, 1)[0]
    return {name.strip() for name in names.split(",")}


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def events(log: Path) -> list[str]:
    return [line for line in log.read_text().split("\n") if line and not line.startswith("ready")]


def start_recorder(zion: Zion, log: Path, *sets: str) -> subprocess.Popen[str]:
    """``zion run --plugin recorder`` on devnet, once both of its services are ready."""
    args = ["run", "--network", "devnet", "--plugin", "recorder"]
    for item in (f"recorder.log={json.dumps(str(log))}", *sets):
        args += ["--set", item]
    proc = zion.start(*args)
    wait_for(lambda: log.exists() and "ready second" in log.read_text(), "both services")
    return proc


def finish(proc: subprocess.Popen[str], timeout: float = 30) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"zion did not exit in time; stderr:\n{err}") from None
    return proc.returncode, err


def test_version(zion: Zion) -> None:
    result = zion("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("zion 0.") and "zion-hookspecs" in result.stdout


def test_unknown_plugin_exits_2_listing_the_available_ones(zion: Zion) -> None:
    result = zion("run", "--network", "devnet", "--plugin", "no-such-plugin")
    assert result.returncode == 2
    assert "unknown plugin 'no-such-plugin'" in result.stderr
    assert {"quiet", "recorder"} <= listed(result.stderr, "available plugins: ")
    assert "Traceback" not in result.stderr


def test_unknown_plugin_from_the_environment(zion: Zion) -> None:
    zion.env["ZION_PLUGINS"] = "quiet,nope"
    result = zion("config", "show")
    assert result.returncode == 2 and "unknown plugin 'nope'" in result.stderr


def test_bad_option_and_bad_config_exit_2(zion: Zion) -> None:
    assert zion("run", "--bogus").returncode == 2
    result = zion("run", "--set", "runtime.drain_timeout=soon")
    assert result.returncode == 2
    assert "bad value for runtime.drain_timeout (from --set runtime.drain_timeout)" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_show_includes_the_sections_of_named_plugins(zion: Zion, tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text('[plugins]\nenabled = ["recorder"]\n[recorder]\ndrain_seconds = 2.5\n')
    result = zion("config", "show", "--config", str(config), "--json", "--network", "devnet")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["recorder"]["drain_seconds"] == 2.5
    assert data["node"]["network"] == "devnet"
    assert data["node"]["data_dir"] == str(tmp_path / "home" / "devnet")
    # Blocking the plugin makes its section unknown, and the error says why.
    result = zion("config", "show", "--config", str(config), "--no-plugin", "recorder")
    assert result.returncode == 2
    assert "unknown config section [recorder]" in result.stderr
    assert {"quiet", "recorder"} <= listed(result.stderr, "installed, not loaded: ", end=")")


def test_plugins_json_survives_a_broken_plugin(zion: Zion, fake_dists) -> None:
    fake_dists.add(
        "zion-plugin-kaput",
        {"kaput": "zion_test_kaput"},
        {"zion_test_kaput": "raise ImportError('missing libfoo.so')\n"},
    )
    result = zion("plugins", "--json")
    assert result.returncode == 0, result.stderr
    listing = {p["name"]: p for p in json.loads(result.stdout)}
    assert listing["recorder"]["status"] == "ok"
    assert listing["recorder"]["hooks"] == ["zion_register_config", "zion_register_services"]
    assert listing["kaput"]["status"] == "broken"
    assert "zion-plugin-kaput" in listing["kaput"]["error"]
    assert "missing libfoo.so" in listing["kaput"]["error"]
    table = zion("plugins")
    assert table.returncode == 0 and "broken" in table.stdout


def test_graceful_shutdown_on_sigterm(zion: Zion, tmp_path: Path, backend_name: str) -> None:
    log = tmp_path / "events.log"
    proc = start_recorder(zion, log, f"runtime.async_backend={backend_name}")
    proc.send_signal(signal.SIGTERM)
    code, err = finish(proc)
    assert code == 0, err
    assert events(log) == [
        "start first",
        "start second",
        "drain second",
        "drained second",
        "stop second",
        "drain first",
        "drained first",
        "stop first",
    ]
    assert "received SIGTERM" in err
    assert (tmp_path / "home" / "devnet" / "zion.lock").exists()


def test_second_sigint_skips_the_drain(zion: Zion, tmp_path: Path, backend_name: str) -> None:
    log = tmp_path / "events.log"
    proc = start_recorder(
        zion,
        log,
        "recorder.drain_seconds=60",
        "runtime.drain_timeout=120",
        f"runtime.async_backend={backend_name}",
    )
    proc.send_signal(signal.SIGINT)
    wait_for(lambda: "drain second" in log.read_text(), "draining")
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    code, err = finish(proc)
    assert time.monotonic() - started < 10
    assert code == 0, err
    assert "skipping the drain" in err
    seen = events(log)
    assert seen[-2:] == ["stop second", "stop first"]
    assert "drained second" not in seen and "drain first" not in seen


def test_a_service_that_fails_to_start(zion: Zion, tmp_path: Path) -> None:
    log = tmp_path / "events.log"
    result = zion(
        "run",
        "--network",
        "devnet",
        "--plugin",
        "recorder",
        "--set",
        f"recorder.log={json.dumps(str(log))}",
        "--set",
        "recorder.fail_start=true",
    )
    assert result.returncode == 1
    assert (
        "service 'second' (plugin 'recorder') failed to start: OSError: address already in use"
    ) in result.stderr
    assert events(log) == [
        "start first",
        "start second",
        "drain first",
        "drained first",
        "stop first",
    ]


def test_one_data_directory_one_node(zion: Zion, tmp_path: Path) -> None:
    first = start_recorder(zion, tmp_path / "events.log")
    try:
        second = zion("run", "--network", "devnet")
        assert second.returncode == 1
        assert "is in use by another ZION process" in second.stderr
        assert f"pid {first.pid}" in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        code, err = finish(first)
    assert code == 0, err


def test_plain_devnet_node_runs_until_signalled(zion: Zion, tmp_path: Path) -> None:
    proc = zion.start("run", "--network", "devnet", "--data-dir", str(tmp_path / "dd"))
    wait_for(lambda: (tmp_path / "dd" / "zion.lock").exists(), "the node to start")
    time.sleep(0.5)
    assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    code, err = finish(proc)
    assert code == 0, err
    assert "ZION devnet node starting" in err and "plugins: core" in err


def test_diagnose_lists_plugins(zion: Zion) -> None:
    result = zion("diagnose")
    assert result.returncode == 0, result.stderr
    assert "recorder" in result.stdout and "zion-plugin-recorder 1.0: ok" in result.stdout
