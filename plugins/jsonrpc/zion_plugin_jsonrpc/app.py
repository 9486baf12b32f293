"""The Starlette application: ``POST /json_rpc`` and monerod's REST-like endpoints.

Blocking API calls run in worker threads (at most ``limiter``'s tokens at once), and so do
plain-function handlers contributed by other plugins (``zion_register_rpc_methods``);
coroutine-function handlers run on the event loop. Admin methods need the admin token
(:mod:`.access`); ``/ws`` serves live events (:mod:`.events`). Routes registered by
other plugins (``zion_register_http_routes``) are served after the built-in ones, behind
the same middleware. Every failure is answered
as JSON: a JSON-RPC ``error`` object on ``/json_rpc``, ``status: "Failed"`` with a
``reason`` on the REST endpoints; a bug is logged with its traceback and answered
``-32603 Internal error`` without one.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.types import ASGIApp
from starlette.websockets import WebSocket

from zion_core import ServiceError, ZionError
from zion_hookspecs import HttpRoute, RpcMethod

from . import openrpc
from .access import MONEROD_RESTRICTED, AdminGate, RateLimitMiddleware, new_token
from .api import NodeApi
from .config import RpcConfig
from .errors import (
    CORE_BUSY,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    UNAUTHORIZED,
    WRONG_PARAM,
    RpcError,
)
from .events import EventHub, serve_subscriber
from .metrics import Outcome, RpcMetrics

logger = logging.getLogger(__name__)

MAX_BATCH: Final = 100
"""The most calls in one JSON-RPC batch."""


class BodyTooLargeError(Exception):
    """The request body exceeds ``max_body_bytes``."""


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (before or while reading) more than ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError
        chunks.append(chunk)
    return b"".join(chunks)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def parse_json(body: bytes) -> Any:
    """Strict JSON: ``ValueError`` for malformed or non-UTF-8 text, ``NaN``/``Infinity``,
    numbers out of a double's range and nesting too deep to decode."""
    try:
        return json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(str(exc)) from None


def _json(content: Any, status_code: int = 200) -> Response:
    body = json.dumps(content, separators=(",", ":"), allow_nan=False).encode()
    return Response(body, status_code=status_code, media_type="application/json")


def _rpc_error(error: RpcError, request_id: Any = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}


def _valid_id(value: Any) -> bool:
    """JSON-RPC 2.0: an id is a string, a number or null."""
    return value is None or (isinstance(value, str | int | float) and not isinstance(value, bool))


UNAUTHORIZED_ERROR: Final = RpcError(
    UNAUTHORIZED,
    "Unauthorized: an admin method; send the header 'Authorization: Bearer <token>' "
    "(rpc.admin_token, or the token the node writes to <data dir>/rpc.token)",
)


async def _http_error(request: Request, exc: Exception) -> Response:
    """404 and 405 as JSON, in the REST endpoints' failure shape."""
    status = getattr(exc, "status_code", 404)
    reason = "Not found" if status == 404 else f"Method {request.method} not allowed"
    headers = getattr(exc, "headers", None) or {}
    response = _json({"status": "Failed", "reason": reason, "untrusted": False}, status)
    response.headers.update(headers)
    return response


def plugin_routes(routes: Sequence[HttpRoute], builtin_paths: Sequence[str]) -> list[BaseRoute]:
    """Starlette routes for the plugins' ``routes``; ``ValueError`` for a bad path or one
    that clashes with ``builtin_paths`` or another route (a mount claims every path below
    its prefix)."""
    claimed: dict[str, str] = {path: "the jsonrpc plugin" for path in builtin_paths}
    out: list[BaseRoute] = []
    for route in routes:
        path = route.path
        if not path.startswith("/") or any(ch.isspace() for ch in path):
            raise ValueError(
                f"HTTP route {route.name!r}: path {path!r} must start with '/' and have no spaces"
            )
        for other, owner in claimed.items():
            if (
                other == path
                or (route.is_mount and other.startswith(path))
                or (other.endswith("/") and path.startswith(other))
            ):
                raise ValueError(
                    f"HTTP route {route.name!r}: path {path!r} clashes with {other!r} of {owner}"
                )
        claimed[path] = f"HTTP route {route.name!r}"
        if route.is_mount:
            out.append(Mount(path.rstrip("/"), app=route.endpoint, name=route.name))
            continue
        methods = [method.upper() for method in route.methods]
        if not methods:
            raise ValueError(f"HTTP route {route.name!r}: no HTTP methods")
        out.append(Route(path, route.endpoint, methods=methods, name=route.name))
    return out


class RpcApp:
    """The HTTP endpoints over a :class:`~.api.NodeApi` and the plugins' RPC methods and
    HTTP routes."""

    def __init__(
        self,
        api: NodeApi,
        *,
        extra_methods: Mapping[str, RpcMethod] = {},
        max_body_bytes: int,
        limiter: anyio.CapacityLimiter,
        config: RpcConfig | None = None,
        admin_token: str = "",
        hub: EventHub | None = None,
        routes: Sequence[HttpRoute] = (),
        metrics: RpcMetrics | None = None,
    ) -> None:
        self.api = api
        self.builtin = api.methods()
        self.extra = dict(extra_methods)
        clash = sorted(set(self.builtin) & set(self.extra))
        if clash:
            raise ValueError(
                f"RPC method name(s) {', '.join(clash)} registered by a plugin are the "
                "jsonrpc plugin's own methods"
            )
        self.config = config or RpcConfig()
        self.max_body_bytes = max_body_bytes
        self.limiter = limiter
        admin = {name for name, method in self.extra.items() if method.restricted}
        if self.config.restricted:
            admin |= MONEROD_RESTRICTED & set(self.builtin)
        self.gate = AdminGate(admin_token or new_token(), admin)
        self.hub = hub or EventHub(
            max_clients=self.config.ws_max_clients, queue_size=self.config.ws_queue
        )
        self.routes = tuple(routes)
        self.metrics = metrics
        self._starlette_routes()  # a bad or clashing plugin route fails here (ValueError)
        if metrics is not None:
            metrics.known = frozenset({*self.builtin, *self.extra, "rpc.discover", *metrics.known})

    # -- JSON-RPC ------------------------------------------------------------------------

    async def _run(self, call: Callable[[Any], Any], params: Any, *, inline: bool) -> Any:
        """``call(params)``: on the event loop when ``inline`` and the chain is not being
        written (its lock is free: taken without waiting), else in a worker thread."""
        if inline:
            lock = self.api.service.lock
            if lock.acquire(blocking=False):
                try:
                    return call(params)
                finally:
                    lock.release()
        return await anyio.to_thread.run_sync(call, params, limiter=self.limiter)

    def description(self) -> dict[str, Any]:
        """The OpenRPC document of every method served (built-in and plugins')."""
        return openrpc.document(self.builtin, self.extra, admin=self.gate.admin_methods)

    async def openrpc_json(self, request: Request) -> Response:
        """``GET /openrpc.json``: the API description."""
        return _json(self.description())

    async def _call(self, method: str, params: Any) -> Any:
        if method == "rpc.discover":
            return self.description()
        builtin = self.builtin.get(method)
        if builtin is not None:
            return await self._run(builtin, params, inline=method in self.api.INLINE)
        extra = self.extra.get(method)
        if extra is None:
            raise RpcError(METHOD_NOT_FOUND, "Method not found")
        try:
            if inspect.iscoroutinefunction(extra.handler):
                result = await extra.handler(params)
            else:
                result = await anyio.to_thread.run_sync(extra.handler, params, limiter=self.limiter)
                if inspect.isawaitable(result):
                    result = await result
        except (ValueError, TypeError) as exc:
            raise RpcError(INVALID_PARAMS, "Invalid params", str(exc)) from None
        except ServiceError as exc:  # what it needs is not running (yet)
            raise RpcError(CORE_BUSY, str(exc), {"error": type(exc).__name__}) from None
        except ZionError as exc:
            raise RpcError(WRONG_PARAM, str(exc), {"error": type(exc).__name__}) from None
        return result

    async def _one(self, call: Any, admin: bool) -> dict[str, Any]:
        if not isinstance(call, dict):
            return _rpc_error(RpcError(INVALID_REQUEST, "Invalid Request"))
        request_id = call.get("id")
        if not _valid_id(request_id):
            return _rpc_error(RpcError(INVALID_REQUEST, "Invalid Request: bad id"))
        method = call.get("method")
        if not isinstance(method, str):
            return _rpc_error(RpcError(INVALID_REQUEST, "Invalid Request"), request_id)
        began = time.perf_counter()
        if not admin and self.gate.is_admin(method):
            self._record(method, "error", began)
            return _rpc_error(UNAUTHORIZED_ERROR, request_id)
        try:
            result = await self._call(method, call.get("params"))
        except RpcError as exc:
            self._record(method, "error", began)
            return _rpc_error(exc, request_id)
        except Exception:
            logger.exception("JSON-RPC method %s failed", method)
            self._record(method, "internal_error", began)
            return _rpc_error(RpcError(INTERNAL_ERROR, "Internal error"), request_id)
        self._record(method, "ok", began)
        return {"jsonrpc": "2.0", "id": request_id, "result": result}

    def _record(self, method: str, outcome: Outcome, began: float) -> None:
        if self.metrics is not None:
            self.metrics.observe(method, outcome, time.perf_counter() - began)

    async def json_rpc(self, request: Request) -> Response:
        """``POST /json_rpc``: one call or a batch (an array of calls)."""
        try:
            body = await read_body(request, self.max_body_bytes)
        except BodyTooLargeError:
            error = RpcError(
                INVALID_REQUEST, f"Request too large (at most {self.max_body_bytes} bytes)"
            )
            return _json(_rpc_error(error), 413)
        try:
            payload = parse_json(body)
        except ValueError:
            return _json(_rpc_error(RpcError(PARSE_ERROR, "Parse error")))
        admin = self.gate.authorized(request.headers)
        if isinstance(payload, list):
            if not payload or len(payload) > MAX_BATCH:
                return _json(_rpc_error(RpcError(INVALID_REQUEST, "Invalid Request")))
            return _json([await self._one(call, admin) for call in payload])
        return _json(await self._one(payload, admin))

    # -- REST ----------------------------------------------------------------------------

    def rest(
        self, call: Callable[[Any], dict[str, Any]], *, inline: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        """An endpoint answering ``call(params)`` (params: the JSON body, ``{}`` when empty;
        ``inline``: see :meth:`_run`)."""

        async def endpoint(request: Request) -> Response:
            try:
                body = await read_body(request, self.max_body_bytes)
            except BodyTooLargeError:
                reason = f"Request too large (at most {self.max_body_bytes} bytes)"
                return _json({"status": "Failed", "reason": reason, "untrusted": False}, 413)
            try:
                params = parse_json(body) if body.strip() else {}
            except ValueError:
                return _json({"status": "Failed", "reason": "Parse error", "untrusted": False}, 400)
            began = time.perf_counter()
            path = request.url.path
            try:
                result = await self._run(call, params, inline=inline)
            except RpcError as exc:
                self._record(path, "error", began)
                status = "BUSY" if exc.code == CORE_BUSY else "Failed"
                reason = exc.message if exc.data is None else f"{exc.message}: {exc.data}"
                return _json({"status": status, "reason": reason, "untrusted": False})
            except Exception:
                logger.exception("REST endpoint %s failed", path)
                self._record(path, "internal_error", began)
                return _json(
                    {"status": "Failed", "reason": "Internal error", "untrusted": False}, 500
                )
            self._record(path, "ok", began)
            return _json(result)

        return endpoint

    def hello(self) -> dict[str, Any]:
        """The first WebSocket message's data: the network and the tip."""
        chain = self.api.service.chain
        if chain is None:
            return {"network": self.api.network, "height": None, "hash": None}
        return {
            "network": self.api.network,
            "height": chain.tip.height,
            "hash": chain.tip_id.hex(),
        }

    async def websocket(self, websocket: WebSocket) -> None:
        """``/ws``: live events (see :mod:`.events`)."""
        await serve_subscriber(websocket, self.hub, self.hello())

    def asgi(self) -> ASGIApp:
        """The ASGI application with its middleware: rate limits outermost, then CORS."""
        app: ASGIApp = self.starlette()
        if self.config.cors_origins:
            app = CORSMiddleware(
                app,
                allow_origins=list(self.config.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Content-Type", "Authorization"],
                max_age=600,
            )
        return RateLimitMiddleware(
            app,
            rate=self.config.rate_limit,
            burst=self.config.rate_burst,
            exempt=self.config.rate_limit_exempt,
        )

    def starlette(self) -> Starlette:
        """The routes (no middleware: see :meth:`asgi`)."""
        return Starlette(
            routes=self._starlette_routes(),
            exception_handlers={404: _http_error, 405: _http_error},
        )

    def _starlette_routes(self) -> list[BaseRoute]:
        api = self.api
        rest: list[tuple[tuple[str, ...], Callable[[Any], dict[str, Any]], bool]] = [
            (("/get_height", "/getheight"), lambda _params: api.get_height(), True),
            (("/get_info", "/getinfo"), api.get_info, True),
            (("/send_raw_transaction", "/sendrawtransaction"), api.send_raw_transaction, False),
            (("/get_transactions", "/gettransactions"), api.get_transactions, False),
            (("/get_transaction_pool",), api.get_transaction_pool, False),
        ]
        routes: list[BaseRoute] = [
            Route("/json_rpc", self.json_rpc, methods=["POST"]),
            Route("/openrpc.json", self.openrpc_json, methods=["GET"]),
            WebSocketRoute("/ws", self.websocket),
        ]
        for paths, call, inline in rest:
            endpoint = self.rest(call, inline=inline)
            routes.extend(Route(path, endpoint, methods=["GET", "POST"]) for path in paths)
        rest_paths = [path for paths, _, _ in rest for path in paths]
        if self.metrics is not None:
            self.metrics.known = self.metrics.known | set(rest_paths)
        routes.extend(
            plugin_routes(self.routes, ["/json_rpc", "/openrpc.json", "/ws", *rest_paths])
        )
        return routes


__all__ = ["BodyTooLargeError", "RpcApp", "plugin_routes", "read_body"]
