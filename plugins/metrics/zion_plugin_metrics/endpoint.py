"""``GET /metrics``: an ASGI application answering one scrape per request.

The scrape runs on the event loop: sources read counters that the event loop and worker
threads keep, and must not block (see ``zion_register_metrics``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .exporter import Exporter

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class MetricsEndpoint:
    """Answers ``GET`` (and ``HEAD``) with the exporter's scrape, in the format the
    ``Accept`` header asks for."""

    def __init__(self, exporter: Exporter) -> None:
        self.exporter = exporter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # the route serves HTTP only
            raise RuntimeError(f"the metrics endpoint cannot serve {scope['type']!r}")
        accept = ""
        for key, value in scope.get("headers", ()):
            if key == b"accept":
                accept = value.decode("latin-1")
        body, content_type = self.exporter.render(accept)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", content_type.encode("latin-1")),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send(
            {"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body}
        )


__all__ = ["MetricsEndpoint"]
