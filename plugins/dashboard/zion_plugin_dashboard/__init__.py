"""``zion-plugin-dashboard``: the pool website, served by the node at ``/dashboard/``.

Registers the ``[dashboard]`` configuration section and one HTTP route
(``zion_register_http_routes``): ``/dashboard/``, which serves a static single-page site
(plain HTML, CSS and JavaScript modules, shipped in the package, no build step) and
``/dashboard/site.json``. The page shows the pool's overview, its blocks and payments,
and a miner's page by address; it reads the node API (``pool_stats``,
``pool_miner_stats``, ``get_info``) and follows the WebSocket stream ``/ws`` for live
updates. See docs/dashboard.md.

The node's HTTP server is the ``jsonrpc`` plugin's ``rpc`` service; without it nothing
serves the site, and the node refuses to start, saying to add ``--plugin jsonrpc``.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Final

from zion_core import ConfigError
from zion_hookspecs import HttpRoute, hookimpl

from .app import dashboard_app, site_info
from .config import SECTION, DashboardConfig

if TYPE_CHECKING:
    from zion_hookspecs import Node, Register, RegisterConfigSection

PATH: Final = "/dashboard/"
HTTP_SERVICE: Final = "rpc"
"""The service that serves HTTP routes: the ``jsonrpc`` plugin's."""
MISSING_HTTP_SERVER: Final = (
    "the dashboard plugin needs the node's HTTP server, the jsonrpc plugin: "
    "zion run --plugin jsonrpc --plugin stratum --plugin dashboard"
)


@hookimpl
def zion_register_config(register: RegisterConfigSection) -> None:
    register(SECTION, DashboardConfig)


@hookimpl
def zion_register_http_routes(register: Register[HttpRoute], node: Node) -> None:
    if HTTP_SERVICE not in node.registry("service").names():
        raise ConfigError(MISSING_HTTP_SERVER)
    config: DashboardConfig = node.config_section(SECTION)
    app = dashboard_app(functools.partial(site_info, node, config))
    register(HttpRoute(PATH, app, name="dashboard"))


__all__ = ["MISSING_HTTP_SERVER", "PATH", "DashboardConfig", "dashboard_app", "site_info"]
