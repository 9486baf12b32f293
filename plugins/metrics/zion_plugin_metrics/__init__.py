"""``zion-plugin-metrics``: the node's metrics in the Prometheus text format.

Registers the ``[metrics]`` configuration section and the HTTP route ``/metrics``
(``[metrics] path``) on the node's HTTP server, the ``jsonrpc`` plugin's, which serves
it next to ``/json_rpc``. A scrape reads every source registered through
``zion_register_metrics`` (the kernel's, the chain's, the node API's, RandomX's, the
pool's and any other plugin's) and writes them in the Prometheus text format or
OpenMetrics, as prometheus-client's encoders would, faster (:mod:`.text`). See
docs/metrics.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zion_core import ConfigError
from zion_hookspecs import HttpRoute, hookimpl

from .config import MetricsConfig
from .endpoint import MetricsEndpoint
from .exporter import Exporter, SourceCollector

if TYPE_CHECKING:
    from zion_hookspecs import Node, Register, RegisterConfigSection

SECTION = "metrics"
HTTP_SERVICE = "rpc"
"""The service of the ``jsonrpc`` plugin, which serves the plugins' HTTP routes."""


@hookimpl
def zion_register_config(register: RegisterConfigSection) -> None:
    register(SECTION, MetricsConfig)


@hookimpl
def zion_register_http_routes(register: Register[HttpRoute], node: Node) -> None:
    if HTTP_SERVICE not in node.registry("service").names():
        raise ConfigError(
            "the metrics plugin serves /metrics on the node's HTTP server, which this node "
            "does not run: load the jsonrpc plugin too (--plugin jsonrpc)"
        )
    config: MetricsConfig = node.config_section(SECTION)
    exporter = Exporter(node, process=config.process)
    register(HttpRoute(config.path, MetricsEndpoint(exporter), ("GET",), name="metrics"))


__all__ = ["Exporter", "MetricsConfig", "MetricsEndpoint", "SourceCollector"]
