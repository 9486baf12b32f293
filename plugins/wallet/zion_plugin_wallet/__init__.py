"""``zion-plugin-wallet``: keys, backups, the encrypted wallet file, ``zion wallet`` and
the wallet RPC.

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
- :class:`WalletSession` (:mod:`.session`): balance, history and transfers over a node
  (:class:`HttpNode` or :class:`LocalNode`, :mod:`.node`), with the transfer
  :class:`Journal` (:mod:`.journal`).
- The errors (:mod:`.errors`), all :class:`WalletError`.

Hooks: ``zion_register_commands`` adds the ``zion wallet`` group (:mod:`.cli`);
``zion_register_config`` the ``[wallet]`` section (:mod:`.config`); and, when
``[wallet] file`` is set, ``zion_register_rpc_methods`` the wallet RPC (:mod:`.rpc`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from zion_hookspecs import hookimpl

if TYPE_CHECKING:
    import typer

    from zion_hookspecs import Node, Register, RegisterConfigSection, RpcMethod

    from .backup import mnemonic_to_seed, seed_to_mnemonic
    from .errors import (
        FundsLockedError,
        InsufficientFundsError,
        MnemonicError,
        NodeError,
        NodeUnreachableError,
        TooManyInputsError,
        TransactionRefusedError,
        UnsupportedWalletVersionError,
        WalletCorruptError,
        WalletError,
        WalletExistsError,
        WalletFileError,
        WrongPasswordError,
    )
    from .journal import Journal
    from .node import HttpNode, LocalNode, NodeAccess
    from .session import WalletSession
    from .transfer import (
        SpendableCoin,
        TransferPlan,
        build_transfer,
        format_amount,
        parse_amount,
        plan_payments,
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
    "FundsLockedError": ".errors",
    "InsufficientFundsError": ".errors",
    "MnemonicError": ".errors",
    "NodeError": ".errors",
    "NodeUnreachableError": ".errors",
    "TooManyInputsError": ".errors",
    "TransactionRefusedError": ".errors",
    "UnsupportedWalletVersionError": ".errors",
    "WalletCorruptError": ".errors",
    "WalletError": ".errors",
    "WalletExistsError": ".errors",
    "WalletFileError": ".errors",
    "WrongPasswordError": ".errors",
    "Journal": ".journal",
    "HttpNode": ".node",
    "LocalNode": ".node",
    "NodeAccess": ".node",
    "WalletSession": ".session",
    "SpendableCoin": ".transfer",
    "TransferPlan": ".transfer",
    "build_transfer": ".transfer",
    "format_amount": ".transfer",
    "parse_amount": ".transfer",
    "plan_payments": ".transfer",
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
    """Add ``zion wallet`` (create, restore, address, balance, send, history)."""
    from .cli import register_commands

    register_commands(cli)


@hookimpl
def zion_register_config(register: RegisterConfigSection) -> None:
    """Declare ``[wallet]``: the wallet a node serves over its RPC (off by default)."""
    from .config import SECTION, WalletConfig

    register(SECTION, WalletConfig)


@hookimpl
def zion_register_rpc_methods(register: Register[RpcMethod], node: Node) -> None:
    """With ``[wallet] file`` set, open that wallet and register the wallet RPC."""
    from .config import SECTION

    config = node.config_section(SECTION)
    if config.file is None:
        return
    from .rpc import register_wallet_rpc

    register_wallet_rpc(register, node, config)


__all__ = [  # the names __getattr__ provides
    "FundsLockedError",
    "HttpNode",
    "InsufficientFundsError",
    "Journal",
    "LocalNode",
    "MnemonicError",
    "NodeAccess",
    "NodeError",
    "NodeUnreachableError",
    "ScryptParams",
    "SpendableCoin",
    "TooManyInputsError",
    "TransactionRefusedError",
    "TransferPlan",
    "UnsupportedWalletVersionError",
    "Wallet",
    "WalletCorruptError",
    "WalletError",
    "WalletExistsError",
    "WalletFile",
    "WalletFileError",
    "WalletSession",
    "WrongPasswordError",
    "build_transfer",
    "format_amount",
    "load_wallet_file",
    "mnemonic_to_seed",
    "parse_amount",
    "plan_payments",
    "plan_transfer",
    "read_wallet_address",
    "save_wallet_file",
    "seed_to_mnemonic",
    "select_coins",
    "sign_transaction",
]
