"""What a benchmark measured: the commit and the files it depends on, hashed (others may
edit the tree while it runs, so the commit alone does not say what ran)."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def git(*args: str) -> str:
    """A git command's output in the repository ("" when git is missing)."""
    try:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, cwd=ROOT, check=False
        ).stdout.strip()
    except OSError:
        return ""


def code_version(files: Sequence[str]) -> dict[str, Any]:
    """The commit, which of ``files`` (relative to the repository) differ from it, and a
    short SHA-256 of each that exists."""
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "modified": git("status", "--short", "--", *files).splitlines(),
        "sha256": {
            f: hashlib.sha256((ROOT / f).read_bytes()).hexdigest()[:16]
            for f in files
            if (ROOT / f).exists()
        },
    }
