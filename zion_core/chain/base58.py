"""CryptoNote base58, the text form of addresses (the Monero variant, not Bitcoin's).

The alphabet is Bitcoin's (no ``0``, ``O``, ``I``, ``l``), but the data is cut into
8-byte blocks, each read as a big-endian number and written as exactly 11 characters
(left-padded with ``1``, the zero digit); a last, shorter block of ``n`` bytes becomes
``ENCODED_BLOCK_SIZES[n]`` characters. The text length therefore fixes the data length,
and decoding is strict: a character outside the alphabet, a text length that no data
length produces, or a block whose value does not fit its byte count each raise a
subclass of :class:`~zion_core.errors.SerializationError`.
"""

from __future__ import annotations

from typing import Final

from ..errors import SerializationError

ALPHABET: Final = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
FULL_BLOCK_SIZE: Final = 8
FULL_ENCODED_BLOCK_SIZE: Final = 11
#: Characters for a block of 0..8 bytes.
ENCODED_BLOCK_SIZES: Final = (0, 2, 3, 5, 6, 7, 9, 10, 11)

_INDEX: Final = {char: index for index, char in enumerate(ALPHABET)}
#: Bytes for a block of 0..11 characters, or -1 where no block has that length.
_DECODED_BLOCK_SIZES: Final = tuple(
    ENCODED_BLOCK_SIZES.index(n) if n in ENCODED_BLOCK_SIZES else -1
    for n in range(FULL_ENCODED_BLOCK_SIZE + 1)
)


class Base58Error(SerializationError):
    """Text that is not valid CryptoNote base58."""


class Base58CharacterError(Base58Error):
    """A character outside the base58 alphabet."""


class Base58LengthError(Base58Error):
    """A text length that no data length encodes to (its last block is too short)."""


class Base58OverflowError(Base58Error):
    """A block whose value does not fit in its number of bytes."""


def _encode_block(block: bytes) -> str:
    value = int.from_bytes(block, "big")
    chars = []
    for _ in range(ENCODED_BLOCK_SIZES[len(block)]):
        value, digit = divmod(value, 58)
        chars.append(ALPHABET[digit])
    return "".join(reversed(chars))


def encode(data: bytes) -> str:
    """``data`` as CryptoNote base58."""
    data = bytes(data)
    return "".join(
        _encode_block(data[start : start + FULL_BLOCK_SIZE])
        for start in range(0, len(data), FULL_BLOCK_SIZE)
    )


def decoded_size(length: int) -> int:
    """The number of bytes that ``length`` characters encode.

    Raises :class:`Base58LengthError` for a length that no data encodes to.
    """
    full, last = divmod(length, FULL_ENCODED_BLOCK_SIZE)
    if length < 0 or _DECODED_BLOCK_SIZES[last] < 0:
        raise Base58LengthError(
            f"{length} characters is not a valid base58 length "
            f"(a last block of {last} characters encodes no whole number of bytes)"
        )
    return full * FULL_BLOCK_SIZE + _DECODED_BLOCK_SIZES[last]


def decode(text: str) -> bytes:
    """The bytes that ``text`` encodes; raises a :class:`Base58Error` subclass if invalid."""
    if not isinstance(text, str):
        raise Base58CharacterError(f"base58 text must be a str, not {type(text).__name__}")
    for position, char in enumerate(text):
        if char not in _INDEX:
            raise Base58CharacterError(
                f"character {char!r} at position {position} is not in the base58 alphabet"
            )
    decoded_size(len(text))
    out = bytearray()
    for start in range(0, len(text), FULL_ENCODED_BLOCK_SIZE):
        chunk = text[start : start + FULL_ENCODED_BLOCK_SIZE]
        size = _DECODED_BLOCK_SIZES[len(chunk)]
        value = 0
        for char in chunk:
            value = value * 58 + _INDEX[char]
        if value >> (8 * size):
            raise Base58OverflowError(
                f"the base58 block at position {start} ({chunk!r}) overflows {size} bytes"
            )
        out += value.to_bytes(size, "big")
    return bytes(out)


__all__ = [
    "ALPHABET",
    "ENCODED_BLOCK_SIZES",
    "FULL_BLOCK_SIZE",
    "FULL_ENCODED_BLOCK_SIZE",
    "Base58CharacterError",
    "Base58Error",
    "Base58LengthError",
    "Base58OverflowError",
    "decode",
    "decoded_size",
    "encode",
]
