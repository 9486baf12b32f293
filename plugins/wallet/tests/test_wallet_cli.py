"""``zion wallet`` through the real command line (``zion_core.cli.main``), in process."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from zion_core.chain.address import Address
from zion_core.cli import main
from zion_plugin_wallet.backup import seed_to_mnemonic
from zion_plugin_wallet.wallet import Wallet


@pytest.fixture(autouse=True)
def no_password_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZION_WALLET_PASSWORD", raising=False)
    monkeypatch.delenv("ZION_DISABLED_PLUGINS", raising=False)


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "password"
    path.write_text("s3cret pass\n")
    return path


def zion(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_create_json_then_address(
    tmp_path: Path, password_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "dev.wallet"
    code, out, err = zion(
        capsys, "wallet", "create", str(path), "--network", "devnet", "--json",
        "--password-file", str(password_file),
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert set(report) == {"address", "network", "mnemonic", "path"}
    address = Address.parse(report["address"], "devnet")
    assert report["network"] == "devnet" and report["path"] == str(path)
    assert len(report["mnemonic"].split()) == 24
    assert "write the 24 words down" in err
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    wallet = Wallet.open(path, "s3cret pass")  # the first line of the file, no new line
    assert wallet.address == address
    assert wallet.mnemonic() == report["mnemonic"]

    code, out, err = zion(capsys, "wallet", "address", str(path), "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["address"] == report["address"] and shown["network"] == "devnet"
    code, out, _ = zion(capsys, "wallet", "address", str(path))
    assert (code, out) == (0, report["address"] + "\n")


def test_create_plain_output_and_refusals(
    tmp_path: Path,
    password_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "main.wallet"
    monkeypatch.setenv("ZION_WALLET_PASSWORD", "from the environment")
    code, out, err = zion(capsys, "wallet", "create", str(path))
    assert code == 0, err
    assert f"created {path} (mainnet)" in out
    assert "address: Zio" in out and "24. " in out
    assert Wallet.open(path, "from the environment").network == "mainnet"
    before = path.read_bytes()

    code, _, err = zion(capsys, "wallet", "create", str(path))
    assert code == 2 and "already exists; use --force" in err
    assert path.read_bytes() == before
    code, _, err = zion(capsys, "wallet", "create", str(path), "--force")
    assert code == 0 and path.read_bytes() != before

    monkeypatch.delenv("ZION_WALLET_PASSWORD")
    code, _, err = zion(capsys, "wallet", "create", str(tmp_path / "other.wallet"))
    assert code == 2 and "no wallet password" in err and "ZION_WALLET_PASSWORD" in err


def test_restore(tmp_path: Path, password_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    phrase = seed_to_mnemonic(bytes(range(32)))
    words = tmp_path / "words.txt"
    words.write_text("\n".join(phrase.upper().split()) + "\n")
    path = tmp_path / "restored.wallet"
    code, out, err = zion(
        capsys, "wallet", "restore", str(path), "--mnemonic-file", str(words),
        "--network", "testnet", "--password-file", str(password_file), "--json",
    )  # fmt: skip
    assert code == 0, err
    expected = Wallet.from_mnemonic(phrase, "testnet").address
    assert json.loads(out)["address"] == str(expected)
    assert Wallet.open(path, "s3cret pass").address == expected

    assert phrase.startswith("abandon ")
    words.write_text(phrase.replace("abandon", "abandn", 1))
    code, _, err = zion(
        capsys, "wallet", "restore", str(tmp_path / "bad.wallet"), "--mnemonic-file", str(words),
        "--password-file", str(password_file),
    )  # fmt: skip
    assert code == 2 and "word 1 of the recovery phrase, 'abandn'" in err
    words.write_text(" ".join(phrase.split()[:23]))
    code, _, err = zion(
        capsys, "wallet", "restore", str(tmp_path / "bad.wallet"), "--mnemonic-file", str(words),
        "--password-file", str(password_file),
    )  # fmt: skip
    assert code == 2 and "24 words, not 23" in err
    assert not (tmp_path / "bad.wallet").exists()


def test_address_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = zion(capsys, "wallet", "address", str(tmp_path / "absent.wallet"))
    assert code == 2 and "no wallet file" in err
    junk = tmp_path / "junk.wallet"
    junk.write_text('{"format": "zion-wallet", "version": 9}')
    code, _, err = zion(capsys, "wallet", "address", str(junk))
    assert code == 1 and "version 9 is not supported" in err
    assert len(err.strip().splitlines()) == 1
