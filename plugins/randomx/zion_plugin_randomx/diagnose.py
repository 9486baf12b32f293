"""What ``zion diagnose`` shows about RandomX: the library, its flags, the CPU."""

from __future__ import annotations

import ctypes.util
import platform
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from .binding import (
    Flags,
    RandomXError,
    native,
    recommended_flags,
    transparent_huge_pages_mode,
)

CPU_FEATURES = ("aes", "avx2", "avx512f", "ssse3", "sse4_1", "bmi2")


def library_path() -> str | None:
    """Where the dynamic loader finds librandomx (reading /proc/self/maps once loaded)."""
    try:
        native()
    except RandomXError:
        return ctypes.util.find_library("randomx")
    for line in Path("/proc/self/maps").read_text().splitlines():
        if "librandomx" in line:
            return line.split()[-1]
    return ctypes.util.find_library("randomx")


def package_version() -> str | None:
    """The Debian/Ubuntu package version of librandomx0, when dpkg knows it."""
    if shutil.which("dpkg-query") is None:
        return None
    try:
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "librandomx0"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None


def cpu_features() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            present = set(line.split(":", 1)[1].split())
            return [f for f in CPU_FEATURES if f in present]
    return []


def huge_pages() -> str:
    try:
        info = dict(
            line.split(":", 1)
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith(("HugePages_Total", "HugePages_Free", "Hugepagesize"))
        )
    except OSError:
        return "unknown"
    return ", ".join(f"{k.strip()} {v.strip()}" for k, v in info.items()) or "unknown"


def report_lines() -> Iterator[tuple[str, str]]:
    yield "library", library_path() or "not found (apt-get install librandomx0)"
    yield "package", package_version() or "unknown"
    try:
        flags = recommended_flags()
    except RandomXError as exc:
        yield "binding", str(exc)
        return
    names = [f.name for f in Flags if f and f in flags and f.name]
    yield "recommended flags", ", ".join(names) or "DEFAULT"
    yield "jit", "yes" if flags & Flags.JIT else "no"
    yield "hard aes", "yes" if flags & Flags.HARD_AES else "no"
    yield "large pages", huge_pages()
    thp = transparent_huge_pages_mode()
    note = {
        "always": "used for the cache and dataset",
        "madvise": "used for the cache and dataset (randomx.transparent_huge_pages)",
        "never": "off: fast mode runs about a third slower",
    }.get(thp, "")
    yield "transparent huge pages", f"{thp} ({note})" if note else thp
    yield "cpu", f"{platform.machine()} {platform.processor() or ''}".strip()
    yield "cpu features", ", ".join(cpu_features()) or "none detected"
