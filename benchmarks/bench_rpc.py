"""Node API latency and memory: ZION's JSON-RPC server against monerod, side by side.

Starts, in one run, a ZION devnet node with the API (``zion run --network devnet --plugin
randomx --plugin sqlite --plugin jsonrpc``, difficulty 1, light-mode RandomX) and monerod
in regtest mode (``--regtest --offline --fixed-difficulty 1``), gives each a few dozen
blocks of history (ZION: ``get_block_template`` then ``submit_block`` through its own API,
every block checked with RandomX; monerod: ``generateblocks``), then times, over ONE
keep-alive HTTP/1.1 connection per server (``http.client``):

- JSON-RPC ``get_info``;
- JSON-RPC ``get_block_template`` with a wallet address and ``reserve_size`` 8 (a ZION
  devnet address for ZION, the same keys as a Monero mainnet-format address for monerod,
  which regtest uses);
- JSON-RPC ``get_last_block_header``;
- ``GET /get_height``.

A latency is the time from sending the request to having read the whole response body
(the client parses and checks every response outside the timed part). Calls run in
rounds: within a round, each method gets a block of ``--block`` calls on each server in
turn, the order of methods and servers rotating from round to round, so that the noise of
a shared machine hits every server alike. A warm-up of the same shape comes first and is
not counted. The client's garbage collector is off while timing.

Reported per method and server: p50, p99, mean and max; ZION p50 / monerod p50; the
server's CPU time per call (from ``/proc/<pid>/stat``, all its threads). Each round also
records the CPU time that other processes used meanwhile (/proc/stat less this process and
the servers); the p99 over the quiet rounds alone (at most 0.25 core of other load) is
shown beside the p99 over all rounds when they hold at least 500 calls per method.
``--wait-idle`` first waits, up to a limit, for two quiet seconds. Memory: VmRSS
and VmHWM (peak) of each server process, from ``/proc/<pid>/status``, idle after start,
after building the history and at the end of the latency run. The node processes are
started directly with this interpreter (no ``uv run`` wrapper in between), so the pid
measured is the node's.

Goals, judged on the first ZION server of ``--server``:

- ZION p50 / monerod p50 <= 1.0 for every method;
- ZION p99 <= 5 ms for every method;
- node RSS <= 400 MB (10^6 bytes), at the end of the run and at its peak.

``--server`` also runs the same node with its HTTP server swapped (``rpc_uvicorn.py``
beside this file) or on trio, measured in the same rounds:

- ``hypercorn``: what ``zion run`` serves with (asyncio);
- ``hypercorn-trio``: the same on trio (``runtime.async_backend=trio``);
- ``uvicorn``: uvicorn with its h11 parser (the parser Hypercorn uses);
- ``uvicorn-httptools``: uvicorn with httptools (uvicorn's default when installed).

uvicorn is not a dependency of the project (it serves asyncio only). Install it for the
measurement only, either into the environment (``uv pip install uvicorn httptools``; the
next ``uv sync`` removes it again) or into a folder of its own, handed to the uvicorn
runner on its ``PYTHONPATH``::

    uv pip install --no-deps --target /tmp/zion-uvicorn uvicorn httptools
    uv run python benchmarks/bench_rpc.py --server hypercorn,uvicorn \\
        --uvicorn-path /tmp/zion-uvicorn

Without monerod (not installed, or ``--no-monerod``) ZION is measured alone and the
ratios are left out. Every server is stopped at the end, on errors and on Ctrl-C or
SIGTERM (and, on Linux, killed by the kernel should this process die first). The run is
bounded by ``--time-limit``.

Usage::

    uv run python benchmarks/bench_rpc.py --quick
    uv run python benchmarks/bench_rpc.py --server hypercorn,uvicorn,uvicorn-httptools \\
        --json /tmp/bench_rpc.json
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import http.client
import importlib.machinery
import importlib.util
import json
import math
import os
import platform
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, distributions, version
from pathlib import Path
from typing import Any

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

from zion_core.chain.keys import WalletKeys  # noqa: E402

GOAL_RATIO = 1.0
GOAL_P99_MS = 5.0
GOAL_RSS_MB = 400.0
MB = 1_000_000
QUIET = 0.25
"""Rounds in which other processes used at most this many cores count as quiet."""
MIN_QUIET_CALLS = 500
"""Fewer calls than this in quiet rounds (per method and server) give no quiet figures."""

METHODS = ("get_info", "get_block_template", "get_last_block_header", "GET /get_height")
SERVERS = ("hypercorn", "hypercorn-trio", "uvicorn", "uvicorn-httptools")
KEYS = WalletKeys.from_seed(bytes(32))
CODE = [
    "plugins/jsonrpc/zion_plugin_jsonrpc/app.py",
    "plugins/jsonrpc/zion_plugin_jsonrpc/api.py",
    "plugins/jsonrpc/zion_plugin_jsonrpc/service.py",
    "plugins/consensus/zion_plugin_consensus/chain.py",
    "plugins/consensus/zion_plugin_consensus/service.py",
    "plugins/sqlite/zion_plugin_sqlite/store.py",
]


def zion_address() -> str:
    """The devnet address of the benchmark's wallet."""
    return str(KEYS.address("devnet"))


def zion_server(kind: str, workdir: Path, uvicorn_path: Path | None = None) -> Server:
    """A devnet node serving the API with ``kind`` (one of :data:`SERVERS`); uvicorn from
    ``uvicorn_path`` when given, else from this environment."""
    port = free_port()
    node_args = [
        "run",
        "--network",
        "devnet",
        "--data-dir",
        str(workdir / "data"),
        "--plugin",
        "randomx",
        "--plugin",
        "sqlite",
        "--plugin",
        "jsonrpc",
        "--set",
        f"rpc.bind=127.0.0.1:{port}",
        "--set",
        "chain.initial_difficulty=1",
    ]
    if kind == "hypercorn":
        argv = [sys.executable, "-c", ZION_NODE, *node_args]
    elif kind == "hypercorn-trio":
        argv = [sys.executable, "-c", ZION_NODE, *node_args, "--set", "runtime.async_backend=trio"]
    elif kind in ("uvicorn", "uvicorn-httptools"):
        http = "httptools" if kind == "uvicorn-httptools" else "h11"
        argv = [sys.executable, str(HERE / "rpc_uvicorn.py"), "--http", http, *node_args]
    else:
        raise ValueError(f"unknown server {kind!r}")
    env = zion_env()
    if uvicorn_path is not None and kind.startswith("uvicorn"):
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(uvicorn_path), env.get("PYTHONPATH", "")) if p
        )
    return Server(f"zion/{kind}", kind, argv, port, workdir, zion_address(), env=env)


# -- HTTP -----------------------------------------------------------------------------------


class CountingConnection(http.client.HTTPConnection):
    """An ``HTTPConnection`` that counts the TCP connections it opens."""

    opened = 0

    def connect(self) -> None:
        super().connect()
        self.opened += 1
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


@dataclass(frozen=True)
class Call:
    """One prepared request."""

    verb: str
    path: str
    body: bytes | None

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json"} if self.body is not None else {}


def rpc_call(method: str, params: Any = None) -> Call:
    payload: dict[str, Any] = {"jsonrpc": "2.0", "id": "0", "method": method}
    if params is not None:
        payload["params"] = params
    return Call("POST", "/json_rpc", json.dumps(payload).encode())


def calls_for(server: Server) -> dict[str, Call]:
    """The four timed requests, for ``server``'s wallet address."""
    template = {"wallet_address": server.address, "reserve_size": 8}
    return {
        "get_info": rpc_call("get_info"),
        "get_block_template": rpc_call("get_block_template", template),
        "get_last_block_header": rpc_call("get_last_block_header"),
        "GET /get_height": Call("GET", "/get_height", None),
    }


class Client:
    """One keep-alive connection to one server."""

    def __init__(self, port: int) -> None:
        self.conn = CountingConnection("127.0.0.1", port, timeout=30)

    def send(self, call: Call) -> tuple[int, bytes]:
        """Send ``call`` and read the whole answer. Should the server have closed the
        connection, it is opened again once (which counts in ``conn.opened``)."""
        try:
            return self._send(call)
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            self.conn.close()
            return self._send(call)

    def _send(self, call: Call) -> tuple[int, bytes]:
        self.conn.request(call.verb, call.path, body=call.body, headers=call.headers)
        response = self.conn.getresponse()
        return response.status, response.read()

    def result(self, call: Call) -> dict[str, Any]:
        """Send ``call``; its checked result object."""
        return check(call, *self.send(call))

    def close(self) -> None:
        self.conn.close()


def check(call: Call, status: int, body: bytes) -> dict[str, Any]:
    """The result object of a successful answer; raise on anything else."""
    if status != 200:
        raise RuntimeError(f"{call.verb} {call.path}: HTTP {status}: {body[:300]!r}")
    payload = json.loads(body)
    result = payload.get("result") if call.path == "/json_rpc" else payload
    if not isinstance(result, dict) or result.get("status") != "OK":
        raise RuntimeError(f"{call.verb} {call.path} {call.body!r}: {body[:300]!r}")
    return result


# -- history --------------------------------------------------------------------------------


def zion_history(client: Client, address: str, blocks: int) -> None:
    """Mine ``blocks`` blocks through the API (difficulty 1: the template itself solves)."""
    template_call = rpc_call("get_block_template", {"wallet_address": address, "reserve_size": 8})
    for _ in range(blocks):
        template = client.result(template_call)
        if template["difficulty"] != 1:
            raise RuntimeError(
                f"difficulty {template['difficulty']} at height {template['height']}: "
                "use fewer --blocks (devnet keeps difficulty 1 for its first 60 blocks)"
            )
        client.result(rpc_call("submit_block", [template["blocktemplate_blob"]]))


def monerod_history(client: Client, address: str, blocks: int) -> None:
    """``generateblocks`` (regtest only) to ``address``."""
    params = {"amount_of_blocks": blocks, "wallet_address": address, "starting_nonce": 0}
    client.result(rpc_call("generateblocks", params))


def height(client: Client) -> int:
    value: int = client.result(Call("GET", "/get_height", None))["height"]
    return value


# -- latency --------------------------------------------------------------------------------


def percentile(ordered: Sequence[int], p: float) -> int:
    """Nearest-rank percentile of sorted values."""
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class Samples:
    """Latencies (ns), the round of each, and server CPU seconds, of one method on one server."""

    ns: list[int] = field(default_factory=list)
    round_of: list[int] = field(default_factory=list)
    cpu_s: float = 0.0

    def stats(self, rounds: set[int] | None = None) -> dict[str, float]:
        """Percentiles (ms) over every sample, or over those of ``rounds``."""
        ordered = sorted(
            ns
            for ns, r in zip(self.ns, self.round_of, strict=True)
            if rounds is None or r in rounds
        )
        n = len(ordered)
        if n == 0 or (rounds is not None and n < MIN_QUIET_CALLS):
            return {"calls": n}
        out = {
            "calls": n,
            "p50_ms": percentile(ordered, 50) / 1e6,
            "p90_ms": percentile(ordered, 90) / 1e6,
            "p99_ms": percentile(ordered, 99) / 1e6,
            "mean_ms": sum(ordered) / n / 1e6,
            "min_ms": ordered[0] / 1e6,
            "max_ms": ordered[-1] / 1e6,
        }
        if rounds is None:
            out["server_cpu_us_per_call"] = self.cpu_s / n * 1e6
        return out


@dataclass
class Rounds:
    """What :func:`run_rounds` measured."""

    samples: dict[str, dict[str, Samples]]
    other_load: list[float]
    """The CPU that other processes used during each round, in cores."""
    wall_s: float
    client_cpu_s: float
    server_cpu_s: dict[str, float]
    busy_s: float

    def quiet(self, limit: float) -> set[int]:
        """The rounds during which other processes used at most ``limit`` cores."""
        return {r for r, load in enumerate(self.other_load) if load <= limit}


def run_rounds(
    servers: Sequence[Server],
    clients: Sequence[Client],
    calls: Sequence[dict[str, Call]],
    per_method: int,
    block: int,
    deadline: float,
    label: str,
) -> Rounds:
    """``per_method`` calls of every method on every server, in interleaved blocks.

    Round ``r`` gives every method, in an order rotated by ``r``, ``block`` calls on every
    server, in an order rotated by ``r`` and the method's place. Each round also records
    the CPU other processes used meanwhile: /proc/stat's busy time less this process's
    and the servers'.
    """
    samples = {s.name: {m: Samples() for m in METHODS} for s in servers}
    rounds = math.ceil(per_method / block)
    order = list(range(len(servers)))
    loads: list[float] = []
    server_cpu = dict.fromkeys((s.name for s in servers), 0.0)
    next_report = time.monotonic() + 10
    wall0, own0, busy0 = time.perf_counter(), time.process_time(), busy_cpu_seconds()
    for r in range(rounds):
        n = min(block, per_method - r * block)
        methods = METHODS[r % len(METHODS) :] + METHODS[: r % len(METHODS)]
        round_wall, round_own, round_busy = (
            time.perf_counter(),
            time.process_time(),
            busy_cpu_seconds(),
        )
        round_servers = 0.0
        for m_index, method in enumerate(methods):
            shift = (r + m_index) % len(order)
            for i in order[shift:] + order[:shift]:
                server, client, call = servers[i], clients[i], calls[i][method]
                cpu0 = proc_cpu(server.pid)
                times: list[int] = []
                answers: list[tuple[int, bytes]] = []
                for _ in range(n):
                    t0 = time.perf_counter_ns()
                    answer = client.send(call)
                    t1 = time.perf_counter_ns()
                    times.append(t1 - t0)
                    answers.append(answer)
                cpu = proc_cpu(server.pid) - cpu0
                for status, body in answers:
                    check(call, status, body)
                bucket = samples[server.name][method]
                bucket.ns.extend(times)
                bucket.round_of.extend([r] * n)
                bucket.cpu_s += cpu
                server_cpu[server.name] += cpu
                round_servers += cpu
        wall = time.perf_counter() - round_wall
        other = (
            (busy_cpu_seconds() - round_busy) - (time.process_time() - round_own) - round_servers
        )
        loads.append(max(0.0, other / wall) if wall > 0 else 0.0)
        now = time.monotonic()
        if now > deadline:
            raise TimeoutError(f"--time-limit reached during the {label}")
        if now >= next_report or r == rounds - 1:
            log(
                f"{label}: round {r + 1}/{rounds} ({min(per_method, (r + 1) * block)} calls "
                f"per method and server; other load in this round {loads[-1]:.2f} core)"
            )
            next_report = now + 10
    return Rounds(
        samples=samples,
        other_load=loads,
        wall_s=time.perf_counter() - wall0,
        client_cpu_s=time.process_time() - own0,
        server_cpu_s=server_cpu,
        busy_s=busy_cpu_seconds() - busy0,
    )


def wait_idle(limit_s: float, quiet_cores: float) -> float:
    """Wait up to ``limit_s`` for two seconds in which other processes use at most
    ``quiet_cores``; the load of the last two seconds."""
    deadline = time.monotonic() + limit_s
    while True:
        busy0, t0 = busy_cpu_seconds(), time.perf_counter()
        time.sleep(2.0)
        load = (busy_cpu_seconds() - busy0) / (time.perf_counter() - t0)
        if load <= quiet_cores or time.monotonic() >= deadline:
            return load
        log(f"machine busy ({load:.2f} core): waiting for it to calm down")


# -- the run --------------------------------------------------------------------------------


def code_version() -> dict[str, Any]:
    """The commit and the hashes of the files measured."""
    return provenance.code_version(CODE)


def versions(monerod: str | None, uvicorn_path: Path | None) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("hypercorn", "starlette", "h11", "anyio", "trio", "uvicorn", "httptools"):
        with contextlib.suppress(PackageNotFoundError):
            out[dist] = version(dist)
    if uvicorn_path is not None:
        for found in distributions(path=[str(uvicorn_path)]):
            out[found.metadata["Name"]] = found.version
    if monerod:
        out["monerod"] = monerod_version(monerod)
    return out


def bench(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    deadline = time.monotonic() + args.time_limit
    kinds: list[str] = args.server
    servers = [zion_server(kind, workdir / kind, args.uvicorn_path) for kind in kinds]
    monerod = None if args.no_monerod else (args.monerod or shutil.which("monerod"))
    if monerod:
        servers.append(monerod_server(monerod, workdir / "monerod", monero_address(KEYS)))
    else:
        log("monerod not found (or --no-monerod): measuring ZION alone, no ratios")
    results: dict[str, Any] = {
        "command": " ".join(["uv run python benchmarks/bench_rpc.py", *sys.argv[1:]]),
        "machine": machine(),
        "versions": versions(monerod, args.uvicorn_path),
        "code": code_version(),
        "settings": {
            "blocks": args.blocks,
            "calls_per_method": args.calls,
            "warmup_per_method": args.warmup,
            "block": args.block,
            "servers": [s.name for s in servers],
            "monerod": monerod,
        },
    }
    clients: list[Client] = []
    with stopped_at_exit(servers):
        for server in servers:
            log(f"starting {server.name} on 127.0.0.1:{server.port}")
            server.start()
        for server in servers:
            server.wait_ready(max(1.0, min(180.0, deadline - time.monotonic())))
            server.info = {
                "pid": server.pid,
                "exe": os.readlink(f"/proc/{server.pid}/exe"),
                "argv": server.argv,
            }
        time.sleep(args.settle)
        for server in servers:
            status = server.record_memory("idle after start")
            rss = status.get("VmRSS", 0) / MB
            log(f"{server.name} ready (pid {server.pid}): VmRSS {rss:.1f} MB")
        clients = [Client(s.port) for s in servers]
        for server, client in zip(servers, clients, strict=True):
            t = time.perf_counter()
            if server.is_zion:
                zion_history(client, server.address, args.blocks)
            else:
                monerod_history(client, server.address, args.blocks)
            got = height(client)
            if got != args.blocks + 1:
                raise RuntimeError(f"{server.name}: height {got} after mining {args.blocks}")
            server.info["history_s"] = time.perf_counter() - t
            log(f"{server.name}: {args.blocks} blocks in {server.info['history_s']:.1f} s")
            if time.monotonic() > deadline:
                raise TimeoutError("--time-limit reached while building the history")
        time.sleep(args.settle)
        for server in servers:
            server.record_memory("idle after history")
        for client in clients:  # the measured connections start fresh
            client.close()
        clients = [Client(s.port) for s in servers]
        calls = [calls_for(s) for s in servers]
        gc.collect()
        gc.disable()
        try:
            if args.wait_idle > 0:
                wait_idle(min(args.wait_idle, max(0.0, deadline - time.monotonic())), QUIET)
            run_rounds(servers, clients, calls, args.warmup, args.block, deadline, "warm-up")
            opened = [c.conn.opened for c in clients]
            timed = run_rounds(servers, clients, calls, args.calls, args.block, deadline, "latency")
        finally:
            gc.enable()
        for server in servers:
            server.record_memory("end of latency run")
        for client in clients:
            client.close()
    results["machine"]["loadavg_end"] = os.getloadavg()
    wall = timed.wall_s
    quiet = timed.quiet(QUIET)
    results["timed"] = {
        "wall_s": wall,
        "rounds": len(timed.other_load),
        "quiet_rounds": len(quiet),
        "quiet_limit_cores": QUIET,
        "client_cpu_cores": timed.client_cpu_s / wall,
        "other_load_cores": max(
            0.0, (timed.busy_s - timed.client_cpu_s - sum(timed.server_cpu_s.values())) / wall
        ),
        "other_load_per_round": [round(x, 3) for x in timed.other_load],
        "reconnects": {
            s.name: c.conn.opened - o for s, c, o in zip(servers, clients, opened, strict=True)
        },
    }
    results["servers"] = {}
    for server in servers:
        mine = timed.samples[server.name]
        results["servers"][server.name] = {
            **server.info,
            "cpu_cores_while_timed": timed.server_cpu_s[server.name] / wall,
            "memory": server.memory,
            "methods": {m: mine[m].stats() for m in METHODS},
            "methods_quiet_rounds": {m: mine[m].stats(quiet) for m in METHODS},
        }
    results["verdict"] = verdict(results)
    return results


def verdict(results: dict[str, Any]) -> dict[str, Any]:
    """Ratios against monerod and the goals, for every ZION server."""
    servers: dict[str, Any] = results["servers"]
    anchor = servers.get("monerod")
    out: dict[str, Any] = {}
    for name, data in servers.items():
        if name == "monerod":
            continue
        methods, quiet = data["methods"], data["methods_quiet_rounds"]
        ratios = (
            {m: methods[m]["p50_ms"] / anchor["methods"][m]["p50_ms"] for m in METHODS}
            if anchor
            else {}
        )
        mem = data["memory"]
        end = mem.get("end of latency run", {})
        rss_end = end.get("VmRSS", 0) / MB
        rss_peak = end.get("VmHWM", 0) / MB
        out[name] = {
            "ratio_p50": ratios,
            "ratio_p50_quiet_rounds": (
                {
                    m: quiet[m]["p50_ms"] / anchor["methods_quiet_rounds"][m]["p50_ms"]
                    for m in METHODS
                }
                if anchor and all("p50_ms" in quiet[m] for m in METHODS)
                else {}
            ),
            "ratio_mean": (
                {m: methods[m]["mean_ms"] / anchor["methods"][m]["mean_ms"] for m in METHODS}
                if anchor
                else {}
            ),
            "ratio_goal_met": all(r <= GOAL_RATIO for r in ratios.values()) if anchor else None,
            "p99_goal_met": all(methods[m]["p99_ms"] <= GOAL_P99_MS for m in METHODS),
            "p99_goal_met_quiet_rounds": (
                all(quiet[m]["p99_ms"] <= GOAL_P99_MS for m in METHODS)
                if all("p99_ms" in quiet[m] for m in METHODS)
                else None
            ),
            "rss_end_mb": rss_end,
            "rss_peak_mb": rss_peak,
            "rss_goal_met": rss_end <= GOAL_RSS_MB and rss_peak <= GOAL_RSS_MB,
        }
    return out


# -- report ---------------------------------------------------------------------------------


def yes_no(met: bool | None) -> str:
    return "n/a" if met is None else ("met" if met else "NOT met")


def markdown(results: dict[str, Any]) -> str:
    """The summary: latency table, memory table, goals."""
    servers: dict[str, Any] = results["servers"]
    verdicts: dict[str, Any] = results["verdict"]
    anchor = servers.get("monerod")
    lines = [
        "| method | server | p50 ms | p99 ms | mean ms | max ms | p99 ms, quiet rounds "
        "| server CPU µs/call | p50 / monerod | p99 ≤ 5 ms |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for method in METHODS:
        for name, data in servers.items():
            s = data["methods"][method]
            q = data["methods_quiet_rounds"][method]
            p99_quiet = f"{q['p99_ms']:.3f}" if "p99_ms" in q else "—"
            ratio = "—"
            p99 = "—"
            if name != "monerod":
                p99 = "yes" if s["p99_ms"] <= GOAL_P99_MS else "**no**"
                if anchor:
                    ratio = f"{verdicts[name]['ratio_p50'][method]:.2f}"
            lines.append(
                f"| {method} | {name} | {s['p50_ms']:.3f} | {s['p99_ms']:.3f} | "
                f"{s['mean_ms']:.3f} | {s['max_ms']:.2f} | {p99_quiet} | "
                f"{s['server_cpu_us_per_call']:.0f} "
                f"| {ratio} | {p99} |"
            )
    lines += [
        "",
        "| server | VmRSS idle after start | after history | end of run | VmHWM (peak) "
        "| threads | CPU while timed | RSS ≤ 400 MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, data in servers.items():
        mem = data["memory"]

        def rss(when: str, key: str = "VmRSS", mem: dict[str, Any] = mem) -> str:
            value = mem.get(when, {}).get(key)
            return f"{value / MB:.1f} MB" if value is not None else "?"

        goal = "—" if name == "monerod" else yes_no(verdicts[name]["rss_goal_met"])
        lines.append(
            f"| {name} | {rss('idle after start')} | {rss('idle after history')} | "
            f"{rss('end of latency run')} | {rss('end of latency run', 'VmHWM')} | "
            f"{mem.get('end of latency run', {}).get('Threads', '?')} | "
            f"{data['cpu_cores_while_timed']:.2f} cores | {goal} |"
        )
    timed = results["timed"]
    lines += [
        "",
        f"Timed phase: {timed['wall_s']:.1f} s, {timed['rounds']} rounds, "
        f"{timed['quiet_rounds']} quiet (other load ≤ {timed['quiet_limit_cores']} core); "
        f"other load {timed['other_load_cores']:.2f} core(s) on average; "
        f"client {timed['client_cpu_cores']:.2f} core; reconnects "
        + ", ".join(f"{k} {v}" for k, v in timed["reconnects"].items()),
        "",
    ]
    for name, v in verdicts.items():
        lines.append(
            f"- {name}: p50 / monerod ≤ {GOAL_RATIO}: {yes_no(v['ratio_goal_met'])}; "
            f"p99 ≤ {GOAL_P99_MS} ms: {yes_no(v['p99_goal_met'])} "
            f"(quiet rounds: {yes_no(v['p99_goal_met_quiet_rounds'])}); RSS ≤ {GOAL_RSS_MB:.0f} MB "
            f"(end {v['rss_end_mb']:.1f}, peak {v['rss_peak_mb']:.1f}): "
            f"{yes_no(v['rss_goal_met'])}"
        )
    if not anchor:
        lines.append("- monerod was not run: no ratios.")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument(
        "--calls", type=int, help="timed calls per method and server (3000; quick: 100)"
    )
    parser.add_argument(
        "--warmup", type=int, help="warm-up calls per method and server (300; quick: 20)"
    )
    parser.add_argument("--block", type=int, default=20, help="calls in a row per server (20)")
    parser.add_argument("--blocks", type=int, help="blocks of history per server (40; quick: 8)")
    parser.add_argument(
        "--server",
        default="hypercorn",
        help=f"comma-separated ZION servers, the first one judged: {', '.join(SERVERS)}",
    )
    parser.add_argument("--monerod", help="monerod binary (default: monerod on PATH)")
    parser.add_argument("--no-monerod", action="store_true", help="measure ZION alone")
    parser.add_argument("--settle", type=float, default=2.0, help="idle seconds before RSS")
    parser.add_argument(
        "--time-limit", type=float, default=900.0, help="stop with an error after this (900 s)"
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        help=f"before timing, wait up to this long for other load <= {QUIET} core (60 s; quick: 0)",
    )
    parser.add_argument(
        "--uvicorn-path", type=Path, help="a folder holding uvicorn (else this environment's)"
    )
    parser.add_argument("--keep", type=Path, help="keep the servers' data and logs here")
    parser.add_argument("--json", type=Path, help="also write every result here")
    parser.add_argument("--fail-on-goal", action="store_true", help="exit 1 when a goal is not met")
    args = parser.parse_args(argv)
    args.calls = args.calls or (100 if args.quick else 3000)
    args.warmup = args.warmup if args.warmup is not None else (20 if args.quick else 300)
    args.blocks = args.blocks or (8 if args.quick else 40)
    if args.wait_idle is None:
        args.wait_idle = 0.0 if args.quick else 60.0
    args.server = [s.strip() for s in args.server.split(",") if s.strip()]
    unknown = sorted(set(args.server) - set(SERVERS))
    if unknown or not args.server or len(set(args.server)) != len(args.server):
        parser.error(f"--server: a list of distinct names among {', '.join(SERVERS)}")
    if any(s.startswith("uvicorn") for s in args.server):
        found = (
            importlib.machinery.PathFinder.find_spec("uvicorn", [str(args.uvicorn_path)])
            if args.uvicorn_path
            else importlib.util.find_spec("uvicorn")
        )
        if found is None:
            parser.error(
                "uvicorn is not installed (not a dependency): `uv pip install uvicorn httptools`,"
                " or `uv pip install --no-deps --target DIR uvicorn httptools` and --uvicorn-path"
            )
    if args.monerod and not Path(args.monerod).exists():
        parser.error(f"--monerod {args.monerod}: no such file")
    if not 1 <= args.blocks <= 59:
        parser.error("--blocks: 1 to 59 (devnet keeps difficulty 1 for its first 60 blocks)")
    if args.calls < 1 or args.block < 1 or args.warmup < 0:
        parser.error("--calls and --block must be positive, --warmup not negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="zion-bench-rpc-"))
    try:
        results = bench(args, workdir)
    except KeyboardInterrupt:
        log("interrupted: servers stopped")
        return 130
    finally:
        if args.keep:
            shutil.copytree(workdir, args.keep, dirs_exist_ok=True)
        shutil.rmtree(workdir, ignore_errors=True)
    print(markdown(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        log(f"wrote {args.json}")
    judged = results["verdict"][next(iter(results["verdict"]))]
    missed = [k for k in ("ratio_goal_met", "p99_goal_met", "rss_goal_met") if judged[k] is False]
    return 1 if args.fail_on_goal and missed else 0


if __name__ == "__main__":
    sys.exit(main())
