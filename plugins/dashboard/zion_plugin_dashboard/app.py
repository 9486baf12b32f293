"""The dashboard's ASGI application, mounted at ``/dashboard/`` on the node's HTTP server.

It serves the files of ``static/`` (HTML, CSS and JavaScript modules, no build step) and
``site.json``: what the page cannot learn from the node API (the site's title, the
network, the pool's Stratum ports). Everything else the page reads from the node API
itself: ``POST /json_rpc`` (``get_info``, ``pool_stats``, ``pool_miner_stats``) and the
WebSocket stream ``/ws``.

Every response carries a strict Content-Security-Policy (scripts, styles and connections
from the node's own origin only, no inline code), ``X-Content-Type-Options: nosniff``,
``Referrer-Policy: no-referrer`` and ``Cache-Control: no-cache`` (files are revalidated
with their ETag, so a new version is picked up at once).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zion_hookspecs import Node

from .config import DashboardConfig

STATIC_DIR: Final = Path(__file__).resolve().parent / "static"
"""The site's files, shipped inside the package."""

CONTENT_SECURITY_POLICY: Final = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS: Final = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}
STRATUM_SERVICE: Final = "stratum"


class SecurityHeaders:
    """ASGI middleware: the headers above on every HTTP response (``Cache-Control`` only
    where the response sets none)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                if "cache-control" not in headers:
                    headers["cache-control"] = "no-cache"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def pool_ports(node: Node) -> list[dict[str, Any]] | None:
    """The pool's listening ports (``port``, ``tls``), ``[stratum] bind`` first; ``None``
    when the node runs no pool.

    Read from the ``stratum`` service's ``bound`` attribute ((host, port, tls) of each
    listener, filled once it listens): this plugin imports no other plugin, so the
    attribute is read defensively and anything unexpected is left out.
    """
    services = node.registry("service")
    if STRATUM_SERVICE not in services.names():
        return None
    bound = getattr(services.get(STRATUM_SERVICE), "bound", None)
    ports: list[dict[str, Any]] = []
    for item in bound if isinstance(bound, list | tuple) else ():
        try:
            _host, port, tls = item
        except (TypeError, ValueError):
            continue
        if isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536:
            ports.append({"port": port, "tls": bool(tls)})
    return ports


def site_info(node: Node, config: DashboardConfig) -> dict[str, Any]:
    """``site.json``: the title, the network, the pool's ports and the host to show."""
    server = (
        node.registry("service").get(STRATUM_SERVICE)
        if STRATUM_SERVICE in node.registry("service").names()
        else None
    )
    fingerprint = getattr(server, "tls_fingerprint", None)
    return {
        "title": config.title,
        "network": node.network,
        "stratum_host": config.stratum_host or None,
        "pool_ports": pool_ports(node),
        "tls_fingerprint": fingerprint if isinstance(fingerprint, str) else None,
    }


def dashboard_app(site: Callable[[], Mapping[str, Any]], static_dir: Path = STATIC_DIR) -> ASGIApp:
    """The ASGI application: ``site.json`` (``site()``, read at each request) and the
    files of ``static_dir`` (``index.html`` for the directory itself)."""

    async def site_json(request: Request) -> Response:
        return JSONResponse(dict(site()), headers={"cache-control": "no-store"})

    app = Starlette(
        routes=[
            Route("/site.json", site_json, methods=["GET"]),
            Mount("/", app=StaticFiles(directory=static_dir, html=True)),
        ]
    )
    return SecurityHeaders(app)


__all__ = [
    "CONTENT_SECURITY_POLICY",
    "STATIC_DIR",
    "SecurityHeaders",
    "dashboard_app",
    "pool_ports",
    "site_info",
]
