"""The plugin's commands: ``zion bench randomx`` and ``zion mine``."""

from __future__ import annotations

import enum
import json
import logging
import sys
from typing import Annotated, Optional

import typer

from .bench import Mode, bench_randomx


class AsyncBackend(enum.StrEnum):
    asyncio = "asyncio"
    trio = "trio"


def register_commands(cli: typer.Typer) -> None:
    bench = typer.Typer(help="Benchmarks.", no_args_is_help=True)
    bench.command("randomx")(bench_randomx)
    cli.add_typer(bench, name="bench")
    cli.command("mine")(mine)


def mine(
    pool: Annotated[
        str,
        typer.Option(
            "--pool", "-o", help="The pool: HOST:PORT (plain TCP Stratum).", show_default=False
        ),
    ],
    address: Annotated[
        str,
        typer.Option(
            "--address", "-u", help="Payout address (the Stratum login).", show_default=False
        ),
    ],
    threads: Annotated[
        int, typer.Option("--threads", "-t", min=0, help="Hashing threads (0: one per CPU).")
    ] = 0,
    mode: Annotated[
        Mode, typer.Option(help="light: 256 MiB cache; fast: 2 GiB dataset, ~8x the speed.")
    ] = Mode.light,
    password: Annotated[str, typer.Option("--pass", "-p", help="Stratum password.")] = "x",
    rig_id: Annotated[
        Optional[str],  # noqa: UP045 - typer needs Optional here on 3.11
        typer.Option("--rig-id", help="Worker name sent as rigid.", show_default=False),
    ] = None,
    duration: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(min=0.1, help="Stop after this many seconds.", show_default=False),
    ] = None,
    thp: Annotated[
        bool,
        typer.Option(
            "--thp/--no-thp",
            help="Ask for transparent huge pages for the cache/dataset (changes no system "
            "setting).",
        ),
    ] = True,
    as_json: Annotated[
        bool, typer.Option("--json", help="At the end, print one JSON object with the totals.")
    ] = False,
    async_backend: Annotated[
        AsyncBackend,
        typer.Option(
            "--async-backend",
            envvar="ZION_RUNTIME__ASYNC_BACKEND",
            help="The event loop.",
        ),
    ] = AsyncBackend.asyncio,
) -> None:
    """Mine on a Stratum pool (XMRig protocol, rx/0) with the randomx-cpu backend.

    Example: zion mine --pool 127.0.0.1:3333 --address ZION_ADDRESS --threads 2 --mode fast
    """
    from functools import partial

    import anyio

    from zion_core.cli import output

    from .backend import RandomXCpu
    from .config import RandomXConfig
    from .miner import LiveStatus, LogStatus, Miner, MinerOptions, StatusOutput, available_cpus
    from .stratum import StratumError, parse_pool_address

    try:
        pool_address = parse_pool_address(pool)
    except StratumError as exc:
        raise typer.BadParameter(str(exc), param_hint="--pool") from None
    if not address.strip():
        raise typer.BadParameter("the address must not be empty", param_hint="--address")
    n_threads = threads or available_cpus()
    status: StatusOutput = LiveStatus(output.stderr) if sys.stderr.isatty() else LogStatus()
    miner: Miner | None = None

    def progress(done: int, total: int) -> None:
        if miner is not None:
            miner.dataset_progress(done, total)

    backend = RandomXCpu(
        RandomXConfig(
            mode="fast" if mode is Mode.fast else "light",
            threads=n_threads,
            transparent_huge_pages=thp,
        ),
        progress=progress,
    )
    miner = Miner(
        MinerOptions(
            pool=pool_address,
            login=address.strip(),
            password=password,
            rig_id=rig_id or None,
            threads=n_threads,
        ),
        backend,
        status=status,
    )
    logging.getLogger(__name__).info(
        "%s: %d thread(s), %s mode, pool %s, event loop %s",
        miner.options.agent,
        n_threads,
        mode.value,
        pool_address,
        async_backend.value,
    )
    try:
        anyio.run(
            partial(miner.run, duration=duration, handle_signals=True),
            backend=async_backend.value,
        )
    finally:
        if miner.key_build_pending:
            logging.getLogger(__name__).info("stopping the RandomX key build")
        backend.close()  # also cancels a dataset build still under way
    summary = miner.summary()
    summary["mode"] = mode.value
    if as_json:
        print(json.dumps(summary), flush=True)
    else:
        output.stdout.print(
            f"mined {summary['seconds']} s on {summary['threads']} thread(s): "
            f"{summary['hashes']} hashes, [bold]{summary['hashes_per_second']} H/s[/], "
            f"accepted {summary['accepted']}, rejected {summary['rejected']}"
        )
    if not summary["logins"]:
        output.error(f"never logged in to {pool_address}")
        raise typer.Exit(1)
