"""Helpers for the dashboard's tests: Chromium (installed from Debian's packages when
missing), a ``zion run`` node in a subprocess, and a small PNG reader."""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

CHROMIUM_PACKAGE = "chromium"
"""Debian's Chromium (``/usr/bin/chromium``)."""
CHROMIUM_NAMES = ("chromium", "chromium-browser")
APT_TIMEOUT_S = 900.0
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
]
"""Chromium stays on loopback: no background connections, updates or sync."""


class ChromiumUnavailableError(Exception):
    """Chromium is not installed and cannot be installed here."""


def find_chromium() -> str | None:
    """``$ZION_CHROMIUM``, else Chromium on ``PATH``."""
    chosen = os.environ.get("ZION_CHROMIUM")
    if chosen:
        return chosen
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _as_root(argv: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return argv
    sudo = shutil.which("sudo")
    if sudo is None:
        raise ChromiumUnavailableError(
            f"Chromium is missing and installing it needs root: apt-get install {CHROMIUM_PACKAGE}"
        )
    return [sudo, "-n", *argv]


def ensure_chromium() -> str:
    """The Chromium executable; installed with apt-get (Debian's ``chromium``, as ``./dev
    test`` does) when missing."""
    found = find_chromium()
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None:
        raise ChromiumUnavailableError(
            f"Chromium is missing and there is no apt-get to install {CHROMIUM_PACKAGE}; "
            "set ZION_CHROMIUM to a Chromium executable"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        [apt, "update", "-qq"],
        [apt, "install", "-y", "-qq", CHROMIUM_PACKAGE],
    ):
        command = _as_root(argv)
        try:
            proc = subprocess.run(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=APT_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ChromiumUnavailableError(
                f"{' '.join(command)} did not finish within {APT_TIMEOUT_S:.0f} s"
            ) from None
        if proc.returncode != 0:
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            last = lines[-1] if lines else f"exit status {proc.returncode}"
            raise ChromiumUnavailableError(f"{' '.join(command)} failed: {last}")
    found = find_chromium()
    if found is None:
        raise ChromiumUnavailableError(f"apt-get installed {CHROMIUM_PACKAGE}, but no chromium")
    return found


class NodeProcess:
    """``python -m zion_core run ...`` with a private ``ZION_HOME``; its log (stderr) is
    collected line by line by a thread."""

    def __init__(self, args: Sequence[str], home: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZION_")}
        env["ZION_HOME"] = str(home)
        env["NO_COLOR"] = "1"
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "zion_core", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        stream = self.proc.stderr
        assert stream is not None
        with stream:
            for line in stream:
                self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def tail(self, count: int = 40) -> str:
        self._drain()
        return "\n".join(self.lines[-count:])

    def _drain(self) -> None:
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                return
            if line is not None:
                self.lines.append(line)

    def wait_for(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        """The first log line matching ``pattern`` (searched from the start)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            self._drain()
            for line in self.lines[seen:]:
                match = regex.search(line)
                if match:
                    return match
            seen = len(self.lines)
            if self.proc.poll() is not None and self._queue.empty():
                raise AssertionError(
                    f"zion exited ({self.proc.returncode}) before logging {pattern!r}:\n"
                    f"{self.tail()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"no log line {pattern!r} within {timeout} s:\n{self.tail()}")
            time.sleep(0.05)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGINT (a graceful stop), then SIGKILL if it takes longer than ``timeout``."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._reader.join(timeout=10)
        self._drain()
        return self.proc.returncode


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR; AssertionError if it is not a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13, "a PNG starts with its IHDR chunk"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def png_pixels(data: bytes) -> tuple[int, int, list[tuple[int, ...]]]:
    """Decode an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium's screenshots are):
    (width, height, pixels row by row). Every chunk's CRC is checked."""
    width, height = png_size(data)
    pos, idat = 8, []
    depth = color = interlace = -1
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in chunk {kind!r}"
        if kind == b"IHDR":
            depth, color, interlace = body[8], body[9], body[12]
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
    channels = 3 if color == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    assert len(raw) == height * (stride + 1), "truncated image data"
    previous = bytearray(stride)
    pixels: list[tuple[int, ...]] = []
    for y in range(height):
        start = y * (stride + 1)
        kind_byte = raw[start]
        line = bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind_byte == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind_byte == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind_byte == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind_byte == 4:
                line[i] = (line[i] + _paeth(left, up, corner)) & 0xFF
            else:
                assert kind_byte == 0, f"unknown PNG filter {kind_byte}"
        pixels.extend(tuple(line[x : x + 3]) for x in range(0, stride, channels))
        previous = line
    return width, height, pixels


def ink(pixels: Sequence[tuple[int, ...]]) -> tuple[int, float]:
    """(distinct colours, share of pixels unlike the most common one): a blank image has
    one colour and no ink."""
    counts = Counter(pixels)
    background = counts.most_common(1)[0][1]
    return len(counts), 1 - background / len(pixels)
