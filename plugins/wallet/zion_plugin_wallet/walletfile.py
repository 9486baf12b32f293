"""The encrypted wallet file: the master seed sealed with a password, in JSON.

Layout (format version 1; every byte string is lower-case hexadecimal)::

    {
      "format": "zion-wallet",
      "version": 1,
      "network": "mainnet",
      "address": "Zio...",                       # the public address, readable without the password
      "created": "2026-01-01T00:00:00+00:00",    # UTC, whole seconds
      "kdf": {"name": "scrypt", "n": 32768, "r": 8, "p": 1, "salt": "<16 bytes>"},
      "password_check": "<16 bytes>",
      "cipher": {"name": "aes-256-gcm", "nonce": "<12 bytes>",
                 "ciphertext": "<32 bytes>", "tag": "<16 bytes>"}
    }

Sealing: ``scrypt(NFC(password) as UTF-8, salt, N, r, p)`` derives 48 bytes; the first 32
are the AES-256 key, the last 16 are stored as ``password_check``. AES-256-GCM with a
random 12-byte nonce encrypts the 32-byte master seed; its associated data is the
*header*: the canonical JSON (sorted keys, no spaces) of ``format``, ``version``,
``network``, ``address``, ``created`` and ``kdf``. So:

- a wrong password gives a different ``password_check`` and fails with
  :class:`WrongPasswordError` before any decryption is tried;
- a right password with an altered header, nonce, ciphertext or tag fails the GCM tag
  check: :class:`WalletCorruptError` (the file was damaged or tampered with);
- an altered ``kdf`` or ``password_check`` reads as a wrong password (the derived key
  changes too); the message says so.

After decryption the seed's keys must give the header's address, a last check that the
file opens to the wallet it names.

Reading (:func:`load_wallet_file`) checks the ``format`` marker, then the ``version``
(an unknown one is :class:`UnsupportedWalletVersionError`), then every field strictly
(no unknown keys, exact byte sizes, scrypt parameters within bounds), then that the
address is a valid address of the stated network.

Writing (:func:`save_wallet_file`) is atomic: a temporary file in the same directory,
mode 0600, written and ``fsync``-ed, then linked to its name (which fails if the name
exists, unless overwriting was asked for, then it is renamed over it), then the directory
is ``fsync``-ed. A crash leaves either no wallet or a whole one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hmac
import json
import os
import secrets
import tempfile
import unicodedata
from pathlib import Path
from typing import Any, Final, Literal

import attrs
import cattrs
from cattrs.preconf.json import make_converter
from cattrs.v import format_exception
from Crypto.Cipher import AES
from Crypto.Protocol.KDF import scrypt

from zion_core.chain.address import NETWORK_TAGS, Address, InvalidAddressError
from zion_core.chain.ed25519 import SEED_SIZE
from zion_core.chain.keys import WalletKeys
from zion_core.config import Network  # at run time: cattrs resolves the annotation

from .errors import (
    UnsupportedWalletVersionError,
    WalletCorruptError,
    WalletExistsError,
    WalletFileError,
    WalletUsageError,
    WrongPasswordError,
)

FORMAT_NAME: Final = "zion-wallet"
FORMAT_VERSION: Final = 1
KDF_NAME: Final = "scrypt"
CIPHER_NAME: Final = "aes-256-gcm"

#: scrypt cost for new files: N = 2^15, r = 8, p = 1 (32 MiB of memory per attempt).
DEFAULT_SCRYPT_N: Final = 2**15
DEFAULT_SCRYPT_R: Final = 8
DEFAULT_SCRYPT_P: Final = 1
#: The largest N a file may ask for (1 GiB of memory at r = 8), so a crafted file cannot
#: make opening it exhaust the machine.
MAX_SCRYPT_N: Final = 2**20
MAX_SCRYPT_R: Final = 32
MAX_SCRYPT_P: Final = 16

SALT_SIZE: Final = 16
NONCE_SIZE: Final = 12
TAG_SIZE: Final = 16
KEY_SIZE: Final = 32
CHECK_SIZE: Final = 16
#: A wallet file is about 700 bytes; anything much larger is not one.
MAX_FILE_BYTES: Final = 64 * 1024
FILE_MODE: Final = 0o600


class _FieldError(ValueError):
    """A field value out of range (reported with its message by :func:`_describe`)."""


def _exact_size(size: int) -> Any:
    def check(_instance: Any, attribute: attrs.Attribute[bytes], value: bytes) -> None:
        if len(value) != size:
            raise _FieldError(f"{attribute.name} must be {size} bytes, not {len(value)}")

    return check


def _int_range(low: int, high: int) -> Any:
    def check(_instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
        if not low <= value <= high:
            raise _FieldError(f"{attribute.name} must be in {low}..{high}, not {value}")

    return check


def _power_of_two(_instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if value & (value - 1):
        raise _FieldError(f"{attribute.name} must be a power of two, not {value}")


def _known_network(_instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in NETWORK_TAGS:
        raise _FieldError(f"unknown network {value!r}")


def _utc_seconds(_instance: Any, attribute: attrs.Attribute[dt.datetime], value: Any) -> None:
    if value.utcoffset() != dt.timedelta(0) or value.microsecond:
        raise _FieldError(f"{attribute.name} must be a UTC time in whole seconds")


@attrs.frozen(kw_only=True)
class ScryptParams:
    """The scrypt parameters and salt that turn the password into the file's key."""

    name: Literal["scrypt"] = KDF_NAME
    n: int = attrs.field(validator=[_int_range(2, MAX_SCRYPT_N), _power_of_two])
    r: int = attrs.field(validator=_int_range(1, MAX_SCRYPT_R))
    p: int = attrs.field(validator=_int_range(1, MAX_SCRYPT_P))
    salt: bytes = attrs.field(validator=_exact_size(SALT_SIZE), repr=lambda b: b.hex())

    @classmethod
    def new(
        cls, n: int = DEFAULT_SCRYPT_N, r: int = DEFAULT_SCRYPT_R, p: int = DEFAULT_SCRYPT_P
    ) -> ScryptParams:
        """Parameters with a fresh random 16-byte salt."""
        try:
            return cls(n=n, r=r, p=p, salt=secrets.token_bytes(SALT_SIZE))
        except _FieldError as exc:
            raise WalletUsageError(f"invalid scrypt parameters: {exc}") from None

    def derive(self, password: str) -> tuple[bytes, bytes]:
        """``(aes_key, password_check)`` for ``password`` (NFC-normalised, UTF-8)."""
        secret = unicodedata.normalize("NFC", password).encode("utf-8")
        derived: bytes = scrypt(secret, self.salt, KEY_SIZE + CHECK_SIZE, self.n, self.r, self.p)
        return derived[:KEY_SIZE], derived[KEY_SIZE:]


@attrs.frozen(kw_only=True)
class SealedSeed:
    """The master seed encrypted with AES-256-GCM (``cipher`` in the file)."""

    name: Literal["aes-256-gcm"] = CIPHER_NAME
    nonce: bytes = attrs.field(validator=_exact_size(NONCE_SIZE), repr=lambda b: b.hex())
    ciphertext: bytes = attrs.field(validator=_exact_size(SEED_SIZE), repr=lambda b: b.hex())
    tag: bytes = attrs.field(validator=_exact_size(TAG_SIZE), repr=lambda b: b.hex())


@attrs.frozen(kw_only=True)
class WalletFile:
    """The content of a wallet file (see the module docstring); holds no secret in clear."""

    format: Literal["zion-wallet"] = FORMAT_NAME
    version: Literal[1] = FORMAT_VERSION
    network: Network = attrs.field(validator=_known_network)
    address: str
    created: dt.datetime = attrs.field(validator=_utc_seconds)
    kdf: ScryptParams
    password_check: bytes = attrs.field(validator=_exact_size(CHECK_SIZE), repr=False)
    cipher: SealedSeed

    # ------------------------------------------------------------------ sealing, opening

    @classmethod
    def seal(
        cls,
        keys: WalletKeys,
        network: Network,
        password: str,
        *,
        kdf: ScryptParams | None = None,
        created: dt.datetime | None = None,
    ) -> WalletFile:
        """Encrypt the master seed of ``keys`` with ``password`` for ``network``.

        ``kdf`` defaults to :meth:`ScryptParams.new` (N = 2^15); tests pass a small N.
        """
        if not password:
            raise WalletUsageError("the wallet password must not be empty")
        try:
            _known_network(None, attrs.fields(cls).network, network)
        except _FieldError as exc:
            raise WalletUsageError(f"{exc}; ZION networks are {', '.join(NETWORK_TAGS)}") from None
        kdf = kdf or ScryptParams.new()
        when = (created or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
        key, check = kdf.derive(password)
        placeholder = SealedSeed(
            nonce=bytes(NONCE_SIZE), ciphertext=bytes(SEED_SIZE), tag=bytes(TAG_SIZE)
        )
        unsealed = cls(
            network=network,
            address=keys.address(network).encode(),
            created=when,
            kdf=kdf,
            password_check=check,
            cipher=placeholder,
        )
        nonce = secrets.token_bytes(NONCE_SIZE)
        aes = AES.new(key, AES.MODE_GCM, nonce=nonce, mac_len=TAG_SIZE)
        aes.update(unsealed.header_bytes())
        ciphertext, tag = aes.encrypt_and_digest(keys.seed)
        return attrs.evolve(
            unsealed, cipher=SealedSeed(nonce=nonce, ciphertext=ciphertext, tag=tag)
        )

    def open(self, password: str) -> WalletKeys:
        """The wallet's keys; :class:`WrongPasswordError` or :class:`WalletCorruptError`."""
        key, check = self.kdf.derive(password)
        if not hmac.compare_digest(check, self.password_check):
            raise WrongPasswordError(
                "wrong password for this wallet file (or its kdf/password_check fields "
                "were altered)"
            )
        aes = AES.new(key, AES.MODE_GCM, nonce=self.cipher.nonce, mac_len=TAG_SIZE)
        aes.update(self.header_bytes())
        try:
            seed = aes.decrypt_and_verify(self.cipher.ciphertext, self.cipher.tag)
        except ValueError:  # pycryptodome: "MAC check failed"
            raise WalletCorruptError(
                "the wallet file is damaged or was tampered with: the password is right but "
                "its header or encrypted seed fails authentication; restore it from a backup "
                "or from the recovery phrase"
            ) from None
        keys = WalletKeys.from_seed(bytes(seed))
        if keys.address(self.network).encode() != self.address:
            raise WalletCorruptError(  # pragma: no cover - the tag covers the address
                "the wallet file's seed does not give its address"
            )
        return keys

    # ------------------------------------------------------------------ header, JSON

    def public_address(self) -> Address:
        """The clear-text address, parsed and checked against :attr:`network`."""
        try:
            return Address.parse(self.address, self.network)
        except InvalidAddressError as exc:
            raise WalletCorruptError(f"the wallet file's address is invalid: {exc}") from None

    def header_bytes(self) -> bytes:
        """The associated data of the encryption: the canonical JSON of the header."""
        data = _converter.unstructure(self)
        header = {key: data[key] for key in _HEADER_KEYS}
        return json.dumps(header, sort_keys=True, separators=(",", ":")).encode()

    def to_json(self) -> str:
        """The file's text: indented JSON with a final new line."""
        return json.dumps(_converter.unstructure(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> WalletFile:
        """Parse and check a wallet file's text (see the module docstring for the order)."""
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise WalletFileError(f"not a ZION wallet file (not JSON: {exc})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
            raise WalletFileError(f'not a ZION wallet file (no "format": "{FORMAT_NAME}")')
        version = data.get("version")
        if type(version) is not int:
            raise WalletCorruptError(f"the wallet file's version is not a number: {version!r}")
        if version != FORMAT_VERSION:
            raise UnsupportedWalletVersionError(
                f"wallet file format version {version} is not supported; this zion reads "
                f"version {FORMAT_VERSION} (a newer zion may read it)"
            )
        try:
            wallet = _converter.structure(data, cls)
        except cattrs.BaseValidationError as exc:
            problems = "; ".join(cattrs.transform_error(exc, format_exception=_describe))
            raise WalletCorruptError(f"the wallet file is damaged: {problems}") from None
        wallet.public_address()
        return wallet


_HEADER_KEYS: Final = ("format", "version", "network", "address", "created", "kdf")


# ----------------------------------------------------------------------------- converter


def _describe(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, _FieldError):
        return str(exc)
    return format_exception(exc, type_)


def _strict(kind: type) -> Any:
    def structure(value: Any, _type: Any) -> Any:
        if type(value) is not kind:
            raise TypeError(f"expected {kind.__name__}, not {type(value).__name__}")
        return value

    return structure


def _hex_bytes(value: Any, _type: Any) -> bytes:
    if not isinstance(value, str) or value != value.lower():
        raise _FieldError(f"expected lower-case hexadecimal text, not {value!r:.40}")
    return bytes.fromhex(value)


def _utc_time(value: Any, _type: Any) -> dt.datetime:
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 time, not {type(value).__name__}")
    return dt.datetime.fromisoformat(value)


def _make_converter() -> cattrs.Converter:
    converter = make_converter(forbid_extra_keys=True)
    converter.register_unstructure_hook(bytes, bytes.hex)
    converter.register_structure_hook(bytes, _hex_bytes)
    converter.register_unstructure_hook(dt.datetime, dt.datetime.isoformat)
    converter.register_structure_hook(dt.datetime, _utc_time)
    converter.register_structure_hook(int, _strict(int))
    converter.register_structure_hook(str, _strict(str))
    return converter


_converter: Final = _make_converter()


# ----------------------------------------------------------------------------- files


def write_private_file(path: Path, data: bytes, *, overwrite: bool = False) -> None:
    """Write ``data`` to ``path`` atomically with mode 0600 (see the module docstring).

    Raises :class:`WalletExistsError` if ``path`` exists and ``overwrite`` is false.
    """
    path = Path(path)
    directory = path.parent
    if not directory.is_dir():
        raise WalletUsageError(f"cannot write {path}: the directory {directory} does not exist")
    if not overwrite and path.exists():
        raise WalletExistsError(f"{path} already exists; refusing to overwrite it")
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), FILE_MODE)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # atomic, and fails if the name was taken meanwhile
            except FileExistsError:
                raise WalletExistsError(
                    f"{path} already exists; refusing to overwrite it"
                ) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save_wallet_file(path: Path, wallet: WalletFile, *, overwrite: bool = False) -> None:
    """Write ``wallet`` to ``path`` atomically, mode 0600; never over a file unless asked."""
    write_private_file(path, wallet.to_json().encode(), overwrite=overwrite)


def load_wallet_file(path: Path) -> WalletFile:
    """Read and check the wallet file at ``path`` (no password needed, nothing decrypted)."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise WalletUsageError(f"no wallet file at {path}") from None
    except OSError as exc:
        raise WalletFileError(f"cannot read the wallet file {path}: {exc.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise WalletFileError(f"{path} is not a ZION wallet file (over {MAX_FILE_BYTES} bytes)")
    try:
        return WalletFile.from_json(data)
    except WalletFileError as exc:
        raise type(exc)(f"{path}: {exc}") from None


def read_wallet_address(path: Path) -> Address:
    """The public address stored in the clear header of the wallet file at ``path``."""
    return load_wallet_file(path).public_address()


__all__ = [
    "CIPHER_NAME",
    "DEFAULT_SCRYPT_N",
    "DEFAULT_SCRYPT_P",
    "DEFAULT_SCRYPT_R",
    "FILE_MODE",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "KDF_NAME",
    "MAX_SCRYPT_N",
    "ScryptParams",
    "SealedSeed",
    "WalletFile",
    "load_wallet_file",
    "read_wallet_address",
    "save_wallet_file",
    "write_private_file",
]
