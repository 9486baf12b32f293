"""Ed25519 signatures (RFC 8032, pure Ed25519) behind a small backend interface.

Two backends implement :class:`Ed25519Backend`:

* :class:`NaclBackend` (the default) wraps PyNaCl, that is libsodium. It is the fastest
  (verification about 5x faster than pycryptodome) and its verification is strict:
  ``crypto_sign_open`` rejects public keys that are non-canonical (y >= 2^255 - 19) or of
  small order, an ``R`` of small order, a non-canonical ``S`` (>= the group order L), and
  checks the *cofactorless* equation ``[S]B == R + [k]A`` by comparing encodings.
* :class:`PycryptodomeBackend` (the fallback) wraps ``Crypto.Signature.eddsa``. Before
  calling it, this module applies libsodium's key and ``R`` checks (canonical, not of
  small order), because pycryptodome alone accepts, for instance, the identity point as a
  public key with the signature ``R = identity, S = 0`` for *every* message. One
  difference remains: pycryptodome checks the *cofactored* equation
  ``[8][S]B == [8]R + [8][k]A``, so a signature whose ``R`` carries a small torsion
  component passes there and fails in libsodium.

Both backends produce identical signatures (Ed25519 signing is deterministic) and agree
on every honestly made signature and on tampered ones; they can disagree only on
signatures crafted around the edge cases above. **Consensus therefore uses one backend
everywhere:** :func:`consensus_backend` returns the libsodium backend, and it raises
rather than fall back, so two nodes never judge the same transaction differently.
:func:`default_backend` (libsodium if importable, else pycryptodome) is for wallets and
tools, which only sign and check their own data.

Lengths are part of the contract: a seed or public key that is not 32 bytes, or a
signature that is not 64 bytes, raises :class:`Ed25519LengthError`; a signature or key
of the right length that is merely invalid makes :meth:`Ed25519Backend.verify` return
``False`` and never raise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Protocol, runtime_checkable

from ..errors import SerializationError, UsageError

if TYPE_CHECKING:
    from Crypto.PublicKey.ECC import EccKey

SEED_SIZE: Final = 32
PUBLIC_KEY_SIZE: Final = 32
SIGNATURE_SIZE: Final = 64

# Field prime and the cofactor of edwards25519 (RFC 8032, section 5.1).
_P: Final = 2**255 - 19
_COFACTOR: Final = 8


class Ed25519LengthError(SerializationError):
    """A seed, public key or signature of the wrong length was passed to a backend."""


class BackendUnavailableError(UsageError):
    """The requested Ed25519 library is not installed."""


def _check_length(name: str, value: bytes, size: int) -> None:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise Ed25519LengthError(f"{name} must be {size} bytes, not {type(value).__name__}")
    if len(value) != size:
        raise Ed25519LengthError(f"{name} must be {size} bytes, not {len(value)}")


@runtime_checkable
class Ed25519Backend(Protocol):
    """What ZION needs from an Ed25519 library."""

    #: A short name for messages and ``zion diagnose``-style listings.
    name: str

    def public_key(self, seed: bytes) -> bytes:
        """The 32-byte public key of the 32-byte secret ``seed``."""
        ...

    def sign(self, seed: bytes, message: bytes) -> bytes:
        """The 64-byte signature (``R || S``) of ``message`` with the key of ``seed``."""
        ...

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is valid for ``message`` under ``public_key``.

        Returns ``False`` for every invalid signature or key of the right length; raises
        :class:`Ed25519LengthError` only for wrong lengths.
        """
        ...


class NaclBackend:
    """Ed25519 through PyNaCl (libsodium): fast and strict; the consensus backend."""

    name = "pynacl"

    def __init__(self) -> None:
        try:
            from nacl import bindings, exceptions
        except ImportError as exc:  # pragma: no cover - PyNaCl is a kernel dependency
            raise BackendUnavailableError(f"PyNaCl is not installed: {exc}") from exc
        self._bindings = bindings
        self._crypto_error = exceptions.CryptoError

    def public_key(self, seed: bytes) -> bytes:
        _check_length("an Ed25519 seed", seed, SEED_SIZE)
        public, _secret = self._bindings.crypto_sign_seed_keypair(bytes(seed))
        return bytes(public)

    def sign(self, seed: bytes, message: bytes) -> bytes:
        _check_length("an Ed25519 seed", seed, SEED_SIZE)
        _public, secret = self._bindings.crypto_sign_seed_keypair(bytes(seed))
        signed = self._bindings.crypto_sign(bytes(message), secret)
        return bytes(signed[:SIGNATURE_SIZE])

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        _check_length("an Ed25519 public key", public_key, PUBLIC_KEY_SIZE)
        _check_length("an Ed25519 signature", signature, SIGNATURE_SIZE)
        try:
            self._bindings.crypto_sign_open(bytes(signature) + bytes(message), bytes(public_key))
        except self._crypto_error:
            return False
        return True


class PycryptodomeBackend:
    """Ed25519 through pycryptodome (``Crypto.Signature.eddsa``); the fallback.

    Verification first applies libsodium's checks on the public key and on ``R``
    (canonical encoding, not of small order); see the module docstring for the one
    remaining difference (cofactored equation).
    """

    name = "pycryptodome"

    def __init__(self) -> None:
        try:
            from Crypto.Signature import eddsa
        except ImportError as exc:  # pragma: no cover - pycryptodome is a kernel dependency
            raise BackendUnavailableError(f"pycryptodome is not installed: {exc}") from exc
        self._eddsa = eddsa

    def _point(self, encoded: bytes) -> EccKey | None:
        """The point of a canonical encoding that is not of small order, else None."""
        if int.from_bytes(encoded, "little") & ~(1 << 255) >= _P:
            return None  # y is not reduced modulo p
        try:
            key = self._eddsa.import_public_key(encoded)
        except ValueError:
            return None  # not on the curve
        multiple = key.pointQ.copy()  # [8]P by three in-place doublings (cheaper than *8)
        for _ in range(_COFACTOR.bit_length() - 1):
            multiple.double()
        if multiple.is_point_at_infinity():
            return None  # of small order (a torsion point, the identity included)
        return key

    def public_key(self, seed: bytes) -> bytes:
        _check_length("an Ed25519 seed", seed, SEED_SIZE)
        key = self._eddsa.import_private_key(bytes(seed))
        return bytes(key.public_key().export_key(format="raw"))

    def sign(self, seed: bytes, message: bytes) -> bytes:
        _check_length("an Ed25519 seed", seed, SEED_SIZE)
        key = self._eddsa.import_private_key(bytes(seed))
        return bytes(self._eddsa.new(key, "rfc8032").sign(bytes(message)))

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        _check_length("an Ed25519 public key", public_key, PUBLIC_KEY_SIZE)
        _check_length("an Ed25519 signature", signature, SIGNATURE_SIZE)
        signature = bytes(signature)
        key = self._point(bytes(public_key))
        if key is None or self._point(signature[:32]) is None:
            return False
        try:
            self._eddsa.new(key, "rfc8032").verify(bytes(message), signature)
        except ValueError:
            return False
        return True


def is_valid_public_key(public_key: bytes) -> bool:
    """Whether ``public_key`` is a canonical encoding of a point on edwards25519.

    The check wallets apply to the keys of an address (it does not reject points of
    small order, which only signature verification has to). Uses pycryptodome.
    """
    _check_length("an Ed25519 public key", public_key, PUBLIC_KEY_SIZE)
    encoded = bytes(public_key)
    if int.from_bytes(encoded, "little") & ~(1 << 255) >= _P:
        return False
    from Crypto.Signature import eddsa

    try:
        eddsa.import_public_key(encoded)
    except ValueError:
        return False
    return True


_default: Ed25519Backend | None = None
_consensus: NaclBackend | None = None


def default_backend() -> Ed25519Backend:
    """The libsodium backend when PyNaCl imports, else the pycryptodome one (cached).

    For wallets and tools only; consensus code calls :func:`consensus_backend`.
    """
    global _default
    if _default is None:
        try:
            _default = NaclBackend()
        except BackendUnavailableError:  # pragma: no cover - PyNaCl is a kernel dependency
            _default = PycryptodomeBackend()
    return _default


def consensus_backend() -> Ed25519Backend:
    """The backend every consensus check uses: always libsodium, never a fallback.

    Raises :class:`BackendUnavailableError` if PyNaCl is missing, because a node that
    silently verified with another library could accept what the network rejects.
    """
    global _consensus
    if _consensus is None:
        _consensus = NaclBackend()
    return _consensus


def backend_by_name(name: str) -> Ed25519Backend:
    """``"pynacl"`` or ``"pycryptodome"`` (for tests and comparisons)."""
    if name == NaclBackend.name:
        return NaclBackend()
    if name == PycryptodomeBackend.name:
        return PycryptodomeBackend()
    raise BackendUnavailableError(
        f"unknown Ed25519 backend {name!r}; choose {NaclBackend.name!r} "
        f"or {PycryptodomeBackend.name!r}"
    )


__all__ = [
    "PUBLIC_KEY_SIZE",
    "SEED_SIZE",
    "SIGNATURE_SIZE",
    "BackendUnavailableError",
    "Ed25519Backend",
    "Ed25519LengthError",
    "NaclBackend",
    "PycryptodomeBackend",
    "backend_by_name",
    "consensus_backend",
    "default_backend",
    "is_valid_public_key",
]
