"""The ``rpc`` service: serves the node API with Hypercorn on asyncio or trio."""

from __future__ import annotations

import logging
import socket
from typing import Any

import anyio
import sniffio
from hypercorn.config import Config, Sockets
from hypercorn.utils import wrap_app

from zion_core import ServiceError
from zion_hookspecs import Node, ReadySignal, RpcMethod

from .api import ChainServiceLike, NodeApi
from .app import RpcApp
from .config import RpcConfig

logger = logging.getLogger(__name__)

SECTION = "rpc"
WORKER_THREADS = 4
"""Blocking API calls (store reads, block verification) running at once."""
KEEP_ALIVE_SECONDS = 30.0
"""How long an idle keep-alive connection stays open (pools poll every few seconds)."""
MISSING_CHAIN = "the jsonrpc plugin needs the node's chain: load --plugin sqlite --plugin randomx"


async def _serve(app: Any, config: Config, sockets: Sockets, shutdown: anyio.Event) -> None:
    """Hypercorn's worker for the running backend (it has one per backend, no anyio one)."""
    wrapped = wrap_app(app, config.wsgi_max_body_size, "asgi")
    if sniffio.current_async_library() == "trio":
        from hypercorn.trio.run import worker_serve as trio_serve

        await trio_serve(wrapped, config, sockets=sockets, shutdown_trigger=shutdown.wait)
    else:
        from hypercorn.asyncio.run import worker_serve as asyncio_serve

        await asyncio_serve(wrapped, config, sockets=sockets, shutdown_trigger=shutdown.wait)


class RpcService:
    """Serves ``POST /json_rpc`` and the REST endpoints on ``[rpc] bind``.

    ``port`` is the bound port once started (useful with port 0). ``drain()`` stops
    accepting connections and lets open requests finish (up to ``graceful_timeout``);
    cancellation stops at once.
    """

    name = "rpc"

    def __init__(self, node: Node) -> None:
        self.node = node
        self.config: RpcConfig = node.config_section(SECTION)
        self.port: int | None = None
        self.host: str | None = None
        self._shutdown: anyio.Event | None = None
        self._stopped: anyio.Event | None = None

    def _chain_service(self) -> ChainServiceLike:
        services = self.node.registry("service")
        if "chain" not in services.names():
            raise ServiceError(MISSING_CHAIN)
        chain: ChainServiceLike = services.get("chain")
        return chain

    def _plugin_methods(self) -> dict[str, RpcMethod]:
        registry = self.node.registry("rpc_method")
        return {name: registry.get(name) for name in registry.names()}

    def _hypercorn_config(self) -> Config:
        config = Config()
        config.bind = [self.config.address(self.node.network)]
        config.keep_alive_timeout = KEEP_ALIVE_SECONDS
        config.graceful_timeout = self.config.graceful_timeout
        config.accesslog = None
        config.errorlog = logging.getLogger("zion_plugin_jsonrpc.http")
        config.h11_max_incomplete_size = 64 * 1024
        return config

    async def run(self, *, task_status: ReadySignal) -> None:
        """Bind, report ready (``task_status.started()``), serve until drained or cancelled."""
        chain_service = self._chain_service()
        limiter = anyio.CapacityLimiter(WORKER_THREADS)
        try:
            rpc_app = RpcApp(
                NodeApi(chain_service, self.node.network),
                extra_methods=self._plugin_methods(),
                max_body_bytes=self.config.max_body_bytes,
                limiter=limiter,
            )
        except ValueError as exc:
            raise ServiceError(str(exc)) from None
        config = self._hypercorn_config()
        try:
            sockets = config.create_sockets()
        except OSError as exc:
            raise ServiceError(f"the RPC server cannot listen on {config.bind[0]}: {exc}") from exc
        try:
            for sock in sockets.insecure_sockets:
                sock.listen(config.backlog)
            first: socket.socket = sockets.insecure_sockets[0]
            self.host, self.port = first.getsockname()[:2]
            self._shutdown = anyio.Event()
            self._stopped = anyio.Event()
            logger.info("JSON-RPC listening on http://%s:%d/json_rpc", self.host, self.port)
            task_status.started()
            await _serve(rpc_app.starlette(), config, sockets, self._shutdown)
        finally:
            for sock in sockets.insecure_sockets:
                sock.close()
            if self._stopped is not None:
                self._stopped.set()
            logger.info("JSON-RPC server stopped")

    async def drain(self) -> None:
        """Stop accepting connections; return once open requests are done."""
        if self._shutdown is None or self._stopped is None:
            return
        self._shutdown.set()
        await self._stopped.wait()


__all__ = ["MISSING_CHAIN", "RpcService"]
