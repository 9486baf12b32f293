"""The ``rpc`` service: serves the node API with Hypercorn on asyncio or trio."""

from __future__ import annotations

import ipaddress
import logging
import socket
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import sniffio
from hypercorn.config import Config

from zion_core import ServiceError
from zion_hookspecs import HttpRoute, Node, ReadySignal, RpcMethod

from .access import new_token, write_token_file
from .api import ChainServiceLike, NodeApi
from .app import RpcApp
from .config import RpcConfig
from .events import EventHub, EventListener
from .metrics import RpcMetrics

logger = logging.getLogger(__name__)

SECTION = "rpc"
WORKER_THREADS = 4
"""Blocking API calls (store reads, block verification) running at once."""
KEEP_ALIVE_SECONDS = 30.0
"""How long an idle keep-alive connection stays open (pools poll every few seconds)."""
KEEP_ALIVE_MAX_REQUESTS = 1_000_000
"""Requests served on one keep-alive connection before the server closes it (a pool polls
``/get_height`` every second or faster on one connection)."""
MISSING_CHAIN = "the jsonrpc plugin needs the node's chain: load --plugin sqlite --plugin randomx"


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


async def _serve(app: Any, config: Config, shutdown: anyio.Event) -> None:
    """Hypercorn's ``serve`` for the running backend (it has one per backend)."""
    if sniffio.current_async_library() == "trio":
        from hypercorn.trio import serve as trio_serve

        await trio_serve(app, config, shutdown_trigger=shutdown.wait, mode="asgi")
    else:
        import asyncio

        from hypercorn.asyncio import serve as asyncio_serve

        try:
            await asyncio_serve(app, config, shutdown_trigger=shutdown.wait, mode="asgi")
        except asyncio.InvalidStateError:
            # Hypercorn (0.18) raises this instead of the cancellation when it is cancelled
            # while waiting for open connections to finish: let the cancellation go on
            await anyio.lowlevel.checkpoint()
            raise


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
        self.app: RpcApp | None = None
        self.admin_token = self.config.admin_token
        self.token_path: Path | None = None
        self.hub = EventHub(max_clients=self.config.ws_max_clients, queue_size=self.config.ws_queue)
        self.metrics = RpcMetrics()
        """Requests answered, by method (the ``rpc`` metrics source)."""

    def _chain_service(self) -> ChainServiceLike:
        services = self.node.registry("service")
        if "chain" not in services.names():
            raise ServiceError(MISSING_CHAIN)
        chain: ChainServiceLike = services.get("chain")
        return chain

    def _plugin_methods(self) -> dict[str, RpcMethod]:
        registry = self.node.registry("rpc_method")
        return {name: registry.get(name) for name in registry.names()}

    def _plugin_routes(self) -> list[HttpRoute]:
        registry = self.node.registry("http_route")
        return [registry.get(name) for name in registry.names()]

    def _hypercorn_config(self) -> Config:
        config = Config()
        config.bind = [self.config.address(self.node.network)]
        config.keep_alive_timeout = KEEP_ALIVE_SECONDS
        config.keep_alive_max_requests = KEEP_ALIVE_MAX_REQUESTS
        config.graceful_timeout = self.config.graceful_timeout
        config.accesslog = None
        config.errorlog = logging.getLogger("zion_plugin_jsonrpc.http")
        config.h11_max_incomplete_size = 64 * 1024
        return config

    async def run(self, *, task_status: ReadySignal) -> None:
        """Bind, report ready (``task_status.started()``), serve until drained or cancelled."""
        chain_service = self._chain_service()
        limiter = anyio.CapacityLimiter(WORKER_THREADS)
        if not self.admin_token:
            self.admin_token = new_token()
            self.token_path = await anyio.to_thread.run_sync(
                write_token_file, self.node.data_dir, self.admin_token
            )
        try:
            rpc_app = RpcApp(
                NodeApi(chain_service, self.node.network, self.node),
                extra_methods=self._plugin_methods(),
                max_body_bytes=self.config.max_body_bytes,
                limiter=limiter,
                config=self.config,
                admin_token=self.admin_token,
                hub=self.hub,
                routes=self._plugin_routes(),
                metrics=self.metrics,
            )
        except ValueError as exc:
            raise ServiceError(str(exc)) from None
        self.app = rpc_app
        config = self._hypercorn_config()
        try:
            sockets = config.create_sockets()
        except OSError as exc:
            raise ServiceError(f"the RPC server cannot listen on {config.bind[0]}: {exc}") from exc
        unsubscribe = self.node.subscribe(EventListener(self.hub), name="rpc-events")
        try:
            # Bound and listening before the service reports ready; Hypercorn then serves
            # the same sockets, handed over as file descriptors (``fd://``), and closes them.
            for sock in sockets.insecure_sockets:
                sock.listen(config.backlog)
            first: socket.socket = sockets.insecure_sockets[0]
            self.host, self.port = first.getsockname()[:2]
            config.bind = [f"fd://{sock.detach()}" for sock in sockets.insecure_sockets]
            self._shutdown = anyio.Event()
            self._stopped = anyio.Event()
            self._announce(rpc_app)
            task_status.started()
            await _serve(rpc_app.asgi(), config, self._shutdown)
        finally:
            unsubscribe()
            self.hub.close()
            if self.token_path is not None:
                self.token_path.unlink(missing_ok=True)
            for sock in sockets.insecure_sockets:
                sock.close()  # a no-op once handed over (detached)
            if self._stopped is not None:
                self._stopped.set()
            logger.info("JSON-RPC server stopped")

    def _announce(self, rpc_app: RpcApp) -> None:
        logger.info(
            "JSON-RPC listening on http://%s:%d/json_rpc (live events: ws://%s:%d/ws)",
            self.host,
            self.port,
            self.host,
            self.port,
        )
        if self.token_path is not None:
            logger.info("RPC admin token written to %s", self.token_path)
        public = not _is_loopback(str(self.host))
        if public and not self.config.restricted:
            logger.warning(
                "the RPC server listens on %s, beyond this machine, with mining methods "
                "open to anyone who can reach it; set rpc.restricted=true to require the "
                "admin token for them (as monerod's --restricted-rpc)",
                self.host,
            )
        if public and self.config.cors_origins:
            logger.info("CORS allowed for %s", ", ".join(self.config.cors_origins))

    async def drain(self) -> None:
        """Stop accepting connections, close the event subscribers' sockets (1001); return
        once open requests are done."""
        if self._shutdown is None or self._stopped is None:
            return
        self.hub.close()
        self._shutdown.set()
        await self._stopped.wait()


__all__ = ["MISSING_CHAIN", "RpcService"]
