"""``zion status`` against a real devnet node, as a person would use it.

A devnet node runs in a subprocess (chain in sqlite, RandomX light mode, JSON-RPC, a pool
on Stratum, the built-in solo miner on one thread, and ``zion mine`` on one thread
mining to the pool, so both the height and the pool's shares move). Then:

- ``zion status --once --json`` and ``--once`` show its live values;
- ``zion status`` runs in tmux (100x30, then 80x24): ``tmux capture-pane`` shows the
  chain, the pool and the miner, the height moves on after a new block, ``q`` (or
  Ctrl-C) leaves the view and the pane is back at the shell;
- stopping and restarting a node shows "reconnecting…", then live data again.

tmux comes from the system (``./dev setup`` installs it with apt-get); where it is missing
and apt-get cannot install it, the tmux tests are skipped.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from zion_core.chain.keys import WalletKeys

pytestmark = pytest.mark.slow

MINER = str(WalletKeys.from_seed(bytes([71]) * 32).address("devnet"))
POOL = str(WalletKeys.from_seed(bytes([72]) * 32).address("devnet"))
WORKER = str(WalletKeys.from_seed(bytes([73]) * 32).address("devnet"))
START_S = 90.0
"""Generous for a loaded 2-core machine: a node starts in a few seconds."""
WAIT_S = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZION_")}
    env["ZION_HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class DevnetNode:
    """``zion run`` in a subprocess, its log in a file."""

    def __init__(self, tmp: Path, *, mine: bool, pool: bool) -> None:
        self.data_dir = tmp / "node"
        self.log = tmp / "node.log"
        self.env = clean_env(tmp / "home")
        self.port = free_port()
        self.stratum_port = free_port() if pool else None
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [
            sys.executable,
            "-m",
            "zion_core",
            "run",
            "--network",
            "devnet",
            "--data-dir",
            str(self.data_dir),
            *("--plugin", "sqlite", "--plugin", "randomx", "--plugin", "jsonrpc"),
            *("--set", f"rpc.bind=127.0.0.1:{self.port}"),
            *("--set", "chain.initial_difficulty=40", "--set", "randomx.threads=1"),
        ]
        if mine:
            self.args += ["--set", f"miner.address={MINER}", "--set", "miner.threads=1"]
        if pool:
            self.args += [
                *("--plugin", "stratum"),
                *("--set", f"stratum.pool_address={POOL}"),
                *("--set", f"stratum.bind=127.0.0.1:{self.stratum_port}"),
                *("--set", "stratum.start_difficulty=20", "--set", "stratum.min_difficulty=10"),
                *("--set", "stratum.stats_interval_seconds=1"),
            ]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                self.args, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        wait_for(self.info, f"the node at {self.url} (log: {self.log})", START_S)

    def info(self) -> dict[str, Any] | None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"the node exited:\n{self.log.read_text()[-4000:]}")
        try:
            response = httpx.post(
                f"{self.url}/json_rpc",
                json={"jsonrpc": "2.0", "id": 0, "method": "get_info"},
                timeout=5,
            )
            result: dict[str, Any] = response.json()["result"]
            return result
        except (httpx.HTTPError, KeyError, ValueError):
            return None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self.proc = None


def zion_status(node: DevnetNode, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zion_core", "status", "--node", node.url, *args],
        env=node.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def status_json(node: DevnetNode) -> dict[str, Any]:
    result = zion_status(node, "--once", "--json")
    assert result.returncode == 0, result.stderr
    snapshot: dict[str, Any] = json.loads(result.stdout)
    return snapshot


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevnetNode]:
    """A mining devnet node with a pool, and ``zion mine`` mining to that pool."""
    tmp = tmp_path_factory.mktemp("status-devnet")
    node = DevnetNode(tmp, mine=True, pool=True)
    worker: subprocess.Popen[bytes] | None = None
    try:
        node.start()
        with (tmp / "worker.log").open("ab") as log:
            worker = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "zion_core",
                    "mine",
                    *("--pool", f"127.0.0.1:{node.stratum_port}"),
                    *("--address", WORKER, "--threads", "1", "--duration", "300"),
                ],
                env=node.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        yield node
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(timeout=30)
        node.stop()


# ----------------------------------------------------------------------------- --once


def test_once_json_shows_live_devnet_data(devnet: DevnetNode) -> None:
    first = status_json(devnet)
    assert first["node"]["url"] == devnet.url and first["node"]["network"] == "devnet"
    assert first["node"]["uptime_seconds"] >= 0
    chain = first["chain"]
    assert chain["target_seconds"] == 10 and chain["difficulty"] >= 1
    assert chain["hashrate"] == round(chain["difficulty"] / 10, 2)
    assert first["peers"] is None and first["errors"] == {}
    assert first["mempool"] == {"transactions": 0, "bytes": 0}
    assert first["pool"]["address"] == POOL and first["pool"]["policy"] == "pplns"
    assert first["miner"]["address"] == MINER and first["miner"]["threads"] == 1
    assert first["randomx"]["verifier"]["mode"] == "light"
    assert first["randomx"]["miner"]["mode"] == "light"
    [node_panel] = [p for p in first["panels"] if p["name"] == "node"]
    assert node_panel["plugin"] == "core" and node_panel["rows"]["network"] == "devnet"
    assert {"jsonrpc", "stratum", "randomx"} <= set(node_panel["rows"]["plugins"])
    # the chain moves on, the miners find blocks, the pool counts shares
    later = wait_for(
        lambda: (s := status_json(devnet))["chain"]["height"] > chain["height"] + 1 and s,
        "two more blocks",
    )
    assert later["chain"]["last_blocks"][0]["height"] == later["chain"]["height"] - 1
    assert later["randomx"]["verifier"]["memory_bytes"] >= 256 << 20  # blocks verified
    assert later["miner"]["active"] and later["miner"]["hashrate"] >= 0
    assert [b["height"] for b in later["chain"]["last_blocks"]] == sorted(
        (b["height"] for b in later["chain"]["last_blocks"]), reverse=True
    )
    found = wait_for(
        lambda: [
            b["finder"]
            for b in status_json(devnet)["chain"]["last_blocks"]
            if b["finder"] in ("miner", "pool")
        ],
        "a block found by this node's miner or pool among the last ones",
    )
    assert set(found) <= {"miner", "pool"}
    shares = wait_for(
        lambda: status_json(devnet)["pool"]["shares"]["accepted"], "a share accepted by the pool"
    )
    assert shares >= 1


def test_once_prints_the_panels(devnet: DevnetNode) -> None:
    result = zion_status(devnet, "--once")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for text in ("ZION devnet", "Chain", "height", "difficulty", "Pool", "accepted"):
        assert text in out, (text, out)
    for text in ("Last blocks", "Miner", "RandomX", "light", "Node"):
        assert text in out, (text, out)


# ----------------------------------------------------------------------------- tmux


def ensure_tmux() -> str:
    """The tmux binary: the system's, or installed with apt-get where that is possible
    (as ./dev setup does); the test is skipped otherwise."""
    found = shutil.which("tmux")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None:
        pytest.skip("tmux is not installed and there is no apt-get to install it")
    prefix: list[str] = []
    if os.geteuid() != 0:
        sudo = shutil.which("sudo")
        if sudo is None or subprocess.run([sudo, "-n", "true"], check=False).returncode:
            pytest.skip("tmux is not installed and apt-get needs root (./dev setup installs it)")
        prefix = [sudo, "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "tmux"]):
        done = subprocess.run(
            [*prefix, *command], env=env, capture_output=True, timeout=600, check=False
        )
        if done.returncode:
            pytest.skip(f"tmux is not installed and apt-get could not install it: {done.stderr!r}")
    found = shutil.which("tmux")
    if not found:
        pytest.skip("tmux is still missing after apt-get install tmux")
    return found


class Tmux:
    """A private tmux server (its own socket) with one session running a plain shell."""

    PROMPT = "ready$ "

    def __init__(self, binary: str, socket_path: Path, env: dict[str, str]) -> None:
        self.binary = binary
        self.socket = socket_path
        self.env = {**env, "TERM": "xterm-256color", "LANG": "C.UTF-8"}
        self.session = "status"

    def __call__(self, *args: str) -> str:
        done = subprocess.run(
            [self.binary, "-u", "-S", str(self.socket), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, (args, done.stderr)
        return done.stdout

    def start(self, width: int, height: int) -> None:
        # PS1 on the command line: a non-interactive bash (tmux's `sh -c`) drops it
        shell = f"exec env -u PROMPT_COMMAND PS1={shlex.quote(self.PROMPT)} bash --norc --noprofile"
        self("new-session", "-d", "-s", self.session, "-x", str(width), "-y", str(height), shell)
        wait_for(lambda: self.PROMPT.rstrip() in self.capture(), "the shell prompt", 30)

    def type(self, line: str) -> None:
        self("send-keys", "-t", self.session, "-l", line)
        self("send-keys", "-t", self.session, "Enter")

    def keys(self, *keys: str) -> None:
        self("send-keys", "-t", self.session, *keys)

    def capture(self) -> str:
        return self("capture-pane", "-p", "-t", self.session)

    def size(self) -> tuple[int, int]:
        out = self("display-message", "-p", "-t", self.session, "#{pane_width} #{pane_height}")
        width, height = out.split()
        return int(width), int(height)

    def kill(self) -> None:
        subprocess.run(
            [self.binary, "-S", str(self.socket), "kill-server"],
            env=self.env,
            capture_output=True,
            timeout=30,
            check=False,
        )


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Tmux]]:
    binary = ensure_tmux()
    made: list[Tmux] = []

    def make(env: dict[str, str]) -> Tmux:
        server = Tmux(binary, tmp_path / "tmux.sock", env)
        made.append(server)
        return server

    yield make
    for server in made:
        server.kill()


def status_line(node: DevnetNode, *options: str) -> str:
    command = [sys.executable, "-m", "zion_core", "status", "--node", node.url, *options]
    return f"{shlex.join(command)}; echo status exited $?"


def chain_height(screen: str) -> int | None:
    match = re.search(r"│ height\s+([\d,]+)", screen)
    return int(match.group(1).replace(",", "")) if match else None


def wait_for_screen(
    term: Tmux, predicate: Callable[[str], Any], what: str, timeout: float = WAIT_S
) -> str:
    """The pane's text once ``predicate`` holds for it."""

    def check() -> str | None:
        screen = term.capture()
        return screen if predicate(screen) else None

    screen: str = wait_for(check, what, timeout)
    return screen


def assert_back_at_the_shell(term: Tmux) -> None:
    screen = wait_for_screen(
        term, lambda s: "status exited 0" in s, "zion status to exit with status 0", 30
    )
    assert "Chain" not in screen and "Last blocks" not in screen  # the alternate screen is gone
    assert screen.rstrip().endswith(Tmux.PROMPT.rstrip())


def test_live_view_in_tmux(devnet: DevnetNode, tmux: Callable[[dict[str, str]], Tmux]) -> None:
    term = tmux(devnet.env)
    term.start(100, 30)
    assert term.size() == (100, 30)
    term.type(status_line(devnet, "--interval", "1"))
    screen = wait_for_screen(
        term, lambda s: "● live" in s and chain_height(s), "the live view with its event stream"
    )
    lines = screen.splitlines()
    assert len(lines) <= 30 and all(len(line) <= 100 for line in lines)
    for text in ("ZION devnet", "Chain", "difficulty", "hashrate", "Pool", "accepted"):
        assert text in screen, (text, screen)
    for text in ("Last blocks", "Miner", "RandomX", "mining at height", "q quit"):
        assert text in screen, (text, screen)
    first = chain_height(screen)
    assert first is not None
    later = wait_for(
        lambda: (h := chain_height(term.capture())) is not None and h > first and h,
        "a new block on the screen",
    )
    assert later > first
    term.keys("q")
    assert_back_at_the_shell(term)


def test_small_terminal_in_tmux(devnet: DevnetNode, tmux: Callable[[dict[str, str]], Tmux]) -> None:
    term = tmux(devnet.env)
    term.start(80, 24)
    term.type(status_line(devnet))
    screen = wait_for_screen(
        term, lambda s: chain_height(s) and "accepted" in s, "the view in 80x24"
    )
    lines = screen.splitlines()
    assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
    for text in ("Chain", "height", "difficulty", "Pool", "rejected", "q quit"):
        assert text in screen, (text, screen)
    term.keys("C-c")  # Ctrl-C leaves as cleanly as q
    assert_back_at_the_shell(term)


def test_reconnects_when_the_node_restarts(
    tmp_path: Path, tmux: Callable[[dict[str, str]], Tmux]
) -> None:
    node = DevnetNode(tmp_path, mine=False, pool=False)
    try:
        node.start()
        term = tmux(node.env)
        term.start(100, 30)
        term.type(status_line(node, "--interval", "1"))
        wait_for(lambda: "● live" in term.capture(), "the live view")
        screen = term.capture()
        assert "not running on this node" in screen  # no pool, no miner on this node
        node.stop()
        screen = wait_for_screen(term, lambda s: "reconnecting…" in s, "reconnecting…")
        assert "cannot reach the node" in screen and "Chain" in screen  # the last data stays
        node.start()
        wait_for(lambda: "● live" in term.capture(), "the view live again")
        term.keys("q")
        assert_back_at_the_shell(term)
    finally:
        node.stop()
