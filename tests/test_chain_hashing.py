"""Keccak-256: the direct native call agrees with pycryptodome's hash object."""

from __future__ import annotations

from Crypto.Hash import keccak
from hypothesis import given
from hypothesis import strategies as st

from zion_core.chain import hashing


def reference(data: bytes) -> bytes:
    return keccak.new(data=data, digest_bits=256).digest()


def test_known_vectors() -> None:
    assert hashing.keccak256(b"").hex() == (
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    )
    # CryptoNote's cn_fast_hash of "abc" (original Keccak padding, not SHA3-256)
    assert hashing.keccak256(b"abc").hex() == (
        "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
    )


def test_the_fast_path_is_used_where_available() -> None:
    if hasattr(keccak, "_raw_keccak_lib") and hasattr(keccak._raw_keccak_lib, "keccak_oneshot"):
        assert hashing.keccak256 is not hashing._object_keccak256


@given(st.binary(max_size=1000))
def test_agrees_with_the_hash_object(data: bytes) -> None:
    assert hashing.keccak256(data) == reference(data)
    assert hashing._object_keccak256(data) == reference(data)


def test_bytearray_and_memoryview_inputs() -> None:
    data = bytes(range(200))
    assert hashing.keccak256(bytearray(data)) == reference(data)
    assert hashing.keccak256(memoryview(data)) == reference(data)
