"""``zion wallet``: create, restore and inspect encrypted wallet files; use them with a node.

``create``, ``restore`` and ``address`` work on the file alone. ``balance``, ``history``
and ``send`` talk to a running node's HTTP API (``--node URL``, by default
``http://127.0.0.1:<the network's RPC port>``) through :class:`~.node.HttpNode` and
:class:`~.session.WalletSession`; ``balance`` and ``history`` need no password (the
address is in the file's clear header), ``send`` does.

The wallet modules (scrypt, AES, the BIP39 word list, httpx) are imported inside the
commands, so ``zion --help`` does not pay for them. Errors are
:class:`~.errors.WalletError` values; ``zion`` prints them as one ``error:`` line and
exits with their status (2 for usage errors such as a wrong password or an existing
file, 1 otherwise).
"""

from __future__ import annotations

import enum
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from .node import HttpNode
    from .session import TransferRecord, WalletSession
    from .wallet import Wallet

#: The environment variable that may hold the wallet password.
PASSWORD_ENV = "ZION_WALLET_PASSWORD"
#: The environment variable that may hold the node URL (``--node``).
NODE_ENV = "ZION_WALLET_NODE"


class NetworkChoice(enum.StrEnum):
    """The networks a wallet can be made for."""

    mainnet = "mainnet"
    testnet = "testnet"
    devnet = "devnet"


wallet_app = typer.Typer(
    name="wallet",
    help="Create, restore and inspect encrypted wallet files; check balances and send ZION.",
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
NodeOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--node",
        envvar=NODE_ENV,
        help="The node's RPC URL. Default: http://127.0.0.1:<the wallet network's RPC port> "
        "(mainnet 19181, testnet 29181, devnet 39181).",
        show_default=False,
    ),
]


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


# ----------------------------------------------------------------------------- with a node


def _node(url: str, network: str) -> HttpNode:
    """The node at ``url`` (tests replace this function to use a fake transport)."""
    from .node import HttpNode

    return HttpNode(url, network)


def _session(
    path: Path, node_url: str | None, *, password_file: Path | None = None, spend: bool = False
) -> tuple[WalletSession, HttpNode]:
    """The wallet at ``path`` over its node; with ``spend``, its keys (password) too."""
    from .errors import WalletUsageError
    from .journal import Journal, journal_path
    from .node import default_node_url
    from .session import WalletSession
    from .walletfile import load_wallet_file

    sealed = load_wallet_file(path)
    address = sealed.public_address()
    url = (node_url or default_node_url(sealed.network)).strip()
    if not url.startswith(("http://", "https://")):
        raise WalletUsageError(
            f"--node must be an http:// URL, like http://127.0.0.1:39181, not {url!r}"
        )
    if not logging.getLogger().isEnabledFor(logging.DEBUG):  # httpx logs every request
        logging.getLogger("httpx").setLevel(logging.WARNING)
    keys = sealed.open(_read_password(password_file, confirm=False)) if spend else None
    where = journal_path(path)
    journal = Journal.open(where, str(address), sealed.network) if spend or where.exists() else None
    node = _node(url, sealed.network)
    return WalletSession(address, node, keys=keys, journal=journal), node


def _amount(atomic: int) -> str:
    from .transfer import format_amount

    return format_amount(atomic)


@wallet_app.command("balance")
def balance(path: PathArg, node: NodeOpt = None, as_json: JsonOpt = False) -> None:
    """Show the balance of the wallet file PATH, as a running node sees it (no password).

    Example: zion wallet balance main.wallet --node http://127.0.0.1:39181
    """
    from zion_core.cli import output

    session, http = _session(path, node)
    with http:
        report = session.balance()
    if as_json:
        data = {
            "address": report.address,
            "network": session.network,
            "node": http.url,
            "height": report.height,
            "balance": report.balance,
            "unlocked_balance": report.unlocked_balance,
            "locked_balance": report.locked_balance,
            "locked_outputs": report.locked_outputs,
            "next_unlock_height": report.next_unlock_height,
            "unlocked_height": report.unlocked_height,
            "held": report.held,
            "pending_in": report.pending_in,
            "pending_transfers": report.pending_transfers,
        }
        print(json.dumps(data), flush=True)
        return
    lines = [
        f"address: {report.address}",
        f"balance: {_amount(report.balance)}",
        f"unlocked: {_amount(report.unlocked_balance)}",
    ]
    if report.locked_outputs:
        lines.append(
            f"locked: {_amount(report.locked_balance)} in {report.locked_outputs} output(s), "
            f"spendable from height {report.next_unlock_height}"
            + (
                f" (all by height {report.unlocked_height})"
                if report.unlocked_height != report.next_unlock_height
                else ""
            )
        )
    if report.pending_transfers or report.held or report.pending_in:
        lines.append(
            f"pending: {report.pending_transfers} transfer(s) not yet mined; "
            f"{_amount(report.held)} spent, {_amount(report.pending_in)} incoming"
        )
    lines.append(f"height: {report.height} blocks at {http.url}")
    output.stdout.print("\n".join(lines), soft_wrap=True, markup=False)


def _history_line(record: TransferRecord) -> str:
    where = f"{record.height:>8}" if record.height else f"{'-':>8}"
    sign = "+" if record.incoming else "-"
    text = f"{where}  {record.type:<7}  {sign}{_amount(record.amount)}"
    if record.fee and not record.incoming:
        text += f"  fee {_amount(record.fee)}"
    text += f"  {record.txid}"
    if record.confirmations:
        text += f"  {record.confirmations} conf."
    if record.destinations:
        text += "  to " + ", ".join(address for address, _ in record.destinations)
    if record.reason:
        text += f"  ({record.reason})"
    return text


@wallet_app.command("history")
def history(path: PathArg, node: NodeOpt = None, as_json: JsonOpt = False) -> None:
    """Show what the wallet file PATH received and sent, oldest first (no password).

    Mined transactions come by height, then pending ones, then failed ones.

    Example: zion wallet history main.wallet
    """
    from zion_core.cli import output

    session, http = _session(path, node)
    with http:
        records = session.history()
    if as_json:
        address = str(session.address)
        print(json.dumps({"transfers": [r.to_json(address) for r in records]}), flush=True)
        return
    if not records:
        output.stdout.print(f"no transfers yet ({session.address})", markup=False)
        return
    output.stdout.print("\n".join(_history_line(r) for r in records), soft_wrap=True, markup=False)


@wallet_app.command("send")
def send(
    path: PathArg,
    destination: Annotated[str, typer.Argument(help="The address to pay.", show_default=False)],
    amount: Annotated[
        str, typer.Argument(help="The amount in ZION, in decimal (1.5).", show_default=False)
    ],
    node: NodeOpt = None,
    password_file: PasswordFileOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Send without asking.")] = False,
    idempotency_key: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--idempotency-key",
            help="A key of your own for this transfer: sending again with the same key "
            "returns the first transaction instead of paying twice.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Send AMOUNT ZION from the wallet file PATH to DESTINATION, through a running node.

    The fee is the node's fee estimate. Asks for confirmation unless --yes.

    Example: zion wallet send main.wallet ZDe1... 1.5 --password-file pw
    """
    from zion_core.chain.address import InvalidAddressError
    from zion_core.cli import output

    from .errors import WalletError, WalletUsageError
    from .session import parse_destination
    from .transfer import parse_amount
    from .walletfile import load_wallet_file

    network = load_wallet_file(path).network
    if not yes and not sys.stdin.isatty():
        raise WalletUsageError(
            "not sending without confirmation: stdin is not a terminal, so add --yes"
        )
    atomic = parse_amount(amount)
    try:
        to = parse_destination(destination, network)
    except InvalidAddressError as exc:
        raise WalletUsageError(str(exc)) from None
    payments = [(str(to), atomic)]
    session, http = _session(path, node, password_file=password_file, spend=True)
    with http:
        retry = session.journaled(idempotency_key, payments) if idempotency_key else None
        total, fee = (retry.amount, retry.fee) if retry is not None else session.quote(payments)
        if not yes and retry is None:
            question = (
                f"send {_amount(total)} to {to} with a fee of {_amount(fee)} "
                f"({_amount(total + fee)} in all)?"
            )
            if not typer.confirm(question, default=False, err=True):
                raise WalletError("cancelled: nothing was sent")
        result = session.transfer(payments, idempotency_key=idempotency_key)
    entry = result.entry
    if as_json:
        report = {
            "tx_hash": entry.txid,
            "amount": entry.amount,
            "fee": entry.fee,
            "destination": str(to),
            "idempotency_key": entry.key,
            "replayed": result.replayed,
            "node": http.url,
        }
        print(json.dumps(report), flush=True)
        return
    verb = "already sent" if result.replayed else "sent"
    output.stdout.print(
        f"{verb} {_amount(entry.amount)} to {to} (fee {_amount(entry.fee)})\n"
        f"transaction: {entry.txid}\n"
        f"it is confirmed once a block includes it: zion wallet history {path}",
        soft_wrap=True,
        markup=False,
    )


__all__ = ["NODE_ENV", "PASSWORD_ENV", "NetworkChoice", "register_commands", "wallet_app"]
