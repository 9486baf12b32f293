"""ZION's ordinary transactions: transparent UTXOs spent with Ed25519 signatures.

A transaction spends earlier outputs (:class:`OutPoint`: a txid and an output index) and
creates new ones (:class:`TxOutput`: an amount and the recipient's two address keys, the
address minus its network tag). Every input carries one 64-byte Ed25519 signature.

Wire layout (all varints are CryptoNote varints, see :mod:`zion_core.chain.codec`)::

    prefix:
        varint  version            (1; anything else is UnsupportedVersionError)
        varint  unlock_time
        varint  n_in               (<= MAX_INPUTS)
        n_in  x (32 bytes txid | varint index)
        varint  n_out              (<= MAX_OUTPUTS)
        n_out x (varint amount | 32 bytes spend key | 32 bytes view key)
        varint  fee
        varint  len(extra)         (<= MAX_EXTRA_BYTES)
        extra
    signatures:
        n_in  x 64 bytes           (one per input, in input order; no count on the wire)

The version comes first so that a later format can change everything after it: a decoder
that meets an unknown version stops with :class:`UnsupportedVersionError` before reading
anything else.

``txid = keccak256(prefix)``. The txid does not cover the signatures, so it is known
before signing and is exactly the message every input signs (:attr:`Transaction.signing_message`).

This module only says what the bytes mean. Sizes and ranges are checked here (u64 amounts,
``sum(outputs) + fee`` fitting in a u64, the count limits, fixed key sizes), but the
meaning (inputs that exist and are unspent, no input spent twice, balances, valid
signatures, at least one input) is the consensus plugin's job.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Final, Self

import attrs

from ..errors import SerializationError, TooLongError
from .codec import MAX_UINT64, Reader, Writer
from .hashing import HASH_SIZE, keccak256

ATOMIC_UNITS_PER_ZION = 10**12
"""Atomic units per ZION: every amount on the chain is a whole number of them."""

TX_VERSION: Final = 1
MAX_INPUTS: Final = 256
MAX_OUTPUTS: Final = 256
MAX_EXTRA_BYTES: Final = 1060
MAX_TX_BYTES: Final = 100_000
KEY_SIZE: Final = 32
SIGNATURE_SIZE: Final = 64
MAX_UINT32: Final = (1 << 32) - 1

_MAX_VARINT = 10
# The largest transaction the field limits allow still fits in MAX_TX_BYTES, so
# MAX_TX_BYTES only bounds what a decoder is willing to look at.
assert (
    4 * _MAX_VARINT
    + MAX_INPUTS * (HASH_SIZE + 5 + SIGNATURE_SIZE)
    + MAX_OUTPUTS * (_MAX_VARINT + 2 * KEY_SIZE)
    + 3
    + MAX_EXTRA_BYTES
    <= MAX_TX_BYTES
)


class UnsupportedVersionError(SerializationError):
    """The bytes use a format version this code does not know."""


class InvalidFieldError(SerializationError):
    """A field is out of range, of the wrong size or otherwise not encodable as given."""


class AmountOverflowError(InvalidFieldError):
    """The output amounts plus the fee do not fit in a u64."""


class UnsignedTransactionError(InvalidFieldError):
    """The transaction lacks its signatures, so it has no wire form."""


def uint_validator(limit: int) -> Callable[[Any, attrs.Attribute[int], int], None]:
    """An attrs validator: an ``int`` in ``0..limit``."""

    def check(_instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
        if type(value) is not int:
            raise TypeError(f"{attribute.name} must be an int, not {type(value).__name__}")
        if not 0 <= value <= limit:
            raise InvalidFieldError(f"{attribute.name} must be in 0..{limit}, not {value}")

    return check


def fixed_bytes_validator(size: int) -> Callable[[Any, attrs.Attribute[bytes], bytes], None]:
    """An attrs validator: ``bytes`` of exactly ``size`` bytes."""

    def check(_instance: Any, attribute: attrs.Attribute[bytes], value: bytes) -> None:
        if type(value) is not bytes:
            raise TypeError(f"{attribute.name} must be bytes, not {type(value).__name__}")
        if len(value) != size:
            raise InvalidFieldError(f"{attribute.name} must be {size} bytes, not {len(value)}")

    return check


def _tuple_of(
    item_type: type, limit: int
) -> Callable[[Any, attrs.Attribute[tuple[Any, ...]], tuple[Any, ...]], None]:
    """An attrs validator: a tuple of at most ``limit`` ``item_type`` values."""

    def check(_instance: Any, attribute: attrs.Attribute[tuple[Any, ...]], value: Any) -> None:
        if type(value) is not tuple:
            raise TypeError(f"{attribute.name} must be a tuple, not {type(value).__name__}")
        if len(value) > limit:
            raise InvalidFieldError(
                f"{attribute.name} holds at most {limit} items, not {len(value)}"
            )
        for item in value:
            if not isinstance(item, item_type):
                raise TypeError(
                    f"{attribute.name} holds {item_type.__name__} items, not {type(item).__name__}"
                )

    return check


def _extra_bytes(_instance: Any, attribute: attrs.Attribute[bytes], value: bytes) -> None:
    if type(value) is not bytes:
        raise TypeError(f"{attribute.name} must be bytes, not {type(value).__name__}")
    if len(value) > MAX_EXTRA_BYTES:
        raise InvalidFieldError(
            f"{attribute.name} holds at most {MAX_EXTRA_BYTES} bytes, not {len(value)}"
        )


def _version(_instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int:
        raise TypeError(f"{attribute.name} must be an int, not {type(value).__name__}")
    if value != TX_VERSION:
        raise UnsupportedVersionError(f"transaction version {value} is not supported")


@attrs.frozen
class OutPoint:
    """A reference to output ``index`` of the transaction ``txid``."""

    txid: bytes = attrs.field(validator=fixed_bytes_validator(HASH_SIZE))
    index: int = attrs.field(validator=uint_validator(MAX_UINT32))

    def write(self, writer: Writer) -> None:
        """Append ``txid | varint index``."""
        writer.raw(self.txid).varint(self.index)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        """Read what :meth:`write` wrote."""
        txid = reader.raw(HASH_SIZE)
        return cls(txid, reader.varint(MAX_UINT32))


@attrs.frozen
class TxOutput:
    """``amount`` atomic units paid to the address whose keys are ``spend_key``/``view_key``."""

    amount: int = attrs.field(validator=uint_validator(MAX_UINT64))
    spend_key: bytes = attrs.field(validator=fixed_bytes_validator(KEY_SIZE))
    view_key: bytes = attrs.field(validator=fixed_bytes_validator(KEY_SIZE))

    def write(self, writer: Writer) -> None:
        """Append ``varint amount | spend key | view key``."""
        writer.varint(self.amount).raw(self.spend_key).raw(self.view_key)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        """Read what :meth:`write` wrote."""
        amount = reader.varint()
        spend_key = reader.raw(KEY_SIZE)
        return cls(amount, spend_key, reader.raw(KEY_SIZE))


# The fewest bytes an input/output can take on the wire, for count checks before allocating.
_MIN_INPUT_BYTES: Final = HASH_SIZE + 1 + SIGNATURE_SIZE
_MIN_OUTPUT_BYTES: Final = 1 + 2 * KEY_SIZE


@attrs.frozen(kw_only=True)
class Transaction:
    """A ZION transaction (see the module docstring for the layout).

    ``signatures`` is either empty (an unsigned transaction, which has a txid but no wire
    form) or holds exactly one 64-byte signature per input.
    """

    version: int = attrs.field(default=TX_VERSION, validator=_version)
    unlock_time: int = attrs.field(default=0, validator=uint_validator(MAX_UINT64))
    inputs: tuple[OutPoint, ...] = attrs.field(validator=_tuple_of(OutPoint, MAX_INPUTS))
    outputs: tuple[TxOutput, ...] = attrs.field(validator=_tuple_of(TxOutput, MAX_OUTPUTS))
    fee: int = attrs.field(validator=uint_validator(MAX_UINT64))
    extra: bytes = attrs.field(default=b"", validator=_extra_bytes)
    signatures: tuple[bytes, ...] = attrs.field(default=(), validator=_tuple_of(bytes, MAX_INPUTS))

    def __attrs_post_init__(self) -> None:
        for signature in self.signatures:
            if len(signature) != SIGNATURE_SIZE:
                raise InvalidFieldError(
                    f"a signature is {SIGNATURE_SIZE} bytes, not {len(signature)}"
                )
        if self.signatures and len(self.signatures) != len(self.inputs):
            raise InvalidFieldError(
                f"{len(self.inputs)} inputs need as many signatures, not {len(self.signatures)}"
            )
        if sum(output.amount for output in self.outputs) + self.fee > MAX_UINT64:
            raise AmountOverflowError("the outputs plus the fee exceed 2^64-1")

    @property
    def total_output(self) -> int:
        """The sum of the output amounts (fits in a u64, as does adding the fee)."""
        return sum(output.amount for output in self.outputs)

    @property
    def is_signed(self) -> bool:
        """Whether every input has its signature (trivially true without inputs)."""
        return len(self.signatures) == len(self.inputs)

    def prefix_bytes(self) -> bytes:
        """The prefix: everything but the signatures."""
        writer = Writer()
        writer.varint(self.version).varint(self.unlock_time)
        writer.varint(len(self.inputs))
        for outpoint in self.inputs:
            outpoint.write(writer)
        writer.varint(len(self.outputs))
        for output in self.outputs:
            output.write(writer)
        writer.varint(self.fee)
        writer.varint(len(self.extra)).raw(self.extra)
        return writer.getvalue()

    @functools.cached_property
    def txid(self) -> bytes:
        """``keccak256(prefix)``; the signatures are not covered."""
        return keccak256(self.prefix_bytes())

    @property
    def signing_message(self) -> bytes:
        """The message each input's Ed25519 signature signs: the 32-byte :attr:`txid`."""
        return self.txid

    def with_signatures(self, signatures: tuple[bytes, ...]) -> Self:
        """A copy carrying ``signatures`` (one per input); the txid is unchanged."""
        return attrs.evolve(self, signatures=signatures)

    def write(self, writer: Writer) -> None:
        """Append the wire form; the transaction must be signed."""
        if not self.is_signed:
            raise UnsignedTransactionError(
                f"{len(self.inputs)} inputs but {len(self.signatures)} signatures"
            )
        writer.raw(self.prefix_bytes())
        for signature in self.signatures:
            writer.raw(signature)

    def to_bytes(self) -> bytes:
        """The wire form: prefix then one signature per input."""
        return self._wire

    @functools.cached_property
    def _wire(self) -> bytes:
        writer = Writer()
        self.write(writer)
        return writer.getvalue()

    @classmethod
    def read(cls, reader: Reader) -> Self:
        """Read one transaction; every count is checked before anything is allocated."""
        start = reader.offset
        version = reader.varint()
        if version != TX_VERSION:
            raise UnsupportedVersionError(f"transaction version {version} is not supported")
        unlock_time = reader.varint()
        inputs = tuple(
            OutPoint.read(reader) for _ in range(reader.count(MAX_INPUTS, _MIN_INPUT_BYTES))
        )
        outputs = tuple(
            TxOutput.read(reader) for _ in range(reader.count(MAX_OUTPUTS, _MIN_OUTPUT_BYTES))
        )
        fee = reader.varint()
        extra = reader.raw(reader.count(MAX_EXTRA_BYTES))
        prefix_end = reader.offset
        signatures = tuple(reader.raw(SIGNATURE_SIZE) for _ in inputs)
        tx = cls(
            version=version,
            unlock_time=unlock_time,
            inputs=inputs,
            outputs=outputs,
            fee=fee,
            extra=extra,
            signatures=signatures,
        )
        # The decoded bytes are canonical (varints are checked), so they are the
        # prefix and the wire form: hash and keep them instead of encoding again.
        object.__setattr__(tx, "txid", keccak256(reader.data[start:prefix_end]))
        object.__setattr__(tx, "_wire", reader.data[start : reader.offset])
        return tx

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """Decode exactly one transaction from ``data`` (no trailing bytes)."""
        if len(data) > MAX_TX_BYTES:
            raise TooLongError(f"a transaction is at most {MAX_TX_BYTES} bytes, not {len(data)}")
        reader = Reader(data)
        tx = cls.read(reader)
        reader.end()
        return tx

    @property
    def size(self) -> int:
        """The length of the wire form in bytes (signed transactions only)."""
        return len(self._wire)


__all__ = [
    "ATOMIC_UNITS_PER_ZION",
    "KEY_SIZE",
    "MAX_EXTRA_BYTES",
    "MAX_INPUTS",
    "MAX_OUTPUTS",
    "MAX_TX_BYTES",
    "MAX_UINT32",
    "SIGNATURE_SIZE",
    "TX_VERSION",
    "AmountOverflowError",
    "InvalidFieldError",
    "OutPoint",
    "Transaction",
    "TxOutput",
    "UnsignedTransactionError",
    "UnsupportedVersionError",
]
