"""``zion status``: a running node at a glance, live in the terminal or as one snapshot.

The view runs in its own process and reads the node over its HTTP API (the jsonrpc
plugin): :mod:`.snapshot` gathers the data, :mod:`.render` draws it, :mod:`.live` keeps
it up to date (the node's WebSocket events, read with :class:`~zion_core.NodeEventStream`,
plus polling). Modules are imported when the command runs, so ``zion --help`` stays fast.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Annotated, Any, Optional

import typer

from ...config import NETWORKS, Network
from ...errors import UsageError

NODE_ENV = "ZION_STATUS_NODE"
"""The environment variable that may hold the node URL (``--node``)."""
ONCE_WIDTH = 100
"""The width of ``--once`` output written to a file or a pipe."""


def _network(value: str | None) -> str:
    chosen = value or os.environ.get("ZION_NODE__NETWORK", "").strip() or "mainnet"
    if chosen not in NETWORKS:
        raise UsageError(f"unknown network {chosen!r}; one of {', '.join(NETWORKS)}")
    return chosen


def status(
    node: Annotated[
        Optional[str],  # noqa: UP045 - typer needs Optional here on 3.11
        typer.Option(
            "--node",
            envvar=NODE_ENV,
            metavar="URL",
            help="The node's RPC URL. Default: "
            "http://127.0.0.1:<the network's RPC port> (mainnet 19181, testnet 29181, "
            "devnet 39181).",
            show_default=False,
        ),
    ] = None,
    network: Annotated[
        Optional[Network],  # noqa: UP045
        typer.Option(
            "--network",
            "-n",
            help="The node's network, for the default --node port "
            "\\[env: ZION_NODE__NETWORK; default: mainnet].",
            show_default=False,
        ),
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Print one snapshot and exit.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one snapshot as JSON and exit (implies --once).")
    ] = False,
    interval: Annotated[
        float,
        typer.Option(min=0.2, max=3600.0, help="Seconds between refreshes of the live view."),
    ] = 2.0,
    blocks: Annotated[
        int, typer.Option(min=0, max=100, help="How many of the last blocks to list.")
    ] = 10,
) -> None:
    """Show a running node: chain, mempool, peers, pool, local miner, RandomX, plugin panels.

    Live and full-screen on a terminal (q or Ctrl-C quits, r refreshes); --once prints one
    snapshot, --json prints it as JSON. Exit status 1 when the node cannot be reached
    (with --once or --json).

    Example: zion status --network devnet
    """
    import anyio

    from .snapshot import NodeClient, NodeUnreachableError, collect, default_node_url

    url = (node or default_node_url(_network(network))).strip()
    try:
        client = NodeClient(url)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    for name in ("httpx", "httpcore"):  # one log line per request otherwise
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))
    from ..output import stdout

    live = not (once or as_json)
    if live and not stdout.is_terminal:
        live = False  # a pipe or a file: one snapshot, as --once
    if not live:

        async def one() -> dict[str, Any]:
            async with client:
                return await collect(client, blocks=blocks)

        try:
            snapshot = anyio.run(one)
        except NodeUnreachableError as exc:
            raise NodeUnreachableError(
                f"{exc}; start a node with `zion run --plugin jsonrpc ...` or give --node URL"
            ) from exc
        if as_json:
            sys.stdout.write(json.dumps(snapshot, indent=2, sort_keys=True) + "\n")
        else:
            from rich.console import Console

            from .render import render

            # a terminal's width; in a file or a pipe, room for every value
            console = stdout if stdout.is_terminal else Console(width=ONCE_WIDTH, highlight=False)
            console.print(render(snapshot, width=console.width))
        return

    from .live import StatusApp

    async def show() -> int:
        async with client:
            app = StatusApp(
                client,
                console=stdout,
                interval=interval,
                blocks=blocks,
                keys=sys.stdin is not None and sys.stdin.isatty(),
            )
            return await app.run()

    code = anyio.run(show)
    if code:
        raise typer.Exit(code)


__all__ = ["NODE_ENV", "ONCE_WIDTH", "status"]
