"""ZION transaction codec: layout, txid, limits, round trips and fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zion_core.chain.codec import Reader, Writer, encode_varint
from zion_core.chain.hashing import keccak256
from zion_core.chain.transaction import (
    MAX_EXTRA_BYTES,
    MAX_INPUTS,
    MAX_OUTPUTS,
    MAX_TX_BYTES,
    AmountOverflowError,
    InvalidFieldError,
    OutPoint,
    Transaction,
    TxOutput,
    UnsignedTransactionError,
    UnsupportedVersionError,
)
from zion_core.errors import (
    NonCanonicalError,
    OutOfDataError,
    SerializationError,
    TooLongError,
    TrailingDataError,
)

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
U64_MAX = (1 << 64) - 1

TXID = keccak256(b"previous")
SPEND = bytes(range(32))
VIEW = bytes(range(32, 64))
SIG = bytes(range(64))


def _sample() -> Transaction:
    return Transaction(
        unlock_time=5,
        inputs=(OutPoint(TXID, 1), OutPoint(TXID, 300)),
        outputs=(TxOutput(1_000_000, SPEND, VIEW),),
        fee=2000,
        extra=b"memo",
        signatures=(SIG, SIG[::-1]),
    )


def test_layout() -> None:
    tx = _sample()
    prefix = (
        b"\x01"  # version
        + b"\x05"  # unlock_time
        + b"\x02"  # inputs
        + TXID
        + b"\x01"
        + TXID
        + encode_varint(300)
        + b"\x01"  # outputs
        + encode_varint(1_000_000)
        + SPEND
        + VIEW
        + encode_varint(2000)
        + b"\x04memo"
    )
    assert tx.prefix_bytes() == prefix
    assert tx.to_bytes() == prefix + SIG + SIG[::-1]
    assert tx.size == len(prefix) + 128
    assert tx.txid == keccak256(prefix)
    assert tx.signing_message == tx.txid
    assert tx.total_output == 1_000_000
    assert Transaction.from_bytes(tx.to_bytes()) == tx


def test_txid_does_not_cover_signatures() -> None:
    tx = _sample()
    unsigned = Transaction(
        unlock_time=tx.unlock_time,
        inputs=tx.inputs,
        outputs=tx.outputs,
        fee=tx.fee,
        extra=tx.extra,
    )
    assert not unsigned.is_signed
    assert unsigned.txid == tx.txid
    with pytest.raises(UnsignedTransactionError):
        unsigned.to_bytes()
    assert unsigned.with_signatures(tx.signatures) == tx
    assert tx.with_signatures((SIG, SIG)).txid == tx.txid


def test_defaults_and_empty() -> None:
    tx = Transaction(inputs=(), outputs=(), fee=0)
    assert (tx.version, tx.unlock_time, tx.extra, tx.signatures) == (1, 0, b"", ())
    assert tx.is_signed
    assert tx.to_bytes() == b"\x01\x00\x00\x00\x00\x00"
    assert Transaction.from_bytes(tx.to_bytes()) == tx


def test_unknown_version() -> None:
    blob = _sample().to_bytes()
    for version in (0, 2, 127, U64_MAX):
        with pytest.raises(UnsupportedVersionError):
            Transaction.from_bytes(encode_varint(version) + blob[1:])
    with pytest.raises(UnsupportedVersionError):
        Transaction(version=2, inputs=(), outputs=(), fee=0)


def test_amount_overflow() -> None:
    outputs = (TxOutput(U64_MAX - 10, SPEND, VIEW), TxOutput(10, SPEND, VIEW))
    assert Transaction(inputs=(), outputs=outputs, fee=0).total_output == U64_MAX
    with pytest.raises(AmountOverflowError):
        Transaction(inputs=(), outputs=outputs, fee=1)
    with pytest.raises(AmountOverflowError):
        Transaction(inputs=(), outputs=(*outputs, TxOutput(1, SPEND, VIEW)), fee=0)
    # The same overflow read from the wire is a SerializationError.
    blob = (
        b"\x01\x00\x00\x02"
        + encode_varint(U64_MAX)
        + SPEND
        + VIEW
        + encode_varint(1)
        + SPEND
        + VIEW
        + b"\x00\x00"
    )
    with pytest.raises(AmountOverflowError):
        Transaction.from_bytes(blob)


def test_field_validation() -> None:
    with pytest.raises(InvalidFieldError):
        OutPoint(TXID[:31], 0)
    with pytest.raises(InvalidFieldError):
        OutPoint(TXID, 1 << 32)
    with pytest.raises(InvalidFieldError):
        TxOutput(-1, SPEND, VIEW)
    with pytest.raises(InvalidFieldError):
        TxOutput(1, SPEND, VIEW + b"\x00")
    with pytest.raises(TypeError):
        TxOutput(1, bytearray(SPEND), VIEW)  # type: ignore[arg-type]
    with pytest.raises(InvalidFieldError):
        Transaction(inputs=(), outputs=(), fee=1 << 64)
    with pytest.raises(InvalidFieldError):
        Transaction(inputs=(), outputs=(), fee=0, extra=bytes(MAX_EXTRA_BYTES + 1))
    with pytest.raises(InvalidFieldError):
        Transaction(inputs=(OutPoint(TXID, 0),), outputs=(), fee=0, signatures=(SIG, SIG))
    with pytest.raises(InvalidFieldError):
        Transaction(inputs=(OutPoint(TXID, 0),), outputs=(), fee=0, signatures=(SIG[:63],))
    with pytest.raises(InvalidFieldError):
        Transaction(inputs=(OutPoint(TXID, 0),) * (MAX_INPUTS + 1), outputs=(), fee=0)
    with pytest.raises(InvalidFieldError):
        Transaction(inputs=(), outputs=(TxOutput(0, SPEND, VIEW),) * (MAX_OUTPUTS + 1), fee=0)
    with pytest.raises(TypeError):
        Transaction(inputs=[OutPoint(TXID, 0)], outputs=(), fee=0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Transaction(inputs=(TXID,), outputs=(), fee=0)  # type: ignore[arg-type]


def test_wire_limits() -> None:
    with pytest.raises(TooLongError):
        Transaction.from_bytes(b"\x01\x00" + encode_varint(MAX_INPUTS + 1))
    with pytest.raises(OutOfDataError):
        Transaction.from_bytes(b"\x01\x00" + encode_varint(MAX_INPUTS) + bytes(200))
    with pytest.raises(TooLongError):
        Transaction.from_bytes(b"\x01\x00\x00" + encode_varint(MAX_OUTPUTS + 1))
    with pytest.raises(TooLongError):
        Transaction.from_bytes(b"\x01\x00\x00\x00\x00" + encode_varint(MAX_EXTRA_BYTES + 1))
    with pytest.raises(TooLongError):
        Transaction.from_bytes(bytes(MAX_TX_BYTES + 1))
    with pytest.raises(NonCanonicalError):
        Transaction.from_bytes(b"\x01\x80\x00\x00\x00\x00\x00")
    with pytest.raises(TooLongError):  # an output index beyond u32
        Transaction.from_bytes(b"\x01\x00\x01" + TXID + encode_varint(1 << 32) + bytes(100))
    with pytest.raises(TrailingDataError):
        Transaction.from_bytes(_sample().to_bytes() + b"\x00")
    with pytest.raises(OutOfDataError):
        Transaction.from_bytes(_sample().to_bytes()[:-1])


def test_read_from_a_stream() -> None:
    first, second = _sample(), Transaction(inputs=(), outputs=(), fee=7)
    reader = Reader(first.to_bytes() + second.to_bytes())
    assert Transaction.read(reader) == first
    assert Transaction.read(reader) == second
    reader.end()


def test_largest_transaction_fits() -> None:
    tx = Transaction(
        unlock_time=U64_MAX,
        inputs=(OutPoint(TXID, (1 << 32) - 1),) * MAX_INPUTS,
        outputs=(TxOutput(0, SPEND, VIEW),) * (MAX_OUTPUTS - 1) + (TxOutput(U64_MAX, SPEND, VIEW),),
        fee=0,
        extra=bytes(MAX_EXTRA_BYTES),
        signatures=(SIG,) * MAX_INPUTS,
    )
    blob = tx.to_bytes()
    assert len(blob) <= MAX_TX_BYTES
    assert Transaction.from_bytes(blob) == tx


# --------------------------------------------------------------------------- properties

hashes32 = st.binary(min_size=32, max_size=32)
outpoints = st.builds(OutPoint, hashes32, st.integers(0, (1 << 32) - 1))
amounts = st.integers(0, 1 << 60)
tx_outputs = st.builds(TxOutput, amounts, hashes32, hashes32)


@st.composite
def transactions(draw: st.DrawFn) -> Transaction:
    inputs = tuple(draw(st.lists(outpoints, max_size=6)))
    return Transaction(
        unlock_time=draw(st.integers(0, U64_MAX)),
        inputs=inputs,
        outputs=tuple(draw(st.lists(tx_outputs, max_size=6))),
        fee=draw(amounts),
        extra=draw(st.binary(max_size=80)),
        signatures=tuple(draw(st.binary(min_size=64, max_size=64)) for _ in inputs),
    )


@FUZZ
@given(outpoints)
def test_outpoint_round_trip(outpoint: OutPoint) -> None:
    writer = Writer()
    outpoint.write(writer)
    reader = Reader(writer.getvalue())
    assert OutPoint.read(reader) == outpoint
    reader.end()


@FUZZ
@given(tx_outputs)
def test_output_round_trip(output: TxOutput) -> None:
    writer = Writer()
    output.write(writer)
    reader = Reader(writer.getvalue())
    assert TxOutput.read(reader) == output
    reader.end()


@FUZZ
@given(transactions())
def test_transaction_round_trip(tx: Transaction) -> None:
    blob = tx.to_bytes()
    parsed = Transaction.from_bytes(blob)
    assert parsed == tx
    assert parsed.txid == tx.txid == keccak256(blob[: len(tx.prefix_bytes())])


@FUZZ
@given(st.binary(max_size=400))
def test_arbitrary_bytes_fail_cleanly(data: bytes) -> None:
    try:
        tx = Transaction.from_bytes(data)
    except SerializationError:
        return
    assert tx.to_bytes() == data


@FUZZ
@given(st.binary(max_size=400))
def test_arbitrary_bytes_after_a_version_fail_cleanly(data: bytes) -> None:
    try:
        tx = Transaction.from_bytes(b"\x01" + data)
    except SerializationError:
        return
    assert tx.to_bytes() == b"\x01" + data


@FUZZ
@given(transactions(), st.data())
def test_truncations_fail_cleanly(tx: Transaction, data: st.DataObject) -> None:
    blob = tx.to_bytes()
    cut = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(SerializationError):
        Transaction.from_bytes(blob[:cut])


@FUZZ
@given(transactions(), st.data())
def test_mutations_fail_cleanly_or_stay_canonical(tx: Transaction, data: st.DataObject) -> None:
    blob = bytearray(tx.to_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    try:
        parsed = Transaction.from_bytes(bytes(blob))
    except SerializationError:
        return
    assert parsed.to_bytes() == bytes(blob)
