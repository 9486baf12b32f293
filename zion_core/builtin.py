"""The kernel's own plugin (``core``): core config sections, diagnostics, node panel, metrics."""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from zion_hookspecs import MetricSample, hookimpl

from .config import CORE_SECTIONS

if TYPE_CHECKING:
    from zion_hookspecs import DiagnosticsReport, MetricsSource, Register, StatusPanel

    from .node import ZionNode


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


@hookimpl
def zion_register_config(register: Any) -> None:
    for section, cls in CORE_SECTIONS.items():
        register(section, cls)


@hookimpl
def zion_diagnose(report: DiagnosticsReport) -> None:
    report.add("python", f"{platform.python_implementation()} {platform.python_version()}")
    report.add("executable", sys.executable)
    report.add("platform", platform.platform())
    report.add("machine", platform.machine())
    for dist in ("zion", "zion-hookspecs", "pluggy", "anyio", "trio", "attrs", "cattrs"):
        report.add(dist, _version(dist))


class NodePanel:
    """The ``node`` status panel: network, data directory, uptime, plugins."""

    name = "node"
    title = "Node"

    def __init__(self, node: ZionNode) -> None:
        self._node = node

    def snapshot(self) -> Mapping[str, Any]:
        return {
            "network": self._node.network,
            "data_dir": str(self._node.data_dir),
            "uptime_seconds": round(time.time() - self._node.started_at, 1),
            "plugins": self._node.plugin_names(),
        }


class CoreMetrics:
    """Process-level metrics: uptime and loaded plugins."""

    name = "core"

    def __init__(self, node: ZionNode) -> None:
        self._node = node

    def collect(self) -> Iterable[MetricSample]:
        yield MetricSample(
            "zion_uptime_seconds",
            "gauge",
            "Seconds since the node started",
            time.time() - self._node.started_at,
        )
        yield MetricSample(
            "zion_plugins_loaded",
            "gauge",
            "Number of loaded plugins",
            float(len(self._node.plugin_names())),
        )


@hookimpl
def zion_register_status_panels(register: Register[StatusPanel], node: ZionNode) -> None:
    register(NodePanel(node))


@hookimpl
def zion_register_metrics(register: Register[MetricsSource], node: ZionNode) -> None:
    register(CoreMetrics(node))
