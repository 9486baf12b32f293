"""Wallet keys: the documented derivation, addresses, generation, secrets kept out of reprs."""

from __future__ import annotations

import pytest
from Crypto.Hash import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from zion_core.chain.address import NETWORK_PREFIXES, Address
from zion_core.chain.ed25519 import NaclBackend, PycryptodomeBackend
from zion_core.chain.keys import (
    InvalidSeedError,
    KeyPair,
    WalletKeys,
    derive_spend_seed,
    derive_view_seed,
)
from zion_core.errors import UsageError

SEED = bytes(range(32))  # the example seed of docs/addresses.md
EXPECTED = {
    "spend_seed": "f18a3b1de48101ba11e747f2b4b382a3801923cccc173fd5b57020448a435364",
    "view_seed": "14c04e339bfe19568eaa98cada3ed8e5c42cfb36b5c6ee32ff890447dd38c236",
    "spend_key": "3ef3b13c102afd31095cfbffdb311661e4c9980736850917fb77c25e30c0d3af",
    "view_key": "62ce24160fdbb7bf3b8642ab9d99eb643ea431a42d28b69d2f213ac9c610cff2",
    "mainnet": "ZiorDeYggNj8C3kaPZAUUA9DDA16dvVcqPFcT7rjnb3mZFfRQBQH7B4dkYBDHpQXXJSkDHyLJjgvp7oyHHXkVgoF1dxEyiBvTs",
    "testnet": "Ztn1a8otc3y8C3kaPZAUUA9DDA16dvVcqPFcT7rjnb3mZFfRQBQH7B4dkYBDHpQXXJSkDHyLJjgvp7oyHHXkVgoF1dxEtRggvG",
    "devnet": "ZDe1abmjydy8C3kaPZAUUA9DDA16dvVcqPFcT7rjnb3mZFfRQBQH7B4dkYBDHpQXXJSkDHyLJjgvp7oyHHXkVgoF1dxExEBXZu",
}


def _keccak(data: bytes) -> bytes:
    return keccak.new(data=data, digest_bits=256).digest()


def test_derivation_matches_the_documented_formula() -> None:
    keys = WalletKeys.from_seed(SEED)
    assert keys.spend.seed == _keccak(b"zion spend" + SEED) == derive_spend_seed(SEED)
    assert keys.view.seed == _keccak(b"zion view" + SEED) == derive_view_seed(SEED)
    assert keys.spend.seed.hex() == EXPECTED["spend_seed"]
    assert keys.view.seed.hex() == EXPECTED["view_seed"]
    assert keys.spend.public_key.hex() == EXPECTED["spend_key"]
    assert keys.view.public_key.hex() == EXPECTED["view_key"]


@pytest.mark.parametrize("network", ["mainnet", "testnet", "devnet"])
def test_example_addresses(network: str) -> None:
    keys = WalletKeys.from_seed(SEED)
    address = keys.address(network)  # type: ignore[arg-type]
    assert address.encode() == EXPECTED[network]
    assert address.encode().startswith(NETWORK_PREFIXES[network])
    assert Address.parse(EXPECTED[network], network) == address


def test_backends_derive_the_same_keys() -> None:
    assert WalletKeys.from_seed(SEED, NaclBackend()) == WalletKeys.from_seed(
        SEED, PycryptodomeBackend()
    )


@settings(max_examples=20, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_keys_sign_and_their_address_round_trips(seed: bytes) -> None:
    keys = WalletKeys.from_seed(seed)
    assert keys.spend.public_key != keys.view.public_key
    backend = NaclBackend()
    signature = keys.spend.sign(b"message")
    assert backend.verify(keys.spend.public_key, b"message", signature)
    assert not backend.verify(keys.view.public_key, b"message", signature)
    address = keys.address("devnet")
    assert Address.parse(address.encode(), "devnet") == address


def test_generate_uses_fresh_randomness() -> None:
    first, second = WalletKeys.generate(), WalletKeys.generate()
    assert first.seed != second.seed
    assert len(first.seed) == 32
    assert WalletKeys.from_seed(first.seed) == first


def test_from_hex() -> None:
    assert WalletKeys.from_hex(SEED.hex()) == WalletKeys.from_seed(SEED)
    assert WalletKeys.from_hex(f"  {SEED.hex().upper()}\n") == WalletKeys.from_seed(SEED)
    with pytest.raises(InvalidSeedError, match="64 hexadecimal digits"):
        WalletKeys.from_hex("zz" * 32)
    with pytest.raises(InvalidSeedError, match="must be 32 bytes, not 31"):
        WalletKeys.from_hex("00" * 31)


@pytest.mark.parametrize("bad", [b"", bytes(31), bytes(33), "00" * 32])
def test_bad_seeds(bad: bytes) -> None:
    with pytest.raises(InvalidSeedError, match="must be 32 bytes"):
        WalletKeys.from_seed(bad)
    with pytest.raises(InvalidSeedError, match="must be 32 bytes"):
        KeyPair.from_seed(bad)
    assert issubclass(InvalidSeedError, UsageError)
    assert issubclass(InvalidSeedError, ValueError)


def test_reprs_hide_secrets() -> None:
    keys = WalletKeys.from_seed(SEED)
    for text in (repr(keys), repr(keys.spend), repr(keys.view), str(keys)):
        assert SEED.hex() not in text
        assert keys.spend.seed.hex() not in text
        assert keys.view.seed.hex() not in text
        assert "<secret>" in text
    assert EXPECTED["spend_key"] in repr(keys)
