"""The ``[rpc]`` configuration section."""

from __future__ import annotations

import ipaddress
from typing import Final

import attrs

from zion_core.netaddr import endpoint_validator

DEFAULT_PORTS: Final = {"mainnet": 19181, "testnet": 29181, "devnet": 39181}
"""The default RPC port of each network (the same as the chain's ``rpc_port``, docs/chain.md)."""

DEFAULT_HOST: Final = "127.0.0.1"


def _check_networks(
    _instance: object, attribute: attrs.Attribute[tuple[str, ...]], value: tuple[str, ...]
) -> None:
    for item in value:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(
                f"{attribute.name}: {item!r} is not an IP address or network (e.g. 10.0.0.0/8)"
            ) from None


def _check_origins(
    _instance: object, attribute: attrs.Attribute[tuple[str, ...]], value: tuple[str, ...]
) -> None:
    for origin in value:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise ValueError(
                f"{attribute.name}: {origin!r} is not an origin (scheme://host[:port]) or *"
            )


def _tuple(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list | tuple):
        return tuple(str(item) for item in value)
    raise TypeError(f"expected a list of strings, got {type(value).__name__}")


@attrs.frozen
class RpcConfig:
    """``[rpc]``: the node's HTTP API (Monero-compatible JSON-RPC and REST).

    - ``bind``: ``HOST:PORT`` to listen on; empty (the default) means
      ``127.0.0.1:<the network's RPC port>`` (mainnet 19181, testnet 29181, devnet 39181).
      Port 0 picks a free port (tests). IPv6 hosts are written in brackets: ``[::1]:19181``.
    - ``max_body_bytes``: the largest request body accepted; a larger one is answered with
      a JSON-RPC error (HTTP 413) without being read further.
    - ``graceful_timeout``: seconds that open requests may take to finish when the node stops.
    - ``restricted``: monerod's ``--restricted-rpc``: the methods monerod hides in restricted
      mode (``get_block_template``, ``submit_block``) then need the admin token too. Turn it
      on when the API is reachable by untrusted clients.
    - ``admin_token``: the token that admin methods need (HTTP header
      ``Authorization: Bearer <token>``). Empty (the default): the node makes a random one
      at each start and writes it to ``<data dir>/rpc.token`` (readable by its owner only).
    - ``rate_limit``, ``rate_burst``: requests per second allowed per client IP address, and
      the burst above that rate; ``rate_limit = 0`` turns limiting off. A client over its
      limit is answered HTTP 429 with a JSON-RPC error and ``Retry-After``.
    - ``rate_limit_exempt``: addresses and networks never limited (loopback by default:
      local miners and pools poll often).
    - ``cors_origins``: browser origins allowed to call the API (``["*"]`` for any); empty
      (the default): no CORS headers, so browsers refuse cross-origin calls.
    - ``ws_max_clients``: WebSocket event subscribers at once (``/ws``).
    - ``ws_queue``: events queued per subscriber; a subscriber that falls further behind is
      disconnected (close code 1008), so a slow client never slows the node.
    """

    bind: str = attrs.field(default="", validator=endpoint_validator)
    max_body_bytes: int = attrs.field(
        default=1 << 20, validator=[attrs.validators.instance_of(int), attrs.validators.ge(1024)]
    )
    graceful_timeout: float = attrs.field(default=5.0, validator=attrs.validators.ge(0))
    restricted: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    admin_token: str = attrs.field(default="", repr=False)
    rate_limit: float = attrs.field(default=50.0, validator=attrs.validators.ge(0))
    rate_burst: int = attrs.field(
        default=100, validator=[attrs.validators.instance_of(int), attrs.validators.ge(1)]
    )
    rate_limit_exempt: tuple[str, ...] = attrs.field(
        default=("127.0.0.0/8", "::1"), converter=_tuple, validator=_check_networks
    )
    cors_origins: tuple[str, ...] = attrs.field(
        default=(), converter=_tuple, validator=_check_origins
    )
    ws_max_clients: int = attrs.field(
        default=64, validator=[attrs.validators.instance_of(int), attrs.validators.ge(0)]
    )
    ws_queue: int = attrs.field(
        default=256, validator=[attrs.validators.instance_of(int), attrs.validators.ge(1)]
    )

    def address(self, network: str) -> str:
        """The ``HOST:PORT`` to bind on ``network``."""
        if self.bind:
            return self.bind
        return f"{DEFAULT_HOST}:{DEFAULT_PORTS.get(network, DEFAULT_PORTS['devnet'])}"
