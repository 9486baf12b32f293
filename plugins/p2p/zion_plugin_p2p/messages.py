"""The P2P wire format: frames, message codecs and the protocol's errors.

Every message travels in one frame: a 14-byte header, then the payload::

    magic     4 bytes   per network: network_magic(genesis id)
    type      u16 LE    the message type (MESSAGE_TYPES)
    length    u32 LE    payload bytes, at most that type's MAX_SIZE
    checksum  u32 LE    zlib.crc32(payload)

:class:`FrameReader` checks a header as its bytes arrive (magic, then type, then length
against the type's cap) and raises before a payload above the cap is buffered; only a
complete payload is checksummed and decoded.

Payloads are explicit and canonical: varints are CryptoNote's (:mod:`zion_core.chain.codec`,
non-canonical ones are refused), every count is bounded before anything is allocated,
and a payload with bytes left after its last field is malformed, so that
``decode(encode(m)) == m`` and ``encode(decode(b)) == b`` for every payload ``b`` that
decodes at all. Lists are a varint count followed by the items; strings and nested
objects (blocks, transactions, miner txs, header blobs) are a varint length followed by
their bytes.

Errors: :class:`P2PError` is the root. A peer that sends what does not decode broke the
protocol: :class:`ProtocolViolation` has one subclass per rule, and the message of a
:class:`MalformedMessageError` names the message type and the field. Building a message
locally with a field out of range raises :class:`InvalidMessageError` instead (a
programming error, not the peer's fault).
"""

from __future__ import annotations

import hashlib
import ipaddress
import struct
import zlib
from typing import Any, ClassVar, Final, NoReturn, Self, TypeAlias

import attrs

from zion_core.chain.block import (
    MAX_BLOCK_BYTES,
    MAX_EXTRA_BYTES,
    MAX_TX_HASHES,
    Block,
    BlockHeader,
    MinerTx,
)
from zion_core.chain.codec import MAX_UINT64, Reader, Writer, decode_varint, encode_varint
from zion_core.chain.hashing import HASH_SIZE, keccak256
from zion_core.chain.transaction import MAX_TX_BYTES, Transaction
from zion_core.errors import OutOfDataError, ValidationError, ZionError

from .address import PeerAddress

# --------------------------------------------------------------------------- errors


class P2PError(ZionError):
    """Root of the P2P plugin's errors."""


class ProtocolViolation(P2PError):
    """The peer broke the protocol: the connection is closed and the peer banned."""


class BadMagicError(ProtocolViolation):
    """A frame does not start with this network's magic (another network or protocol)."""


class UnknownMessageError(ProtocolViolation):
    """A frame announces a message type this node does not know."""


class FrameTooLargeError(ProtocolViolation):
    """A frame announces a payload above its message type's ``MAX_SIZE``."""


class BadChecksumError(ProtocolViolation):
    """A payload does not match its header's CRC-32."""


class MalformedMessageError(ProtocolViolation):
    """A payload does not decode: truncated, trailing bytes, a count or value out of range,
    a non-canonical varint, or an invalid chain object. The message names the field."""


class InvalidMessageError(P2PError, ValueError):
    """A message built locally has a field out of range, or encodes above its cap."""


# --------------------------------------------------------------------------- limits

MAGIC_SIZE: Final = 4
HEADER_SIZE: Final = 14
MAX_PAYLOAD: Final = 2 * 1024 * 1024 + 64 * 1024
"""The largest payload of any message type (a ``Blocks`` answer)."""

NONCE_SIZE: Final = 8
SHORT_ID_SIZE: Final = 6
DIFFICULTY_SIZE: Final = 16
MAX_DIFFICULTY: Final = (1 << 128) - 1
MAX_PROTOCOL_VERSION: Final = (1 << 32) - 1
MAX_LISTEN_PORT: Final = 65_535
MAX_NETWORK_BYTES: Final = 16
MAX_USER_AGENT_BYTES: Final = 64
MAX_REASON_BYTES: Final = 256
MAX_ADDR: Final = 250
MAX_LOCATOR: Final = 64
MAX_HEADERS: Final = 2000
MAX_BLOB: Final = 256
"""The largest block hashing blob a ``Headers`` message carries."""
MAX_BLOCKS_PER_REQUEST: Final = 128
MAX_NOT_FOUND: Final = 1000
MAX_INV: Final = 1000
MAX_TXS: Final = 1000
MAX_MINER_TX_BYTES: Final = 2048
"""A bound on a miner tx in a ``CompactBlock`` (the largest one the kernel encodes is
1131 bytes: an extra of MAX_EXTRA_BYTES and every varint at its widest)."""

ZERO_HASH: Final = bytes(HASH_SIZE)

_MAX_VARINT: Final = 10
_MAX_HEADER_BYTES: Final = 2 + 2 + _MAX_VARINT + HASH_SIZE + 4
_MAX_ADDR_ENTRY: Final = 1 + 16 + 2 + _MAX_VARINT + _MAX_VARINT
_MIN_ADDR_ENTRY: Final = 1 + 4 + 2 + 1 + 1
_FAMILY_IPV4: Final = 4
_FAMILY_IPV6: Final = 6
_HEADER: Final = struct.Struct("<4sHII")
_SMALL_VARINTS: Final = tuple(encode_varint(n) for n in range(MAX_BLOB + 1))

assert _MAX_HEADER_BYTES + HASH_SIZE + 3 <= MAX_BLOB
assert MAX_EXTRA_BYTES + 100 <= MAX_MINER_TX_BYTES


def _vsize(value: int) -> int:
    return len(encode_varint(value))


def network_magic(genesis_id: bytes) -> bytes:
    """The 4-byte frame magic of the network whose genesis block is ``genesis_id``:
    ``keccak256(b"ZION/p2p" + genesis_id)[:4]``."""
    if type(genesis_id) is not bytes or len(genesis_id) != HASH_SIZE:
        raise InvalidMessageError(f"a genesis id is {HASH_SIZE} bytes, not {genesis_id!r}")
    return keccak256(b"ZION/p2p" + genesis_id)[:MAGIC_SIZE]


def short_id(salt: bytes, txid: bytes) -> bytes:
    """A transaction's 6-byte short id in a :class:`CompactBlock` salted with ``salt``:
    ``blake2b(txid, key=salt, digest_size=6)``."""
    if len(salt) != NONCE_SIZE or len(txid) != HASH_SIZE:
        raise InvalidMessageError(
            f"short_id takes an {NONCE_SIZE}-byte salt and a {HASH_SIZE}-byte txid, "
            f"not {len(salt)} and {len(txid)} bytes"
        )
    return hashlib.blake2b(txid, key=salt, digest_size=SHORT_ID_SIZE).digest()


# --------------------------------------------------------------------------- validators


def _fail(instance: Any, attribute: attrs.Attribute[Any], detail: str) -> NoReturn:
    raise InvalidMessageError(f"{type(instance).__name__}.{attribute.name}: {detail}")


def _type_error(instance: Any, attribute: attrs.Attribute[Any], what: str, value: Any) -> NoReturn:
    raise TypeError(
        f"{type(instance).__name__}.{attribute.name} must be {what}, not {type(value).__name__}"
    )


def _uint(limit: int, minimum: int = 0) -> Any:
    def check(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
        if type(value) is not int:
            _type_error(instance, attribute, "an int", value)
        if not minimum <= value <= limit:
            _fail(instance, attribute, f"must be in {minimum}..{limit}, not {value}")

    return check


def _fixed(size: int) -> Any:
    def check(instance: Any, attribute: attrs.Attribute[bytes], value: bytes) -> None:
        if type(value) is not bytes:
            _type_error(instance, attribute, "bytes", value)
        if len(value) != size:
            _fail(instance, attribute, f"must be {size} bytes, not {len(value)}")

    return check


def _count(instance: Any, attribute: attrs.Attribute[Any], value: Any, lo: int, hi: int) -> None:
    if type(value) is not tuple:
        _type_error(instance, attribute, "a tuple", value)
    if not lo <= len(value) <= hi:
        _fail(instance, attribute, f"holds {lo}..{hi} items, not {len(value)}")


def _fixed_items(size: int, lo: int, hi: int) -> Any:
    """A tuple of ``lo..hi`` byte strings of ``size`` bytes each."""

    def check(instance: Any, attribute: attrs.Attribute[tuple[bytes, ...]], value: Any) -> None:
        _count(instance, attribute, value, lo, hi)
        for index, item in enumerate(value):
            if type(item) is not bytes or len(item) != size:
                _fail(instance, attribute, f"item {index} is not {size} bytes: {item!r:.80}")

    return check


def _items(item_type: type, lo: int, hi: int) -> Any:
    """A tuple of ``lo..hi`` instances of ``item_type``."""

    def check(instance: Any, attribute: attrs.Attribute[tuple[Any, ...]], value: Any) -> None:
        _count(instance, attribute, value, lo, hi)
        for item in value:
            if not isinstance(item, item_type):
                _type_error(instance, attribute, f"a tuple of {item_type.__name__}", item)

    return check


def _text(encoding: str, lo: int, hi: int, *, printable: bool = False) -> Any:
    """A string of ``lo..hi`` bytes in ``encoding``."""

    def check(instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
        if type(value) is not str:
            _type_error(instance, attribute, "a str", value)
        try:
            size = len(value.encode(encoding))
        except UnicodeEncodeError:
            _fail(instance, attribute, f"is not {encoding}: {value!r:.80}")
        if not lo <= size <= hi:
            _fail(instance, attribute, f"must be {lo}..{hi} {encoding} bytes, not {size}")
        if printable and not value.isprintable():
            _fail(instance, attribute, f"must be printable: {value!r:.80}")

    return check


def _blobs(instance: Any, attribute: attrs.Attribute[tuple[bytes, ...]], value: Any) -> None:
    _count(instance, attribute, value, 0, MAX_HEADERS)
    for index, blob in enumerate(value):
        if type(blob) is not bytes or not 1 <= len(blob) <= MAX_BLOB:
            _fail(instance, attribute, f"blob {index} is not bytes of 1..{MAX_BLOB}: {blob!r:.80}")


def _indexes(instance: Any, attribute: attrs.Attribute[tuple[int, ...]], value: Any) -> None:
    _count(instance, attribute, value, 0, MAX_TX_HASHES)
    previous = -1
    for index in value:
        if type(index) is not int:
            _type_error(instance, attribute, "a tuple of int", index)
        if not previous < index < MAX_TX_HASHES:
            _fail(
                instance,
                attribute,
                f"must increase strictly within 0..{MAX_TX_HASHES - 1}: {index} after {previous}",
            )
        previous = index


# --------------------------------------------------------------------------- decoding


class _In(Reader):
    """A payload reader that remembers which field it is reading, for error messages."""

    __slots__ = ("field", "index")

    def __init__(self, payload: bytes) -> None:
        super().__init__(payload)
        self.field = ""
        self.index: int | None = None

    def at(self, field: str) -> _In:
        self.field = field
        self.index = None
        return self

    @property
    def where(self) -> str:
        return self.field if self.index is None else f"{self.field}[{self.index}]"

    def hash(self) -> bytes:
        return self.raw(HASH_SIZE)

    def hashes(self, limit: int, size: int = HASH_SIZE) -> tuple[bytes, ...]:
        count = self.count(limit, size)
        data = self.raw(count * size)
        return tuple(data[start : start + size] for start in range(0, len(data), size))

    def text(self, limit: int, encoding: str) -> str:
        return self.raw(self.count(limit)).decode(encoding)

    def sized(self, limit: int) -> bytes:
        """A varint length (at most ``limit``) and that many bytes."""
        return self.raw(self.count(limit))

    def u16le(self) -> int:
        return int.from_bytes(self.raw(2), "little")

    def difficulty(self) -> int:
        return int.from_bytes(self.raw(DIFFICULTY_SIZE), "little")


def _write_text(writer: Writer, value: str, encoding: str) -> None:
    data = value.encode(encoding)
    writer.varint(len(data)).raw(data)


def _write_sized(writer: Writer, data: bytes) -> None:
    writer.varint(len(data)).raw(data)


class _Wire:
    """What every message class shares: the frame type, the payload cap and the codec."""

    __slots__ = ()

    TYPE: ClassVar[int]
    MAX_SIZE: ClassVar[int]

    def _write(self, writer: Writer) -> None:
        raise NotImplementedError

    @classmethod
    def _read(cls, reader: _In) -> tuple[Any, ...]:
        """The field values, in order, read from ``reader``."""
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        """The payload."""
        writer = Writer()
        self._write(writer)
        return writer.getvalue()

    @classmethod
    def from_bytes(cls, payload: bytes) -> Self:
        """Decode exactly one payload; :class:`MalformedMessageError` names the field
        that does not decode."""
        reader = _In(payload)
        try:
            values = cls._read(reader)
            if reader.remaining:
                raise MalformedMessageError(
                    f"{cls.__name__}: {reader.remaining} trailing bytes after the last field"
                )
        except MalformedMessageError:
            raise
        except (ValueError, ValidationError) as exc:
            raise MalformedMessageError(f"{cls.__name__}.{reader.where}: {exc}") from exc
        try:
            return cls(*values)
        except InvalidMessageError as exc:
            raise MalformedMessageError(str(exc)) from exc


# --------------------------------------------------------------------------- handshake


@attrs.frozen(slots=True)
class Hello(_Wire):
    """The first message each side sends: who it is, which chain it follows and how far."""

    TYPE: ClassVar[int] = 1
    MAX_SIZE: ClassVar[int] = 256

    version: int = attrs.field(validator=_uint(MAX_PROTOCOL_VERSION))
    network: str = attrs.field(validator=_text("ascii", 1, MAX_NETWORK_BYTES, printable=True))
    genesis_id: bytes = attrs.field(validator=_fixed(HASH_SIZE))
    services: int = attrs.field(validator=_uint(MAX_UINT64))
    top_id: bytes = attrs.field(validator=_fixed(HASH_SIZE))
    height: int = attrs.field(validator=_uint(MAX_UINT64))
    cumulative_difficulty: int = attrs.field(validator=_uint(MAX_DIFFICULTY))
    listen_port: int = attrs.field(validator=_uint(MAX_LISTEN_PORT))
    """The port this node accepts connections on, 0 when it does not listen."""
    nonce: bytes = attrs.field(validator=_fixed(NONCE_SIZE))
    """Random per node run: a Hello carrying our own nonce is a connection to ourselves."""
    timestamp: int = attrs.field(validator=_uint(MAX_UINT64))
    user_agent: str = attrs.field(validator=_text("utf-8", 0, MAX_USER_AGENT_BYTES))

    def _write(self, writer: Writer) -> None:
        writer.varint(self.version)
        _write_text(writer, self.network, "ascii")
        writer.raw(self.genesis_id).varint(self.services).raw(self.top_id).varint(self.height)
        writer.raw(self.cumulative_difficulty.to_bytes(DIFFICULTY_SIZE, "little"))
        writer.raw(self.listen_port.to_bytes(2, "little")).raw(self.nonce)
        writer.varint(self.timestamp)
        _write_text(writer, self.user_agent, "utf-8")

    @classmethod
    def _read(cls, reader: _In) -> tuple[Any, ...]:
        return (
            reader.at("version").varint(MAX_PROTOCOL_VERSION),
            reader.at("network").text(MAX_NETWORK_BYTES, "ascii"),
            reader.at("genesis_id").hash(),
            reader.at("services").varint(),
            reader.at("top_id").hash(),
            reader.at("height").varint(),
            reader.at("cumulative_difficulty").difficulty(),
            reader.at("listen_port").u16le(),
            reader.at("nonce").raw(NONCE_SIZE),
            reader.at("timestamp").varint(),
            reader.at("user_agent").text(MAX_USER_AGENT_BYTES, "utf-8"),
        )


@attrs.frozen(slots=True)
class Ping(_Wire):
    """Asks for a :class:`Pong` with the same nonce (liveness and round-trip time)."""

    TYPE: ClassVar[int] = 2
    MAX_SIZE: ClassVar[int] = NONCE_SIZE

    nonce: bytes = attrs.field(validator=_fixed(NONCE_SIZE))

    def _write(self, writer: Writer) -> None:
        writer.raw(self.nonce)

    @classmethod
    def _read(cls, reader: _In) -> tuple[Any, ...]:
        return (reader.at("nonce").raw(NONCE_SIZE),)


@attrs.frozen(slots=True)
class Pong(_Wire):
    """The answer to a :class:`Ping`."""

    TYPE: ClassVar[int] = 3
    MAX_SIZE: ClassVar[int] = NONCE_SIZE

    nonce: bytes = attrs.field(validator=_fixed(NONCE_SIZE))

    def _write(self, writer: Writer) -> None:
        writer.raw(self.nonce)

    @classmethod
    def _read(cls, reader: _In) -> tuple[Any, ...]:
        return (reader.at("nonce").raw(NONCE_SIZE),)


# --------------------------------------------------------------------------- discovery


@attrs.frozen(slots=True)
class GetAddr(_Wire):
    """Asks for an :class:`Addr` with addresses of other peers."""

    TYPE: ClassVar[int] = 4
    MAX_SIZE: ClassVar[int] = 0

    def _write(self, writer: Writer) -> None:
        pass

    @classmethod
    def _read(cls, reader: _In) -> tuple[Any, ...]:
        return ()


@attrs.frozen(slots=True)
class Addr(_Wire):
    """Peer addresses. Each: family byte (4 or 6), the 4 or 16 address bytes, port u16 BE,
    varint services, varint last seen. A v4-mapped IPv6 address is sent as family 4."""

    TYPE: ClassVar[int] = 5
    MAX_SIZE: ClassVar[int] = _vsize(MAX_ADDR) + MAX_ADDR * _MAX_ADDR_ENTRY

    addresses: tuple[PeerAddress, ...] = attrs.field(validator=_items(PeerAddress, 0, MAX_ADDR))

    def _write(self, writer: Writer) -> None:
        writer.varint(len(self.addresses))
        for address in self.addresses:
            ip = ipaddress.ip_address(address.host)
            writer.u8(_FAMILY_IPV4 if ip.version == 4 else _FAMILY_IPV6).raw(ip.packed)
            writer.raw(address.port.to_bytes(2, "big"))
            writer.varint(address.services).varint(address.last_seen)

    @classmethod
    def _read(cls, reader: _In) -> tuple[Any, ...]:
        addresses = []
        for index in range(reader.at("addresses").count(MAX_ADDR, _MIN_ADDR_ENTRY)):
            reader.index = index
            family = reader.u8()
            ip: ipaddress.IPv4Address | ipaddress.IPv6Address
            if family == _FAMILY_IPV4:
                ip = ipaddress.IPv4Address(reader.raw(4))
            elif family == _FAMILY_IPV6:
                ip = ipaddress.IPv6Address(reader.raw(16))
                if ip.ipv4_mapped is not None:
                    raise ValueError(f"{ip} is v4-mapped: it is sent as family 4")
            else:
                raise ValueError(f"address family {family} is neither 4 nor 6")
            port = int.from_bytes(reader.raw(2), "big")
            services = reader.varint()
            addresses.append(PeerAddress(str(ip), port, services, reader.varint()))
        return (tuple(addresses),)


# --------------------------------------------------------------------------- sync


@attrs.frozen(slots=True)
class GetHeaders(_Wire):
    """Asks for the hashing blobs of the main chain after the first ``locator`` id the
    peer knows, up to ``max_count`` of them, stopping after ``stop`` (zeros: no stop)."""

    TYPE: ClassVar[int] = 6
    MAX_SIZE: ClassVar[int] = (
        _vsize(MAX_LOCATOR) + MAX_LOCATOR * HASH_SIZE + HASH_SIZE + _vsize(MAX_HEADERS)
    )

    locator: tuple[bytes, ...] = attrs.field(validator=_fixed_items(HASH_SIZE, 1, MAX_LOCATOR))
    stop: bytes = attrs.field(default=ZERO_HASH, validator=_fixed(HASH_SIZE))
    max_count: int = attrs.field(default=MAX_HEADERS, validator=_uint(MAX_HEADERS, 1))

    def _write(self, writer: Writer) -> None:
        writer.varint(len(self.locator)).raw(b"".join(self.locator))
        writer.raw(self.stop).varint(self.max_count)

    @classmethod
    def _read(cls, reader: _In) -> tuple[Any, ...]:
        return (
            reader.at("locator").hashes(MAX_LOCATOR),
            reader.at("stop").hash(),
            reader.at("max_count").varint(MAX_HEADERS),
        )


@attrs.frozen(slots=True)
class Headers(_Wire):
    """Block hashing blobs (``HeaderInfo.from_blob`` parses one), consecutive on the
    sender's main chain; fewer than asked for means the sender has no more."""

    TYPE: ClassVar[int] = 7
    MAX_SIZE: ClassVar[int] = _vsize(MAX_HEADERS) + MAX_HEADERS * (_vsize(MAX_BLOB) + MAX_BLOB)

    blobs: tuple[bytes, ...] = attrs.field(validator=_blobs)

    def to_bytes(self) -> bytes:
        parts = [encode_varint(len(self.blobs))]
        small = _SMALL_VARINTS
        for blob in self.blobs:
            parts.append(small[len(blob)])
            parts.append(blob)
        return b"".join(parts)

    @classmethod
    def _read(cls, reader: _In) -> tuple[Any, ...]:
        count = reader.at("blobs").count(MAX_HEADERS, 2)
        data = reader.data
        size = len(data)
        offset = reader.offset
        blobs = []
        for index in range(count):
            reader.index = index
            length, offset = decode_varint(data, offset)
            if not 1 <= length <= MAX_BLOB:
                raise ValueError(f"a header blob is 1..{MAX_BLOB} bytes, not {length}")
            end = offset + length
            if end > size:
                raise OutOfDataError(f"the blob needs {length} bytes, only {size - offset} left")
            blobs.append(data[offset:end])
            offset = end
        reader.offset = offset
        return (tuple(blobs),)


@attrs.frozen(slots=True)
class GetBlocks(_Wire):
    """Asks for these blocks with their transactions (answered by :class:`Blocks`, and
    :class:`NotFound` for the ones the peer lacks)."""

    TYPE: ClassVar[int] = 8
    MAX_SIZE: ClassVar[int] = _vsize(MAX_BLOCKS_PER_REQUEST) + MAX_BLOCKS_PER_REQUEST * HASH_SIZE

    ids: tuple[bytes, ...] = attrs.field(
        validator=_fixed_items(HASH_SIZE, 1, MAX_BLOCKS_PER_REQUEST)
    )

    def _write(self, writer: Writer) -> None:
        writer.varint(len(self.ids)).raw(b"".join(self.ids))

    @classmethod
    def _read(cls, reader: _In) -> tuple[Any, ...]:
        return (reader.at("ids").hashes(MAX_BLOCKS_PER_REQUEST),)


@attrs.frozen(slots=True)
class BlockEntry:
    """A block and its transactions (other than the miner tx), as :class:`Blocks` carries
    them: the block blob, then a count and each transaction, all length-prefixed."""

    block: Block = attrs.field(validator=attrs.validators.instance_of(Block))
    txs: tuple[Transaction, ...] = attrs.field(
        default=(), validator=_items(Transaction, 0, MAX_TX_HASHES)
    )

    def write(self, writer: Writer) -> None:
        _write_sized(writer, self.block.to_bytes())
        writer.varint(len(self.txs))
        for tx in self.txs:
            _write_sized(writer, tx.to_bytes())

    @classmethod
    def read(cls, reader: _In, field: str) -> Self:
        reader.at(f"{field}.block")
        block = Block.from_bytes(reader.sized(MAX_BLOCK_BYTES))
        txs = []
        for index in range(reader.at(f"{field}.txs").count(MAX_TX_HASHES, 2)):
            reader.index = index
            txs.append(Transaction.from_bytes(reader.sized(MAX_TX_BYTES)))
        reader.at(field)
        return cls(block, tuple(txs))


@attrs.frozen(slots=True)
class Blocks(_Wire):
    """Blocks asked for with :class:`GetBlocks`, in the order asked."""

    TYPE: ClassVar[int] = 9
    MAX_SIZE: ClassVar[int] = MAX_PAYLOAD

    entries: tuple[BlockEntry, ...] = attrs.field(
        validator=_items(BlockEntry, 0, MAX_BLOCKS_PER_REQUEST)
    )

    def _write(self, writer: Writer) -> None:
        writer.varint(len(self.entries))
        for entry in self.entries:
            entry.write(writer)

    @classmethod
    def _read(cls, reader: _In) -> tuple[Any, ...]:
        count = reader.at("entries").count(MAX_BLOCKS_PER_REQUEST, 2)
        return (tuple(BlockEntry.read(reader, f"entries[{index}]") for index in range(count)),)


@attrs.frozen(slots=True)
class NotFound(_Wire):
    """Block ids or txids the peer asked for that the sender does not have."""

    TYPE: ClassVar[int] = 10
    MAX_SIZE: ClassVar[int] = _vsize(MAX_NOT_FOUND) + MAX_NOT_FOUND * HASH_SIZE

    ids: tuple[bytes, ...] = attrs.field(validator=_fixed_items(HASH_SIZE, 0, MAX_NOT_FOUND))

    def _write(self, writer: Writer) -> None:
        writer.varint(len(self.ids)).raw(b"".join(self.ids))

    @classmethod
    def _read(cls, reader: _In) -> tuple[Any, ...]:
        return (reader.at("ids").hashes(MAX_NOT_FOUND),)


# --------------------------------------------------------------------------- relay


@attrs.frozen(slots=True)
class CompactBlock(_Wire):
    """A new block announced by its header, miner tx and the short ids
    (:func:`short_id` with ``salt``) of its other transactions, in block order."""

    TYPE: ClassVar[int] = 11
    MAX_SIZE: ClassVar[int] = (
        HASH_SIZE
        + _MAX_HEADER_BYTES
        + _vsize(MAX_MINER_TX_BYTES)
        + MAX_MINER_TX_BYTES
        + NONCE_SIZE
        + _vsize(MAX_TX_HASHES)
        + MAX_TX_HASHES * SHORT_ID_SIZE
    )

    block_id: bytes = attrs.field(validator=_fixed(HASH_SIZE))
    header: BlockHeader = attrs.field(validator=attrs.validators.instance_of(BlockHeader))
    miner_tx: MinerTx = attrs.field(validator=attrs.validators.instance_of(MinerTx))
    salt: bytes = attrs.field(validator=_fixed(NONCE_SIZE))
    short_ids: tuple[bytes, ...] = attrs.field(
        validator=_fixed_items(SHORT_ID_SIZE, 0, MAX_TX_HASHES)
    )

    def _write(self, writer: Writer) -> None:
        writer.raw(self.block_id)
        self.header.write(writer)
        _write_sized(writer, self.miner_tx.to_bytes())
        writer.raw(self.salt).varint(len(self.short_ids)).raw(b"".join(self.short_ids))

    @classmethod
    def _read(cls, reader: _In) -> tuple[Any, ...]:
        return (
            reader.at("block_id").hash(),
            BlockHeader.read(reader.at("header")),
            MinerTx.from_bytes(reader.at("miner_tx").sized(MAX_MINER_TX_BYTES)),
            reader.at("salt").raw(NONCE_SIZE),
            reader.at("short_ids").hashes(MAX_TX_HASHES, SHORT_ID_SIZE),
        )


@attrs.frozen(slots=True)
class GetBlockTxs(_Wire):
    """Asks for the transactions of a compact block at these indexes (0 = the first
    transaction after the miner tx) that the asker could not match."""

    TYPE: ClassVar[int] = 12
    MAX_SIZE: ClassVar[int] = (
        HASH_SIZE + _vsize(MAX_TX_HASHES) + MAX_TX_HASHES * _vsize(MAX_TX_HASHES - 1)
    )

    block_id: bytes = attrs.field(validator=_fixed(HASH_SIZE))
    indexes: tuple[int, ...] = attrs.field(validator=_indexes)

    def _write(self, writer: Writer) -> None:
        writer.raw(self.block_id).varint(len(self.indexes))
        for index in self.indexes:
            writer.varint(index)

    @classmethod
    def _read(cls, reader: _In) -> tuple[Any, ...]:
        block_id = reader.at("block_id").hash()
        indexes = []
        for position in range(reader.at("indexes").count(MAX_TX_HASHES)):
            reader.index = position
            indexes.append(reader.varint(MAX_TX_HASHES - 1))
        return (block_id, tuple(indexes))


@attrs.frozen(slots=True)
class BlockTxs(_Wire):
    """The transactions asked for with :class:`GetBlockTxs`, in the order asked."""

    TYPE: ClassVar[int] = 13
    MAX_SIZE: ClassVar[int] = MAX_PAYLOAD

    block_id: bytes = attrs.field(validator=_fixed(HASH_SIZE))
    txs: tuple[Transaction, ...] = attrs.field(validator=_items(Transaction, 0, MAX_TX_HASHES))

    def _write(self, writer: Writer) -> None:
        writer.raw(self.block_id).varint(len(self.txs))
        for tx in self.txs:
            _write_sized(writer, tx.to_bytes())

    @classmethod
    def _read(cls, reader: _In) -> tuple[Any, ...]:
        return (reader.at("block_id").hash(), _read_txs(reader, "txs", MAX_TX_HASHES))


def _read_txs(reader: _In, field: str, limit: int) -> tuple[Transaction, ...]:
    txs = []
    for index in range(reader.at(field).count(limit, 2)):
        reader.index = index
        txs.append(Transaction.from_bytes(reader.sized(MAX_TX_BYTES)))
    return tuple(txs)


@attrs.frozen(slots=True)
class Inv(_Wire):
    """Announces transactions the sender has in its mempool."""

    TYPE: ClassVar[int] = 14
    MAX_SIZE: ClassVar[int] = _vsize(MAX_INV) + MAX_INV * HASH_SIZE

    txids: tuple[bytes, ...] = attrs.field(validator=_fixed_items(HASH_SIZE, 1, MAX_INV))

    def _write(self, writer: Writer) -> None:
        writer.varint(len(self.txids)).raw(b"".join(self.txids))

    @classmethod
    def _read(cls, reader: _In) -> tuple[Any, ...]:
        return (reader.at("txids").hashes(MAX_INV),)


@attrs.frozen(slots=True)
class GetTxs(_Wire):
    """Asks for announced transactions (answered by :class:`Txs` and :class:`NotFound`)."""

    TYPE: ClassVar[int] = 15
    MAX_SIZE: ClassVar[int] = _vsize(MAX_INV) + MAX_INV * HASH_SIZE

    txids: tuple[bytes, ...] = attrs.field(validator=_fixed_items(HASH_SIZE, 1, MAX_INV))

    def _write(self, writer: Writer) -> None:
        writer.varint(len(self.txids)).raw(b"".join(self.txids))

    @classmethod
    def _read(cls, reader: _In) -> tuple[Any, ...]:
        return (reader.at("txids").hashes(MAX_INV),)


@attrs.frozen(slots=True)
class Txs(_Wire):
    """Transactions, each length-prefixed."""

    TYPE: ClassVar[int] = 16
    MAX_SIZE: ClassVar[int] = MAX_PAYLOAD

    txs: tuple[Transaction, ...] = attrs.field(validator=_items(Transaction, 0, MAX_TXS))

    def _write(self, writer: Writer) -> None:
        writer.varint(len(self.txs))
        for tx in self.txs:
            _write_sized(writer, tx.to_bytes())

    @classmethod
    def _read(cls, reader: _In) -> tuple[Any, ...]:
        return (_read_txs(reader, "txs", MAX_TXS),)


@attrs.frozen(slots=True)
class Tip(_Wire):
    """The sender's new best chain tip (sent when it changes)."""

    TYPE: ClassVar[int] = 17
    MAX_SIZE: ClassVar[int] = HASH_SIZE + _MAX_VARINT + DIFFICULTY_SIZE

    top_id: bytes = attrs.field(validator=_fixed(HASH_SIZE))
    height: int = attrs.field(validator=_uint(MAX_UINT64))
    cumulative_difficulty: int = attrs.field(validator=_uint(MAX_DIFFICULTY))

    def _write(self, writer: Writer) -> None:
        writer.raw(self.top_id).varint(self.height)
        writer.raw(self.cumulative_difficulty.to_bytes(DIFFICULTY_SIZE, "little"))

    @classmethod
    def _read(cls, reader: _In) -> tuple[Any, ...]:
        return (
            reader.at("top_id").hash(),
            reader.at("height").varint(),
            reader.at("cumulative_difficulty").difficulty(),
        )


@attrs.frozen(slots=True)
class Goodbye(_Wire):
    """Sent before closing the connection: why (wrong network, banned, too many peers...)."""

    TYPE: ClassVar[int] = 18
    MAX_SIZE: ClassVar[int] = _vsize(MAX_REASON_BYTES) + MAX_REASON_BYTES

    reason: str = attrs.field(validator=_text("utf-8", 0, MAX_REASON_BYTES))

    def _write(self, writer: Writer) -> None:
        _write_text(writer, self.reason, "utf-8")

    @classmethod
    def _read(cls, reader: _In) -> tuple[Any, ...]:
        return (reader.at("reason").text(MAX_REASON_BYTES, "utf-8"),)


Message: TypeAlias = (
    Hello
    | Ping
    | Pong
    | GetAddr
    | Addr
    | GetHeaders
    | Headers
    | GetBlocks
    | Blocks
    | NotFound
    | CompactBlock
    | GetBlockTxs
    | BlockTxs
    | Inv
    | GetTxs
    | Txs
    | Tip
    | Goodbye
)

_CLASSES: Final[tuple[type[Message], ...]] = (
    Hello,
    Ping,
    Pong,
    GetAddr,
    Addr,
    GetHeaders,
    Headers,
    GetBlocks,
    Blocks,
    NotFound,
    CompactBlock,
    GetBlockTxs,
    BlockTxs,
    Inv,
    GetTxs,
    Txs,
    Tip,
    Goodbye,
)
MESSAGE_TYPES: Final[dict[int, type[Message]]] = {cls.TYPE: cls for cls in _CLASSES}
assert len(MESSAGE_TYPES) == len(_CLASSES)
assert all(cls.MAX_SIZE <= MAX_PAYLOAD for cls in _CLASSES)


# --------------------------------------------------------------------------- headers


@attrs.frozen(slots=True)
class HeaderInfo:
    """A block hashing blob (``header | tree root | varint tx count``) and what it says.

    ``tx_count`` counts the miner tx; ``id`` is the block id, ``keccak256(varint(len(blob))
    | blob)``, the same as :attr:`Block.id`.
    """

    header: BlockHeader
    tree_root: bytes
    tx_count: int
    blob: bytes
    id: bytes

    @classmethod
    def from_blob(cls, blob: bytes) -> Self:
        """Parse one hashing blob exactly (no trailing bytes, tx count in
        ``1..MAX_TX_HASHES + 1``); :class:`MalformedMessageError` otherwise."""
        blob = bytes(blob)
        reader = Reader(blob)
        try:
            if len(blob) > MAX_BLOB:
                raise ValueError(f"a hashing blob is at most {MAX_BLOB} bytes, not {len(blob)}")
            header = BlockHeader.read(reader)
            tree_root = reader.raw(HASH_SIZE)
            tx_count = reader.varint(MAX_TX_HASHES + 1)
            reader.end()
        except (ValueError, ValidationError) as exc:
            raise MalformedMessageError(f"HeaderInfo.blob: {exc}") from exc
        if tx_count < 1:
            raise MalformedMessageError("HeaderInfo.blob: a block has at least its miner tx")
        return cls(header, tree_root, tx_count, blob, keccak256(encode_varint(len(blob)) + blob))

    @classmethod
    def from_block(cls, block: Block) -> Self:
        """The header info of ``block``."""
        blob = block.hashing_blob()
        return cls(block.header, block.tree_root, len(block.tx_hashes) + 1, blob, block.id)


# --------------------------------------------------------------------------- framing


def _check_magic(magic: bytes) -> None:
    if type(magic) is not bytes or len(magic) != MAGIC_SIZE:
        raise InvalidMessageError(f"a network magic is {MAGIC_SIZE} bytes, not {magic!r}")


def decode_message(message_type: int, payload: bytes) -> Message:
    """Decode the payload of a message of type ``message_type``."""
    cls = MESSAGE_TYPES.get(message_type)
    if cls is None:
        raise UnknownMessageError(f"unknown message type {message_type}")
    if len(payload) > cls.MAX_SIZE:
        raise FrameTooLargeError(
            f"{cls.__name__} payload of {len(payload)} bytes is above its cap of {cls.MAX_SIZE}"
        )
    return cls.from_bytes(payload)


def encode_frame(magic: bytes, message: Message) -> bytes:
    """``message`` in a frame for the network of ``magic``; :class:`InvalidMessageError`
    when its payload is above its type's cap (send fewer items)."""
    _check_magic(magic)
    payload = message.to_bytes()
    if len(payload) > message.MAX_SIZE:
        raise InvalidMessageError(
            f"{type(message).__name__} payload of {len(payload)} bytes is above its cap "
            f"of {message.MAX_SIZE}"
        )
    return _HEADER.pack(magic, message.TYPE, len(payload), zlib.crc32(payload)) + payload


class FrameReader:
    """Splits a byte stream into messages.

    :meth:`feed` buffers bytes as they arrive; :meth:`next` returns the next complete
    message, or ``None`` until more bytes are needed. A header is checked as its bytes
    arrive (already by :meth:`feed`): magic, then message type, then length against that
    type's ``MAX_SIZE``, so an oversized frame is refused before its payload is
    buffered. A complete payload is then checked against its checksum and decoded. Every
    failure is a :class:`ProtocolViolation`, after which the reader is not to be used.

    Callers feed chunks (at most 64 KiB) and call :meth:`next` until it returns ``None``
    before feeding more, so at most one header, one capped payload and one chunk are
    buffered.
    """

    __slots__ = ("_buffer", "_frame", "_magic")

    def __init__(self, magic: bytes) -> None:
        _check_magic(magic)
        self._magic = magic
        self._buffer = bytearray()
        self._frame: tuple[type[Message], int, int] | None = None
        """The message class, payload length and checksum of the frame at the buffer's
        start, once its header is complete."""

    @property
    def buffered(self) -> int:
        """Bytes received and not yet returned as messages."""
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        """Buffer ``data``; raises at once when the pending header is already invalid."""
        self._buffer += data
        if self._frame is None:
            self._check_header()

    def next(self) -> Message | None:
        """The next complete message, or ``None`` when more bytes are needed."""
        frame = self._frame
        if frame is None:
            frame = self._check_header()
            if frame is None:
                return None
        cls, length, checksum = frame
        end = HEADER_SIZE + length
        buffer = self._buffer
        if len(buffer) < end:
            return None
        with memoryview(buffer) as view:
            payload = bytes(view[HEADER_SIZE:end])
        del buffer[:end]
        self._frame = None
        if zlib.crc32(payload) != checksum:
            raise BadChecksumError(
                f"{cls.__name__} payload of {length} bytes does not match its checksum"
            )
        return cls.from_bytes(payload)

    def _check_header(self) -> tuple[type[Message], int, int] | None:
        """Check what has arrived of the header at the buffer's start; once it is complete
        (and valid) remember and return its frame."""
        buffer = self._buffer
        size = len(buffer)
        if buffer[:MAGIC_SIZE] != self._magic[:size]:
            raise BadMagicError(
                f"frame magic {bytes(buffer[:MAGIC_SIZE]).hex()} is not this network's "
                f"{self._magic.hex()}"
            )
        if size < 6:
            return None
        message_type = int.from_bytes(buffer[4:6], "little")
        cls = MESSAGE_TYPES.get(message_type)
        if cls is None:
            raise UnknownMessageError(f"unknown message type {message_type}")
        if size < 10:
            return None
        length = int.from_bytes(buffer[6:10], "little")
        if length > cls.MAX_SIZE:
            raise FrameTooLargeError(
                f"{cls.__name__} frame announces {length} bytes, above its cap of {cls.MAX_SIZE}"
            )
        if size < HEADER_SIZE:
            return None
        self._frame = (cls, length, int.from_bytes(buffer[10:HEADER_SIZE], "little"))
        return self._frame


__all__ = [
    "HEADER_SIZE",
    "MAX_ADDR",
    "MAX_BLOB",
    "MAX_BLOCKS_PER_REQUEST",
    "MAX_HEADERS",
    "MAX_INV",
    "MAX_LOCATOR",
    "MAX_MINER_TX_BYTES",
    "MAX_NOT_FOUND",
    "MAX_PAYLOAD",
    "MAX_TXS",
    "MESSAGE_TYPES",
    "ZERO_HASH",
    "Addr",
    "BadChecksumError",
    "BadMagicError",
    "BlockEntry",
    "BlockTxs",
    "Blocks",
    "CompactBlock",
    "FrameReader",
    "FrameTooLargeError",
    "GetAddr",
    "GetBlockTxs",
    "GetBlocks",
    "GetHeaders",
    "GetTxs",
    "Goodbye",
    "HeaderInfo",
    "Headers",
    "Hello",
    "InvalidMessageError",
    "Inv",
    "MalformedMessageError",
    "Message",
    "NotFound",
    "P2PError",
    "Ping",
    "Pong",
    "ProtocolViolation",
    "Tip",
    "Txs",
    "UnknownMessageError",
    "decode_message",
    "encode_frame",
    "network_magic",
    "short_id",
]
