"""Server processes under test, shared by the benchmarks that start them: ZION nodes and
monerod in regtest mode.

:class:`Server` starts one process in its own session with its output in a log file,
waits for its HTTP API, reads its memory and CPU time from ``/proc`` and stops it (and,
on Linux, the kernel kills it should the benchmark die first). :func:`stopped_at_exit`
stops every server on the way out, on errors, Ctrl-C and SIGTERM included.
:func:`monerod_server` builds the command line of a regtest monerod on loopback ports,
offline or joined to given peers only.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from zion_core.chain import base58
from zion_core.chain.codec import encode_varint
from zion_core.chain.hashing import keccak256
from zion_core.chain.keys import WalletKeys

MONERO_MAINNET_TAG = 18
"""Address prefix of a Monero mainnet standard address (regtest uses mainnet's)."""
ZION_NODE = "import sys; from zion_core.cli import entry; sys.argv[0] = 'zion'; entry()"
"""What the ``zion`` console script runs, started with this interpreter (``-c``): the pid
measured is then the node's, with no wrapper in between."""


def log(message: str) -> None:
    """Progress, on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def monero_address(keys: WalletKeys) -> str:
    """``keys`` as a Monero mainnet-format standard address (what regtest takes)."""
    address = keys.address("devnet")
    body = encode_varint(MONERO_MAINNET_TAG) + address.spend_key + address.view_key
    return base58.encode(body + keccak256(body)[:4])


def zion_env() -> dict[str, str]:
    """This process's environment without the ``ZION_*`` variables (plugins, config file),
    which the node would otherwise read."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ZION_")}


# -- /proc ----------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    """In the child, before exec: be killed when the benchmark process dies (Linux)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM in bytes, and the thread count, from ``/proc/<pid>/status``."""
    out: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024
            elif key == "Threads":
                out[key] = int(value)
    return out


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of every thread of ``pid`` (0 when gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def busy_cpu_seconds() -> float:
    """CPU time all cores spent busy since boot, from /proc/stat (0 when unknown)."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
    except OSError:
        return 0.0
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def machine() -> dict[str, Any]:
    """CPU count and model, load average and the time, at the start of a run."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "loadavg_start": os.getloadavg(),
        "utc_start": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    }


# -- processes ------------------------------------------------------------------------------


@dataclass
class Server:
    """One server process under test."""

    name: str
    kind: str
    argv: list[str]
    port: int
    workdir: Path
    address: str
    stop_signal: int = signal.SIGINT
    env: dict[str, str] | None = None
    p2p_port: int | None = None
    proc: subprocess.Popen[bytes] | None = None
    logfile: IO[bytes] | None = None
    memory: dict[str, dict[str, int]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def is_zion(self) -> bool:
        return self.kind != "monerod"

    def start(self) -> None:
        """Start the process (its own session, output to ``workdir/server.log``)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.logfile = (self.workdir / "server.log").open("wb")
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self.logfile,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            env=self.env,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )

    def log_tail(self, lines: int = 30) -> str:
        path = self.workdir / "server.log"
        text = path.read_text(errors="replace") if path.exists() else "(no output)"
        return "\n".join(text.splitlines()[-lines:])

    def check_running(self) -> None:
        """Raise, with the end of its log, if the process has exited."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with status {self.proc.returncode}:\n{self.log_tail()}"
            )

    def wait_ready(self, timeout: float) -> None:
        """Poll ``GET /get_height`` until it answers 200 (fail if the process exits)."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_running()
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                try:
                    conn.request("GET", "/get_height")
                    if conn.getresponse().status == 200:
                        return
                finally:
                    conn.close()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} did not answer within {timeout:.0f} s")
            time.sleep(0.2)

    def record_memory(self, when: str) -> dict[str, int]:
        status = proc_status(self.pid)
        self.memory[when] = status
        return status

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the process to stop; kill it if it is still there after ``timeout``."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            self._close_log()
            return
        try:
            proc.send_signal(self.stop_signal)
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log(f"{self.name} did not stop within {timeout:.0f} s: killed")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            self._close_log()

    def _close_log(self) -> None:
        if self.logfile is not None:
            self.logfile.close()
            self.logfile = None


@contextlib.contextmanager
def stopped_at_exit(servers: list[Server]) -> Iterator[None]:
    """Stop every server of ``servers`` (the list as it is on the way out: servers may
    be appended meanwhile) whatever happens, SIGTERM included."""

    def on_sigterm(signum: int, frame: Any) -> None:
        log("SIGTERM: stopping the servers")
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    # Ctrl-C raises KeyboardInterrupt even where SIGINT was inherited ignored (``cmd &``)
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        for server in servers:
            try:
                server.stop()
            except BaseException as exc:  # keep stopping the others
                log(f"stopping {server.name}: {exc!r}")
                if server.proc is not None and server.proc.poll() is None:
                    server.proc.kill()
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


# -- monerod --------------------------------------------------------------------------------


def monerod_server(
    binary: str,
    workdir: Path,
    address: str,
    *,
    name: str = "monerod",
    p2p_port: int | None = None,
    peers: Sequence[int] = (),
    keep_chain: bool = False,
) -> Server:
    """monerod in regtest mode with fixed difficulty 1, RPC on a free loopback port.

    Without ``peers`` it runs ``--offline`` (no P2P at all). With ``peers`` (ports on
    127.0.0.1) it listens for peers on 127.0.0.1:``p2p_port`` and connects to those
    ports only (``--add-exclusive-node``: no seed nodes, no peer exchange beyond them).
    ``keep_chain`` opens the chain already in ``workdir`` (``--keep-fakechain``) instead of
    starting afresh.
    """
    port = free_port()
    p2p = p2p_port if p2p_port is not None else free_port()
    network = ["--offline"] if not peers else []
    if keep_chain:
        network.append("--keep-fakechain")
    for peer in peers:
        network += ["--add-exclusive-node", f"127.0.0.1:{peer}"]
    argv = [
        binary,
        "--regtest",
        *network,
        "--fixed-difficulty",
        "1",
        "--data-dir",
        str(workdir / "data"),
        "--rpc-bind-ip",
        "127.0.0.1",
        "--rpc-bind-port",
        str(port),
        "--p2p-bind-ip",
        "127.0.0.1",
        "--p2p-bind-port",
        str(p2p),
        "--no-zmq",
        "--no-igd",
        "--disable-dns-checkpoints",
        "--check-updates",
        "disabled",
        "--non-interactive",
        "--log-level",
        "0",
        "--log-file",
        str(workdir / "monerod.log"),
    ]
    return Server(name, "monerod", argv, port, workdir, address, signal.SIGTERM, p2p_port=p2p)


def monerod_version(binary: str) -> str:
    """The last line of ``monerod --version`` ("?" when it prints nothing or fails)."""
    try:
        text = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    return text.strip().splitlines()[-1] if text.strip() else "?"
