"""Runs ``zion`` with the jsonrpc plugin's HTTP server swapped for uvicorn.

Everything else is the node ``zion run`` starts: the same plugins, the same
:class:`~zion_plugin_jsonrpc.app.RpcApp` and Starlette application, the same sockets
(bound and listening before the service reports ready), the same keep-alive timeout and
the same drain on shutdown. Only the function that hands the application to an HTTP server
(``zion_plugin_jsonrpc.service._serve``) is replaced, before the node starts.

uvicorn runs on asyncio only, so the node must run on asyncio (``runtime.async_backend``,
the default). uvicorn is not a dependency of the project: install it for the measurement
only, into the environment or into a folder on ``PYTHONPATH`` (see ``bench_rpc.py``).

Usage (what ``bench_rpc.py --server uvicorn`` starts)::

    .venv/bin/python benchmarks/rpc_uvicorn.py --http h11 run --network devnet ...
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from typing import Any

import anyio
import uvicorn  # type: ignore[import-not-found, unused-ignore]

from zion_core.cli import entry
from zion_plugin_jsonrpc import service

logger = logging.getLogger("zion_plugin_jsonrpc.http")


def listening_sockets(config: Any, rest: tuple[Any, ...]) -> list[socket.socket]:
    """The sockets the service bound: handed over as Hypercorn ``Sockets`` (``rest`` holds
    them), or named in the Hypercorn config's ``bind`` (``fd://N`` or ``host:port``)."""
    sockets = rest[0] if rest else config.create_sockets()
    return list(sockets.insecure_sockets)


def uvicorn_serve(http: str) -> Any:
    """A replacement for ``service._serve`` that serves through uvicorn's ``http`` parser.

    It takes the arguments ``_serve`` is given: the application, the Hypercorn config, the
    sockets (where the service passes them) and the shutdown event, last.
    """

    async def serve(app: Any, config: Any, *rest: Any) -> None:
        *sockets, shutdown = rest
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                http=http,
                lifespan="off",
                access_log=False,
                log_level="warning",
                timeout_keep_alive=int(service.KEEP_ALIVE_SECONDS),
                timeout_graceful_shutdown=int(config.graceful_timeout),
            )
        )

        async def stop_on_shutdown() -> None:
            await shutdown.wait()
            server.should_exit = True

        listening = listening_sockets(config, tuple(sockets))
        logger.info("serving the node API with uvicorn %s (%s parser)", uvicorn.__version__, http)
        async with anyio.create_task_group() as tg:
            tg.start_soon(stop_on_shutdown)
            # ``Server.serve`` would take over SIGINT and SIGTERM, which the node's runtime
            # handles; ``_serve`` is the same start-up, main loop and shutdown without that.
            await server._serve(sockets=listening)
            tg.cancel_scope.cancel()

    return serve


def main(argv: list[str] | None = None) -> None:
    """Parse ``--http``, patch the RPC service, run the ``zion`` command line with the rest
    (which exits with the command's status)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--http", choices=("h11", "httptools"), default="h11")
    args, rest = parser.parse_known_args(argv)
    service._serve = uvicorn_serve(args.http)
    sys.argv = ["zion", *rest]
    entry()


if __name__ == "__main__":
    main()
