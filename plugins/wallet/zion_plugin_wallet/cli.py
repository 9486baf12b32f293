"""``zion wallet``: create, restore and inspect encrypted wallet files.

The wallet modules (scrypt, AES, the BIP39 word list) are imported inside the commands,
so ``zion --help`` does not pay for them. Errors are :class:`~.errors.WalletError`
values; ``zion`` prints them as one ``error:`` line and exits with their status (2 for
usage errors such as a wrong password or an existing file, 1 otherwise).
"""

from __future__ import annotations

import enum
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from .wallet import Wallet

#: The environment variable that may hold the wallet password.
PASSWORD_ENV = "ZION_WALLET_PASSWORD"


class NetworkChoice(enum.StrEnum):
    """The networks a wallet can be made for."""

    mainnet = "mainnet"
    testnet = "testnet"
    devnet = "devnet"


wallet_app = typer.Typer(
    name="wallet",
    help="Create, restore and inspect encrypted wallet files.",
    no_args_is_help=True,
)


def register_commands(cli: typer.Typer) -> None:
    """Add the ``wallet`` group to the plugin's ``Typer``."""
    cli.add_typer(wallet_app, name="wallet")


# ----------------------------------------------------------------------------- options

PathArg = Annotated[
    Path,
    typer.Argument(help="The wallet file.", dir_okay=False, show_default=False),
]
NetworkOpt = Annotated[
    NetworkChoice, typer.Option("--network", "-n", help="The network of the wallet.")
]
PasswordFileOpt = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional here on 3.11
    typer.Option(
        "--password-file",
        help=f"Read the password from this file (first line). Else ${PASSWORD_ENV}, else a "
        "prompt on a terminal.",
        exists=True,
        dir_okay=False,
        readable=True,
        show_default=False,
    ),
]
ForceOpt = Annotated[
    bool, typer.Option("--force", help="Replace an existing file at PATH (its wallet is lost).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


def _read_password(password_file: Path | None, *, confirm: bool) -> str:
    """The password from ``--password-file``, the environment, or a prompt (in that order)."""
    from .errors import WalletUsageError

    if password_file is not None:
        lines = password_file.read_text(encoding="utf-8").splitlines()
        password = lines[0] if lines else ""
        if not password:
            raise WalletUsageError(f"the password file {password_file} is empty")
        return password
    password = os.environ.get(PASSWORD_ENV, "")
    if password:
        return password
    if sys.stdin.isatty():
        entered: str = typer.prompt(
            "Wallet password",
            hide_input=True,
            confirmation_prompt="Repeat the password" if confirm else False,
            err=True,
        )
        return entered
    raise WalletUsageError(
        f"no wallet password: give --password-file FILE or set {PASSWORD_ENV} "
        "(stdin is not a terminal, so there is no prompt)"
    )


def _read_mnemonic(mnemonic_file: Path | None) -> str:
    """The recovery phrase from ``--mnemonic-file`` (``-``: stdin) or a prompt."""
    from .errors import WalletUsageError

    if mnemonic_file is not None:
        if str(mnemonic_file) == "-":
            return sys.stdin.read()
        try:
            return mnemonic_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise WalletUsageError(f"cannot read {mnemonic_file}: {exc.strerror}") from None
    if sys.stdin.isatty():
        phrase: str = typer.prompt("Recovery phrase (24 words)", hide_input=True, err=True)
        return phrase
    raise WalletUsageError(
        "no recovery phrase: give --mnemonic-file FILE (or - for stdin); stdin is not a "
        "terminal, so there is no prompt"
    )


def _refuse_existing(path: Path, force: bool) -> None:
    """Fail early, before any prompt, if ``path`` exists and ``--force`` was not given."""
    from .errors import WalletExistsError

    if path.exists() and not force:
        raise WalletExistsError(f"{path} already exists; use --force to replace it")


def _save_and_report(
    wallet: Wallet, path: Path, password: str, *, force: bool, as_json: bool, what: str
) -> None:
    from zion_core.cli import output

    wallet.save(path, password, overwrite=force)
    phrase = wallet.mnemonic()
    if as_json:
        report = {
            "address": str(wallet.address),
            "network": wallet.network,
            "mnemonic": phrase,
            "path": str(path),
        }
        print(json.dumps(report), flush=True)
    else:
        words = phrase.split()
        lines = [f"{what} {path} ({wallet.network})", f"address: {wallet.address}"]
        lines.append("recovery phrase:")
        for row in range(0, len(words), 4):
            cells = (f"{i + 1:>2}. {words[i]:<8}" for i in range(row, min(row + 4, len(words))))
            lines.append("  " + "  ".join(cells).rstrip())
        output.stdout.print("\n".join(lines), soft_wrap=True, markup=False)
    output.warning(
        "write the 24 words down, in order, and keep them offline: they restore this "
        "wallet without the file or the password, and anyone who has them can spend its coins"
    )


# ----------------------------------------------------------------------------- commands


@wallet_app.command("create")
def create(
    path: PathArg,
    network: NetworkOpt = NetworkChoice.mainnet,
    password_file: PasswordFileOpt = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a new wallet: a random seed, encrypted with a password into PATH.

    Prints the address and the 24-word recovery phrase.

    Example: zion wallet create ~/zion/main.wallet --password-file ~/.zion-pass
    """
    from .wallet import Wallet

    _refuse_existing(path, force)
    password = _read_password(password_file, confirm=True)
    wallet = Wallet.generate(network.value)
    _save_and_report(wallet, path, password, force=force, as_json=as_json, what="created")


@wallet_app.command("restore")
def restore(
    path: PathArg,
    mnemonic_file: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--mnemonic-file",
            help="Read the 24 words from this file (- for stdin). Else a prompt on a terminal.",
            dir_okay=False,
            allow_dash=True,
            show_default=False,
        ),
    ] = None,
    network: NetworkOpt = NetworkChoice.mainnet,
    password_file: PasswordFileOpt = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Restore a wallet from its 24-word recovery phrase into a new encrypted file PATH.

    Example: zion wallet restore restored.wallet --mnemonic-file words.txt --network testnet
    """
    from .wallet import Wallet

    _refuse_existing(path, force)
    wallet = Wallet.from_mnemonic(_read_mnemonic(mnemonic_file), network.value)
    password = _read_password(password_file, confirm=True)
    _save_and_report(wallet, path, password, force=force, as_json=as_json, what="restored")


@wallet_app.command("address")
def address(path: PathArg, as_json: JsonOpt = False) -> None:
    """Print the address of the wallet file PATH (no password needed).

    Example: zion wallet address ~/zion/main.wallet
    """
    from .walletfile import load_wallet_file

    sealed = load_wallet_file(path)
    if as_json:
        report = {
            "address": str(sealed.public_address()),
            "network": sealed.network,
            "created": sealed.created.isoformat(),
            "path": str(path),
        }
        print(json.dumps(report), flush=True)
    else:
        print(sealed.public_address(), flush=True)


__all__ = ["PASSWORD_ENV", "NetworkChoice", "register_commands", "wallet_app"]
