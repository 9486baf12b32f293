"""Binary codecs for consensus bytes: varints and a bounded reader/writer.

Varints are CryptoNote's (LEB128: 7 bits per byte, least significant first, high bit set
on every byte but the last), at most 10 bytes for a 64-bit value, and canonical (no
redundant trailing zero groups). Every length read from the wire is checked against a
limit before anything is allocated.
"""

from __future__ import annotations

from ..errors import NonCanonicalError, OutOfDataError, TooLongError, TrailingDataError

MAX_UINT64 = (1 << 64) - 1
MAX_VARINT_BYTES = 10


def encode_varint(value: int) -> bytes:
    """``value`` (0 .. 2^64-1) as a CryptoNote varint."""
    if not 0 <= value <= MAX_UINT64:
        raise TooLongError(f"a varint holds 0 to 2^64-1, not {value}")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(data: bytes, offset: int = 0) -> tuple[int, int]:
    """The varint at ``data[offset:]`` and the offset just past it."""
    size = len(data)
    if offset >= size:
        raise OutOfDataError(f"the data ends inside a varint at byte {offset}")
    byte = data[offset]
    if byte < 0x80:  # one byte: most counts, indexes and versions
        return byte, offset + 1
    value = byte & 0x7F
    shift = 7
    index = offset + 1
    end = offset + MAX_VARINT_BYTES
    while index < size:
        if index >= end:
            raise TooLongError(f"varint at byte {offset} is longer than {MAX_VARINT_BYTES} bytes")
        byte = data[index]
        index += 1
        if byte < 0x80:
            if byte == 0:
                raise NonCanonicalError(f"non-canonical varint at byte {offset}")
            value |= byte << shift
            if value > MAX_UINT64:
                raise TooLongError(f"varint at byte {offset} exceeds 2^64-1")
            return value, index
        value |= (byte & 0x7F) << shift
        shift += 7
    if index >= end:
        raise TooLongError(f"varint at byte {offset} is longer than {MAX_VARINT_BYTES} bytes")
    raise OutOfDataError(f"the data ends inside a varint at byte {offset}")


class Reader:
    """Reads values from ``data`` in order; every read is bounds-checked."""

    __slots__ = ("data", "offset")

    def __init__(self, data: bytes, offset: int = 0) -> None:
        self.data = bytes(data)
        self.offset = offset

    @property
    def remaining(self) -> int:
        return len(self.data) - self.offset

    def raw(self, size: int) -> bytes:
        start = self.offset
        end = start + size
        if size < 0:
            raise TooLongError(f"negative size {size}")
        if end > len(self.data):
            raise OutOfDataError(
                f"need {size} bytes at offset {start}, only {len(self.data) - start} left"
            )
        self.offset = end
        return self.data[start:end]

    def varint(self, limit: int = MAX_UINT64) -> int:
        """A varint, which must be ``<= limit``."""
        start = self.offset
        value, self.offset = decode_varint(self.data, start)
        if value > limit:
            raise TooLongError(f"value {value} at offset {start} exceeds its limit {limit}")
        return value

    def count(self, limit: int, item_size: int = 1) -> int:
        """A varint count of items, checked against ``limit`` and against the bytes left
        (each item takes at least ``item_size`` bytes) before anything is allocated."""
        start = self.offset
        n = self.varint(limit)
        if item_size > 0 and n * item_size > self.remaining:
            raise OutOfDataError(
                f"count {n} at offset {start} needs at least {n * item_size} bytes, "
                f"only {self.remaining} left"
            )
        return n

    def u8(self) -> int:
        return self.raw(1)[0]

    def u32le(self) -> int:
        return int.from_bytes(self.raw(4), "little")

    def u64le(self) -> int:
        return int.from_bytes(self.raw(8), "little")

    def end(self) -> None:
        """Check that everything was read."""
        if self.remaining:
            raise TrailingDataError(f"{self.remaining} unexpected bytes after offset {self.offset}")


class Writer:
    """Builds bytes; the counterpart of :class:`Reader`."""

    __slots__ = ("_out",)

    def __init__(self) -> None:
        self._out = bytearray()

    def raw(self, data: bytes) -> Writer:
        self._out += data
        return self

    def varint(self, value: int) -> Writer:
        self._out += encode_varint(value)
        return self

    def u8(self, value: int) -> Writer:
        self._out.append(value)
        return self

    def u32le(self, value: int) -> Writer:
        self._out += value.to_bytes(4, "little")
        return self

    def u64le(self, value: int) -> Writer:
        self._out += value.to_bytes(8, "little")
        return self

    def getvalue(self) -> bytes:
        return bytes(self._out)
