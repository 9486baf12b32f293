"""P2P: initial sync and block propagation between two nodes, ZION against monerod.

Both systems run in one invocation, on 127.0.0.1 only, in interleaved rounds so that the
noise of a shared machine hits both alike:

1. **Initial sync.** Each system's node A holds a chain of ``--blocks`` N blocks (default
   600) above genesis. In each of ``--rounds`` rounds (3), for each system in turn (the
   order alternates from round to round), a fresh node B that knows only A starts and
   downloads the chain. Timed from B's start (the process is spawned) and, separately,
   from the first TCP connection between A's and B's P2P ports (A has no other peer),
   until B's height equals A's. Every ``--sync-poll-ms`` (20 ms) the kernel's table of
   established connections is read (netlink ``sock_diag``, as ``ss`` does: the same for
   both systems, and independent of when a node's API comes up; monerod's answers
   seconds after its P2P has connected) until the connection shows, and B's ``GET
   /get_height`` is polled. Reported: blocks per second (N over the time), the median
   over the rounds, B's CPU time per block and its memory.
2. **Block propagation.** Then, with the last round's B of each system still running,
   ``--propagation`` K times (default 30, after one untimed warm-up block per system), in
   turns: a new block is made on the miner (A; ``--miner b`` makes it on B), and the other
   node is polled (``GET /get_height``, one keep-alive connection, every ``--poll-ms``, 2
   ms) until it has it. The time runs from the miner's answer (it has connected the block
   by then) to the other node's answer showing the new height; the time from sending the
   request to the miner is reported beside it (it adds the miner's own check of the
   block). Median and p90 (nearest rank) over the K blocks; the receiver's tip id is
   checked against the miner's after each.

monerod (``--regtest --fixed-difficulty 1``, Debian's 0.18): A mines N blocks with
``generateblocks`` while ``--offline`` (not timed), then restarts on that chain
(``--keep-fakechain``) with P2P on 127.0.0.1. Every node names only the other side's ports
(``--add-exclusive-node``: no seed nodes, no DNS). Before the propagation A is restarted
once more: a regtest monerod counts itself synchronized only after meeting a peer that is
not behind it, and until then answers BUSY to ``generateblocks`` and drops the blocks its
peers relay. Propagation: ``generateblocks 1`` on the miner.

ZION (``zion run --network devnet`` with the ``consensus``, ``sqlite``, ``randomx``
(light mode), ``jsonrpc`` and ``p2p`` plugins): A's chain is built before any node starts,
in this process, straight into A's store (``chain.sqlite`` in its data directory, opened
with the sqlite plugin's backend and the consensus plugin's rules, every block checked
with RandomX in light mode, as a node does). Blocks are at difficulty 1, with timestamps
``--spacing`` seconds apart from the devnet genesis timestamp (default 60 s, the longest
solvetime LWMA-1 counts), so that LWMA keeps the difficulty at 1 through the propagation
blocks too, which are made at the wall clock's time (checked before starting: the run
stops if the difficulty would rise). Every node runs with the same ``[chain]`` overrides:
``initial_difficulty = 1`` and, with ``--seed-schedule monero`` (the default),
``seed_epoch = 2048, seed_lag = 64``, Monero's RandomX key schedule, which regtest monerod
uses: one key for the whole run, as on the monerod side. ``--seed-schedule devnet`` keeps
devnet's schedule (a new key every 32 blocks, each a 256 MiB cache to build). B is started
with ``p2p.peers = ["127.0.0.1:<A's port>"]``. Propagation: ``get_block_template`` on the
miner (not timed; difficulty 1, so the template as it comes is a valid block), then
``submit_block`` (timed from here).

Goals: **ZION sync blocks/s / monerod sync blocks/s >= 1.0** (medians over the rounds,
from B's first connection; from B's start shown beside it) and **ZION propagation median
<= monerod's**.

``--zion-without-p2p`` checks the ZION set-up alone (the chain built offline, A and B
started with their API and no ``p2p`` plugin, A's height, one block made on A through its
API): no figures, no monerod.

Every wait is bounded (``--time-limit`` for the whole run); every node is stopped at the
end, on errors, on Ctrl-C and on SIGTERM (and, on Linux, killed by the kernel should this
process die first). Nodes get fresh data directories in a temporary folder (``--keep DIR``
keeps them, with their logs).

Usage::

    uv run python benchmarks/bench_p2p.py --quick
    uv run python benchmarks/bench_p2p.py --json-out /tmp/bench_p2p.json
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import platform
import shutil
import socket
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Final

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

import provenance  # noqa: E402  (benchmarks/provenance.py)
from _daemons import (  # noqa: E402  (benchmarks/_daemons.py)
    ZION_NODE,
    Server,
    busy_cpu_seconds,
    free_port,
    log,
    machine,
    monero_address,
    monerod_server,
    monerod_version,
    proc_cpu,
    stopped_at_exit,
    zion_env,
)
from zion_plugin_randomx import RandomXConfig, RandomXCpu  # noqa: E402

from zion_core.chain.keys import WalletKeys  # noqa: E402
from zion_plugin_consensus import ChainConfig, ZionConsensus  # noqa: E402
from zion_plugin_consensus.difficulty import SOLVETIME_CLAMP, next_difficulty  # noqa: E402
from zion_plugin_consensus.params import DEVNET, NetworkParams  # noqa: E402
from zion_plugin_sqlite import SqliteBackend  # noqa: E402

GOAL_SYNC_RATIO = 1.0
"""ZION's sync rate over monerod's, at least."""
MB = 1_000_000
KEYS = WalletKeys.from_seed(bytes(32))
NETWORK: Final = "devnet"
SEED_SCHEDULES = {"monero": (2048, 64), "devnet": (DEVNET.seed_epoch, DEVNET.seed_lag)}
"""``[chain] seed_epoch, seed_lag`` of each ``--seed-schedule``; ``monero`` is what
monerod uses (regtest included)."""
LABELS = {"zion": "ZION", "monerod": "monerod"}
ZION_PLUGINS = ("consensus", "sqlite", "randomx", "jsonrpc")
WARMUP_BLOCKS = 1
"""Blocks made before the timed propagation samples (the miner's first block after a
start builds its RandomX cache)."""
CODE = [
    "plugins/consensus/zion_plugin_consensus/chain.py",
    "plugins/consensus/zion_plugin_consensus/service.py",
    "plugins/sqlite/zion_plugin_sqlite/store.py",
    "plugins/randomx/zion_plugin_randomx/backend.py",
    "plugins/jsonrpc/zion_plugin_jsonrpc/api.py",
]
"""The files measured besides the p2p plugin's (every module of it, listed at run time)."""

# -- a small JSON client --------------------------------------------------------------------


class RpcError(RuntimeError):
    """A node answered with an error, or not with what was asked for."""


class Rpc:
    """One keep-alive HTTP connection to a node's API, opened again after a failure."""

    def __init__(self, port: int, timeout: float = 600.0) -> None:
        self.port = port
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None

    def _request(self, verb: str, path: str, body: bytes | None) -> Any:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        try:
            self.conn.request(verb, path, body=body, headers=headers)
            response = self.conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        if response.status != 200:
            raise RpcError(f"{verb} {path}: HTTP {response.status}: {payload[:300]!r}")
        return json.loads(payload)

    def call(self, method: str, params: Any = None) -> dict[str, Any]:
        """A JSON-RPC call's result object (its ``status`` must be ``OK``)."""
        request: dict[str, Any] = {"jsonrpc": "2.0", "id": "0", "method": method}
        if params is not None:
            request["params"] = params
        answer = self._request("POST", "/json_rpc", json.dumps(request).encode())
        result = answer.get("result") if isinstance(answer, dict) else None
        if not isinstance(result, dict) or result.get("status") != "OK":
            raise RpcError(f"{method}: {json.dumps(answer)[:300]}")
        return result

    def tip(self) -> tuple[int, str]:
        """``GET /get_height``: the block count and the tip's id (hex)."""
        answer = self._request("GET", "/get_height", None)
        if not isinstance(answer, dict) or answer.get("status") != "OK":
            raise RpcError(f"/get_height: {json.dumps(answer)[:300]}")
        return int(answer["height"]), str(answer.get("hash", ""))

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


MakeBlock = Callable[[Rpc], tuple[str, Any]]
"""Given a client of the miner, the JSON-RPC call (method, params) that makes one block
there; what it does itself is not timed."""


# -- measurements ---------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def remaining(deadline: float, what: str) -> float:
    """Seconds left before ``deadline`` (monotonic); raise when none are."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError(f"--time-limit reached {what}")
    return left


def wait_idle(limit_s: float, quiet_cores: float = 0.25) -> float:
    """Wait up to ``limit_s`` for two seconds in which all processes together use at most
    ``quiet_cores``; the load of the last two seconds."""
    deadline = time.monotonic() + limit_s
    while True:
        busy0, t0 = busy_cpu_seconds(), time.perf_counter()
        time.sleep(2.0)
        load = (busy_cpu_seconds() - busy0) / (time.perf_counter() - t0)
        if load <= quiet_cores or time.monotonic() >= deadline:
            return load
        log(f"machine busy ({load:.2f} core): waiting for it to calm down")


@dataclass
class SyncRun:
    """What :func:`watch_sync` saw; instants in seconds after B's start."""

    blocks: int
    ready_s: float | None = None
    connected_s: float | None = None
    first_block_s: float | None = None
    done_s: float = 0.0
    polls: int = 0
    cpu_s: dict[str, float] = field(default_factory=dict)
    other_load_cores: float = 0.0

    def rate(self, since: float | None) -> float | None:
        if since is None or self.done_s <= since:
            return None
        return self.blocks / (self.done_s - since)

    def summary(self) -> dict[str, Any]:
        b_cpu = self.cpu_s.get("B", 0.0)
        return {
            "blocks": self.blocks,
            "seconds_from_start": self.done_s,
            "seconds_from_connection": (
                self.done_s - self.connected_s if self.connected_s is not None else None
            ),
            "rpc_ready_s": self.ready_s,
            "first_connection_s": self.connected_s,
            "first_block_s": self.first_block_s,
            "blocks_per_s_from_start": self.rate(0.0),
            "blocks_per_s_from_connection": self.rate(self.connected_s),
            "polls": self.polls,
            "cpu_s": self.cpu_s,
            "b_cpu_ms_per_block": b_cpu / self.blocks * 1e3 if self.blocks else None,
            "other_load_cores": self.other_load_cores,
        }


NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST_DUMP = 0x1 | 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
TCP_ESTABLISHED = 1


def established_ports() -> list[tuple[int, int]]:
    """(local port, remote port) of every established TCP connection of this network
    namespace, IPv4 and IPv6, asked of the kernel through netlink ``sock_diag`` (what
    ``ss`` does: about 0.3 ms, where reading ``/proc/net/tcp`` costs several ms of CPU)."""
    out: list[tuple[int, int]] = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as link:
        for family in (socket.AF_INET, socket.AF_INET6):
            # inet_diag_req_v2: family, protocol, extensions, pad, states; a zero socket id
            request = struct.pack(
                "=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 1 << TCP_ESTABLISHED
            ) + bytes(48)
            header = struct.pack(
                "=IHHII", 16 + len(request), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST_DUMP, 1, 0
            )
            link.send(header + request)
            done = False
            while not done:
                data = link.recv(65536)
                if not data:
                    break
                offset = 0
                while offset + 16 <= len(data):
                    length, kind = struct.unpack_from("=IH", data, offset)
                    if kind in (NLMSG_DONE, NLMSG_ERROR) or length < 16:
                        done = True
                        break
                    # inet_diag_msg: family, state, timer, retrans, then sport, dport (BE)
                    out.append(struct.unpack_from(">HH", data, offset + 16 + 4))
                    offset += (length + 3) & ~3
    return out


def connected(ports: set[int]) -> bool:
    """Whether an established TCP connection has an end at one of ``ports``: seen from
    outside the nodes, so the same for both systems, and before a node's API is up."""
    return any(local in ports or remote in ports for local, remote in established_ports())


def watch_sync(
    a: Server, b: Server, target: int, poll_s: float, deadline: float, started: float
) -> SyncRun:
    """Poll B, started at ``started`` (``perf_counter``), until its block count
    (``/get_height``) reaches ``target``; until then also watch for the first TCP
    connection between A's and B's P2P ports (A has no other peer)."""
    run = SyncRun(blocks=target - 1)
    client = Rpc(b.port, timeout=30)
    assert a.p2p_port is not None
    assert b.p2p_port is not None
    ports = {a.p2p_port, b.p2p_port}
    cpu0 = {"A": proc_cpu(a.pid), "B": proc_cpu(b.pid)}
    busy0, own0 = busy_cpu_seconds(), time.process_time()
    height = 0
    last_report = time.monotonic()
    try:
        while True:
            b.check_running()
            a.check_running()
            run.polls += 1
            if run.connected_s is None and connected(ports):
                run.connected_s = time.perf_counter() - started
            try:
                height, _ = client.tip()
            except (OSError, http.client.HTTPException, RpcError, ValueError):
                pass  # not up yet (or its chain not yet open)
            else:
                now = time.perf_counter() - started
                if run.ready_s is None:
                    run.ready_s = now
                if height > 1 and run.first_block_s is None:
                    run.first_block_s = now
                if height >= target:
                    run.done_s = now
                    break
            if time.monotonic() - last_report >= 10:
                last_report = time.monotonic()
                log(f"{b.name}: height {height} of {target}")
            remaining(deadline, f"while {b.name} synced (height {height} of {target})")
            time.sleep(poll_s)
    finally:
        client.close()
    wall = run.done_s
    run.cpu_s = {"A": proc_cpu(a.pid) - cpu0["A"], "B": proc_cpu(b.pid) - cpu0["B"]}
    other = busy_cpu_seconds() - busy0 - (time.process_time() - own0) - sum(run.cpu_s.values())
    run.other_load_cores = max(0.0, other / wall) if wall > 0 else 0.0
    return run


def wait_height(client: Rpc, target: int, poll_s: float, deadline: float, what: str) -> None:
    """Poll until ``client``'s node has ``target`` blocks (bounded by ``deadline``)."""
    while client.tip()[0] < target:
        remaining(deadline, what)
        time.sleep(poll_s)


def propagate_one(
    miner: Rpc, receiver: Rpc, make_block: MakeBlock, poll_s: float, deadline: float
) -> dict[str, float]:
    """Make one block on ``miner`` and time it until ``receiver`` has it."""
    height, top = miner.tip()
    wait_height(receiver, height, poll_s, deadline, "before a propagation sample")
    method, params = make_block(miner)
    sent = time.perf_counter()
    miner.call(method, params)
    answered = time.perf_counter()
    polls = 0
    while True:
        seen_height, seen_id = receiver.tip()
        if seen_height > height:
            seen = time.perf_counter()
            break
        polls += 1
        remaining(deadline, f"while waiting for block {height} to propagate")
        time.sleep(poll_s)
    made = miner.tip()
    if (seen_height, seen_id) != made or made[1] == top:
        raise RuntimeError(f"the receiver shows block {seen_height} {seen_id}; mined {made}")
    return {
        "from_answer_ms": (seen - answered) * 1e3,
        "from_request_ms": (seen - sent) * 1e3,
        "miner_answer_ms": (answered - sent) * 1e3,
        "polls": polls,
    }


def propagation_summary(samples: list[dict[str, float]]) -> dict[str, Any]:
    def stats(key: str) -> dict[str, float]:
        values = [s[key] for s in samples]
        return {
            "median_ms": statistics.median(values),
            "p90_ms": percentile(values, 90),
            "min_ms": min(values),
            "max_ms": max(values),
        }

    return {
        "samples": len(samples),
        "from_answer": stats("from_answer_ms"),
        "from_request": stats("from_request_ms"),
        "miner_answer": stats("miner_answer_ms"),
        "each": samples,
    }


@dataclass
class System:
    """One side of the comparison: its node A (running, with its chain) and how to make
    a fresh B, a block, and ready A for the propagation."""

    name: str
    a: Server
    new_b: Callable[[int], Server]
    """The node B of round ``r`` (not started)."""
    make_block: MakeBlock
    chain: dict[str, Any]
    before_propagation: Callable[[], Server] | None = None
    """Called once after the last sync; returns A as it is then (monerod restarts it)."""
    b: Server | None = None
    rounds: list[dict[str, Any]] = field(default_factory=list)
    samples: list[dict[str, float]] = field(default_factory=list)

    def sync_round(
        self, index: int, servers: list[Server], args: argparse.Namespace, deadline: float
    ) -> None:
        """Start a fresh B (the previous one is stopped) and time its sync from A."""
        if self.b is not None:
            self.b.stop()
        probe = Rpc(self.a.port)
        target = probe.tip()[0]
        probe.close()
        if args.wait_idle > 0:
            wait_idle(min(args.wait_idle, remaining(deadline, "before a sync")))
        b = self.b = self.new_b(index)
        log(f"round {index + 1}: starting {b.name}; {self.a.name} has {target} blocks")
        servers.append(b)
        started = time.perf_counter()
        b.start()
        run = watch_sync(self.a, b, target, args.sync_poll_ms / 1e3, deadline, started)
        summary = run.summary()
        summary["memory"] = {"B": b.record_memory("after sync")}
        self.rounds.append(summary)
        since = (
            f"{summary['seconds_from_connection']:.2f} s from its first connection "
            f"({summary['blocks_per_s_from_connection']:.1f} blocks/s)"
            if run.connected_s is not None
            else "no P2P connection seen"
        )
        log(
            f"{b.name}: {run.blocks} blocks in {run.done_s:.2f} s from its start "
            f"({summary['blocks_per_s_from_start']:.1f} blocks/s), {since}; other load "
            f"{run.other_load_cores:.2f} core"
        )

    def sync_summary(self) -> dict[str, Any]:
        """Medians over the rounds, and every round."""

        def median(key: str) -> float | None:
            values = [r[key] for r in self.rounds if r[key] is not None]
            return statistics.median(values) if values else None

        keys = (
            "blocks_per_s_from_connection",
            "blocks_per_s_from_start",
            "seconds_from_start",
            "first_connection_s",
            "b_cpu_ms_per_block",
            "other_load_cores",
        )
        return {
            "blocks": self.rounds[0]["blocks"],
            **{key: median(key) for key in keys},
            "memory": self.rounds[-1]["memory"],
            "rounds": self.rounds,
        }

    def pair(self, miner: str) -> tuple[Server, Server]:
        """(miner, receiver)."""
        assert self.b is not None
        return (self.a, self.b) if miner == "a" else (self.b, self.a)

    def result(self, miner: str) -> dict[str, Any]:
        source, receiver = self.pair(miner)
        return {
            "chain": self.chain,
            "sync": self.sync_summary(),
            "propagation": {
                "from": source.name,
                "to": receiver.name,
                **propagation_summary(self.samples),
            },
            "argv": {"A": self.a.argv, "B": self.b.argv if self.b else None},
        }


def run_propagation(systems: Sequence[System], args: argparse.Namespace, deadline: float) -> None:
    """Warm-up blocks, then ``args.propagation`` timed blocks per system, in turns."""
    clients: list[tuple[Rpc, Rpc]] = []
    for system in systems:
        if system.before_propagation is not None:
            system.a = system.before_propagation()
        source, receiver = system.pair(args.miner)
        clients.append((Rpc(source.port), Rpc(receiver.port, timeout=30)))
    poll = args.poll_ms / 1e3
    try:
        for system, (to_miner, to_receiver) in zip(systems, clients, strict=True):
            for _ in range(WARMUP_BLOCKS):
                propagate_one(to_miner, to_receiver, system.make_block, poll, deadline)
        for index in range(args.propagation):
            order = list(zip(systems, clients, strict=True))
            if index % 2:
                order.reverse()
            for system, (to_miner, to_receiver) in order:
                time.sleep(args.gap)
                system.samples.append(
                    propagate_one(to_miner, to_receiver, system.make_block, poll, deadline)
                )
    finally:
        for to_miner, to_receiver in clients:
            to_miner.close()
            to_receiver.close()
    for system in systems:
        prop = propagation_summary(system.samples)["from_answer"]
        source, receiver = system.pair(args.miner)
        log(
            f"{source.name} to {receiver.name}: propagation median {prop['median_ms']:.1f} ms, "
            f"p90 {prop['p90_ms']:.1f} ms over {len(system.samples)} blocks"
        )


# -- ZION -----------------------------------------------------------------------------------


def chain_overrides(seed_schedule: str) -> dict[str, int]:
    """The ``[chain]`` overrides every ZION node runs with (and the chain is built with)."""
    epoch, lag = SEED_SCHEDULES[seed_schedule]
    return {"initial_difficulty": 1, "seed_epoch": epoch, "seed_lag": lag}


def zion_params(seed_schedule: str) -> NetworkParams:
    return ZionConsensus(ChainConfig(**chain_overrides(seed_schedule))).params(NETWORK)


def check_difficulty(params: NetworkParams, blocks: int, spacing: int, extra: int) -> None:
    """Stop unless LWMA-1 keeps difficulty 1 for ``blocks`` blocks ``spacing`` seconds
    apart and then ``extra`` blocks one second apart (the shortest solvetime LWMA counts:
    what blocks made at the wall clock's time, several a second, come to), and unless the
    last of the ``blocks`` is in the past."""
    window = params.difficulty_window
    timestamps = [params.genesis_timestamp]
    for height in range(1, blocks + extra + 1):
        history = timestamps[-(window + 1) :]
        cumulative = list(range(len(history)))  # every block of difficulty 1
        got = next_difficulty(
            history,
            cumulative,
            target=params.target_seconds,
            window=window,
            guess=params.initial_difficulty,
        )
        if got != 1:
            raise SystemExit(
                f"LWMA would set difficulty {got} at height {height}: use a larger "
                f"--spacing (at most {SOLVETIME_CLAMP * params.target_seconds}) or a "
                "smaller --propagation"
            )
        timestamps.append(timestamps[-1] + (spacing if height <= blocks else 1))
    ahead = params.genesis_timestamp + blocks * spacing - time.time()
    if ahead > 0:
        raise SystemExit(
            f"the chain's last timestamp would be {ahead:.0f} s in the future: use a "
            "smaller --spacing or fewer --blocks"
        )


def build_zion_chain(
    data_dir: Path, seed_schedule: str, blocks: int, spacing: int
) -> dict[str, Any]:
    """A chain of ``blocks`` blocks above the devnet genesis in ``data_dir/chain.sqlite``,
    built as a node would (sqlite store, the consensus rules with the benchmark's
    overrides, RandomX light mode), timestamps ``spacing`` seconds apart."""
    rules = ZionConsensus(ChainConfig(**chain_overrides(seed_schedule)))
    store = SqliteBackend().open(data_dir / "chain.sqlite", create=True)
    hasher = RandomXCpu(RandomXConfig(mode="light"))
    began = time.perf_counter()
    try:
        chain = rules.open_chain(NETWORK, store, hasher)
        timestamp = chain.genesis.header.timestamp
        spend, view = KEYS.spend.public_key, KEYS.view.public_key
        for height in range(1, blocks + 1):
            timestamp += spacing
            template = chain.template(spend, view, timestamp=timestamp)
            if template.difficulty != 1 or template.block.header.timestamp != timestamp:
                raise RuntimeError(
                    f"block {height}: difficulty {template.difficulty}, timestamp "
                    f"{template.block.header.timestamp} (expected 1 and {timestamp})"
                )
            result = chain.add_block(template.block)
            if result.status != "connected":
                raise RuntimeError(f"block {height}: {result.status}")
            if height % 100 == 0:
                log(f"zion chain: {height} of {blocks} blocks")
        top = chain.tip_id.hex()
    finally:
        store.close()
        hasher.close()
    return {"blocks": blocks, "seconds": time.perf_counter() - began, "top_id": top}


def zion_node(
    name: str, workdir: Path, seed_schedule: str, *, p2p: bool, peers: Sequence[int] = ()
) -> Server:
    """A devnet node on loopback ports, with the benchmark's ``[chain]`` overrides; with
    ``p2p``, listening for peers and connecting to ``peers`` (ports on 127.0.0.1)."""
    port = free_port()
    p2p_port = free_port() if p2p else None
    argv = [
        sys.executable,
        "-c",
        ZION_NODE,
        "run",
        "--network",
        NETWORK,
        "--data-dir",
        str(workdir / "data"),
    ]
    for plugin in (*ZION_PLUGINS, "p2p") if p2p else ZION_PLUGINS:
        argv += ["--plugin", plugin]
    for key, value in chain_overrides(seed_schedule).items():
        argv += ["--set", f"chain.{key}={value}"]
    argv += ["--set", f"rpc.bind=127.0.0.1:{port}"]
    if p2p:
        argv += ["--set", f"p2p.bind=127.0.0.1:{p2p_port}"]
        if peers:
            listed = ", ".join(f'"127.0.0.1:{peer}"' for peer in peers)
            argv += ["--set", f"p2p.peers=[{listed}]"]
    address = str(KEYS.address(NETWORK))
    return Server(name, "zion", argv, port, workdir, address, env=zion_env(), p2p_port=p2p_port)


def zion_block_call(address: str) -> MakeBlock:
    """Fetch a template from the miner (difficulty 1: valid as it comes); the call
    submits it."""
    template_params = {"wallet_address": address, "reserve_size": 8}

    def make_block(client: Rpc) -> tuple[str, Any]:
        template = client.call("get_block_template", template_params)
        if int(template["difficulty"]) != 1:
            raise RuntimeError(
                f"difficulty {template['difficulty']} at height {template['height']}"
            )
        return "submit_block", [template["blocktemplate_blob"]]

    return make_block


def start_zion_a(
    args: argparse.Namespace, workdir: Path, servers: list[Server], deadline: float
) -> tuple[Server, dict[str, Any]]:
    """Build A's chain, then start A on it."""
    a = zion_node("zion-a", workdir / "a", args.seed_schedule, p2p=not args.zion_without_p2p)
    log(f"zion: building a chain of {args.blocks} blocks in {a.workdir / 'data'}")
    built = build_zion_chain(a.workdir / "data", args.seed_schedule, args.blocks, args.spacing)
    log(f"zion: chain built in {built['seconds']:.1f} s")
    servers.append(a)
    a.start()
    a.wait_ready(min(180.0, remaining(deadline, "starting zion-a")))
    client = Rpc(a.port)
    tip = client.tip()
    client.close()
    if tip != (args.blocks + 1, built["top_id"]):
        raise RuntimeError(f"zion-a is at {tip}; the chain built: {built}")
    return a, built


def zion_system(
    args: argparse.Namespace, workdir: Path, servers: list[Server], deadline: float
) -> System:
    a, built = start_zion_a(args, workdir, servers, deadline)
    assert a.p2p_port is not None
    peers = [a.p2p_port]

    def new_b(index: int) -> Server:
        return zion_node(
            f"zion-b{index + 1}",
            workdir / f"b{index + 1}",
            args.seed_schedule,
            p2p=True,
            peers=peers,
        )

    return System("zion", a, new_b, zion_block_call(a.address), built)


def check_zion_setup(
    args: argparse.Namespace, workdir: Path, servers: list[Server], deadline: float
) -> dict[str, Any]:
    """Without the p2p plugin: A starts on its chain, B with genesis only, and A makes a
    block through its API."""
    a, built = start_zion_a(args, workdir, servers, deadline)
    b = zion_node("zion-b", workdir / "b", args.seed_schedule, p2p=False)
    servers.append(b)
    b.start()
    b.wait_ready(min(180.0, remaining(deadline, "starting zion-b")))
    a_client, b_client = Rpc(a.port), Rpc(b.port)
    try:
        b_height = b_client.tip()[0]
        if b_height != 1:
            raise RuntimeError(f"zion-b: height {b_height}, expected genesis only")
        method, params = zion_block_call(a.address)(a_client)
        sent = time.perf_counter()
        a_client.call(method, params)
        submit_ms = (time.perf_counter() - sent) * 1e3
        height = a_client.tip()[0]
    finally:
        a_client.close()
        b_client.close()
    if height != args.blocks + 2:
        raise RuntimeError(f"zion-a: height {height} after one more block")
    log(f"zion set-up check passed: A at {height} blocks, B at genesis")
    return {
        "chain": built,
        "setup_check": {"a_height": height, "b_height": b_height, "submit_ms": submit_ms},
    }


# -- monerod --------------------------------------------------------------------------------


def monerod_system(
    args: argparse.Namespace,
    monerod: str,
    workdir: Path,
    servers: list[Server],
    deadline: float,
) -> System:
    """A mines its chain offline, then restarts on it online; each round's B knows only
    A, and A only the B ports (one per round, chosen now)."""
    address = monero_address(KEYS)
    port_a = free_port()
    b_ports = [free_port() for _ in range(args.rounds)]

    def node_a(online: bool) -> Server:
        return monerod_server(
            monerod,
            workdir / "a",
            address,
            name="monerod-a",
            p2p_port=port_a,
            peers=b_ports if online else (),
            keep_chain=online,
        )

    builder = node_a(online=False)
    servers.append(builder)
    builder.start()
    builder.wait_ready(min(180.0, remaining(deadline, "starting monerod-a")))
    client = Rpc(builder.port)
    log(f"monerod: generating {args.blocks} blocks on {builder.name} (offline)")
    began = time.perf_counter()
    left = args.blocks
    while left > 0:
        step = min(left, 100)
        params = {"amount_of_blocks": step, "wallet_address": address, "starting_nonce": 0}
        client.call("generateblocks", params)
        left -= step
        remaining(deadline, "while monerod-a generated its chain")
    built: dict[str, Any] = {"blocks": args.blocks, "seconds": time.perf_counter() - began}
    tip = client.tip()
    client.close()
    if tip[0] != args.blocks + 1:
        raise RuntimeError(f"monerod-a: {tip} after generating {args.blocks} blocks")
    built["top_id"] = tip[1]
    log(f"monerod: chain built in {built['seconds']:.1f} s")

    def restart_a() -> Server:
        for server in servers:
            if server.name == "monerod-a":
                server.stop()
        a = node_a(online=True)
        servers.append(a)
        a.start()
        a.wait_ready(min(180.0, remaining(deadline, "starting monerod-a")))
        client = Rpc(a.port)
        restarted = client.tip()
        client.close()
        if restarted[0] < tip[0]:
            raise RuntimeError(f"monerod-a restarted at {restarted}, not {tip}")
        return a

    def new_b(index: int) -> Server:
        return monerod_server(
            monerod,
            workdir / f"b{index + 1}",
            address,
            name=f"monerod-b{index + 1}",
            p2p_port=b_ports[index],
            peers=[port_a],
        )

    def before_propagation() -> Server:
        log("monerod: restarting monerod-a (it counts itself synchronized only then)")
        a = restart_a()
        wait_synchronized(a, deadline)
        return a

    params = {"amount_of_blocks": 1, "wallet_address": address, "starting_nonce": 0}
    return System(
        "monerod",
        restart_a(),
        new_b,
        lambda _client: ("generateblocks", params),
        built,
        before_propagation,
    )


def wait_synchronized(server: Server, deadline: float) -> None:
    """Poll ``get_info`` until the node says it is synchronized and has a peer."""
    client = Rpc(server.port, timeout=30)
    try:
        while True:
            info = client.call("get_info")
            peers = info["outgoing_connections_count"] + info["incoming_connections_count"]
            if info["synchronized"] and peers:
                return
            remaining(deadline, f"while waiting for {server.name} to be synchronized")
            time.sleep(0.1)
    finally:
        client.close()


# -- the run --------------------------------------------------------------------------------


def code_version() -> dict[str, Any]:
    """The commit and the hashes of the files measured."""
    p2p = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "plugins" / "p2p" / "zion_plugin_p2p").glob("*.py")
    )
    return provenance.code_version([*CODE, *p2p])


def versions(monerod: str | None) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("zion", "zion-plugin-p2p", "zion-plugin-randomx", "anyio", "hypercorn"):
        with contextlib.suppress(PackageNotFoundError):
            out[dist] = version(dist)
    if monerod:
        out["monerod"] = monerod_version(monerod)
    return out


def verdict(results: dict[str, Any]) -> dict[str, Any]:
    """Ratios ZION / monerod and the goals (empty unless both were measured)."""
    zion, monero = results.get("zion"), results.get("monerod")
    if not zion or not monero or "sync" not in zion:
        return {}

    def ratio(key: str) -> float | None:
        z, m = zion["sync"][key], monero["sync"][key]
        return z / m if z is not None and m else None

    z_prop, m_prop = zion["propagation"]["from_answer"], monero["propagation"]["from_answer"]
    judged, from_start = ratio("blocks_per_s_from_connection"), ratio("blocks_per_s_from_start")
    return {
        "sync_ratio_from_connection": judged,
        "sync_ratio_from_start": from_start,
        "sync_goal_met": judged >= GOAL_SYNC_RATIO if judged is not None else None,
        "sync_goal_met_from_start": (
            from_start >= GOAL_SYNC_RATIO if from_start is not None else None
        ),
        "propagation_median_ratio": z_prop["median_ms"] / m_prop["median_ms"],
        "propagation_p90_ratio": z_prop["p90_ms"] / m_prop["p90_ms"],
        "propagation_goal_met": z_prop["median_ms"] <= m_prop["median_ms"],
    }


def markdown(results: dict[str, Any]) -> str:
    """The summary table and the verdicts."""
    check = results.get("zion", {}).get("setup_check")
    if check is not None:
        return (
            f"ZION set-up without p2p: A at {check['a_height']} blocks after one more made "
            f"through its API ({check['submit_ms']:.0f} ms), B at genesis: passed (no figures)"
        )
    systems = {k: results[k] for k in ("zion", "monerod") if "sync" in results.get(k, {})}
    if not systems:
        return "no measurement"
    both = len(systems) == 2

    def cell(value: float | None, fmt: str) -> str:
        return "—" if value is None else format(value, fmt)

    def row(label: str, values: list[float | None], fmt: str, ratio: bool) -> str:
        line = f"| {label} | " + " | ".join(cell(v, fmt) for v in values) + " |"
        if both:
            z, m = values
            line += f" {cell(z / m if ratio and z is not None and m else None, '.2f')} |"
        return line

    lines = [
        "| measure | "
        + " | ".join(LABELS[name] for name in systems)
        + " |"
        + (" ZION / monerod |" if both else ""),
        "| --- |" + " --- |" * (len(systems) + both),
    ]
    for label, key, fmt, ratio in (
        ("sync, blocks/s from B's first connection", "blocks_per_s_from_connection", ".1f", True),
        ("sync, blocks/s from B's start", "blocks_per_s_from_start", ".1f", True),
        ("sync, s from B's start", "seconds_from_start", ".2f", False),
        ("B's first connection, s after its start", "first_connection_s", ".2f", False),
        ("B's CPU per block synced, ms", "b_cpu_ms_per_block", ".1f", True),
        ("other load during the sync, cores", "other_load_cores", ".2f", False),
    ):
        lines.append(row(label, [d["sync"][key] for d in systems.values()], fmt, ratio))
    for label, key in (
        ("from the miner's answer", "from_answer"),
        ("from the request to the miner", "from_request"),
    ):
        for stat in ("median", "p90"):
            values = [d["propagation"][key][f"{stat}_ms"] for d in systems.values()]
            lines.append(row(f"propagation {stat}, ms, {label}", values, ".1f", True))
    lines.append("")
    for name, data in systems.items():
        sync, prop = data["sync"], data["propagation"]
        rss = sync["memory"]["B"]
        per_round = ", ".join(
            cell(r["blocks_per_s_from_connection"], ".1f") for r in sync["rounds"]
        )
        lines.append(
            f"- {LABELS[name]}: chain of {data['chain']['blocks']} blocks built in "
            f"{data['chain']['seconds']:.1f} s; sync rounds (blocks/s from the first "
            f"connection): {per_round}; last B after its sync: VmRSS "
            f"{rss.get('VmRSS', 0) / MB:.0f} MB, VmHWM {rss.get('VmHWM', 0) / MB:.0f} MB; "
            f"{prop['samples']} blocks from {prop['from']} to {prop['to']}"
        )
    v = results.get("verdict") or {}
    if v:

        def met(flag: bool | None) -> str:
            return "n/a" if flag is None else ("met" if flag else "NOT met")

        lines += [
            f"- sync, ZION / monerod blocks/s ≥ {GOAL_SYNC_RATIO} from B's first connection: "
            f"{met(v['sync_goal_met'])} (from B's start: {met(v['sync_goal_met_from_start'])})",
            f"- propagation, ZION median ≤ monerod median: {met(v['propagation_goal_met'])}",
        ]
    return "\n".join(lines)


def bench(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    deadline = time.monotonic() + args.time_limit
    monerod = None
    if "monerod" in args.only and not args.zion_without_p2p:
        monerod = args.monerod or shutil.which("monerod")
        if not monerod:
            log("monerod not found: measuring ZION alone, no ratios")
    results: dict[str, Any] = {
        "command": " ".join(["uv run python benchmarks/bench_p2p.py", *sys.argv[1:]]),
        "machine": machine(),
        "versions": versions(monerod),
        "code": code_version(),
        "settings": {
            "blocks": args.blocks,
            "rounds": args.rounds,
            "propagation": args.propagation,
            "warmup_blocks": WARMUP_BLOCKS,
            "miner": args.miner.upper(),
            "spacing_s": args.spacing,
            "seed_schedule": args.seed_schedule,
            "chain_overrides": chain_overrides(args.seed_schedule),
            "poll_ms": args.poll_ms,
            "sync_poll_ms": args.sync_poll_ms,
            "gap_s": args.gap,
            "monerod": monerod,
            "zion_without_p2p": args.zion_without_p2p,
        },
    }
    servers: list[Server] = []
    with stopped_at_exit(servers):
        if args.zion_without_p2p:
            results["zion"] = check_zion_setup(args, workdir / "zion", servers, deadline)
            return results
        systems: list[System] = []
        if "zion" in args.only:
            systems.append(zion_system(args, workdir / "zion", servers, deadline))
        if monerod:
            systems.append(monerod_system(args, monerod, workdir / "monerod", servers, deadline))
        for index in range(args.rounds):
            for system in systems if index % 2 == 0 else systems[::-1]:
                system.sync_round(index, servers, args, deadline)
        run_propagation(systems, args, deadline)
        for system in systems:
            results[system.name] = system.result(args.miner)
    results["machine"]["loadavg_end"] = os.getloadavg()
    results["verdict"] = verdict(results)
    return results


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: N=100, K=5, 1 round")
    parser.add_argument("--blocks", type=int, help="N, blocks to sync (600; quick: 100)")
    parser.add_argument("--rounds", type=int, help="syncs per system (3; quick: 1)")
    parser.add_argument(
        "--propagation", type=int, help="K, blocks timed for propagation (30; quick: 5)"
    )
    parser.add_argument(
        "--only", default="zion,monerod", help="comma-separated: zion, monerod (both)"
    )
    parser.add_argument("--monerod", help="monerod binary (default: monerod on PATH)")
    parser.add_argument(
        "--miner",
        choices=("a", "b"),
        default="a",
        help="the node that makes the propagation blocks (a: A to B; b: B to A)",
    )
    parser.add_argument(
        "--spacing", type=int, default=60, help="ZION chain: seconds between timestamps (60)"
    )
    parser.add_argument(
        "--seed-schedule",
        choices=sorted(SEED_SCHEDULES),
        default="monero",
        help="ZION RandomX key schedule: monero (2048/64, as monerod) or devnet (32/4)",
    )
    parser.add_argument("--poll-ms", type=float, default=2.0, help="propagation poll (2 ms)")
    parser.add_argument("--sync-poll-ms", type=float, default=20.0, help="sync poll (20 ms)")
    parser.add_argument(
        "--gap", type=float, default=0.5, help="seconds before each propagation sample (0.5)"
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        help="before each sync, wait up to this long for a quiet machine (30 s; quick: 0)",
    )
    parser.add_argument(
        "--time-limit", type=float, default=1800.0, help="stop with an error after this (1800 s)"
    )
    parser.add_argument(
        "--zion-without-p2p",
        action="store_true",
        help="check the ZION set-up without the p2p plugin (no figures, no monerod)",
    )
    parser.add_argument("--keep", type=Path, help="keep the nodes' data and logs here")
    parser.add_argument("--json-out", type=Path, help="also write every result here")
    parser.add_argument("--fail-on-goal", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)
    args.blocks = args.blocks or (100 if args.quick else 600)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.propagation = args.propagation or (5 if args.quick else 30)
    if args.wait_idle is None:
        args.wait_idle = 0.0 if args.quick else 30.0
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    if not args.only or set(args.only) - {"zion", "monerod"}:
        parser.error("--only: zion, monerod or both")
    if args.monerod and not Path(args.monerod).exists():
        parser.error(f"--monerod {args.monerod}: no such file")
    if args.blocks < 1 or args.propagation < 1 or args.rounds < 1:
        parser.error("--blocks, --rounds and --propagation must be positive")
    if not 1 <= args.spacing <= SOLVETIME_CLAMP * DEVNET.target_seconds:
        parser.error(f"--spacing: 1 to {SOLVETIME_CLAMP * DEVNET.target_seconds}")
    if args.poll_ms <= 0 or args.sync_poll_ms <= 0 or args.gap < 0:
        parser.error("--poll-ms and --sync-poll-ms must be positive, --gap not negative")
    if "zion" in args.only:
        extra = 1 if args.zion_without_p2p else WARMUP_BLOCKS + args.propagation
        check_difficulty(zion_params(args.seed_schedule), args.blocks, args.spacing, extra)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="zion-bench-p2p-"))
    try:
        results = bench(args, workdir)
    except KeyboardInterrupt:
        log("interrupted: nodes stopped")
        return 130
    finally:
        if args.keep:
            shutil.copytree(workdir, args.keep, dirs_exist_ok=True)
        shutil.rmtree(workdir, ignore_errors=True)
    print(markdown(results))
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2) + "\n")
        log(f"wrote {args.json_out}")
    v = results.get("verdict") or {}
    missed = v and (v["sync_goal_met"] is False or v["propagation_goal_met"] is False)
    return 1 if args.fail_on_goal and missed else 0


if __name__ == "__main__":
    sys.exit(main())
