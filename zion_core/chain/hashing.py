"""Keccak-256 as CryptoNote uses it: the original Keccak padding (0x01), not SHA3-256."""

from __future__ import annotations

from Crypto.Hash import keccak

HASH_SIZE = 32


def keccak256(data: bytes) -> bytes:
    """Keccak-256 of ``data`` (``cn_fast_hash``)."""
    return keccak.new(data=data, digest_bits=256).digest()
