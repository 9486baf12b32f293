"""Peer addresses: an IP address (never a host name) and a port."""

from __future__ import annotations

import ipaddress
from typing import Any, Final

import attrs

MAX_PORT: Final = 65_535
MAX_SERVICES: Final = (1 << 64) - 1


class InvalidPeerAddressError(ValueError):
    """A peer address that is not an IP literal with a port in 1..65535."""


def canonical_host(host: str) -> str:
    """``host`` as Python writes the IP address (``::ffff:1.2.3.4`` becomes ``1.2.3.4``);
    raises :class:`InvalidPeerAddressError` for anything but an IPv4 or IPv6 literal."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise InvalidPeerAddressError(f"{host!r} is not an IP address") from None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


def _host(_instance: Any, _attribute: Any, value: str) -> None:
    if not isinstance(value, str) or canonical_host(value) != value:
        raise InvalidPeerAddressError(f"{value!r} is not a canonical IP address")


def _port(_instance: Any, _attribute: Any, value: int) -> None:
    if type(value) is not int or not 1 <= value <= MAX_PORT:
        raise InvalidPeerAddressError(f"port must be 1..{MAX_PORT}, not {value!r}")


def _uint64(_instance: Any, attribute: Any, value: int) -> None:
    if type(value) is not int or not 0 <= value <= MAX_SERVICES:
        raise InvalidPeerAddressError(f"{attribute.name} must be 0..2^64-1, not {value!r}")


@attrs.frozen(slots=True)
class PeerAddress:
    """Where a peer listens: a canonical IP literal and a port, with the services it
    announced and when it was last seen (Unix seconds, 0 when unknown)."""

    host: str = attrs.field(validator=_host)
    port: int = attrs.field(validator=_port)
    services: int = attrs.field(default=0, validator=_uint64)
    last_seen: int = attrs.field(default=0, validator=_uint64)

    @classmethod
    def parse(cls, text: str) -> PeerAddress:
        """``1.2.3.4:18080`` or ``[::1]:18080``."""
        host, sep, port = text.strip().rpartition(":")
        if not sep or not host:
            raise InvalidPeerAddressError(f"{text!r} is not HOST:PORT")
        if ":" in host and not (host.startswith("[") and host.endswith("]")):
            raise InvalidPeerAddressError(f"{text!r}: write an IPv6 address as [ADDR]:PORT")
        if not port.isdigit():
            raise InvalidPeerAddressError(f"{text!r}: the port is not a number")
        return cls(canonical_host(host), int(port))

    @property
    def key(self) -> tuple[str, int]:
        """What identifies the address (services and last seen aside)."""
        return (self.host, self.port)

    @property
    def is_ipv6(self) -> bool:
        return ":" in self.host

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if self.is_ipv6 else f"{self.host}:{self.port}"
