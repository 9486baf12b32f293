"""Who may call what: the admin token, per-IP rate limits and CORS.

- Admin methods (plugins' ``restricted`` methods, and with ``rpc.restricted`` the methods
  monerod hides in restricted mode) need ``Authorization: Bearer <admin token>``; the
  token is compared in constant time.
- :class:`RateLimitMiddleware` gives each client IP address a token bucket (``rate_limit``
  per second, ``rate_burst`` deep); addresses in ``rate_limit_exempt`` are never limited.
  The table of buckets is bounded: the least recently seen addresses are forgotten first.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import math
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Final

from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import RATE_LIMITED

MONEROD_RESTRICTED: Final = frozenset(
    {"get_block_template", "getblocktemplate", "submit_block", "submitblock"}
)
"""Built-in methods that monerod serves only without ``--restricted-rpc``."""

TOKEN_FILE: Final = "rpc.token"
MAX_TRACKED_CLIENTS: Final = 65_536


def write_token_file(data_dir: Path, token: str) -> Path:
    """Write ``token`` to ``<data_dir>/rpc.token``, readable by its owner only."""
    path = data_dir / TOKEN_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, token.encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def new_token() -> str:
    """A random admin token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


class AdminGate:
    """Decides whether a request may call a method."""

    def __init__(self, token: str, admin_methods: Iterable[str]) -> None:
        self._token = token.encode()
        self.admin_methods = frozenset(admin_methods)

    def is_admin(self, method: str) -> bool:
        return method in self.admin_methods

    def authorized(self, headers: Any) -> bool:
        """Whether the request carries the admin token (``Authorization: Bearer ...``)."""
        value = headers.get("authorization", "")
        scheme, _, credential = value.partition(" ")
        if scheme.lower() != "bearer" or not credential:
            return False
        return hmac.compare_digest(credential.strip().encode(), self._token)


class TokenBuckets:
    """Per-key token buckets with a bounded table (least recently seen forgotten first)."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        capacity: int = MAX_TRACKED_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.capacity = capacity
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float:
        """Take one token for ``key``: 0.0 if allowed, else the seconds until one is free."""
        now = self.clock()
        tokens, stamp = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - stamp) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.capacity:
            self._buckets.popitem(last=False)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)


class RateLimitMiddleware:
    """ASGI middleware answering HTTP 429 (a JSON-RPC error) to a client over its limit;
    a WebSocket handshake over the limit is refused the same way."""

    def __init__(self, app: ASGIApp, *, rate: float, burst: int, exempt: Iterable[str]) -> None:
        self.app = app
        self.buckets = TokenBuckets(rate, burst)
        self.exempt = [ipaddress.ip_network(item, strict=False) for item in exempt]
        self._exempt_hosts: dict[str, bool] = {}
        self.enabled = rate > 0

    def _exempt(self, host: str) -> bool:
        known = self._exempt_hosts.get(host)
        if known is not None:
            return known
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            exempt = False
        else:
            exempt = any(address in network for network in self.exempt)
        if len(self._exempt_hosts) >= MAX_TRACKED_CLIENTS:
            self._exempt_hosts.clear()
        self._exempt_hosts[host] = exempt
        return exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.enabled or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        host = client[0] if client else ""
        if host and not self._exempt(host):
            wait = self.buckets.take(host)
            if wait > 0:
                await self._refuse(scope, receive, send, wait)
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, wait: float) -> None:
        retry = str(max(1, math.ceil(wait)))
        body = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": None,
                "error": {
                    "code": RATE_LIMITED,
                    "message": "Too many requests",
                    "data": {"retry_after": int(retry)},
                },
            },
            separators=(",", ":"),
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", retry.encode()),
        ]
        if scope["type"] == "websocket":
            await receive()  # the websocket.connect event
            if "websocket.http.response" in scope.get("extensions", {}):
                start = {"type": "websocket.http.response.start", "status": 429}
                await send({**start, "headers": headers})
                await send({"type": "websocket.http.response.body", "body": body})
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})


__all__ = [
    "MONEROD_RESTRICTED",
    "TOKEN_FILE",
    "AdminGate",
    "RateLimitMiddleware",
    "TokenBuckets",
    "new_token",
    "write_token_file",
]
