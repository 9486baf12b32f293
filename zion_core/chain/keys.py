"""Wallet key primitives: one 32-byte secret seed gives the spend and view key pairs.

Derivation (domain-separated Keccak-256, as in :mod:`zion_core.chain.hashing`)::

    spend_seed = keccak256(b"zion spend" || seed)
    view_seed  = keccak256(b"zion view"  || seed)
    spend_key  = Ed25519 public key of spend_seed   (RFC 8032, section 5.1.5)
    view_key   = Ed25519 public key of view_seed

Each derived seed is an RFC 8032 secret key (hashed with SHA-512 and clamped by Ed25519
itself), so both pairs sign with any Ed25519 library. Knowing the master seed gives
everything; knowing the view seed alone gives nothing about the spend seed (two
independent hashes of the master seed). The address of the keys is
``Address(network, spend_key, view_key)``.

The seed is the wallet's backup; the ``wallet`` plugin writes it as a 24-word BIP39
phrase.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Final

import attrs

from ..errors import UsageError
from .address import Address
from .ed25519 import SEED_SIZE, Ed25519Backend, default_backend
from .hashing import keccak256

if TYPE_CHECKING:
    from ..config import Network

SPEND_DOMAIN: Final = b"zion spend"
VIEW_DOMAIN: Final = b"zion view"


class InvalidSeedError(UsageError, ValueError):
    """A wallet seed that is not 32 bytes (or not 64 hexadecimal digits)."""


def _check_seed(instance: object, attribute: attrs.Attribute[bytes], value: bytes) -> None:
    if not isinstance(value, bytes) or len(value) != SEED_SIZE:
        size = len(value) if isinstance(value, bytes) else type(value).__name__
        raise InvalidSeedError(f"a {attribute.name} must be {SEED_SIZE} bytes, not {size}")


def derive_spend_seed(seed: bytes) -> bytes:
    """``keccak256(b"zion spend" + seed)``: the secret of the spend key pair."""
    return keccak256(SPEND_DOMAIN + seed)


def derive_view_seed(seed: bytes) -> bytes:
    """``keccak256(b"zion view" + seed)``: the secret of the view key pair."""
    return keccak256(VIEW_DOMAIN + seed)


@attrs.frozen(repr=False)
class KeyPair:
    """An Ed25519 key pair: a 32-byte secret seed and its public key.

    The repr shows the public key only, so secrets do not end up in logs.
    """

    seed: bytes = attrs.field(validator=_check_seed)
    public_key: bytes

    @classmethod
    def from_seed(cls, seed: bytes, backend: Ed25519Backend | None = None) -> KeyPair:
        """The pair of ``seed`` (the public key computed with ``backend``)."""
        _check_seed(None, attrs.fields(cls).seed, seed)
        return cls(seed, (backend or default_backend()).public_key(seed))

    def sign(self, message: bytes, backend: Ed25519Backend | None = None) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return (backend or default_backend()).sign(self.seed, message)

    def __repr__(self) -> str:
        return f"KeyPair(public_key={self.public_key.hex()}, seed=<secret>)"


@attrs.frozen(repr=False)
class WalletKeys:
    """A wallet's keys: the master seed and the spend and view pairs derived from it."""

    seed: bytes = attrs.field(validator=_check_seed)
    spend: KeyPair
    view: KeyPair

    @classmethod
    def from_seed(cls, seed: bytes, backend: Ed25519Backend | None = None) -> WalletKeys:
        """The keys of the 32-byte master ``seed`` (see the module docstring)."""
        _check_seed(None, attrs.fields(cls).seed, seed)
        return cls(
            seed,
            KeyPair.from_seed(derive_spend_seed(seed), backend),
            KeyPair.from_seed(derive_view_seed(seed), backend),
        )

    @classmethod
    def from_hex(cls, text: str, backend: Ed25519Backend | None = None) -> WalletKeys:
        """The keys of a master seed written as 64 hexadecimal digits."""
        try:
            seed = bytes.fromhex(text.strip())
        except ValueError:
            raise InvalidSeedError("a wallet seed is 64 hexadecimal digits (0-9, a-f)") from None
        return cls.from_seed(seed, backend)

    @classmethod
    def generate(cls, backend: Ed25519Backend | None = None) -> WalletKeys:
        """New keys from 32 bytes of the operating system's randomness (``secrets``)."""
        return cls.from_seed(secrets.token_bytes(SEED_SIZE), backend)

    def address(self, network: Network) -> Address:
        """The address of these keys on ``network``."""
        return Address(network, self.spend.public_key, self.view.public_key)

    def __repr__(self) -> str:
        return (
            f"WalletKeys(spend={self.spend.public_key.hex()}, "
            f"view={self.view.public_key.hex()}, seed=<secret>)"
        )


__all__ = [
    "SPEND_DOMAIN",
    "VIEW_DOMAIN",
    "InvalidSeedError",
    "KeyPair",
    "WalletKeys",
    "derive_spend_seed",
    "derive_view_seed",
]
