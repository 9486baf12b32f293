"""``zion-plugin-wallet``: keys, backups, the encrypted wallet file and ``zion wallet``.

Public API (imported on first use, so loading the plugin stays cheap):

- :class:`Wallet` (:mod:`.wallet`): keys plus network; generate, restore from the
  recovery phrase, open and save the encrypted file, build signed transfers.
- :func:`seed_to_mnemonic`, :func:`mnemonic_to_seed` (:mod:`.backup`): the 24-word
  BIP39 backup of the master seed.
- :class:`WalletFile`, :class:`ScryptParams`, :func:`load_wallet_file`,
  :func:`save_wallet_file`, :func:`read_wallet_address` (:mod:`.walletfile`): the
  encrypted file.
- :class:`SpendableCoin`, :func:`select_coins`, :func:`plan_transfer`,
  :func:`build_transfer`, :func:`sign_transaction` (:mod:`.transfer`): transfers.
- The errors (:mod:`.errors`), all :class:`WalletError`.

Hooks: ``zion_register_commands`` adds the ``zion wallet`` group (:mod:`.cli`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from zion_hookspecs import hookimpl

if TYPE_CHECKING:
    import typer

    from .backup import mnemonic_to_seed, seed_to_mnemonic
    from .errors import (
        InsufficientFundsError,
        MnemonicError,
        TooManyInputsError,
        UnsupportedWalletVersionError,
        WalletCorruptError,
        WalletError,
        WalletExistsError,
        WalletFileError,
        WrongPasswordError,
    )
    from .transfer import (
        SpendableCoin,
        TransferPlan,
        build_transfer,
        plan_transfer,
        select_coins,
        sign_transaction,
    )
    from .wallet import Wallet
    from .walletfile import (
        ScryptParams,
        WalletFile,
        load_wallet_file,
        read_wallet_address,
        save_wallet_file,
    )

_LAZY: dict[str, str] = {
    "mnemonic_to_seed": ".backup",
    "seed_to_mnemonic": ".backup",
    "InsufficientFundsError": ".errors",
    "MnemonicError": ".errors",
    "TooManyInputsError": ".errors",
    "UnsupportedWalletVersionError": ".errors",
    "WalletCorruptError": ".errors",
    "WalletError": ".errors",
    "WalletExistsError": ".errors",
    "WalletFileError": ".errors",
    "WrongPasswordError": ".errors",
    "SpendableCoin": ".transfer",
    "TransferPlan": ".transfer",
    "build_transfer": ".transfer",
    "plan_transfer": ".transfer",
    "select_coins": ".transfer",
    "sign_transaction": ".transfer",
    "Wallet": ".wallet",
    "ScryptParams": ".walletfile",
    "WalletFile": ".walletfile",
    "load_wallet_file": ".walletfile",
    "read_wallet_address": ".walletfile",
    "save_wallet_file": ".walletfile",
}


def __getattr__(name: str) -> Any:
    """Import the public names on first use (see the module docstring)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)


@hookimpl
def zion_register_commands(cli: typer.Typer) -> None:
    """Add ``zion wallet`` (create, restore, address)."""
    from .cli import register_commands

    register_commands(cli)


__all__ = [  # the names __getattr__ provides
    "InsufficientFundsError",
    "MnemonicError",
    "ScryptParams",
    "SpendableCoin",
    "TooManyInputsError",
    "TransferPlan",
    "UnsupportedWalletVersionError",
    "Wallet",
    "WalletCorruptError",
    "WalletError",
    "WalletExistsError",
    "WalletFile",
    "WalletFileError",
    "WrongPasswordError",
    "build_transfer",
    "load_wallet_file",
    "mnemonic_to_seed",
    "plan_transfer",
    "read_wallet_address",
    "save_wallet_file",
    "seed_to_mnemonic",
    "select_coins",
    "sign_transaction",
]
