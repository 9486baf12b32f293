"""The wallet's exceptions: one root, :class:`WalletError`, a :class:`~zion_core.ZionError`.

Errors caused by what the user typed or supplied (a mistyped mnemonic, a wrong password,
an existing file, an amount of zero...) are also :class:`~zion_core.errors.UsageError`,
so ``zion`` exits with status 2 for them; the others (a damaged wallet file, too little
money, a node that cannot be reached or refuses a transaction) exit with status 1.
"""

from __future__ import annotations

from zion_core.errors import UsageError, ZionError


class WalletError(ZionError):
    """Root of every error the wallet plugin raises on purpose."""


class WalletUsageError(WalletError, UsageError):
    """The command line or the caller asked for something invalid (exit status 2)."""


# ----------------------------------------------------------------------------- mnemonic


class MnemonicError(WalletUsageError, ValueError):
    """A recovery phrase that does not spell a wallet seed (root of the mnemonic errors)."""


class MnemonicWordCountError(MnemonicError):
    """The phrase does not have 24 words."""


class UnknownMnemonicWordError(MnemonicError):
    """A word that is not in the BIP39 English word list; ``word`` and ``position`` say which."""

    def __init__(self, message: str, *, word: str, position: int) -> None:
        super().__init__(message)
        self.word = word
        self.position = position


class MnemonicChecksumError(MnemonicError):
    """Every word is valid but the checksum fails: a word is wrong or two are swapped."""


# ----------------------------------------------------------------------------- wallet file


class WalletExistsError(WalletUsageError):
    """The wallet file already exists and overwriting it was not asked for."""


class WrongPasswordError(WalletUsageError):
    """The password does not open the wallet file."""


class WalletFileError(WalletError):
    """The wallet file cannot be read, is not a wallet file, or is damaged."""


class WalletCorruptError(WalletFileError):
    """The file is damaged or was altered: its header or ciphertext fails authentication."""


class UnsupportedWalletVersionError(WalletFileError):
    """The file is a wallet file of a format version this code does not know."""


# ----------------------------------------------------------------------------- transactions


class TransferError(WalletError):
    """A transaction could not be built (root of the transfer errors)."""


class InvalidAmountError(TransferError, WalletUsageError, ValueError):
    """An amount or fee that is not a positive (or, for fees, non-negative) u64."""


class InsufficientFundsError(TransferError):
    """The spendable coins do not cover the amount plus the fee."""

    def __init__(self, message: str, *, available: int, needed: int) -> None:
        super().__init__(message)
        self.available = available
        self.needed = needed


class TooManyInputsError(TransferError):
    """Paying the amount would need more inputs than one transaction may have."""


class DuplicateCoinError(TransferError, ValueError):
    """The same output was offered twice as a spendable coin."""


class FundsLockedError(InsufficientFundsError):
    """The balance covers the amount plus the fee, but not enough of it is spendable yet.

    ``locked`` is the locked part of the balance; ``spendable_from`` the first block height
    at which enough of it is spendable (0 if coins held by pending transactions are
    needed too).
    """

    def __init__(
        self, message: str, *, available: int, needed: int, locked: int, spendable_from: int
    ) -> None:
        super().__init__(message, available=available, needed=needed)
        self.locked = locked
        self.spendable_from = spendable_from


class TransactionRefusedError(TransferError):
    """The node refused the transaction; ``reason`` is what it said."""

    def __init__(self, message: str, *, reason: str, txid: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.txid = txid


class IdempotencyKeyError(TransferError, WalletUsageError, ValueError):
    """An idempotency key that is invalid, or reused for a different transfer."""


# ----------------------------------------------------------------------------- the node


class NodeError(WalletError):
    """The node answered, but not with what the wallet asked for (root of the node errors)."""


class NodeUnreachableError(NodeError):
    """No answer from the node: nothing listens at its address, or it timed out."""


class WrongNodeNetworkError(NodeError, WalletUsageError):
    """The node runs another network than the wallet's."""


__all__ = [
    "DuplicateCoinError",
    "FundsLockedError",
    "IdempotencyKeyError",
    "InsufficientFundsError",
    "InvalidAmountError",
    "MnemonicChecksumError",
    "MnemonicError",
    "MnemonicWordCountError",
    "NodeError",
    "NodeUnreachableError",
    "TooManyInputsError",
    "TransactionRefusedError",
    "TransferError",
    "UnknownMnemonicWordError",
    "UnsupportedWalletVersionError",
    "WalletCorruptError",
    "WalletError",
    "WalletExistsError",
    "WalletFileError",
    "WalletUsageError",
    "WrongNodeNetworkError",
    "WrongPasswordError",
]
