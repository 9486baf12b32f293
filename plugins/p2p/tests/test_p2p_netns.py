"""Two ``zion run`` nodes in their own Linux network namespaces, joined by a veth pair.

Node A runs in one namespace at 10.200.0.1, node B in another at 10.200.0.2; the only
link between them is the veth pair, so ``ip link set ... down`` is a real partition:
established TCP connections stay open and their segments wait in the kernel until the
link is up again. The namespaces are created for the test and deleted after it.

Opt-in (marker ``netns``): runs only with ``ZION_NETNS_TESTS=1``, as root, with ``ip``
(iproute2). Blocks are mined over each node's JSON-RPC (``get_block_template`` then
``submit_block``, at difficulty 1), called from inside the node's namespace.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import attrs
import pytest
from p2p_testkit import BASE_SETS

from zion_core.chain.keys import WalletKeys

ENABLED = os.environ.get("ZION_NETNS_TESTS") == "1"
IP = shutil.which("ip")

pytestmark = [
    pytest.mark.netns,
    pytest.mark.slow,
    pytest.mark.skipif(
        not (ENABLED and IP and hasattr(os, "geteuid") and os.geteuid() == 0),
        reason="needs ZION_NETNS_TESTS=1, root and iproute2 (ip netns add)",
    ),
]

SUBNET_HOSTS = ("10.200.0.1", "10.200.0.2")
P2P_PORT = 39180
RPC = "127.0.0.1:39181"
"""Each node's RPC, on the loopback of its own namespace."""
PLUGINS = ["consensus", "sqlite", "randomx", "p2p", "jsonrpc"]
ADDRESSES = {
    "A": str(WalletKeys.from_seed(bytes([7]) * 32).address("devnet")),
    "B": str(WalletKeys.from_seed(bytes([9]) * 32).address("devnet")),
}
"""Each side mines to its own address, so blocks found on both sides at once differ."""
RPC_CLIENT = (
    "import sys, urllib.request as u\n"
    "request = u.Request(sys.argv[1], data=sys.argv[2].encode(), "
    "headers={'Content-Type': 'application/json'})\n"
    "sys.stdout.write(u.urlopen(request, timeout=5).read().decode())\n"
)


def ip(*args: str, check: bool = True) -> None:
    assert IP is not None
    subprocess.run([IP, *args], check=check, capture_output=True, timeout=30)


@attrs.frozen
class Netns:
    """The two namespaces and the veth end in each."""

    names: tuple[str, str]
    veths: tuple[str, str]


@pytest.fixture
def netns() -> Iterator[Netns]:
    tag = str(os.getpid() % 100_000)
    pair = Netns(names=(f"zion-{tag}-a", f"zion-{tag}-b"), veths=(f"zva{tag}", f"zvb{tag}"))
    try:
        for name in pair.names:
            ip("netns", "add", name)
        ip("link", "add", pair.veths[0], "type", "veth", "peer", "name", pair.veths[1])
        for name, veth, host in zip(pair.names, pair.veths, SUBNET_HOSTS, strict=True):
            ip("link", "set", veth, "netns", name)
            ip("-n", name, "addr", "add", f"{host}/24", "dev", veth)
            ip("-n", name, "link", "set", "lo", "up")
            ip("-n", name, "link", "set", veth, "up")
        yield pair
    finally:
        for name in pair.names:
            ip("netns", "delete", name, check=False)  # takes its veth end along
        ip("link", "delete", pair.veths[0], check=False)  # if never moved into one


class NetnsNode:
    """``zion run`` inside network namespace ``ns``; its log goes to ``data_dir/node.log``."""

    def __init__(self, label: str, ns: str, host: str, peer: str, data_dir: Path) -> None:
        self.label = label
        self.ns = ns
        self.data_dir = data_dir
        data_dir.mkdir(parents=True)
        self.log_path = data_dir / "node.log"
        sets = [
            *BASE_SETS,
            "p2p.ipv4_prefix=32",
            f"p2p.bind={host}:{P2P_PORT}",
            f'p2p.peers=["{peer}:{P2P_PORT}"]',
            f"rpc.bind={RPC}",
        ]
        argv = [sys.executable, "-m", "zion_core", "run", "--network", "devnet"]
        argv += ["--data-dir", str(data_dir)]
        for plugin in PLUGINS:
            argv += ["--plugin", plugin]
        for item in sets:
            argv += ["--set", item]
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZION_")}
        env |= {"ZION_HOME": str(data_dir / "home"), "NO_COLOR": "1"}
        self._log: IO[str] = self.log_path.open("w")
        assert IP is not None
        # ``ip netns exec`` execs the command: the process is the node itself
        self.proc = subprocess.Popen(
            [IP, "netns", "exec", ns, *argv],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def tail(self, count: int = 30) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return f"--- node {self.label} ---\n" + "\n".join(lines[-count:])

    def rpc(self, method: str, params: Any = None) -> Any:
        """The result of ``method``; None when the node does not answer (yet)."""
        assert IP is not None
        call: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method}
        if params is not None:
            call["params"] = params
        url = f"http://{RPC}/json_rpc"
        done = subprocess.run(
            [IP, "netns", "exec", self.ns, sys.executable, "-c", RPC_CLIENT, url, json.dumps(call)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if done.returncode != 0:
            return None
        answer = json.loads(done.stdout)
        if "error" in answer:
            raise AssertionError(f"{method} on {self.label}: {answer['error']}")
        return answer["result"]

    def tip(self) -> tuple[int, str] | None:
        result = self.rpc("get_last_block_header")
        if result is None:
            return None
        header = result["block_header"]
        return int(header["height"]), str(header["hash"])

    def mine(self, count: int) -> list[str]:
        """``count`` blocks through ``get_block_template`` / ``submit_block``; their ids."""
        ids = []
        for _ in range(count):
            template = self.rpc(
                "get_block_template", {"wallet_address": ADDRESSES[self.label], "reserve_size": 0}
            )
            assert template is not None, self.tail()
            assert template["difficulty"] == 1  # the first blocks: any nonce will do
            accepted = self.rpc("submit_block", [template["blocktemplate_blob"]])
            assert accepted is not None and accepted["block_status"] == "connected", accepted
            ids.append(str(accepted["block_id"]))
        return ids

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, *nodes: NetnsNode) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        for node in nodes:
            if node.proc.poll() is not None:
                raise AssertionError(
                    f"node {node.label} exited while waiting for {what}\n" + node.tail()
                )
        if time.monotonic() > deadline:
            logs = "\n".join(node.tail() for node in nodes)
            raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{logs}")
        time.sleep(0.2)


def height(node: NetnsNode) -> int:
    tip = node.tip()
    assert tip is not None, node.tail()
    return tip[0]


def test_nodes_in_two_namespaces_sync_partition_and_converge(netns: Netns, tmp_path: Path) -> None:
    ns_a, ns_b = netns.names
    with contextlib.ExitStack() as running:  # each node is stopped, whatever happens
        a = NetnsNode("A", ns_a, SUBNET_HOSTS[0], SUBNET_HOSTS[1], tmp_path / "a")
        running.callback(a.stop)
        b = NetnsNode("B", ns_b, SUBNET_HOSTS[1], SUBNET_HOSTS[0], tmp_path / "b")
        running.callback(b.stop)
        wait_until(lambda: a.tip() is not None and b.tip() is not None, 90, "both RPCs", a, b)
        a.mine(5)
        wait_until(lambda: b.tip() == a.tip(), 60, "B to sync A's 5 blocks", a, b)
        assert height(a) == 5

        ip("-n", ns_a, "link", "set", netns.veths[0], "down")  # the partition
        a.mine(2)
        b_ids = b.mine(3)  # the heavier side
        time.sleep(1)
        assert height(a) == 7
        assert b.tip() == (8, b_ids[-1])  # nothing crossed

        ip("-n", ns_a, "link", "set", netns.veths[0], "up")
        wait_until(lambda: a.tip() == (8, b_ids[-1]), 90, "A to reorganise onto B's chain", a, b)
        a.mine(1)  # and blocks flow again, the other way
        wait_until(lambda: b.tip() == a.tip(), 60, "A's next block to reach B", a, b)
