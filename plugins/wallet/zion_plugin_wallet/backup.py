"""The wallet's backup: the 32-byte master seed written as 24 BIP39 English words.

The phrase is the standard BIP39 encoding of 256 bits of entropy (the ``mnemonic``
package does the encoding and the checksum): 24 words of 11 bits each, 256 bits of seed
plus an 8-bit checksum (the first byte of ``SHA-256(seed)``). The *entropy* is the seed
itself; the BIP39 PBKDF2 "seed" of the phrase (and any passphrase) is not used, so the
same 24 words always restore the same ZION keys (see :mod:`zion_core.chain.keys`).

Restoring normalises the text first: Unicode NFKD, lower case, any whitespace (spaces,
tabs, new lines) between words. Then it checks, in this order, the word count
(:class:`MnemonicWordCountError`), each word (:class:`UnknownMnemonicWordError` names the
first unknown word and its position, and suggests list words with the same first four
letters, which identify every BIP39 English word, or else similar ones) and the checksum
(:class:`MnemonicChecksumError`).
"""

from __future__ import annotations

import difflib
import functools
import unicodedata
from typing import Final

from mnemonic import Mnemonic

from zion_core.chain.ed25519 import SEED_SIZE

from .errors import (
    MnemonicChecksumError,
    MnemonicError,
    MnemonicWordCountError,
    UnknownMnemonicWordError,
)

#: Words in a ZION recovery phrase (256 bits of seed and an 8-bit checksum).
MNEMONIC_WORDS: Final = 24
LANGUAGE: Final = "english"


@functools.cache
def _bip39() -> Mnemonic:
    """The BIP39 English codec (its word list is read once)."""
    return Mnemonic(LANGUAGE)


def normalize_mnemonic(text: str) -> list[str]:
    """The words of ``text``: NFKD-normalised, lower case, split on any whitespace."""
    return unicodedata.normalize("NFKD", text).lower().split()


def seed_to_mnemonic(seed: bytes) -> str:
    """The 24 words, separated by single spaces, that back up the 32-byte ``seed``."""
    if not isinstance(seed, bytes) or len(seed) != SEED_SIZE:
        size = len(seed) if isinstance(seed, bytes) else type(seed).__name__
        raise MnemonicError(f"a wallet seed is {SEED_SIZE} bytes, not {size}")
    phrase: str = _bip39().to_mnemonic(seed)
    return phrase


def mnemonic_to_seed(text: str) -> bytes:
    """The 32-byte master seed that the recovery phrase ``text`` spells.

    Raises a :class:`MnemonicError` subclass that says what is wrong (see the module
    docstring); whitespace and case do not matter.
    """
    words = normalize_mnemonic(text)
    if len(words) != MNEMONIC_WORDS:
        raise MnemonicWordCountError(
            f"a ZION recovery phrase has {MNEMONIC_WORDS} words, not {len(words)}"
            + ("; is a word missing?" if len(words) < MNEMONIC_WORDS else "")
        )
    codec = _bip39()
    known = set(codec.wordlist)
    for position, word in enumerate(words, start=1):
        if word not in known:
            close = [w for w in codec.wordlist if w[:4] == word[:4]] or difflib.get_close_matches(
                word, codec.wordlist, n=3, cutoff=0.75
            )
            hint = f"; did you mean {' or '.join(repr(w) for w in close[:3])}?" if close else ""
            raise UnknownMnemonicWordError(
                f"word {position} of the recovery phrase, {word!r}, is not a BIP39 English "
                f"word{hint}",
                word=word,
                position=position,
            )
    phrase = " ".join(words)
    if not codec.check(phrase):
        raise MnemonicChecksumError(
            "the recovery phrase's checksum does not match: a word is wrong or two words "
            "are swapped; check each word against your written copy"
        )
    return bytes(codec.to_entropy(words))


def is_valid_mnemonic(text: str) -> bool:
    """Whether ``text`` is a valid 24-word recovery phrase (see :func:`mnemonic_to_seed`)."""
    try:
        mnemonic_to_seed(text)
    except MnemonicError:
        return False
    return True


__all__ = [
    "LANGUAGE",
    "MNEMONIC_WORDS",
    "is_valid_mnemonic",
    "mnemonic_to_seed",
    "normalize_mnemonic",
    "seed_to_mnemonic",
]
