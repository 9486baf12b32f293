"""Keccak-256 as CryptoNote uses it: the original Keccak padding (0x01), not SHA3-256.

Hashing is on every hot path of the chain and the pool (transaction ids, block ids, tree
hashes, one pool job per miner and tip), and most inputs are short, so the cost of a call
matters more than the cost of a byte. pycryptodome's hash objects cost several
microseconds each to create; its native library also has a one-shot Keccak, which
:func:`keccak256` calls directly when the installed pycryptodome has it (checked at import
against the object API on a known input). Otherwise it uses the object API.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from Crypto.Hash import keccak

HASH_SIZE: Final = 32
_CAPACITY: Final = 2 * HASH_SIZE
"""Keccak-256's capacity in bytes."""
_ROUNDS: Final = 24
_PADDING: Final = 0x01
_EMPTY: Final = bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
"""Keccak-256 of the empty string."""


def _object_keccak256(data: bytes) -> bytes:
    """Keccak-256 of ``data`` (``cn_fast_hash``), through pycryptodome's hash object."""
    return keccak.new(data=data, digest_bits=256).digest()


def _one_shot() -> Callable[[bytes], bytes] | None:
    """A direct call of the native one-shot Keccak, or None where it is not available."""
    try:
        from Crypto.Util import _raw_api

        lib: Any = keccak._raw_keccak_lib
        oneshot = lib.keccak_oneshot
        new_buffer = _raw_api.create_string_buffer
        raw = _raw_api.get_raw_buffer
    except (AttributeError, ImportError):
        return None

    def keccak256(data: bytes) -> bytes:
        """Keccak-256 of ``data`` (``cn_fast_hash``), by pycryptodome's one-shot call."""
        if type(data) is not bytes:
            data = bytes(data)
        out = new_buffer(HASH_SIZE)
        if oneshot(data, len(data), out, HASH_SIZE, _CAPACITY, _ROUNDS, _PADDING):
            return _object_keccak256(data)  # the native call refused: the slow path decides
        return bytes(raw(out))

    try:
        probe = bytes(range(256)) * 3  # more than one rate block
        if keccak256(b"") != _EMPTY or keccak256(probe) != _object_keccak256(probe):
            return None
    except Exception:  # any surprise from a private interface means: do not use it
        return None
    return keccak256


keccak256: Callable[[bytes], bytes] = _one_shot() or _object_keccak256
"""Keccak-256 of ``data`` (``cn_fast_hash``)."""

__all__ = ["HASH_SIZE", "keccak256"]
