"""The ``[rpc]`` configuration section."""

from __future__ import annotations

from typing import Final

import attrs

DEFAULT_PORTS: Final = {"mainnet": 19181, "testnet": 29181, "devnet": 39181}
"""The default RPC port of each network (the same as the chain's ``rpc_port``, docs/chain.md)."""

DEFAULT_HOST: Final = "127.0.0.1"


def _check_bind(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value:
        return
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{attribute.name} must be HOST:PORT (port 0-65535), got {value!r}")


@attrs.frozen
class RpcConfig:
    """``[rpc]``: the node's HTTP API (Monero-compatible JSON-RPC and REST).

    - ``bind``: ``HOST:PORT`` to listen on; empty (the default) means
      ``127.0.0.1:<the network's RPC port>`` (mainnet 19181, testnet 29181, devnet 39181).
      Port 0 picks a free port (tests). IPv6 hosts are written in brackets: ``[::1]:19181``.
    - ``max_body_bytes``: the largest request body accepted; a larger one is answered with
      a JSON-RPC error (HTTP 413) without being read further.
    - ``graceful_timeout``: seconds that open requests may take to finish when the node stops.
    """

    bind: str = attrs.field(default="", validator=_check_bind)
    max_body_bytes: int = attrs.field(
        default=1 << 20, validator=[attrs.validators.instance_of(int), attrs.validators.ge(1024)]
    )
    graceful_timeout: float = attrs.field(default=5.0, validator=attrs.validators.ge(0))

    def address(self, network: str) -> str:
        """The ``HOST:PORT`` to bind on ``network``."""
        if self.bind:
            return self.bind
        return f"{DEFAULT_HOST}:{DEFAULT_PORTS.get(network, DEFAULT_PORTS['devnet'])}"
