"""ZION addresses: network tags, encoding, and every way Address.parse refuses text."""

from __future__ import annotations

import contextlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zion_core.chain import base58
from zion_core.chain.address import (
    ADDRESS_LENGTH,
    NETWORK_PREFIXES,
    NETWORK_TAGS,
    Address,
    AddressCharacterError,
    AddressChecksumError,
    AddressLengthError,
    InvalidAddressError,
    InvalidAddressKeyError,
    UnknownNetworkError,
    WrongNetworkError,
)
from zion_core.chain.codec import encode_varint
from zion_core.chain.ed25519 import NaclBackend
from zion_core.chain.hashing import keccak256
from zion_core.errors import ZionError

# The Monero project's donation address (getmonero.org, Moneropedia "address"): tag 18.
MONERO_DONATION = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A"

NACL = NaclBackend()
SPEND = NACL.public_key(bytes(range(32)))
VIEW = NACL.public_key(bytes(range(32, 64)))

# Addresses of the keys above, one per network (also shown in docs/addresses.md).
EXAMPLES = {
    "mainnet": "Zior6xMmo22bU6NEB2HKu8DftmhMxURziUcDNuhFqTaHFFVTSJnXmS8YaXWYRWAbCNDtSgZR38vJ6jVq95GGRAHo6hdn3ApRtZ",
    "testnet": "Ztn1TScyihGbU6NEB2HKu8DftmhMxURziUcDNuhFqTaHFFVTSJnXmS8YaXWYRWAbCNDtSgZR38vJ6jVq95GGRAHo6hdn4eNtj7",
    "devnet": "ZDe1Tuaq6HGbU6NEB2HKu8DftmhMxURziUcDNuhFqTaHFFVTSJnXmS8YaXWYRWAbCNDtSgZR38vJ6jVq95GGRAHo6hdn3eRqy8",
}

public_keys = st.binary(min_size=32, max_size=32).map(NACL.public_key)
networks = st.sampled_from(sorted(NETWORK_TAGS))


def _raw(tag: int, keys: bytes) -> str:
    body = encode_varint(tag) + keys
    return base58.encode(body + keccak256(body)[:4])


def test_tags_are_distinct_and_give_their_prefixes() -> None:
    assert set(NETWORK_TAGS) == {"mainnet", "testnet", "devnet"}
    assert len(set(NETWORK_TAGS.values())) == 3
    for network, tag in NETWORK_TAGS.items():
        # Every address of the network, whatever its keys, starts with the prefix:
        # the lowest and the highest possible first 8-byte blocks give the same 3 characters.
        varint = encode_varint(tag)
        assert len(varint) == 3
        low = base58.encode(varint + bytes(5))
        high = base58.encode(varint + b"\xff" * 5)
        assert low[:3] == high[:3] == NETWORK_PREFIXES[network]


@pytest.mark.parametrize("network", sorted(EXAMPLES))
def test_examples(network: str) -> None:
    address = Address(network, SPEND, VIEW)  # type: ignore[arg-type]
    text = address.encode()
    assert text == EXAMPLES[network] == str(address)
    assert len(text) == ADDRESS_LENGTH
    assert text.startswith(NETWORK_PREFIXES[network])
    assert Address.parse(text) == address
    assert Address.parse(text, network) == address
    assert address.tag == NETWORK_TAGS[network]


@settings(max_examples=50, deadline=None)
@given(network=networks, spend=public_keys, view=public_keys)
def test_round_trip(network: str, spend: bytes, view: bytes) -> None:
    address = Address(network, spend, view)  # type: ignore[arg-type]
    text = address.encode()
    assert len(text) == ADDRESS_LENGTH
    assert text.startswith(NETWORK_PREFIXES[network])
    assert Address.parse(text, network) == address
    assert base58.decode(text) == address.to_bytes()


def test_every_sampled_single_character_substitution_fails() -> None:
    rng = random.Random(20240601)
    alphabet = base58.ALPHABET
    cases = [
        (text, position, char)
        for text in EXAMPLES.values()
        for position in range(len(text))
        for char in alphabet
        if char != text[position]
    ]
    for text, position, char in rng.sample(cases, 400):
        typo = text[:position] + char + text[position + 1 :]
        with pytest.raises(AddressChecksumError, match="mistyped"):
            Address.parse(typo)


def test_mistyped_address_message() -> None:
    text = EXAMPLES["mainnet"]
    typo = text[:50] + ("A" if text[50] != "A" else "B") + text[51:]
    with pytest.raises(AddressChecksumError) as info:
        Address.parse(typo, "mainnet")
    assert "the address is mistyped" in str(info.value)


def test_wrong_network() -> None:
    with pytest.raises(
        WrongNetworkError, match="this is a testnet address; this node runs devnet"
    ) as info:
        Address.parse(EXAMPLES["testnet"], network="devnet")
    assert (info.value.actual, info.value.expected) == ("testnet", "devnet")
    with pytest.raises(
        WrongNetworkError, match="this is a mainnet address; this node runs testnet"
    ):
        Address.parse(EXAMPLES["mainnet"], network="testnet")


def test_monero_address_is_an_unknown_network() -> None:
    with pytest.raises(
        UnknownNetworkError, match="tag 18 is unknown; this looks like a Monero mainnet address"
    ) as info:
        Address.parse(MONERO_DONATION)
    assert "'Zio' (mainnet)" in str(info.value)


def test_unknown_tag_with_valid_layout() -> None:
    with pytest.raises(UnknownNetworkError, match="network tag 12345 is unknown"):
        Address.parse(_raw(12345, SPEND + VIEW))


def test_known_tag_with_wrong_layout() -> None:
    text = _raw(NETWORK_TAGS["mainnet"], SPEND + VIEW + bytes(4))
    with pytest.raises(AddressLengthError, match="invalid mainnet address"):
        Address.parse(text)


def test_key_that_is_not_a_point() -> None:
    bad = (2).to_bytes(32, "little")  # y = 2: on no edwards25519 point
    with pytest.raises(InvalidAddressKeyError, match="public spend key is not a valid"):
        Address.parse(_raw(NETWORK_TAGS["devnet"], bad + VIEW))
    with pytest.raises(InvalidAddressKeyError, match="public view key"):
        Address.parse(_raw(NETWORK_TAGS["devnet"], SPEND + bad))


@pytest.mark.parametrize(
    ("text", "error", "match"),
    [
        ("", AddressLengthError, "too short"),
        (
            EXAMPLES["mainnet"][:-1],
            AddressLengthError,
            "97 characters, a ZION address has 98; is a character missing",
        ),
        (EXAMPLES["mainnet"][:-2], AddressLengthError, "no address length"),
        (
            EXAMPLES["mainnet"][:40] + EXAMPLES["mainnet"][41:],
            AddressLengthError,
            "is a character missing",
        ),
        (EXAMPLES["mainnet"][:40] + "2" + EXAMPLES["mainnet"][40:], AddressLengthError, "too many"),
        (EXAMPLES["mainnet"][:-11], AddressLengthError, "87 characters is too short"),
        (EXAMPLES["mainnet"] + "1" * 11, AddressLengthError, "109 characters is too long"),
        (EXAMPLES["mainnet"] * 2, AddressLengthError, "too long"),
        (" " + EXAMPLES["mainnet"], AddressCharacterError, "position 0"),
        (EXAMPLES["mainnet"][:10] + "0" + EXAMPLES["mainnet"][11:], AddressCharacterError, "'0'"),
        (EXAMPLES["mainnet"][:10] + "l" + EXAMPLES["mainnet"][11:], AddressCharacterError, "I/l"),
        ("z" * 98, AddressChecksumError, "overflows"),
    ],
)
def test_parse_errors(text: str, error: type[InvalidAddressError], match: str) -> None:
    with pytest.raises(error, match=match):
        Address.parse(text)


def test_parse_rejects_unknown_expected_network_and_non_text() -> None:
    with pytest.raises(UnknownNetworkError, match="unknown network 'stagenet'"):
        Address.parse(EXAMPLES["mainnet"], "stagenet")
    with pytest.raises(InvalidAddressError, match="not bytes"):
        Address.parse(EXAMPLES["mainnet"].encode())  # type: ignore[arg-type]


def test_constructor_validates() -> None:
    with pytest.raises(UnknownNetworkError, match="unknown network 'moon'"):
        Address("moon", SPEND, VIEW)  # type: ignore[arg-type]
    with pytest.raises(InvalidAddressError, match="spend_key must be 32 bytes"):
        Address("mainnet", SPEND[:31], VIEW)
    with pytest.raises(InvalidAddressError, match="view_key must be 32 bytes"):
        Address("mainnet", SPEND, VIEW.hex())  # type: ignore[arg-type]


def test_error_hierarchy() -> None:
    for cls in (
        AddressCharacterError,
        AddressLengthError,
        AddressChecksumError,
        UnknownNetworkError,
        WrongNetworkError,
        InvalidAddressKeyError,
    ):
        assert issubclass(cls, InvalidAddressError)
    assert issubclass(InvalidAddressError, ZionError)
    assert issubclass(InvalidAddressError, ValueError)


def test_repr_shows_hex_keys() -> None:
    assert SPEND.hex() in repr(Address("devnet", SPEND, VIEW))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=base58.ALPHABET, min_size=90, max_size=110) | st.text(max_size=120))
def test_fuzz_parse_raises_only_address_errors(text: str) -> None:
    with contextlib.suppress(InvalidAddressError):
        Address.parse(text)
