"""The 24-word recovery phrase: BIP39 vectors, round trips, normalisation and errors."""

from __future__ import annotations

import pytest

from zion_core.chain.keys import WalletKeys
from zion_core.errors import UsageError
from zion_plugin_wallet.backup import (
    is_valid_mnemonic,
    mnemonic_to_seed,
    normalize_mnemonic,
    seed_to_mnemonic,
)
from zion_plugin_wallet.errors import (
    MnemonicChecksumError,
    MnemonicError,
    MnemonicWordCountError,
    UnknownMnemonicWordError,
    WalletError,
)

# Published BIP39 test vectors (256-bit entropy, English).
ZEROS = "abandon " * 23 + "art"
SEVENS = (
    " ".join(["legal winner thank year wave sausage worth useful"] * 3)[: -len("useful")] + "title"
)


def test_known_vectors() -> None:
    assert seed_to_mnemonic(bytes(32)) == ZEROS
    assert mnemonic_to_seed(ZEROS) == bytes(32)
    assert seed_to_mnemonic(b"\x7f" * 32) == SEVENS
    assert mnemonic_to_seed(SEVENS) == b"\x7f" * 32


def test_round_trip_of_random_seeds() -> None:
    for _ in range(20):
        keys = WalletKeys.generate()
        phrase = seed_to_mnemonic(keys.seed)
        assert len(phrase.split()) == 24
        assert mnemonic_to_seed(phrase) == keys.seed
        assert WalletKeys.from_seed(mnemonic_to_seed(phrase)) == keys


def test_whitespace_and_case_are_normalised() -> None:
    messy = "\n  " + "  ".join(SEVENS.upper().split()[:12]) + "\t\n" + " ".join(SEVENS.split()[12:])
    assert normalize_mnemonic(messy) == SEVENS.split()
    assert mnemonic_to_seed(messy) == b"\x7f" * 32


@pytest.mark.parametrize("count", [0, 12, 23, 25])
def test_wrong_word_count(count: int) -> None:
    with pytest.raises(MnemonicWordCountError, match=f"24 words, not {count}"):
        mnemonic_to_seed(" ".join(["abandon"] * count))


def test_unknown_word_is_named_with_its_position() -> None:
    words = SEVENS.split()
    words[6] = "wrth"
    with pytest.raises(UnknownMnemonicWordError, match=r"word 7 .* 'wrth'") as caught:
        mnemonic_to_seed(" ".join(words))
    assert (caught.value.word, caught.value.position) == ("wrth", 7)
    assert "worth" in str(caught.value)  # a suggestion
    words[6] = "sausagex"
    with pytest.raises(UnknownMnemonicWordError, match="did you mean 'sausage'"):
        mnemonic_to_seed(" ".join(words))


def test_bad_checksum() -> None:
    words = SEVENS.split()
    words[0], words[1] = words[1], words[0]
    with pytest.raises(MnemonicChecksumError, match="checksum"):
        mnemonic_to_seed(" ".join(words))
    assert not is_valid_mnemonic(" ".join(words))
    assert is_valid_mnemonic(SEVENS)


def test_errors_are_wallet_usage_errors() -> None:
    assert issubclass(MnemonicError, WalletError)
    assert issubclass(MnemonicError, UsageError)
    with pytest.raises(MnemonicError, match="32 bytes"):
        seed_to_mnemonic(bytes(16))
