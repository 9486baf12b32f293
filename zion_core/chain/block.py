"""Blocks in the Monero/CryptoNote layout, so that stock XMRig can mine them.

A block blob (what ``get_block_template`` hands out and ``submit_block`` takes back)::

    header:
        varint  major_version      (0..255)
        varint  minor_version      (0..255)
        varint  timestamp
        32 bytes prev_id
        u32 LE  nonce              (at NONCE_OFFSET = 39 in a ZION header, see below)
    miner tx (the coinbase, Monero's transaction layout):
        varint  version            (2 for ZION; 1 is read too, for Monero's genesis)
        varint  unlock_time
        varint  1                  (one input)
        0xff    varint height      (txin_gen)
        varint  1                  (one output)
        varint  amount
        0x02    32 bytes key       (txout_to_key; Monero's 0x03 tagged key adds a view tag byte)
        varint  len(extra)         (<= MAX_EXTRA_BYTES)
        extra                      (tags 0x01, 0x02 and 0x03 only, see parse_extra)
        0x00                       (version 2 only: rct_signatures type RCTTypeNull)
    varint  number of transaction hashes   (<= MAX_TX_HASHES)
    32 bytes per hash

The proof of work hashes the *hashing blob*: the header, the tree root of the miner tx hash
followed by the other transaction hashes (:func:`tree_hash`), and the varint count of those
hashes, miner tx included. The block id is ``keccak256(varint(len(blob)) | blob)`` of the
hashing blob.

Nonce position: miners write the nonce at a fixed byte offset of the hashing blob.
XMRig (like Monero pools) uses offset 39, which holds only when the major and minor
versions each take one varint byte (< 128) and the timestamp takes exactly five
(2^28 <= timestamp < 2^35, i.e. from 1978 to 3058). Monero's genesis block (timestamp 0)
has its nonce at 35, so :class:`BlockHeader` accepts any layout and reports it with
:attr:`BlockHeader.nonce_offset`; a ZION header must pass
:meth:`BlockHeader.check_nonce_offset`.

ZION's miner tx pays ``amount`` to the output key ``key`` (the recipient's spend key) and
carries the recipient's view key as the tx public key (extra tag 0x01). Tag 0x02 is the
extra nonce, the reserved space that pools fill (its position in the block blob is
:attr:`Block.reserved_offset`, what ``get_block_template`` returns as ``reserved_offset``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Final, Self

import attrs

from ..errors import SerializationError, TooLongError, ValidationError
from .codec import MAX_UINT64, Reader, Writer, encode_varint
from .hashing import HASH_SIZE, keccak256
from .transaction import (
    InvalidFieldError,
    UnsupportedVersionError,
    fixed_bytes_validator,
    uint_validator,
)

NONCE_OFFSET: Final = 39
NONCE_SIZE: Final = 4
MAX_VERSION_FIELD: Final = 255
MAX_TX_HASHES: Final = 16_384
MAX_EXTRA_BYTES: Final = 1060
MAX_EXTRA_NONCE: Final = 255
MAX_BLOCK_BYTES: Final = 1 << 20
KEY_SIZE: Final = 32
MAX_UINT32: Final = (1 << 32) - 1

MINER_TX_VERSION: Final = 2
SUPPORTED_MINER_TX_VERSIONS: Final = (1, 2)
DEFAULT_UNLOCK_WINDOW: Final = 60

TXIN_GEN: Final = 0xFF
TXOUT_TO_KEY: Final = 0x02
TXOUT_TO_TAGGED_KEY: Final = 0x03
RCT_TYPE_NULL: Final = 0x00

EXTRA_TAG_PUBKEY: Final = 0x01
EXTRA_TAG_NONCE: Final = 0x02
EXTRA_TAG_MERGE_MINING: Final = 0x03

_ZERO_HASH: Final = bytes(HASH_SIZE)
_RCT_NULL_HASH: Final = keccak256(bytes([RCT_TYPE_NULL]))


class InvalidMinerTxError(SerializationError):
    """The miner tx does not have the coinbase shape (one gen input, one key output...)."""


class InvalidExtraError(InvalidMinerTxError):
    """The miner tx extra holds a tag other than 0x01/0x02/0x03, a repeated tag, or no 0x01."""


class NonceOffsetError(ValidationError):
    """The header does not put the nonce at :data:`NONCE_OFFSET`, where miners write it."""


def _check_hash(value: bytes, what: str) -> None:
    if type(value) is not bytes:
        raise TypeError(f"{what} must be bytes, not {type(value).__name__}")
    if len(value) != HASH_SIZE:
        raise InvalidFieldError(f"{what} must be {HASH_SIZE} bytes, not {len(value)}")


# --------------------------------------------------------------------------- header


@attrs.frozen
class BlockHeader:
    """The block header; ``to_bytes`` is the first part of both the block and hashing blob."""

    major_version: int = attrs.field(validator=uint_validator(MAX_VERSION_FIELD))
    minor_version: int = attrs.field(validator=uint_validator(MAX_VERSION_FIELD))
    timestamp: int = attrs.field(validator=uint_validator(MAX_UINT64))
    prev_id: bytes = attrs.field(validator=fixed_bytes_validator(HASH_SIZE))
    nonce: int = attrs.field(validator=uint_validator(MAX_UINT32))

    def write(self, writer: Writer) -> None:
        """Append ``varint major | varint minor | varint timestamp | prev_id | u32 nonce``."""
        writer.varint(self.major_version).varint(self.minor_version).varint(self.timestamp)
        writer.raw(self.prev_id).u32le(self.nonce)

    def to_bytes(self) -> bytes:
        """The serialized header."""
        writer = Writer()
        self.write(writer)
        return writer.getvalue()

    @classmethod
    def read(cls, reader: Reader) -> Self:
        """Read a header from ``reader``."""
        major = reader.varint(MAX_VERSION_FIELD)
        minor = reader.varint(MAX_VERSION_FIELD)
        timestamp = reader.varint()
        prev_id = reader.raw(HASH_SIZE)
        return cls(major, minor, timestamp, prev_id, reader.u32le())

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """Decode exactly one header from ``data``."""
        reader = Reader(data)
        header = cls.read(reader)
        reader.end()
        return header

    @property
    def nonce_offset(self) -> int:
        """Where this header's nonce starts in its serialization (39 for a ZION header)."""
        return (
            len(encode_varint(self.major_version))
            + len(encode_varint(self.minor_version))
            + len(encode_varint(self.timestamp))
            + HASH_SIZE
        )

    def check_nonce_offset(self) -> None:
        """Raise :class:`NonceOffsetError` unless the nonce sits at :data:`NONCE_OFFSET`.

        That needs major and minor versions below 128 and a timestamp of exactly five varint
        bytes (``2**28 <= timestamp < 2**35``).
        """
        offset = self.nonce_offset
        if offset != NONCE_OFFSET:
            raise NonceOffsetError(
                f"the nonce is at byte {offset}, not {NONCE_OFFSET}: versions must be below 128 "
                f"and the timestamp within 2^28..2^35-1 (major {self.major_version}, "
                f"minor {self.minor_version}, timestamp {self.timestamp})"
            )

    def with_nonce(self, nonce: int) -> Self:
        """A copy with ``nonce`` (u32)."""
        return attrs.evolve(self, nonce=nonce)


def patch_nonce(blob: bytes, nonce: int) -> bytes:
    """``blob`` (a block or hashing blob) with its nonce replaced by ``nonce``.

    The header at the start of ``blob`` must put the nonce at :data:`NONCE_OFFSET`
    (:class:`NonceOffsetError` otherwise); the rest of ``blob`` is not examined.
    """
    header = BlockHeader.read(Reader(blob))
    header.check_nonce_offset()
    if not 0 <= nonce <= MAX_UINT32:
        raise InvalidFieldError(f"a nonce is a u32, not {nonce}")
    end = NONCE_OFFSET + NONCE_SIZE
    return blob[:NONCE_OFFSET] + nonce.to_bytes(NONCE_SIZE, "little") + blob[end:]


# --------------------------------------------------------------------------- tree hash


def tree_hash(hashes: Sequence[bytes]) -> bytes:
    """CryptoNote's tree hash of one or more 32-byte hashes (Monero's ``tree_hash``).

    One hash is its own root; two give ``keccak256(a | b)``. For ``n > 2`` let ``cnt`` be
    the largest power of two below ``n``: the first ``2*cnt - n`` hashes are kept, the
    remaining ones are hashed in pairs, which leaves exactly ``cnt`` nodes; those are then
    hashed pairwise, level by level, down to the root.
    """
    count = len(hashes)
    if count == 0:
        raise InvalidFieldError("the tree hash of no hashes is undefined")
    for index, item in enumerate(hashes):
        _check_hash(item, f"hash {index}")
    if count == 1:
        return bytes(hashes[0])
    if count == 2:
        return keccak256(hashes[0] + hashes[1])
    cnt = 1 << ((count - 1).bit_length() - 1)
    kept = 2 * cnt - count
    level = [bytes(item) for item in hashes[:kept]]
    level += [keccak256(hashes[i] + hashes[i + 1]) for i in range(kept, count, 2)]
    while len(level) > 1:
        level = [keccak256(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


# --------------------------------------------------------------------------- miner tx


@attrs.frozen
class ExtraFields:
    """What a miner tx extra holds (see :func:`parse_extra`)."""

    tx_public_key: bytes
    extra_nonce: bytes | None = None
    extra_nonce_offset: int | None = None
    """Where the extra nonce's bytes start within ``extra`` (after its tag and length)."""
    merge_mining_tag: bytes | None = None


def parse_extra(extra: bytes) -> ExtraFields:
    """Split a miner tx extra into its tags.

    Allowed, each at most once, in any order: 0x01 tx public key (32 bytes; required),
    0x02 extra nonce (varint length <= 255, then the bytes) and 0x03 merge-mining tag
    (varint length, then the bytes). Anything else, a repeated tag or a missing 0x01 raises
    :class:`InvalidExtraError`; truncated fields raise the codec's errors.
    """
    if len(extra) > MAX_EXTRA_BYTES:
        raise TooLongError(f"the extra is at most {MAX_EXTRA_BYTES} bytes, not {len(extra)}")
    reader = Reader(extra)
    public_key: bytes | None = None
    nonce: bytes | None = None
    nonce_offset: int | None = None
    merge_mining: bytes | None = None
    seen: set[int] = set()
    while reader.remaining:
        start = reader.offset
        tag = reader.u8()
        if tag in seen:
            raise InvalidExtraError(f"extra tag 0x{tag:02x} repeated at extra byte {start}")
        seen.add(tag)
        if tag == EXTRA_TAG_PUBKEY:
            public_key = reader.raw(KEY_SIZE)
        elif tag == EXTRA_TAG_NONCE:
            size = reader.count(MAX_EXTRA_NONCE)
            nonce_offset = reader.offset
            nonce = reader.raw(size)
        elif tag == EXTRA_TAG_MERGE_MINING:
            merge_mining = reader.raw(reader.count(MAX_EXTRA_BYTES))
        else:
            raise InvalidExtraError(
                f"extra tag 0x{tag:02x} at extra byte {start} is not allowed in a miner tx "
                "(only 0x01, 0x02 and 0x03)"
            )
    if public_key is None:
        raise InvalidExtraError("the miner tx extra has no tx public key (tag 0x01)")
    return ExtraFields(public_key, nonce, nonce_offset, merge_mining)


def _miner_tx_version(_instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int:
        raise TypeError(f"{attribute.name} must be an int, not {type(value).__name__}")
    if value not in SUPPORTED_MINER_TX_VERSIONS:
        raise UnsupportedVersionError(f"miner tx version {value} is not supported")


def _extra(_instance: Any, attribute: attrs.Attribute[bytes], value: bytes) -> None:
    if type(value) is not bytes:
        raise TypeError(f"{attribute.name} must be bytes, not {type(value).__name__}")
    parse_extra(value)


def _view_tag(_instance: Any, attribute: attrs.Attribute[int | None], value: int | None) -> None:
    if value is not None and (type(value) is not int or not 0 <= value <= 0xFF):
        raise InvalidFieldError(f"{attribute.name} must be None or a byte, not {value!r}")


@attrs.frozen
class MinerTx:
    """The coinbase transaction, byte-compatible with Monero's (see the module docstring).

    ``view_tag`` is ``None`` for a ``txout_to_key`` output (tag 0x02, what ZION writes and
    XMRig 6.16 reads); a byte means Monero's ``txout_to_tagged_key`` (tag 0x03), accepted
    so that Monero blocks from v15 on can be read.
    """

    version: int = attrs.field(validator=_miner_tx_version)
    unlock_time: int = attrs.field(validator=uint_validator(MAX_UINT64))
    height: int = attrs.field(validator=uint_validator(MAX_UINT64))
    amount: int = attrs.field(validator=uint_validator(MAX_UINT64))
    key: bytes = attrs.field(validator=fixed_bytes_validator(KEY_SIZE))
    extra: bytes = attrs.field(validator=_extra)
    view_tag: int | None = attrs.field(default=None, validator=_view_tag)

    @classmethod
    def build(
        cls,
        height: int,
        amount: int,
        spend_key: bytes,
        view_key: bytes,
        reserve_size: int = 0,
        unlock_window: int = DEFAULT_UNLOCK_WINDOW,
    ) -> Self:
        """ZION's coinbase: version 2, unlocking at ``height + unlock_window``, paying
        ``amount`` to ``spend_key``, with ``view_key`` as the tx public key and, when
        ``reserve_size`` > 0, that many zero bytes of extra nonce for pools to fill."""
        if type(reserve_size) is not int or not 0 <= reserve_size <= MAX_EXTRA_NONCE:
            raise InvalidFieldError(f"reserve_size must be in 0..{MAX_EXTRA_NONCE}")
        if type(view_key) is not bytes or len(view_key) != KEY_SIZE:
            raise InvalidFieldError(f"view_key must be {KEY_SIZE} bytes")
        extra = bytes([EXTRA_TAG_PUBKEY]) + view_key
        if reserve_size:
            extra += bytes([EXTRA_TAG_NONCE]) + encode_varint(reserve_size) + bytes(reserve_size)
        return cls(MINER_TX_VERSION, height + unlock_window, height, amount, spend_key, extra)

    @functools.cached_property
    def extra_fields(self) -> ExtraFields:
        """The tags of :attr:`extra`."""
        return parse_extra(self.extra)

    @property
    def tx_public_key(self) -> bytes:
        """The 0x01 tag's key (in ZION: the recipient's view public key)."""
        return self.extra_fields.tx_public_key

    @property
    def extra_nonce(self) -> bytes | None:
        """The 0x02 tag's bytes (the reserved space), or ``None`` without one."""
        return self.extra_fields.extra_nonce

    @property
    def merge_mining_tag(self) -> bytes | None:
        """The 0x03 tag's bytes, or ``None`` without one."""
        return self.extra_fields.merge_mining_tag

    def _extra_start(self) -> int:
        """Where :attr:`extra` starts in the serialized tx."""
        return len(self._prefix_before_extra()) + len(encode_varint(len(self.extra)))

    @property
    def reserved_offset(self) -> int | None:
        """Where the extra nonce's bytes start in :meth:`to_bytes`, or ``None`` without one."""
        offset = self.extra_fields.extra_nonce_offset
        return None if offset is None else self._extra_start() + offset

    def with_extra_nonce(self, nonce: bytes) -> Self:
        """A copy whose extra nonce holds ``nonce`` (same length as the reserved space)."""
        offset = self.extra_fields.extra_nonce_offset
        current = self.extra_fields.extra_nonce
        if offset is None or current is None:
            raise InvalidFieldError("the miner tx has no extra nonce to fill")
        if len(nonce) != len(current):
            raise InvalidFieldError(f"the extra nonce is {len(current)} bytes, not {len(nonce)}")
        extra = self.extra[:offset] + bytes(nonce) + self.extra[offset + len(nonce) :]
        return attrs.evolve(self, extra=extra)

    def _prefix_before_extra(self) -> bytes:
        writer = Writer()
        writer.varint(self.version).varint(self.unlock_time)
        writer.varint(1).u8(TXIN_GEN).varint(self.height)
        writer.varint(1).varint(self.amount)
        if self.view_tag is None:
            writer.u8(TXOUT_TO_KEY).raw(self.key)
        else:
            writer.u8(TXOUT_TO_TAGGED_KEY).raw(self.key).u8(self.view_tag)
        return writer.getvalue()

    def prefix_bytes(self) -> bytes:
        """The transaction prefix: everything before the rct signatures."""
        return self._prefix_before_extra() + encode_varint(len(self.extra)) + self.extra

    def to_bytes(self) -> bytes:
        """The serialized transaction (the prefix, then 0x00 RCTTypeNull for version 2)."""
        prefix = self.prefix_bytes()
        return (prefix + bytes([RCT_TYPE_NULL])) if self.version >= 2 else prefix

    @functools.cached_property
    def hash(self) -> bytes:
        """The transaction hash as Monero computes it.

        Version 2: ``keccak256(keccak256(prefix) | keccak256(0x00) | 32 zero bytes)`` (the
        hashes of the prefix, of the RCTTypeNull base and of the empty prunable part).
        Version 1: ``keccak256`` of the whole serialization.
        """
        if self.version == 1:
            return keccak256(self.to_bytes())
        return keccak256(keccak256(self.prefix_bytes()) + _RCT_NULL_HASH + _ZERO_HASH)

    def write(self, writer: Writer) -> None:
        """Append :meth:`to_bytes`."""
        writer.raw(self.to_bytes())

    @classmethod
    def read(cls, reader: Reader) -> Self:
        """Read a miner tx from ``reader``."""
        version = reader.varint()
        if version not in SUPPORTED_MINER_TX_VERSIONS:
            raise UnsupportedVersionError(f"miner tx version {version} is not supported")
        unlock_time = reader.varint()
        if (inputs := reader.varint()) != 1:
            raise InvalidMinerTxError(f"a miner tx has one input, not {inputs}")
        if (input_type := reader.u8()) != TXIN_GEN:
            raise InvalidMinerTxError(
                f"a miner tx input is txin_gen (0xff), not 0x{input_type:02x}"
            )
        height = reader.varint()
        if (outputs := reader.varint()) != 1:
            raise InvalidMinerTxError(f"a miner tx has one output, not {outputs}")
        amount = reader.varint()
        target = reader.u8()
        key = reader.raw(KEY_SIZE)
        view_tag: int | None = None
        if target == TXOUT_TO_TAGGED_KEY:
            view_tag = reader.u8()
        elif target != TXOUT_TO_KEY:
            raise InvalidMinerTxError(f"output target 0x{target:02x} is not a key (0x02/0x03)")
        extra = reader.raw(reader.count(MAX_EXTRA_BYTES))
        if version >= 2 and (rct_type := reader.u8()) != RCT_TYPE_NULL:
            raise InvalidMinerTxError(f"a miner tx has rct type 0 (null), not {rct_type}")
        return cls(version, unlock_time, height, amount, key, extra, view_tag)

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """Decode exactly one miner tx from ``data``."""
        if len(data) > MAX_BLOCK_BYTES:
            raise TooLongError(f"a miner tx is at most {MAX_BLOCK_BYTES} bytes, not {len(data)}")
        reader = Reader(data)
        tx = cls.read(reader)
        reader.end()
        return tx


# --------------------------------------------------------------------------- block


def _tx_hashes(_instance: Any, attribute: attrs.Attribute[tuple[bytes, ...]], value: Any) -> None:
    if type(value) is not tuple:
        raise TypeError(f"{attribute.name} must be a tuple, not {type(value).__name__}")
    if len(value) > MAX_TX_HASHES:
        raise InvalidFieldError(f"a block holds at most {MAX_TX_HASHES} transaction hashes")
    for index, item in enumerate(value):
        _check_hash(item, f"transaction hash {index}")


@attrs.frozen
class Block:
    """A block: header, miner tx and the hashes of its other transactions."""

    header: BlockHeader = attrs.field(validator=attrs.validators.instance_of(BlockHeader))
    miner_tx: MinerTx = attrs.field(validator=attrs.validators.instance_of(MinerTx))
    tx_hashes: tuple[bytes, ...] = attrs.field(default=(), validator=_tx_hashes)

    def write(self, writer: Writer) -> None:
        """Append the block blob."""
        self.header.write(writer)
        self.miner_tx.write(writer)
        writer.varint(len(self.tx_hashes))
        for tx_hash in self.tx_hashes:
            writer.raw(tx_hash)

    def to_bytes(self) -> bytes:
        """The block blob: ``header | miner tx | varint count | hashes``."""
        return self._wire

    @functools.cached_property
    def _wire(self) -> bytes:
        writer = Writer()
        self.write(writer)
        return writer.getvalue()

    @classmethod
    def read(cls, reader: Reader) -> Self:
        """Read a block from ``reader``."""
        header = BlockHeader.read(reader)
        miner_tx = MinerTx.read(reader)
        count = reader.count(MAX_TX_HASHES, HASH_SIZE)
        return cls(header, miner_tx, tuple(reader.raw(HASH_SIZE) for _ in range(count)))

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """Decode exactly one block blob (at most :data:`MAX_BLOCK_BYTES` bytes)."""
        if len(data) > MAX_BLOCK_BYTES:
            raise TooLongError(f"a block blob is at most {MAX_BLOCK_BYTES} bytes, not {len(data)}")
        reader = Reader(data)
        block = cls.read(reader)
        reader.end()
        return block

    @functools.cached_property
    def tree_root(self) -> bytes:
        """``tree_hash([miner tx hash, *tx_hashes])``."""
        return tree_hash([self.miner_tx.hash, *self.tx_hashes])

    def hashing_blob(self) -> bytes:
        """What the proof of work hashes: ``header | tree root | varint(len(tx_hashes) + 1)``."""
        return self.header.to_bytes() + self.tree_root + encode_varint(len(self.tx_hashes) + 1)

    @functools.cached_property
    def id(self) -> bytes:
        """The block id: ``keccak256(varint(len(blob)) | blob)`` of the hashing blob."""
        blob = self.hashing_blob()
        return keccak256(encode_varint(len(blob)) + blob)

    @property
    def reserved_offset(self) -> int | None:
        """Where the miner tx's extra nonce starts in the block blob, or ``None``."""
        offset = self.miner_tx.reserved_offset
        return None if offset is None else len(self.header.to_bytes()) + offset

    def with_nonce(self, nonce: int) -> Self:
        """A copy with the header nonce set to ``nonce``."""
        return attrs.evolve(self, header=self.header.with_nonce(nonce))

    def with_extra_nonce(self, nonce: bytes) -> Self:
        """A copy whose miner tx extra nonce holds ``nonce`` (same length as reserved)."""
        return attrs.evolve(self, miner_tx=self.miner_tx.with_extra_nonce(nonce))


__all__ = [
    "DEFAULT_UNLOCK_WINDOW",
    "MAX_BLOCK_BYTES",
    "MAX_EXTRA_BYTES",
    "MAX_EXTRA_NONCE",
    "MAX_TX_HASHES",
    "MINER_TX_VERSION",
    "NONCE_OFFSET",
    "Block",
    "BlockHeader",
    "ExtraFields",
    "InvalidExtraError",
    "InvalidMinerTxError",
    "MinerTx",
    "NonceOffsetError",
    "parse_extra",
    "patch_nonce",
    "tree_hash",
]
