"""The chain's records in a key-value :class:`~zion_hookspecs.Storage`.

Every key starts with a one-byte table tag; numbers in keys are big-endian so that
prefix scans come out in order. One connected or disconnected block is one
``write_batch``: the store is consistent after every batch, whatever happens between.

=====  =========================================  ======================================
tag    key                                        value
=====  =========================================  ======================================
``B``  block id                                   the block's bytes
``M``  block id                                   :class:`BlockMeta`
``H``  height (8 bytes)                           main-chain block id at that height
``X``  txid                                       the transaction's bytes
``L``  txid                                       block id (where it was mined)
``U``  txid + output index (4 bytes)              :class:`Coin` (an unspent output)
``D``  block id                                   undo data: the coins the block spent
``A``  spend key + view key + height + txid + i   amount (address history, ``+``/``-``)
``T``  (empty)                                    the main chain's tip id
``I``  block id                                   (empty): a block found invalid
``S``  height (8 bytes) + block id                (empty): every stored block, by height
=====  =========================================  ======================================
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping

import attrs

from zion_core.chain.codec import Reader, Writer
from zion_core.chain.transaction import OutPoint
from zion_core.errors import OutOfDataError
from zion_hookspecs import Storage

BLOCK = b"B"
META = b"M"
HEIGHT = b"H"
TX = b"X"
TX_BLOCK = b"L"
COIN = b"U"
UNDO = b"D"
ADDRESS = b"A"
TIP = b"T"
INVALID = b"I"
STORED = b"S"


def height_key(height: int) -> bytes:
    return HEIGHT + height.to_bytes(8, "big")


def stored_prefix(height: int) -> bytes:
    return STORED + height.to_bytes(8, "big")


def stored_key(height: int, block_id: bytes) -> bytes:
    return stored_prefix(height) + block_id


def coin_key(outpoint: OutPoint) -> bytes:
    return COIN + outpoint.txid + outpoint.index.to_bytes(4, "big")


@attrs.frozen
class BlockMeta:
    """What the chain keeps about every block it stored (main chain or not)."""

    height: int
    prev_id: bytes
    timestamp: int
    difficulty: int
    cumulative_difficulty: int
    generated: int  # atomic units emitted up to and including this block
    reward: int
    size: int

    def to_bytes(self) -> bytes:
        return (
            Writer()
            .varint(self.height)
            .raw(self.prev_id)
            .varint(self.timestamp)
            .raw(self.difficulty.to_bytes(16, "big"))
            .raw(self.cumulative_difficulty.to_bytes(16, "big"))
            .raw(self.generated.to_bytes(16, "big"))
            .varint(self.reward)
            .varint(self.size)
            .getvalue()
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> BlockMeta:
        r = Reader(data)
        meta = cls(
            height=r.varint(),
            prev_id=r.raw(32),
            timestamp=r.varint(),
            difficulty=int.from_bytes(r.raw(16), "big"),
            cumulative_difficulty=int.from_bytes(r.raw(16), "big"),
            generated=int.from_bytes(r.raw(16), "big"),
            reward=r.varint(),
            size=r.varint(),
        )
        r.end()
        return meta


_COIN = struct.Struct("<Q32s32sQQB")


@attrs.frozen
class Coin:
    """An unspent output: its value, owner and when it may be spent.

    Stored in a fixed 89-byte layout (read for every input the node checks):
    amount u64 | spend key | view key | height u64 | unlock height u64 | coinbase u8.
    """

    amount: int
    spend_key: bytes
    view_key: bytes
    height: int
    unlock_time: int
    coinbase: bool

    SIZE = _COIN.size

    def to_bytes(self) -> bytes:
        return _COIN.pack(
            self.amount,
            self.spend_key,
            self.view_key,
            self.height,
            self.unlock_time,
            1 if self.coinbase else 0,
        )

    @classmethod
    def read(cls, r: Reader) -> Coin:
        return cls.from_bytes(r.raw(_COIN.size))

    @classmethod
    def from_bytes(cls, data: bytes) -> Coin:
        if len(data) != _COIN.size:
            raise OutOfDataError(f"a stored coin is {_COIN.size} bytes, not {len(data)}")
        amount, spend, view, height, unlock, coinbase = _COIN.unpack(data)
        return cls(amount, spend, view, height, unlock, coinbase == 1)


def encode_undo(spent: Iterable[tuple[OutPoint, Coin]]) -> bytes:
    items = list(spent)
    w = Writer().varint(len(items))
    for outpoint, coin in items:
        w.raw(outpoint.txid).varint(outpoint.index).raw(coin.to_bytes())
    return w.getvalue()


def decode_undo(data: bytes) -> list[tuple[OutPoint, Coin]]:
    r = Reader(data)
    out = []
    for _ in range(r.count(1 << 20, 34)):
        outpoint = OutPoint(txid=r.raw(32), index=r.varint())
        out.append((outpoint, Coin.read(r)))
    r.end()
    return out


def address_key(
    spend_key: bytes, view_key: bytes, height: int, txid: bytes, index: int, spent: bool
) -> bytes:
    return (
        ADDRESS
        + spend_key
        + view_key
        + height.to_bytes(8, "big")
        + txid
        + index.to_bytes(4, "big")
        + (b"-" if spent else b"+")
    )


_UNKNOWN = object()


class ChainStore:
    """Typed reads over the chain's records, and the one way the chain writes them.

    Block metadata, the height index and the tip are cached in memory (the difficulty
    and timestamp rules read dozens of them per block); :meth:`write` keeps the caches
    in step with every batch, so the chain must write through it.
    """

    def __init__(self, storage: Storage, *, cache_size: int = 4096) -> None:
        self.storage = storage
        self.cache_size = cache_size
        self._metas: OrderedDict[bytes, BlockMeta] = OrderedDict()
        self._heights: OrderedDict[int, bytes] = OrderedDict()
        self._tip: object = _UNKNOWN

    def write(self, puts: Mapping[bytes, bytes], deletes: Iterable[bytes] = ()) -> None:
        """One atomic batch; the caches follow only once it is written."""
        deletes = list(deletes)
        self.storage.write_batch(puts, deletes)
        for key in (*deletes, *puts):
            tag = key[:1]
            if tag == HEIGHT:
                self._heights.pop(int.from_bytes(key[1:9], "big"), None)
            elif tag == META:
                self._metas.pop(key[1:], None)
            elif key == TIP:
                self._tip = _UNKNOWN

    def tip_id(self) -> bytes | None:
        if self._tip is _UNKNOWN:
            self._tip = self.storage.get(TIP)
        return self._tip  # type: ignore[return-value]

    def block_bytes(self, block_id: bytes) -> bytes | None:
        return self.storage.get(BLOCK + block_id)

    def meta(self, block_id: bytes) -> BlockMeta | None:
        meta = self._metas.get(block_id)
        if meta is not None:
            self._metas.move_to_end(block_id)
            return meta
        raw = self.storage.get(META + block_id)
        if raw is None:
            return None
        meta = BlockMeta.from_bytes(raw)
        self._metas[block_id] = meta
        if len(self._metas) > self.cache_size:
            self._metas.popitem(last=False)
        return meta

    def id_at(self, height: int) -> bytes | None:
        block_id = self._heights.get(height)
        if block_id is not None:
            return block_id
        block_id = self.storage.get(height_key(height))
        if block_id is not None:
            self._heights[height] = block_id
            if len(self._heights) > self.cache_size:
                self._heights.popitem(last=False)
        return block_id

    def coin(self, outpoint: OutPoint) -> Coin | None:
        raw = self.storage.get(coin_key(outpoint))
        return Coin.from_bytes(raw) if raw is not None else None

    def tx_bytes(self, txid: bytes) -> bytes | None:
        return self.storage.get(TX + txid)

    def tx_block(self, txid: bytes) -> bytes | None:
        return self.storage.get(TX_BLOCK + txid)

    def undo(self, block_id: bytes) -> list[tuple[OutPoint, Coin]]:
        raw = self.storage.get(UNDO + block_id)
        return decode_undo(raw) if raw is not None else []

    def history(self, spend_key: bytes, view_key: bytes) -> Iterator[tuple[int, bytes, int, bool]]:
        """(height, txid, output index, spent) entries of an address, oldest first."""
        prefix = ADDRESS + spend_key + view_key
        for key, _ in self.storage.iter_prefix(prefix):
            rest = key[len(prefix) :]
            yield (
                int.from_bytes(rest[:8], "big"),
                rest[8:40],
                int.from_bytes(rest[40:44], "big"),
                rest[44:45] == b"-",
            )
