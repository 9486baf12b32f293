"""The encrypted wallet file: round trip, passwords, tampering, versions, atomic writes."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from zion_core.chain.address import Address
from zion_core.chain.keys import WalletKeys
from zion_core.errors import ZionError
from zion_plugin_wallet import Wallet
from zion_plugin_wallet.errors import (
    UnsupportedWalletVersionError,
    WalletCorruptError,
    WalletError,
    WalletExistsError,
    WalletFileError,
    WalletUsageError,
    WrongPasswordError,
)
from zion_plugin_wallet.walletfile import (
    ScryptParams,
    WalletFile,
    load_wallet_file,
    read_wallet_address,
    save_wallet_file,
)

FAST_KDF_N = 16  # tests only: the real default is 2**15
KEYS = WalletKeys.from_seed(bytes(range(32)))
PASSWORD = "correct horse battery staple"


def fast_kdf() -> ScryptParams:
    return ScryptParams.new(n=FAST_KDF_N)


def sealed(network: str = "devnet") -> WalletFile:
    return WalletFile.seal(KEYS, network, PASSWORD, kdf=fast_kdf())  # type: ignore[arg-type]


def edited(wallet: WalletFile, change: Any) -> str:
    data = json.loads(wallet.to_json())
    change(data)
    return json.dumps(data)


def test_round_trip() -> None:
    wallet = sealed()
    again = WalletFile.from_json(wallet.to_json())
    assert again == wallet
    assert again.open(PASSWORD) == KEYS
    assert again.public_address() == KEYS.address("devnet")
    assert again.created.tzinfo is not None and again.created.microsecond == 0
    data = json.loads(wallet.to_json())
    assert list(data) == [
        "format",
        "version",
        "network",
        "address",
        "created",
        "kdf",
        "password_check",
        "cipher",
    ]
    assert data["kdf"] == {"name": "scrypt", "n": 16, "r": 8, "p": 1, "salt": data["kdf"]["salt"]}
    assert len(bytes.fromhex(data["kdf"]["salt"])) == 16
    assert data["cipher"]["name"] == "aes-256-gcm"
    assert len(bytes.fromhex(data["cipher"]["nonce"])) == 12
    assert len(bytes.fromhex(data["cipher"]["tag"])) == 16
    assert KEYS.seed.hex() not in wallet.to_json()


def test_default_kdf_and_fresh_randomness() -> None:
    params = ScryptParams.new()
    assert (params.n, params.r, params.p) == (2**15, 8, 1)
    first, second = sealed(), sealed()
    assert first.kdf.salt != second.kdf.salt
    assert first.cipher.nonce != second.cipher.nonce


def test_unicode_password_is_nfc_normalised() -> None:
    wallet = WalletFile.seal(KEYS, "mainnet", "caf\u00e9", kdf=fast_kdf())
    assert wallet.open("cafe\u0301") == KEYS


def test_wrong_password() -> None:
    with pytest.raises(WrongPasswordError, match="wrong password"):
        sealed().open("not the password")


def test_empty_password_refused() -> None:
    with pytest.raises(WalletUsageError, match="must not be empty"):
        WalletFile.seal(KEYS, "devnet", "", kdf=fast_kdf())


def other_devnet_address() -> str:
    return WalletKeys.from_seed(bytes(32)).address("devnet").encode()


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda d: d.update(address=other_devnet_address()), id="address"),
        pytest.param(lambda d: d.update(created="2020-01-01T00:00:00+00:00"), id="created"),
        pytest.param(lambda d: d["cipher"].update(ciphertext="00" * 32), id="ciphertext"),
        pytest.param(lambda d: d["cipher"].update(tag="00" * 16), id="tag"),
        pytest.param(lambda d: d["cipher"].update(nonce="00" * 12), id="nonce"),
    ],
)
def test_tampering_is_detected(change: Any) -> None:
    tampered = WalletFile.from_json(edited(sealed(), change))
    with pytest.raises(WalletCorruptError, match="tampered"):
        tampered.open(PASSWORD)


def test_network_change_is_detected() -> None:
    # a network change must come with an address of that network to load at all
    testnet = KEYS.address("testnet").encode()
    text = edited(sealed(), lambda d: d.update(network="testnet", address=testnet))
    with pytest.raises(WalletCorruptError):
        WalletFile.from_json(text).open(PASSWORD)
    mismatch = edited(sealed(), lambda d: d.update(network="testnet"))
    with pytest.raises(WalletCorruptError, match="address is invalid"):
        WalletFile.from_json(mismatch)


def test_altered_kdf_reads_as_wrong_password() -> None:
    text = edited(sealed(), lambda d: d["kdf"].update(n=32))
    with pytest.raises(WrongPasswordError, match="altered"):
        WalletFile.from_json(text).open(PASSWORD)


def test_unknown_version() -> None:
    text = edited(sealed(), lambda d: d.update(version=2))
    with pytest.raises(UnsupportedWalletVersionError, match="version 2 is not supported"):
        WalletFile.from_json(text)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", "not JSON"),
        ("[]", "not a ZION wallet file"),
        ('{"format": "other"}', "not a ZION wallet file"),
    ],
)
def test_not_a_wallet_file(text: str, match: str) -> None:
    with pytest.raises(WalletFileError, match=match):
        WalletFile.from_json(text)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda d: d.update(surprise=1), "extra fields"),
        (lambda d: d["kdf"].update(n=3), "power of two"),
        (lambda d: d["kdf"].update(n=2**30), "must be in"),
        (lambda d: d["kdf"].update(n="16"), "kdf.n"),
        (lambda d: d["cipher"].update(nonce="00" * 8), "nonce must be 12 bytes"),
        (lambda d: d["cipher"].update(name="aes-128-cbc"), "cipher.name"),
        (lambda d: d.pop("password_check"), "password_check"),
        (lambda d: d.update(version="1"), "version is not a number"),
    ],
)
def test_damaged_fields(change: Any, match: str) -> None:
    with pytest.raises(WalletCorruptError, match=match):
        WalletFile.from_json(edited(sealed(), change))


def test_errors_are_zion_errors() -> None:
    for error in (WrongPasswordError, WalletCorruptError, UnsupportedWalletVersionError):
        assert issubclass(error, WalletError) and issubclass(error, ZionError)
    assert WrongPasswordError.exit_code == 2
    assert WalletCorruptError.exit_code == 1


def test_save_load_permissions_and_no_leftovers(tmp_path: Path) -> None:
    path = tmp_path / "main.wallet"
    wallet = sealed()
    save_wallet_file(path, wallet)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["main.wallet"]
    assert load_wallet_file(path) == wallet
    assert read_wallet_address(path) == Address.parse(wallet.address, "devnet")


def test_no_overwrite_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "main.wallet"
    path.write_text("precious")
    with pytest.raises(WalletExistsError, match="already exists"):
        save_wallet_file(path, sealed())
    assert path.read_text() == "precious"
    save_wallet_file(path, sealed(), overwrite=True)
    assert load_wallet_file(path).open(PASSWORD) == KEYS
    assert os.listdir(tmp_path) == ["main.wallet"]


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(WalletUsageError, match="no wallet file"):
        load_wallet_file(tmp_path / "absent.wallet")
    with pytest.raises(WalletUsageError, match="does not exist"):
        save_wallet_file(tmp_path / "no" / "such.wallet", sealed())


def test_load_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "junk.wallet"
    path.write_text("{}")
    with pytest.raises(WalletFileError, match=r"junk\.wallet: not a ZION wallet file"):
        load_wallet_file(path)


def test_wallet_object(tmp_path: Path) -> None:
    wallet = Wallet(KEYS, "testnet")
    assert "seed=<secret>" in repr(wallet) and KEYS.seed.hex() not in repr(wallet)
    path = tmp_path / "w.wallet"
    wallet.save(path, PASSWORD, kdf=fast_kdf())
    assert Wallet.open(path, PASSWORD) == wallet
    assert Wallet.from_mnemonic(wallet.mnemonic(), "testnet") == wallet
    assert wallet.address.network == "testnet"


def test_created_time_is_utc_seconds() -> None:
    when = dt.datetime(2026, 5, 1, 12, 30, 15, 999, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    wallet = WalletFile.seal(KEYS, "devnet", PASSWORD, kdf=fast_kdf(), created=when)
    assert wallet.created == dt.datetime(2026, 5, 1, 10, 30, 15, tzinfo=dt.UTC)
    assert json.loads(wallet.to_json())["created"] == "2026-05-01T10:30:15+00:00"
