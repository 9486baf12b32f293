"""P2P framing and message codecs: round trips, canonical bytes, limits, errors naming the
field, and fuzzing of the frame reader (only P2P errors may come out of it)."""

from __future__ import annotations

import contextlib
import hashlib
import zlib
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zion_core.chain.block import (
    MAX_EXTRA_BYTES,
    MAX_EXTRA_NONCE,
    MAX_TX_HASHES,
    Block,
    BlockHeader,
    MinerTx,
)
from zion_core.chain.codec import encode_varint
from zion_core.chain.hashing import keccak256
from zion_core.chain.transaction import MAX_INPUTS, OutPoint, Transaction, TxOutput
from zion_core.errors import ZionError
from zion_plugin_p2p.address import PeerAddress, canonical_host
from zion_plugin_p2p.messages import (
    HEADER_SIZE,
    MAX_ADDR,
    MAX_BLOB,
    MAX_BLOCKS_PER_REQUEST,
    MAX_HEADERS,
    MAX_INV,
    MAX_LOCATOR,
    MAX_MINER_TX_BYTES,
    MAX_NOT_FOUND,
    MAX_PAYLOAD,
    MAX_TXS,
    MESSAGE_TYPES,
    ZERO_HASH,
    Addr,
    BadChecksumError,
    BadMagicError,
    BlockEntry,
    Blocks,
    BlockTxs,
    CompactBlock,
    FrameReader,
    FrameTooLargeError,
    GetAddr,
    GetBlocks,
    GetBlockTxs,
    GetHeaders,
    GetTxs,
    Goodbye,
    HeaderInfo,
    Headers,
    Hello,
    Inv,
    InvalidMessageError,
    MalformedMessageError,
    Message,
    NotFound,
    P2PError,
    Ping,
    Pong,
    ProtocolViolation,
    Tip,
    Txs,
    UnknownMessageError,
    decode_message,
    encode_frame,
    network_magic,
    short_id,
)

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MAGIC = network_magic(keccak256(b"test genesis"))
U64_MAX = (1 << 64) - 1
U32_MAX = (1 << 32) - 1

# --------------------------------------------------------------------------- strategies

hashes32 = st.binary(min_size=32, max_size=32)
bytes8 = st.binary(min_size=8, max_size=8)
u64 = st.integers(0, U64_MAX)
difficulties = st.integers(0, (1 << 128) - 1)

headers = st.builds(
    BlockHeader, st.integers(0, 255), st.integers(0, 255), u64, hashes32, st.integers(0, U32_MAX)
)


@st.composite
def extras(draw: st.DrawFn) -> bytes:
    parts = [b"\x01" + draw(hashes32)]
    if draw(st.booleans()):
        nonce = draw(st.binary(max_size=MAX_EXTRA_NONCE))
        parts.append(b"\x02" + encode_varint(len(nonce)) + nonce)
    if draw(st.booleans()):
        tag = draw(st.binary(max_size=40))
        parts.append(b"\x03" + encode_varint(len(tag)) + tag)
    return b"".join(draw(st.permutations(parts)))


miner_txs = st.builds(
    MinerTx,
    st.sampled_from([1, 2]),
    u64,
    u64,
    u64,
    hashes32,
    extras(),
    st.none() | st.integers(0, 255),
)
blocks = st.builds(Block, headers, miner_txs, st.lists(hashes32, max_size=8).map(tuple))

outpoints = st.builds(OutPoint, hashes32, st.integers(0, U32_MAX))
tx_outputs = st.builds(TxOutput, st.integers(0, 1 << 60), hashes32, hashes32)


@st.composite
def transactions(draw: st.DrawFn) -> Transaction:
    inputs = tuple(draw(st.lists(outpoints, max_size=3)))
    return Transaction(
        unlock_time=draw(u64),
        inputs=inputs,
        outputs=tuple(draw(st.lists(tx_outputs, max_size=3))),
        fee=draw(st.integers(0, 1 << 60)),
        extra=draw(st.binary(max_size=40)),
        signatures=tuple(draw(st.binary(min_size=64, max_size=64)) for _ in inputs),
    )


peer_addresses = st.builds(
    PeerAddress,
    st.ip_addresses().map(lambda ip: canonical_host(str(ip))),
    st.integers(1, 65_535),
    u64,
    u64,
)


def tuples(items: st.SearchStrategy[Any], min_size: int = 0, max_size: int = 20) -> Any:
    return st.lists(items, min_size=min_size, max_size=max_size).map(tuple)


MESSAGES: dict[type[Any], st.SearchStrategy[Any]] = {
    Hello: st.builds(
        Hello,
        st.integers(0, U32_MAX),
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=16),
        hashes32,
        u64,
        hashes32,
        u64,
        difficulties,
        st.integers(0, 65_535),
        bytes8,
        u64,
        st.text(max_size=16),
    ),
    Ping: st.builds(Ping, bytes8),
    Pong: st.builds(Pong, bytes8),
    GetAddr: st.just(GetAddr()),
    Addr: st.builds(Addr, tuples(peer_addresses)),
    GetHeaders: st.builds(
        GetHeaders, tuples(hashes32, 1, MAX_LOCATOR), hashes32, st.integers(1, MAX_HEADERS)
    ),
    Headers: st.builds(Headers, tuples(st.binary(min_size=1, max_size=MAX_BLOB), 0, 30)),
    GetBlocks: st.builds(GetBlocks, tuples(hashes32, 1, 40)),
    Blocks: st.builds(
        Blocks, tuples(st.builds(BlockEntry, blocks, tuples(transactions(), 0, 3)), 0, 3)
    ),
    NotFound: st.builds(NotFound, tuples(hashes32, 0, 40)),
    CompactBlock: st.builds(
        CompactBlock,
        hashes32,
        headers,
        miner_txs,
        bytes8,
        tuples(st.binary(min_size=6, max_size=6), 0, 40),
    ),
    GetBlockTxs: st.builds(
        GetBlockTxs,
        hashes32,
        st.sets(st.integers(0, MAX_TX_HASHES - 1), max_size=40).map(lambda s: tuple(sorted(s))),
    ),
    BlockTxs: st.builds(BlockTxs, hashes32, tuples(transactions(), 0, 4)),
    Inv: st.builds(Inv, tuples(hashes32, 1, 40)),
    GetTxs: st.builds(GetTxs, tuples(hashes32, 1, 40)),
    Txs: st.builds(Txs, tuples(transactions(), 0, 4)),
    Tip: st.builds(Tip, hashes32, u64, difficulties),
    Goodbye: st.builds(Goodbye, st.text(max_size=64)),
}
any_message = st.one_of(*MESSAGES.values())
CLASSES = sorted(MESSAGES, key=lambda cls: cls.TYPE)
by_name = pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)


def feed_in_chunks(reader: FrameReader, data: bytes, sizes: Sequence[int]) -> list[Message]:
    """Feed ``data`` in chunks of the given sizes (cycled), draining after each chunk."""
    received: list[Message] = []
    position = 0
    turn = 0
    while position < len(data):
        size = sizes[turn % len(sizes)]
        turn += 1
        reader.feed(data[position : position + size])
        position += size
        while (message := reader.next()) is not None:
            received.append(message)
    return received


def frame(message_type: int, payload: bytes, *, magic: bytes = MAGIC) -> bytes:
    header = magic + message_type.to_bytes(2, "little") + len(payload).to_bytes(4, "little")
    return header + zlib.crc32(payload).to_bytes(4, "little") + payload


def decodes_canonically(message_type: int, payload: bytes) -> None:
    """Either the payload is refused as a protocol violation, or it decodes to a message
    that encodes back to exactly the same bytes."""
    try:
        message = decode_message(message_type, payload)
    except (MalformedMessageError, FrameTooLargeError):
        return
    assert message.to_bytes() == payload


# --------------------------------------------------------------------------- the table


def test_error_hierarchy() -> None:
    for error in (
        BadMagicError,
        UnknownMessageError,
        FrameTooLargeError,
        BadChecksumError,
        MalformedMessageError,
    ):
        assert issubclass(error, ProtocolViolation)
    assert issubclass(ProtocolViolation, P2PError)
    assert issubclass(P2PError, ZionError)
    assert issubclass(InvalidMessageError, P2PError)
    assert not issubclass(InvalidMessageError, ProtocolViolation)


def test_message_types() -> None:
    assert sorted(MESSAGE_TYPES) == list(range(1, 19))
    assert set(MESSAGE_TYPES.values()) == set(MESSAGES)
    for message_type, cls in MESSAGE_TYPES.items():
        assert message_type == cls.TYPE
        assert 0 <= cls.MAX_SIZE <= MAX_PAYLOAD
    assert MAX_PAYLOAD == 2 * 1024 * 1024 + 64 * 1024
    assert Hello.MAX_SIZE == 256
    assert Blocks.MAX_SIZE == MAX_PAYLOAD
    assert GetAddr().to_bytes() == b""


# --------------------------------------------------------------------------- round trips


@by_name
@FUZZ
@given(data=st.data())
def test_round_trip(cls: type[Any], data: st.DataObject) -> None:
    message = data.draw(MESSAGES[cls])
    payload = message.to_bytes()
    assert len(payload) <= cls.MAX_SIZE
    assert cls.from_bytes(payload) == message
    assert decode_message(cls.TYPE, payload) == message
    assert decode_message(cls.TYPE, payload).to_bytes() == payload
    framed = encode_frame(MAGIC, message)
    assert framed == frame(cls.TYPE, payload)
    sizes = data.draw(st.lists(st.integers(1, 200), min_size=1, max_size=5))
    reader = FrameReader(MAGIC)
    assert feed_in_chunks(reader, framed, sizes) == [message]
    assert reader.buffered == 0


@by_name
@FUZZ
@given(data=st.data())
def test_mutated_payloads_fail_cleanly_or_stay_canonical(
    cls: type[Any], data: st.DataObject
) -> None:
    payload = bytearray(data.draw(MESSAGES[cls]).to_bytes())
    for _ in range(data.draw(st.integers(1, 3))):
        edit = data.draw(st.sampled_from(["set", "insert", "delete", "cut"]))
        where = data.draw(st.integers(0, len(payload)))
        if edit == "set" and where < len(payload):
            payload[where] = data.draw(st.integers(0, 255))
        elif edit == "insert":
            payload[where:where] = data.draw(st.binary(min_size=1, max_size=3))
        elif edit == "delete":
            del payload[where : where + 1]
        else:
            del payload[where:]
    decodes_canonically(cls.TYPE, bytes(payload))


@by_name
@FUZZ
@given(payload=st.binary(max_size=300))
def test_arbitrary_payloads_fail_cleanly_or_stay_canonical(cls: type[Any], payload: bytes) -> None:
    decodes_canonically(cls.TYPE, payload)


@FUZZ
@given(st.lists(any_message, min_size=1, max_size=5), st.data())
def test_a_stream_splits_anywhere(messages: list[Any], data: st.DataObject) -> None:
    stream = b"".join(encode_frame(MAGIC, message) for message in messages)
    assert feed_in_chunks(FrameReader(MAGIC), stream, [len(stream)]) == messages
    assert feed_in_chunks(FrameReader(MAGIC), stream, [1]) == messages
    sizes = data.draw(st.lists(st.integers(1, 64), min_size=1, max_size=8))
    reader = FrameReader(MAGIC)
    assert feed_in_chunks(reader, stream, sizes) == messages
    assert reader.buffered == 0
    assert reader.next() is None


# --------------------------------------------------------------------------- frame reader fuzz


@FUZZ
@given(
    st.sampled_from([b"", MAGIC, MAGIC + b"\x07\x00", MAGIC + b"\x01\x00\x05\x00\x00\x00"]),
    st.binary(max_size=600),
    st.lists(st.integers(1, 100), min_size=1, max_size=4),
)
def test_arbitrary_bytes_raise_only_p2p_errors(
    prefix: bytes, data: bytes, sizes: list[int]
) -> None:
    with contextlib.suppress(ProtocolViolation):
        feed_in_chunks(FrameReader(MAGIC), prefix + data, sizes)


@FUZZ
@given(st.lists(any_message, min_size=1, max_size=3), st.data())
def test_mutated_frames_raise_only_p2p_errors(messages: list[Any], data: st.DataObject) -> None:
    stream = bytearray(b"".join(encode_frame(MAGIC, message) for message in messages))
    for _ in range(data.draw(st.integers(1, 4))):
        stream[data.draw(st.integers(0, len(stream) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(stream)))
    sizes = data.draw(st.lists(st.integers(1, 300), min_size=1, max_size=4))
    with contextlib.suppress(ProtocolViolation):
        feed_in_chunks(FrameReader(MAGIC), bytes(stream[:cut]), sizes)


@FUZZ
@given(st.sampled_from(CLASSES), st.binary(max_size=400), st.data())
def test_frames_with_a_valid_header_and_any_payload(
    cls: type[Any], payload: bytes, data: st.DataObject
) -> None:
    """A correct header and checksum take the reader to the decoder: only protocol
    violations come out, and what decodes is canonical."""
    sizes = data.draw(st.lists(st.integers(1, 100), min_size=1, max_size=4))
    try:
        received = feed_in_chunks(FrameReader(MAGIC), frame(cls.TYPE, payload), sizes)
    except (MalformedMessageError, FrameTooLargeError):
        return
    assert len(received) == 1
    assert received[0].to_bytes() == payload


# --------------------------------------------------------------------------- frame checks


@by_name
def test_the_cap_is_checked_before_the_payload(cls: type[Any]) -> None:
    header = MAGIC + cls.TYPE.to_bytes(2, "little") + (cls.MAX_SIZE + 1).to_bytes(4, "little")
    reader = FrameReader(MAGIC)
    with pytest.raises(FrameTooLargeError, match=cls.__name__):
        reader.feed(header)  # no checksum, no payload yet
    assert reader.buffered <= HEADER_SIZE

    reader = FrameReader(MAGIC)
    reader.feed(header[:9])
    assert reader.next() is None
    with pytest.raises(FrameTooLargeError):
        reader.feed(header[9:])

    reader = FrameReader(MAGIC)
    reader.feed(header[:9])
    reader._buffer += header[9:]  # bytes that arrived without a feed() check
    with pytest.raises(FrameTooLargeError):
        reader.next()

    with pytest.raises(FrameTooLargeError):
        decode_message(cls.TYPE, bytes(cls.MAX_SIZE + 1))


def test_the_largest_announcement_waits_for_its_payload() -> None:
    reader = FrameReader(MAGIC)
    header = MAGIC + Blocks.TYPE.to_bytes(2, "little") + MAX_PAYLOAD.to_bytes(4, "little")
    reader.feed(header + bytes(4))
    assert reader.next() is None
    assert reader.buffered == HEADER_SIZE
    huge = MAGIC + Blocks.TYPE.to_bytes(2, "little") + U32_MAX.to_bytes(4, "little")
    with pytest.raises(FrameTooLargeError):
        FrameReader(MAGIC).feed(huge)


def test_bad_magic_from_the_first_wrong_byte() -> None:
    other = network_magic(keccak256(b"another genesis"))
    assert other != MAGIC
    with pytest.raises(BadMagicError):
        FrameReader(MAGIC).feed(encode_frame(other, Ping(bytes(8))))
    with pytest.raises(BadMagicError):
        FrameReader(MAGIC).feed(b"GET / HTTP/1.1\r\n")
    wrong_second = MAGIC[:1] + bytes([MAGIC[1] ^ 1])
    reader = FrameReader(MAGIC)
    reader.feed(MAGIC[:1])
    assert reader.next() is None
    with pytest.raises(BadMagicError):
        reader.feed(wrong_second[1:])


@pytest.mark.parametrize("message_type", [0, 19, 1000, 0xFFFF])
def test_unknown_type_from_the_header_alone(message_type: int) -> None:
    reader = FrameReader(MAGIC)
    with pytest.raises(UnknownMessageError, match=str(message_type)):
        reader.feed(MAGIC + message_type.to_bytes(2, "little"))
    with pytest.raises(UnknownMessageError):
        decode_message(message_type, b"")


def test_checksum_mismatch() -> None:
    framed = bytearray(encode_frame(MAGIC, Tip(bytes(32), 5, 7)))
    framed[10] ^= 0x01  # the checksum
    reader = FrameReader(MAGIC)
    reader.feed(bytes(framed))
    with pytest.raises(BadChecksumError, match="Tip"):
        reader.next()
    framed = bytearray(encode_frame(MAGIC, Ping(b"12345678")))
    framed[-1] ^= 0x80  # the payload
    reader = FrameReader(MAGIC)
    reader.feed(bytes(framed))
    with pytest.raises(BadChecksumError):
        reader.next()


def test_layout_of_a_frame() -> None:
    framed = encode_frame(MAGIC, Ping(b"abcdefgh"))
    assert framed[:4] == MAGIC
    assert framed[4:6] == b"\x02\x00"
    assert framed[6:10] == b"\x08\x00\x00\x00"
    assert framed[10:14] == zlib.crc32(b"abcdefgh").to_bytes(4, "little")
    assert framed[14:] == b"abcdefgh"
    with pytest.raises(InvalidMessageError):
        encode_frame(MAGIC[:3], Ping(b"abcdefgh"))
    with pytest.raises(InvalidMessageError):
        FrameReader(b"12345")


def test_messages_after_a_frame_in_the_same_chunk() -> None:
    stream = encode_frame(MAGIC, Ping(bytes(8))) + encode_frame(MAGIC, GetAddr())
    reader = FrameReader(MAGIC)
    reader.feed(stream + MAGIC[:2])
    assert reader.next() == Ping(bytes(8))
    assert reader.next() == GetAddr()
    assert reader.next() is None
    assert reader.buffered == 2
    with pytest.raises(BadMagicError):  # the next header is checked as it arrives
        reader.feed(b"xx")


# --------------------------------------------------------------------------- large payloads


def big_transaction(seed: int) -> Transaction:
    inputs = tuple(OutPoint(keccak256(bytes([seed, i % 256, i // 256])), i) for i in range(256))
    return Transaction(
        inputs=inputs,
        outputs=(TxOutput(1, bytes(32), bytes(32)),),
        fee=seed,
        extra=bytes(MAX_EXTRA_BYTES),
        signatures=tuple(bytes([seed]) * 64 for _ in inputs),
    )


def sample_block(height: int, tx_hashes: tuple[bytes, ...] = ()) -> Block:
    header = BlockHeader(16, 16, 1_700_000_000 + height, keccak256(b"%d" % height), height)
    miner_tx = MinerTx.build(height, 10**12, bytes(32), bytes(range(32)), reserve_size=8)
    return Block(header, miner_tx, tx_hashes)


def test_a_two_megabyte_blocks_payload_in_64k_chunks() -> None:
    txs = tuple(big_transaction(seed) for seed in range(20))
    per_entry = 4
    slices = [txs[(n * per_entry) % 20 :][:per_entry] for n in range(20)]
    entries = tuple(
        BlockEntry(sample_block(n, tuple(tx.txid for tx in block_txs)), block_txs)
        for n, block_txs in enumerate(slices)
    )
    message = Blocks(entries)
    framed = encode_frame(MAGIC, message)
    assert 2_000_000 < len(framed) <= HEADER_SIZE + MAX_PAYLOAD

    reader = FrameReader(MAGIC)
    chunk = 64 * 1024
    received: list[Message] = []
    for start in range(0, len(framed), chunk):
        reader.feed(framed[start : start + chunk])
        assert reader.buffered <= HEADER_SIZE + Blocks.MAX_SIZE
        if (got := reader.next()) is not None:
            received.append(got)
    assert received == [message]
    assert reader.buffered == 0

    reader = FrameReader(MAGIC)
    reader.feed(framed + encode_frame(MAGIC, Pong(bytes(8))))
    assert reader.next() == message
    assert reader.next() == Pong(bytes(8))


def test_an_oversized_answer_is_refused_when_encoding() -> None:
    txs = (big_transaction(0),) * 100
    assert sum(tx.size for tx in txs) > MAX_PAYLOAD
    with pytest.raises(InvalidMessageError, match="Txs"):
        encode_frame(MAGIC, Txs(txs))


def test_headers_of_2000_blobs() -> None:
    blobs = tuple(sample_block(n).hashing_blob() for n in range(MAX_HEADERS))
    message = Headers(blobs)
    payload = message.to_bytes()
    assert Headers.from_bytes(payload) == message
    assert [HeaderInfo.from_blob(blob).header.nonce for blob in blobs[:3]] == [0, 1, 2]
    widest = Headers(tuple(bytes([n % 256]) * MAX_BLOB for n in range(MAX_HEADERS)))
    assert len(widest.to_bytes()) == Headers.MAX_SIZE
    assert decode_message(Headers.TYPE, widest.to_bytes()) == widest


def test_the_widest_messages_fit_their_caps() -> None:
    hello = Hello(
        U32_MAX,
        "x" * 16,
        bytes(32),
        U64_MAX,
        bytes(32),
        U64_MAX,
        (1 << 128) - 1,
        65_535,
        bytes(8),
        U64_MAX,
        "é" * 32,
    )
    assert len(encode_frame(MAGIC, hello)) - HEADER_SIZE <= Hello.MAX_SIZE
    addresses = tuple(
        PeerAddress(canonical_host(f"2001:db8::{n + 1:x}"), 65_535, U64_MAX, U64_MAX)
        for n in range(MAX_ADDR)
    )
    assert len(Addr(addresses).to_bytes()) == Addr.MAX_SIZE
    indexes = tuple(range(MAX_TX_HASHES))
    assert len(GetBlockTxs(bytes(32), indexes).to_bytes()) <= GetBlockTxs.MAX_SIZE
    widest_miner_tx = MinerTx(
        2,
        U64_MAX,
        U64_MAX,
        U64_MAX,
        bytes(32),
        b"\x01" + bytes(32) + b"\x03" + encode_varint(1024) + bytes(1024),
        7,
    )
    assert len(widest_miner_tx.extra) == MAX_EXTRA_BYTES
    assert len(widest_miner_tx.to_bytes()) <= MAX_MINER_TX_BYTES
    compact = CompactBlock(
        bytes(32),
        BlockHeader(255, 255, U64_MAX, bytes(32), U32_MAX),
        widest_miner_tx,
        bytes(8),
        (bytes(6),) * MAX_TX_HASHES,
    )
    assert len(compact.to_bytes()) <= CompactBlock.MAX_SIZE
    assert CompactBlock.from_bytes(compact.to_bytes()) == compact
    for cls, size in ((Inv, MAX_INV), (GetTxs, MAX_INV), (NotFound, MAX_NOT_FOUND)):
        wide = cls((bytes(32),) * size)
        assert len(wide.to_bytes()) == cls.MAX_SIZE
    assert len(GetBlocks((bytes(32),) * MAX_BLOCKS_PER_REQUEST).to_bytes()) == GetBlocks.MAX_SIZE
    locator = GetHeaders((bytes(32),) * MAX_LOCATOR, bytes(32), MAX_HEADERS)
    assert len(locator.to_bytes()) == GetHeaders.MAX_SIZE
    assert len(Goodbye("r" * 256).to_bytes()) == Goodbye.MAX_SIZE
    assert len(Tip(bytes(32), U64_MAX, (1 << 128) - 1).to_bytes()) == Tip.MAX_SIZE


# --------------------------------------------------------------------------- bad payloads

HELLO = Hello(
    1, "devnet", bytes(32), 1, bytes(32), 10, 1000, 18080, b"nonce-00", 1_700_000_000, "z"
)
HELLO_BYTES = HELLO.to_bytes()
TX = Transaction(
    inputs=(OutPoint(bytes(32), 0),),
    outputs=(TxOutput(5, bytes(32), bytes(32)),),
    fee=1,
    signatures=(bytes(64),),
)
BLOCK_BYTES = sample_block(7).to_bytes()
ADDR_ENTRY = b"\x04\x7f\x00\x00\x01\x46\xa0\x00\x00"  # 127.0.0.1:18080


def _hello_with(*, version: int = 1, network: bytes = b"devnet", user_agent: bytes = b"z") -> bytes:
    """The Hello payload of ``HELLO`` with these fields written as given."""
    head = encode_varint(version) + encode_varint(len(network)) + network
    middle = HELLO_BYTES[1 + 1 + len(b"devnet") : -2]
    return head + middle + encode_varint(len(user_agent)) + user_agent


BAD_PAYLOADS = [
    (Hello, _hello_with(network=b"n" * 17), "Hello.network"),
    (Hello, _hello_with(network=b""), "Hello.network"),
    (Hello, _hello_with(network=b"dev\x01net"), "Hello.network"),
    (Hello, _hello_with(network=b"d\xe9vnet"), "Hello.network"),
    (Hello, _hello_with(user_agent=b"\xff\xfe"), "Hello.user_agent"),
    (Hello, _hello_with(user_agent=b"a" * 65), "Hello.user_agent"),
    (Hello, _hello_with(version=1 << 32), "Hello.version"),
    (Hello, HELLO_BYTES[:-1], "Hello.user_agent"),
    (Hello, HELLO_BYTES + b"\x00", "trailing"),
    (Ping, bytes(7), "Ping.nonce"),
    (Ping, bytes(9), "trailing"),
    (GetAddr, b"\x00", "trailing"),
    (Addr, encode_varint(MAX_ADDR + 1) + ADDR_ENTRY * (MAX_ADDR + 1), "Addr.addresses"),
    (Addr, b"\x02" + ADDR_ENTRY + b"\x05" + ADDR_ENTRY[1:], "Addr.addresses[1]"),
    (Addr, b"\x01" + ADDR_ENTRY[:5] + b"\x00\x00\x00\x00", "Addr.addresses[0]"),
    (
        Addr,
        b"\x01\x06" + bytes(10) + b"\xff\xff\x7f\x00\x00\x01" + ADDR_ENTRY[5:],
        "Addr.addresses[0]",
    ),
    (Addr, b"\x01" + ADDR_ENTRY[:-1] + b"\x80\x00", "Addr.addresses[0]"),
    (GetHeaders, b"\x00" + bytes(32) + b"\x01", "GetHeaders.locator"),
    (GetHeaders, b"\x41" + bytes(65 * 32 + 32) + b"\x01", "GetHeaders.locator"),
    (GetHeaders, b"\x01" + bytes(64) + b"\x00", "GetHeaders.max_count"),
    (GetHeaders, b"\x01" + bytes(64) + encode_varint(MAX_HEADERS + 1), "GetHeaders.max_count"),
    (Headers, b"\x02\x01a\x00\x00", "Headers.blobs[1]"),
    (Headers, b"\x01" + encode_varint(MAX_BLOB + 1) + bytes(MAX_BLOB + 1), "Headers.blobs[0]"),
    (Headers, b"\x02\x01a\x05abc", "Headers.blobs[1]"),
    (Headers, b"\x01\x81\x00" + bytes(1), "Headers.blobs[0]"),
    (Headers, encode_varint(MAX_HEADERS + 1) + b"\x01a" * (MAX_HEADERS + 1), "Headers.blobs"),
    (GetBlocks, b"\x00", "GetBlocks.ids"),
    (GetBlocks, b"\x02" + bytes(63), "GetBlocks.ids"),
    (
        Blocks,
        b"\x01" + encode_varint(len(BLOCK_BYTES) - 1) + BLOCK_BYTES[:-1] + b"\x00",
        "Blocks.entries[0].block",
    ),
    (
        Blocks,
        b"\x01" + encode_varint(len(BLOCK_BYTES)) + BLOCK_BYTES + b"\x01\x01\x00",
        "Blocks.entries[0].txs[0]",
    ),
    (
        Blocks,
        b"\x01"
        + encode_varint(len(BLOCK_BYTES))
        + BLOCK_BYTES
        + b"\x01"
        + encode_varint(TX.size + 1)
        + TX.to_bytes()
        + b"\x00",
        "Blocks.entries[0].txs[0]",
    ),
    (NotFound, encode_varint(MAX_NOT_FOUND + 1) + bytes(32 * (MAX_NOT_FOUND + 1)), "NotFound.ids"),
    (
        CompactBlock,
        bytes(32) + BLOCK_BYTES[:43] + b"\x02\x00\x00" + bytes(9),
        "CompactBlock.miner_tx",
    ),
    (GetBlockTxs, bytes(32) + b"\x02\x05\x05", "GetBlockTxs.indexes"),
    (GetBlockTxs, bytes(32) + b"\x02\x05\x04", "GetBlockTxs.indexes"),
    (GetBlockTxs, bytes(32) + b"\x01" + encode_varint(MAX_TX_HASHES), "GetBlockTxs.indexes[0]"),
    (BlockTxs, bytes(32) + b"\x01\x03\x01\x00\x00", "BlockTxs.txs[0]"),
    (Inv, b"\x00", "Inv.txids"),
    (Inv, encode_varint(MAX_INV + 1) + bytes(32 * (MAX_INV + 1)), "Inv.txids"),
    (GetTxs, b"\x01" + bytes(31), "GetTxs.txids"),
    (Txs, encode_varint(MAX_TXS + 1) + (b"\x06" + TX.to_bytes()[:6]) * (MAX_TXS + 1), "Txs.txs"),
    (Txs, b"\x01\x06\x02\x00\x00\x00\x00\x00", "Txs.txs[0]"),
    (Tip, bytes(32) + b"\x80\x00" + bytes(16), "Tip.height"),
    (Tip, bytes(32) + b"\x05" + bytes(15), "Tip.cumulative_difficulty"),
    (Goodbye, encode_varint(257) + b"r" * 257, "Goodbye.reason"),
    (Goodbye, b"\x02\xed\xa0", "Goodbye.reason"),
]


@pytest.mark.parametrize(
    ("cls", "payload", "where"),
    BAD_PAYLOADS,
    ids=[f"{cls.__name__}-{n}" for n, (cls, _, _) in enumerate(BAD_PAYLOADS)],
)
def test_bad_payloads_name_the_field(cls: type[Any], payload: bytes, where: str) -> None:
    if len(payload) > cls.MAX_SIZE:
        with pytest.raises(FrameTooLargeError):
            decode_message(cls.TYPE, payload)
    with pytest.raises(MalformedMessageError) as caught:
        cls.from_bytes(payload)
    assert where in str(caught.value)
    assert cls.__name__ in str(caught.value)


def test_a_valid_reference_payload() -> None:
    """The reference payloads the bad ones are built from do decode."""
    assert _hello_with() == HELLO_BYTES
    assert Hello.from_bytes(HELLO_BYTES) == HELLO
    assert Addr.from_bytes(b"\x01" + ADDR_ENTRY) == Addr((PeerAddress("127.0.0.1", 18080),))
    entry = Blocks.from_bytes(
        b"\x01"
        + encode_varint(len(BLOCK_BYTES))
        + BLOCK_BYTES
        + b"\x01"
        + encode_varint(TX.size)
        + TX.to_bytes()
    ).entries[0]
    assert entry == BlockEntry(sample_block(7), (TX,))


def test_addr_layout() -> None:
    message = Addr(
        (
            PeerAddress("1.2.3.4", 18080, 1, 2),
            PeerAddress(canonical_host("::ffff:5.6.7.8"), 80),
            PeerAddress("2001:db8::1", 443, 0, 300),
        )
    )
    assert message.addresses[1].host == "5.6.7.8"
    assert message.to_bytes() == (
        b"\x03"
        + b"\x04\x01\x02\x03\x04\x46\xa0\x01\x02"
        + b"\x04\x05\x06\x07\x08\x00\x50\x00\x00"
        + b"\x06\x20\x01\x0d\xb8"
        + bytes(11)
        + b"\x01\x01\xbb\x00"
        + encode_varint(300)
    )


# --------------------------------------------------------------------------- local errors


def test_building_a_bad_message_is_a_local_error() -> None:
    bad: list[Any] = [
        lambda: Ping(bytes(7)),
        lambda: Inv(()),
        lambda: Inv((bytes(32),) * (MAX_INV + 1)),
        lambda: GetHeaders((bytes(31),)),
        lambda: GetHeaders((bytes(32),), max_count=0),
        lambda: Headers((b"",)),
        lambda: GetBlockTxs(bytes(32), (3, 2)),
        lambda: Hello(1, "dévnet", bytes(32), 1, bytes(32), 1, 1, 1, bytes(8), 1, ""),
        lambda: Tip(bytes(32), -1, 0),
        lambda: Tip(bytes(32), 0, 1 << 128),
        lambda: Goodbye("\udc80"),
        lambda: Addr((PeerAddress("127.0.0.1", 1),) * (MAX_ADDR + 1)),
    ]
    for build in bad:
        with pytest.raises(InvalidMessageError) as caught:
            build()
        assert not isinstance(caught.value, ProtocolViolation)
        assert isinstance(caught.value, ValueError)
    with pytest.raises(TypeError):
        Inv([bytes(32)])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Tip(bytes(32), True, 0)
    with pytest.raises(TypeError):
        Txs((TX.to_bytes(),))  # type: ignore[arg-type]


def test_defaults() -> None:
    request = GetHeaders((bytes(32),))
    assert request.stop == ZERO_HASH
    assert request.max_count == MAX_HEADERS
    assert BlockEntry(sample_block(1)).txs == ()


# --------------------------------------------------------------------------- helpers


@FUZZ
@given(bytes8, hashes32)
def test_short_id(salt: bytes, txid: bytes) -> None:
    sid = short_id(salt, txid)
    assert len(sid) == 6
    assert sid == hashlib.blake2b(txid, key=salt, digest_size=6).digest()
    assert short_id(bytes(a ^ 1 for a in salt), txid) != sid


def test_short_id_vector_and_sizes() -> None:
    assert (
        short_id(bytes(8), bytes(32))
        == hashlib.blake2b(bytes(32), key=bytes(8), digest_size=6).digest()
    )
    assert short_id(b"saltsalt", bytes(32)) != short_id(b"saltsalu", bytes(32))
    with pytest.raises(InvalidMessageError):
        short_id(bytes(7), bytes(32))
    with pytest.raises(InvalidMessageError):
        short_id(bytes(8), bytes(31))


@FUZZ
@given(blocks)
def test_header_info_matches_the_block(block: Block) -> None:
    blob = block.hashing_blob()
    info = HeaderInfo.from_blob(blob)
    assert info.id == block.id
    assert info == HeaderInfo.from_block(block)
    assert (info.header, info.tree_root, info.blob) == (block.header, block.tree_root, blob)
    assert info.tx_count == len(block.tx_hashes) + 1
    with pytest.raises(MalformedMessageError, match="HeaderInfo"):
        HeaderInfo.from_blob(blob + b"\x00")
    for cut in (0, 1, len(blob) // 2, len(blob) - 1):
        with pytest.raises(MalformedMessageError):
            HeaderInfo.from_blob(blob[:cut])


def test_header_info_tx_count_bounds() -> None:
    block = sample_block(3)
    prefix = block.header.to_bytes() + block.tree_root
    assert HeaderInfo.from_blob(prefix + encode_varint(MAX_TX_HASHES + 1)).tx_count == (
        MAX_TX_HASHES + 1
    )
    for count in (0, MAX_TX_HASHES + 2):
        with pytest.raises(MalformedMessageError, match="HeaderInfo"):
            HeaderInfo.from_blob(prefix + encode_varint(count))
    with pytest.raises(MalformedMessageError):
        HeaderInfo.from_blob(prefix + b"\x81\x00")  # non-canonical count
    with pytest.raises(MalformedMessageError):
        HeaderInfo.from_blob(bytes(MAX_BLOB + 1))


def test_network_magic() -> None:
    genesis = keccak256(b"genesis")
    assert network_magic(genesis) == keccak256(b"ZION/p2p" + genesis)[:4]
    assert len(network_magic(genesis)) == 4
    assert network_magic(genesis) != network_magic(keccak256(b"other genesis"))
    with pytest.raises(InvalidMessageError):
        network_magic(bytes(31))


@FUZZ
@given(hashes32, hashes32)
def test_network_magic_differs_per_genesis(first: bytes, second: bytes) -> None:
    if first != second:
        assert network_magic(first) != network_magic(second)


def test_large_count_is_checked_before_allocating() -> None:
    """A count promising more items than the payload holds fails at once."""
    with pytest.raises(MalformedMessageError, match=r"Inv\.txids"):
        Inv.from_bytes(encode_varint(MAX_INV) + bytes(32))
    with pytest.raises(MalformedMessageError, match=r"Txs\.txs"):
        Txs.from_bytes(encode_varint(MAX_TXS) + b"\x01")


def test_max_inputs_transaction_in_txs() -> None:
    tx = big_transaction(1)
    assert len(tx.inputs) == MAX_INPUTS
    message = Txs((tx,))
    assert Txs.from_bytes(message.to_bytes()) == message
