"""The Monero-style Stratum dialect that XMRig 6.x speaks: targets, login names, messages.

Everything here is pure (no I/O) so that it can be unit-tested and fuzzed on its own.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

import attrs

MAX_U64: Final = 2**64 - 1
MAX_U32: Final = 2**32 - 1
POW_LIMIT: Final = 1 << 256
FOUR_BYTE_TARGET_LIMIT: Final = 4_000_000
"""Difficulties up to this one are sent as 4-byte targets, higher ones as 8-byte targets
(miners renting out hash rate mishandle 4-byte targets above it)."""
ALGO: Final = "rx/0"
EXTENSIONS: Final = ("algo", "keepalive", "nicehash")

# error messages miners know; the first four make XMRig log in again
UNAUTHENTICATED: Final = "Unauthenticated"
BANNED: Final = "your IP is banned"
INVALID_JOB_ID: Final = "Invalid job id"
LOW_DIFFICULTY: Final = "Low difficulty share"
DUPLICATE: Final = "Duplicate share"
BLOCK_EXPIRED: Final = "Block expired"
INVALID_SHARE: Final = "Invalid share"
INVALID_NONCE: Final = "Invalid nonce"
INVALID_RESULT: Final = "Invalid result"
SERVER_BUSY: Final = "Server busy"

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
STRATUM_ERROR: Final = -1

_NONCE: Final = re.compile(r"\A[0-9a-fA-F]{8}\Z")
_RESULT: Final = re.compile(r"\A[0-9a-fA-F]{64}\Z")
_DIFF: Final = re.compile(r"\A[0-9]{1,19}\Z")
_WORKER: Final = re.compile(r"\A[A-Za-z0-9_\-.:@]{1,64}\Z")


def target_hex(difficulty: int) -> str:
    """The job ``target`` for ``difficulty``: 4 bytes up to :data:`FOUR_BYTE_TARGET_LIMIT`,
    8 bytes above.

    The 8-byte target is T = floor((2^64-1)/difficulty) as a little-endian uint64; the
    4-byte one is the top 32 bits of T, little-endian.
    """
    if difficulty < 1:
        raise ValueError(f"difficulty must be at least 1, not {difficulty}")
    target = MAX_U64 // min(difficulty, MAX_U64)
    if difficulty <= FOUR_BYTE_TARGET_LIMIT:
        return (target >> 32).to_bytes(4, "little").hex()
    return max(1, target).to_bytes(8, "little").hex()


def difficulty_of_target(target: str) -> int:
    """The difficulty a miner reads from a job ``target`` (4-byte targets round harder)."""
    raw = bytes.fromhex(target)
    value = int.from_bytes(raw, "little")
    if value == 0 or len(raw) not in (4, 8):
        raise ValueError(f"not a 4- or 8-byte non-zero target: {target!r}")
    if len(raw) == 4:
        value = MAX_U64 // (MAX_U32 // value)
    return MAX_U64 // value


def hash_difficulty(pow_hash: bytes) -> int:
    """The difficulty a hash reaches: floor((2^256-1) / LE256(hash))."""
    value = int.from_bytes(pow_hash, "little")
    return (POW_LIMIT - 1) // value if value else POW_LIMIT - 1


def meets(pow_hash: bytes, difficulty: int) -> bool:
    """Whether ``pow_hash`` (little-endian 256-bit) meets ``difficulty``, as blocks are judged."""
    return int.from_bytes(pow_hash, "little") * difficulty < POW_LIMIT


def is_nonce(value: object) -> bool:
    """Whether ``value`` is the 8 hex digits of a 32-bit nonce."""
    return isinstance(value, str) and _NONCE.match(value) is not None


def is_result(value: object) -> bool:
    """Whether ``value`` is the 64 hex digits of a 32-byte hash."""
    return isinstance(value, str) and _RESULT.match(value) is not None


@attrs.frozen
class LoginName:
    """A parsed ``login``: ``ADDRESS[.WORKER][+DIFF]``."""

    address: str
    worker: str = ""
    difficulty: int | None = None


def parse_login(login: str) -> LoginName:
    """Split ``ADDRESS[.WORKER][+DIFF]``; ValueError for a malformed worker or difficulty.

    The address itself is checked by the caller (it needs the network).
    """
    rest, plus, diff_text = login.partition("+")
    difficulty: int | None = None
    if plus:
        if not _DIFF.match(diff_text) or int(diff_text) < 1:
            raise ValueError(f"bad fixed difficulty {diff_text!r} (ADDRESS+DIFF)")
        difficulty = int(diff_text)
    address, dot, worker = rest.partition(".")
    if dot and not _WORKER.match(worker):
        raise ValueError("bad worker name (letters, digits and _-.:@, at most 64)")
    return LoginName(address=address, worker=worker, difficulty=difficulty)


def password_difficulty(password: object) -> int | None:
    """The ``d=N`` difficulty of a login password (``x``, ``d=5000``, ``rig1;d=5000``)."""
    if not isinstance(password, str):
        return None
    for part in re.split(r"[;,\s]+", password):
        key, eq, value = part.partition("=")
        if eq and key.lower() == "d" and _DIFF.match(value) and int(value) >= 1:
            return int(value)
    return None


def is_worker_name(value: object) -> bool:
    """Whether ``value`` can name a worker (``rigid``)."""
    return isinstance(value, str) and _WORKER.match(value) is not None


def encode(message: dict[str, Any]) -> bytes:
    """One newline-terminated JSON line."""
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def reply(req_id: Any, result: dict[str, Any]) -> dict[str, Any]:
    """A successful response echoing ``req_id``."""
    return {"id": req_id, "jsonrpc": "2.0", "error": None, "result": result}


def error(req_id: Any, message: str, code: int = STRATUM_ERROR) -> dict[str, Any]:
    """An error response echoing ``req_id`` (the message is always a string)."""
    return {"id": req_id, "jsonrpc": "2.0", "error": {"code": code, "message": message}}


def job_notification(job: dict[str, Any]) -> dict[str, Any]:
    """A ``job`` push: a notification without an ``id``."""
    return {"jsonrpc": "2.0", "method": "job", "params": job}


__all__ = [
    "ALGO",
    "EXTENSIONS",
    "FOUR_BYTE_TARGET_LIMIT",
    "LoginName",
    "difficulty_of_target",
    "encode",
    "error",
    "hash_difficulty",
    "is_nonce",
    "is_result",
    "is_worker_name",
    "job_notification",
    "meets",
    "parse_login",
    "password_difficulty",
    "reply",
    "target_hex",
]
