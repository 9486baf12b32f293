"""CryptoNote base58: published vectors, strict decoding, round trips and fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zion_core.chain import base58
from zion_core.chain.base58 import (
    ALPHABET,
    ENCODED_BLOCK_SIZES,
    Base58CharacterError,
    Base58Error,
    Base58LengthError,
    Base58OverflowError,
)
from zion_core.chain.codec import encode_varint
from zion_core.chain.hashing import keccak256
from zion_core.errors import SerializationError

# Published vectors of the CryptoNote base58 (Monero's unit tests, tests/unit_tests/base58.cpp).
FF = b"\xff"
VECTORS = [
    (b"", ""),
    (b"\x00", "11"),
    (b"\x39", "1z"),
    (FF, "5Q"),
    (b"\x00\x39", "11z"),
    (b"\x01\x00", "15R"),
    (FF * 2, "LUv"),
    (b"\x01\x00\x00", "11LUw"),
    (FF * 3, "2UzHL"),
    (FF * 4, "7YXq9G"),
    (FF * 5, "VtB5VXc"),
    (FF * 6, "3CUsUpv9t"),
    (FF * 7, "Ahg1opVcGW"),
    (FF * 8, "jpXCZedGfVQ"),
    (bytes(8), "11111111111"),
    (bytes(7) + b"\x01", "11111111112"),
    (bytes(7) + b"\x09", "1111111111A"),
    (bytes(7) + b"\x3a", "11111111121"),
    (b"\x00" + FF * 7, "1Ahg1opVcGW"),
    (bytes.fromhex("06156013762879f7"), "22222222222"),
    (bytes.fromhex("05e022ba374b2a00"), "1z111111111"),
    (bytes(9), "1" * 13),
    (bytes(16), "1" * 22),
    (bytes.fromhex("06156013762879f7") + FF * 5, "22222222222VtB5VXc"),
    (FF * 9, "jpXCZedGfVQ5Q"),
    (FF * 16, "jpXCZedGfVQjpXCZedGfVQ"),
]

# (text, tag, data) from the same tests: base58(varint(tag) + data + keccak256(...)[:4]).
ADDRESS_VECTORS = [
    ("15p2yAV", 0, b""),
    ("FNQ3D6A", 0x7F, b""),
    ("26k9QWweu", 0x80, b""),
    ("3BzAD7n3y", 0xFF, b""),
    ("11efCaY6UjG7JrxuB", 0, bytes.fromhex("11223344556677")),
    ("21rhHRT48LN4PriP9", 6, bytes.fromhex("11223344556677")),
    ("PuT7GAdgbA819VwdWVDP", 0x1122334455667788, b"\x11"),
    (
        "21D35quxec7" + "1" * 78 + "6Q5tCH",
        6,
        bytes(64),
    ),
    (
        "1119XrkPuSmLzdHXgVgrZKjepg5hZAxffLzdHXgVgrZKjepg5hZAxffLzdHXgVgrZKjepg5hZAxff"
        "LzdHXgVgrZKVphZRvn",
        0,
        bytes.fromhex("00112233445566778899aabbccddeeff" * 4),
    ),
]

# The Monero project's donation address, as published on getmonero.org (Moneropedia,
# "address"): network byte 18, public spend key, public view key, 4-byte checksum.
MONERO_DONATION = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A"


@pytest.mark.parametrize(("data", "text"), VECTORS, ids=lambda v: v if isinstance(v, str) else None)
def test_vectors(data: bytes, text: str) -> None:
    assert base58.encode(data) == text
    assert base58.decode(text) == data


@pytest.mark.parametrize(
    ("text", "tag", "data"), ADDRESS_VECTORS, ids=[v[0][:12] for v in ADDRESS_VECTORS]
)
def test_address_shaped_vectors(text: str, tag: int, data: bytes) -> None:
    body = encode_varint(tag) + data
    assert base58.encode(body + keccak256(body)[:4]) == text
    decoded = base58.decode(text)
    assert decoded[:-4] == body
    assert keccak256(decoded[:-4])[:4] == decoded[-4:]


def test_monero_mainnet_address_decodes_to_tag_18_keys_and_checksum() -> None:
    assert len(MONERO_DONATION) == 95
    payload = base58.decode(MONERO_DONATION)
    assert len(payload) == 1 + 32 + 32 + 4
    assert payload[0] == 18
    assert keccak256(payload[:-4])[:4] == payload[-4:]
    assert base58.encode(payload) == MONERO_DONATION


@pytest.mark.parametrize(
    "text",
    [
        "1",
        "z",
        "1111",
        "zzzz",
        "11111111",
        "123456789AB1",
        "123456789AB1111",
        "123456789ABzzzzzzzz",
    ],
)
def test_bad_last_block_length(text: str) -> None:
    with pytest.raises(Base58LengthError, match="not a valid base58 length"):
        base58.decode(text)


@pytest.mark.parametrize(
    "text",
    [
        "5R", "zz", "LUw", "zzz", "2UzHM", "7YXq9H", "VtB5VXd", "3CUsUpv9u", "Ahg1opVcGX",
        "jpXCZedGfVR", "zzzzzzzzzzz", "123456789AB5R", "123456789ABjpXCZedGfVR", "zzzzzzzzzzz11",
    ],
)  # fmt: skip
def test_block_overflow(text: str) -> None:
    with pytest.raises(Base58OverflowError, match="overflows"):
        base58.decode(text)


@pytest.mark.parametrize(
    "text",
    ["10", "11I", "11O11", "11l111", "11_11111111", "1111111111110", "11 11", "11é", "\x0011"],
)
def test_bad_character(text: str) -> None:
    with pytest.raises(Base58CharacterError, match="not in the base58 alphabet"):
        base58.decode(text)


def test_errors_are_serialization_errors() -> None:
    for cls in (Base58CharacterError, Base58LengthError, Base58OverflowError):
        assert issubclass(cls, Base58Error)
    assert issubclass(Base58Error, SerializationError)
    assert issubclass(Base58Error, ValueError)
    with pytest.raises(Base58CharacterError, match="must be a str"):
        base58.decode(b"11")  # type: ignore[arg-type]


def test_length_table() -> None:
    for n in range(9):
        assert len(base58.encode(FF * n)) == ENCODED_BLOCK_SIZES[n]
        # The table gives the fewest characters that hold n bytes.
        assert 58 ** ENCODED_BLOCK_SIZES[n] >= 256**n
        assert n == 0 or 58 ** (ENCODED_BLOCK_SIZES[n] - 1) < 256**n
    assert len(ALPHABET) == 58 and not set("0OIl") & set(ALPHABET)


@settings(max_examples=200)
@given(st.binary(max_size=100))
def test_round_trip(data: bytes) -> None:
    text = base58.encode(data)
    assert set(text) <= set(ALPHABET)
    assert len(text) == 11 * (len(data) // 8) + ENCODED_BLOCK_SIZES[len(data) % 8]
    assert base58.decode(text) == data


@settings(max_examples=300)
@given(st.text(alphabet=ALPHABET, max_size=40) | st.text(max_size=40))
def test_fuzz_decode_raises_only_typed_errors(text: str) -> None:
    try:
        data = base58.decode(text)
    except Base58Error:
        return
    assert base58.encode(data) == text  # whatever decodes is canonical
