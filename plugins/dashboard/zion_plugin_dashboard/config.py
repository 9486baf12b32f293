"""The ``[dashboard]`` configuration section."""

from __future__ import annotations

import ipaddress
import re
from typing import Final

import attrs

SECTION: Final = "dashboard"
MAX_TITLE: Final = 80
_LABEL: Final = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME: Final = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?$")
"""A DNS host name: dot-separated labels of letters, digits and inner hyphens."""


def _check_title(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{attribute.name} must be a non-empty string")
    if len(value) > MAX_TITLE or any(ord(ch) < 32 for ch in value):
        raise ValueError(
            f"{attribute.name} must be one line of at most {MAX_TITLE} characters, not {value!r}"
        )


def _check_host(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str):
        raise ValueError(f"{attribute.name} must be a host name or an IP address, not {value!r}")
    if not value or _HOSTNAME.match(value):
        return
    try:
        ipaddress.ip_address(value.removeprefix("[").removesuffix("]"))
    except ValueError:
        raise ValueError(
            f"{attribute.name} must be a host name (pool.example.org) or an IP address, "
            f"not {value!r}"
        ) from None


@attrs.frozen
class DashboardConfig:
    """``[dashboard]``: the pool website at ``/dashboard/`` on the node's HTTP server.

    - ``title``: the site's name, in the header and the browser's title bar.
    - ``stratum_host``: the host name miners connect to, shown in the "how to connect"
      box with the pool's ports. Empty (the default): the host name the visitor's browser
      used to reach the dashboard (right when the pool and the node API share a host).
    """

    title: str = attrs.field(default="ZION pool", validator=_check_title)
    stratum_host: str = attrs.field(default="", validator=_check_host)


__all__ = ["SECTION", "DashboardConfig"]
