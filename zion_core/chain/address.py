"""ZION addresses: a network tag, a public spend key and a public view key, in base58.

Binary layout (the CryptoNote layout)::

    varint(tag) || spend_key (32) || view_key (32) || keccak256(the preceding bytes)[:4]

written as CryptoNote base58 (:mod:`zion_core.chain.base58`). Every ZION tag is a 3-byte
varint chosen so that *every* address of a network starts with the same three
characters, whatever its keys, and has 98 characters:

=========  ========  =======
network    tag       starts
=========  ========  =======
mainnet    20547     ``Zio``
testnet    218052    ``Ztn``
devnet     1118016   ``ZDe``
=========  ========  =======

:meth:`Address.parse` checks, in this order: the characters, the length, the checksum
(a mistyped address fails here, with :class:`AddressChecksumError`), the tag (an address
of another coin, a Monero one for example, fails with :class:`UnknownNetworkError`), the
layout, that both keys are points of the curve, and, when asked, the network
(:class:`WrongNetworkError`). Every error is an :class:`InvalidAddressError`, which is
both a :class:`~zion_core.errors.ZionError` and a :class:`ValueError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import attrs

from ..errors import ZionError
from . import base58
from .codec import decode_varint, encode_varint
from .ed25519 import PUBLIC_KEY_SIZE, is_valid_public_key
from .hashing import keccak256

if TYPE_CHECKING:
    from ..config import Network

#: Network name -> address tag (a varint in the address). See the module docstring.
NETWORK_TAGS: Final[dict[str, int]] = {
    "mainnet": 20547,
    "testnet": 218052,
    "devnet": 1118016,
}
#: Address tag -> network name.
TAG_NETWORKS: Final[dict[int, str]] = {tag: name for name, tag in NETWORK_TAGS.items()}
#: The first three characters of every address of each network.
NETWORK_PREFIXES: Final[dict[str, str]] = {
    "mainnet": "Zio",
    "testnet": "Ztn",
    "devnet": "ZDe",
}

CHECKSUM_SIZE: Final = 4
#: Characters in every ZION address (71 bytes: a 3-byte tag, two keys, a checksum).
ADDRESS_LENGTH: Final = 98

# Tags other CryptoNote coins use, to say what a foreign address is (protocol facts).
_FOREIGN_TAGS: Final[dict[int, str]] = {
    18: "a Monero mainnet address",
    19: "a Monero mainnet integrated address",
    42: "a Monero mainnet subaddress",
    24: "a Monero stagenet address",
    25: "a Monero stagenet integrated address",
    36: "a Monero stagenet subaddress",
    53: "a Monero testnet address",
    54: "a Monero testnet integrated address",
    63: "a Monero testnet subaddress",
}
# Bytes of the shortest and the longest possible payload (1- and 10-byte varint tags).
_MIN_PAYLOAD = 1 + 2 * PUBLIC_KEY_SIZE + CHECKSUM_SIZE
_MAX_PAYLOAD = 10 + 2 * PUBLIC_KEY_SIZE + CHECKSUM_SIZE


class InvalidAddressError(ZionError, ValueError):
    """Text or values that are not a valid ZION address (root of the address errors)."""


class AddressCharacterError(InvalidAddressError):
    """A character outside the base58 alphabet."""


class AddressLengthError(InvalidAddressError):
    """Too short, too long, or a length no address has."""


class AddressChecksumError(InvalidAddressError):
    """The checksum does not match: the address was mistyped or damaged."""


class UnknownNetworkError(InvalidAddressError):
    """The tag is no ZION network's (the address of another coin, for instance)."""


class WrongNetworkError(InvalidAddressError):
    """A valid address, but of another ZION network than the one expected."""

    def __init__(self, message: str, *, actual: str, expected: str) -> None:
        super().__init__(message)
        self.actual = actual
        self.expected = expected


class InvalidAddressKeyError(InvalidAddressError):
    """A key of the address is not a point of the curve (funds sent there are lost)."""


def _check_network(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in NETWORK_TAGS:
        raise UnknownNetworkError(
            f"unknown network {value!r}; ZION networks are {', '.join(NETWORK_TAGS)}"
        )


def _check_key(instance: object, attribute: attrs.Attribute[bytes], value: bytes) -> None:
    if not isinstance(value, bytes) or len(value) != PUBLIC_KEY_SIZE:
        raise InvalidAddressError(
            f"{attribute.name} must be {PUBLIC_KEY_SIZE} bytes, not {value!r:.80}"
        )


def _check_size(text: str, size: int) -> None:
    """Raise if ``size`` payload bytes cannot be an address (of any tag)."""
    if size < _MIN_PAYLOAD:
        raise AddressLengthError(
            f"invalid address: {len(text)} characters is too short "
            f"(a ZION address has {ADDRESS_LENGTH}); is part of it missing?"
        )
    if size > _MAX_PAYLOAD:
        raise AddressLengthError(
            f"invalid address: {len(text)} characters is too long "
            f"(a ZION address has {ADDRESS_LENGTH})"
        )


def _check_length(text: str) -> None:
    """For text that does not decode to a valid payload: blame its length if it is wrong."""
    if len(text) < ADDRESS_LENGTH:
        raise AddressLengthError(
            f"invalid address: {len(text)} characters, a ZION address has {ADDRESS_LENGTH}; "
            "is a character missing?"
        )
    if len(text) > ADDRESS_LENGTH:
        raise AddressLengthError(
            f"invalid address: {len(text)} characters, a ZION address has {ADDRESS_LENGTH}; "
            "is there a character too many?"
        )


def _checksum(data: bytes) -> bytes:
    return keccak256(data)[:CHECKSUM_SIZE]


@attrs.frozen
class Address:
    """A ZION address: the network and the two public keys (32 bytes each)."""

    network: Network = attrs.field(validator=_check_network)
    spend_key: bytes = attrs.field(validator=_check_key, repr=lambda key: key.hex())
    view_key: bytes = attrs.field(validator=_check_key, repr=lambda key: key.hex())

    @property
    def tag(self) -> int:
        """The varint tag of :attr:`network`."""
        return NETWORK_TAGS[self.network]

    def to_bytes(self) -> bytes:
        """The binary form: tag, keys and checksum."""
        body = encode_varint(self.tag) + self.spend_key + self.view_key
        return body + _checksum(body)

    def encode(self) -> str:
        """The text form (98 base58 characters)."""
        return base58.encode(self.to_bytes())

    def __str__(self) -> str:
        return self.encode()

    @classmethod
    def parse(cls, text: str, network: str | None = None) -> Address:
        """The address ``text`` spells; if ``network`` is given, it must be that network's.

        Raises a subclass of :class:`InvalidAddressError` that says what is wrong.
        """
        if not isinstance(text, str):
            raise InvalidAddressError(f"an address is text, not {type(text).__name__}")
        if network is not None and network not in NETWORK_TAGS:
            raise UnknownNetworkError(
                f"unknown network {network!r}; ZION networks are {', '.join(NETWORK_TAGS)}"
            )
        try:
            payload = base58.decode(text)
        except base58.Base58CharacterError as exc:
            raise AddressCharacterError(
                f"invalid address: {exc} (check for spaces, 0/O and I/l mix-ups)"
            ) from exc
        except base58.Base58LengthError as exc:
            raise AddressLengthError(
                f"invalid address: {len(text)} characters is no address length "
                f"(a ZION address has {ADDRESS_LENGTH}); is part of it missing?"
            ) from exc
        except base58.Base58OverflowError as exc:
            _check_size(text, base58.decoded_size(len(text)))
            _check_length(text)
            raise AddressChecksumError(
                f"the address is mistyped: {exc}; check it character by character"
            ) from exc
        _check_size(text, len(payload))
        body, checksum = payload[:-CHECKSUM_SIZE], payload[-CHECKSUM_SIZE:]
        if _checksum(body) != checksum:
            _check_length(text)
            raise AddressChecksumError(
                "the address is mistyped: its checksum does not match; "
                "check it character by character, or copy it again"
            )
        try:
            tag, offset = decode_varint(body)
        except ValueError as exc:  # a SerializationError: a valid checksum over garbage
            raise UnknownNetworkError(f"not a ZION address: bad network tag ({exc})") from exc
        found = TAG_NETWORKS.get(tag)
        if found is None:
            what = _FOREIGN_TAGS.get(tag, "the address of another coin or network")
            raise UnknownNetworkError(
                f"not a ZION address: network tag {tag} is unknown; this looks like {what}. "
                f"ZION addresses start with "
                + ", ".join(f"{p!r} ({n})" for n, p in NETWORK_PREFIXES.items())
            )
        if len(body) - offset != 2 * PUBLIC_KEY_SIZE:
            raise AddressLengthError(
                f"invalid {found} address: {len(text)} characters "
                f"(a ZION address has {ADDRESS_LENGTH})"
            )
        spend_key = body[offset : offset + PUBLIC_KEY_SIZE]
        view_key = body[offset + PUBLIC_KEY_SIZE :]
        for name, key in (("spend", spend_key), ("view", view_key)):
            if not is_valid_public_key(key):
                raise InvalidAddressKeyError(
                    f"invalid {found} address: its public {name} key is not a valid "
                    "Ed25519 point; funds sent to it could never be spent"
                )
        if network is not None and found != network:
            raise WrongNetworkError(
                f"this is a {found} address; this node runs {network}",
                actual=found,
                expected=network,
            )
        return cls(found, spend_key, view_key)  # type: ignore[arg-type]


__all__ = [
    "ADDRESS_LENGTH",
    "CHECKSUM_SIZE",
    "NETWORK_PREFIXES",
    "NETWORK_TAGS",
    "TAG_NETWORKS",
    "Address",
    "AddressCharacterError",
    "AddressChecksumError",
    "AddressLengthError",
    "InvalidAddressError",
    "InvalidAddressKeyError",
    "UnknownNetworkError",
    "WrongNetworkError",
]
