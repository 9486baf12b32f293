"""The ``tcp`` transport: plain TCP through anyio."""

from __future__ import annotations

import anyio
from anyio.abc import ByteStream, Listener


class TcpTransport:
    """Plain TCP (``backends.transport = "tcp"``, the default). Another transport (TLS,
    a SOCKS proxy) is a plugin registering an object with the same two methods."""

    name = "tcp"
    binds_local_host = True
    """``connect`` takes ``local_host``: the address outbound connections leave from."""

    async def connect(self, host: str, port: int, *, local_host: str | None = None) -> ByteStream:
        return await anyio.connect_tcp(host, port, local_host=local_host)

    async def listen(self, host: str, port: int) -> Listener[ByteStream]:
        return await anyio.create_tcp_listener(local_host=host, local_port=port, reuse_port=False)
