"""``HOST:PORT`` endpoints as configuration writes them (``127.0.0.1:3333``,
``[::1]:18081``, ``localhost:0``), parsed and validated in one place."""

from __future__ import annotations

from typing import Any

MAX_PORT = 65535


def parse_endpoint(text: str, *, what: str = "address") -> tuple[str, int]:
    """``(host, port)`` of ``HOST:PORT`` or ``[IPV6]:PORT``; ValueError naming ``what``
    when the text is not one (port 0 means "any free port" where something listens)."""
    if not isinstance(text, str):
        raise ValueError(f"{what} must be HOST:PORT, got {text!r}")
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{what} must write an IPv6 host in brackets ([::1]:PORT), got {text!r}")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= MAX_PORT:
        raise ValueError(f"{what} must be HOST:PORT (port 0-{MAX_PORT}), got {text!r}")
    return host, int(port)


def endpoint_validator(_instance: object, attribute: Any, value: str) -> None:
    """An attrs validator for a ``HOST:PORT`` field; the empty string means "not set"."""
    if value:
        parse_endpoint(value, what=attribute.name)


__all__ = ["MAX_PORT", "endpoint_validator", "parse_endpoint"]
