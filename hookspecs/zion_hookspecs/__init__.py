"""Hook specifications and interfaces for ZION plugins.

A plugin is a module (or any object) whose functions are decorated with :data:`hookimpl`
and named after a hook specification, published under the ``zion.plugins`` entry-point
group::

    [project.entry-points."zion.plugins"]
    hello = "zion_plugin_hello"

The specifications live in one module per domain:

- :mod:`zion_hookspecs.lifecycle`: configuration, services, CLI commands, RPC methods,
  HTTP routes, status panels, metrics, diagnostics
- :mod:`zion_hookspecs.events`: block connected/disconnected, transaction accepted,
  share accepted, block found, pool statistics
- :mod:`zion_hookspecs.consensus`, :mod:`~zion_hookspecs.hashing`,
  :mod:`~zion_hookspecs.storage`, :mod:`~zion_hookspecs.transport`,
  :mod:`~zion_hookspecs.pool`, :mod:`~zion_hookspecs.bridge`: the backends
- :mod:`zion_hookspecs.sync`: sync sources (whether the chain has caught up with the
  network)

Hook implementations are synchronous. Long-running work is a :class:`Service` that the
runtime starts; CPU-bound work runs in worker threads.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from . import bridge, consensus, events, hashing, lifecycle, pool, storage, sync, transport
from ._markers import ENTRY_POINT_GROUP, PROJECT_NAME, hookimpl, hookspec
from .types import (
    BanPolicy,
    Bridge,
    BridgeStatus,
    ConsensusRules,
    DiagnosticsReport,
    DifficultyState,
    HashBackend,
    HashCapabilities,
    HistogramSample,
    HttpRoute,
    MetricSample,
    MetricsSource,
    Node,
    PoolPolicy,
    ReadySignal,
    Register,
    RegisterConfigSection,
    RegistryView,
    RpcMethod,
    Service,
    ShareRecord,
    ShareVerificationPolicy,
    StatusPanel,
    Storage,
    StorageBackend,
    SyncSource,
    SyncStatus,
    Transport,
    VardiffPolicy,
)

SPEC_MODULES = (lifecycle, events, consensus, hashing, storage, transport, pool, bridge, sync)
"""Every hook specification module, in documentation order."""

try:
    __version__ = version("zion-hookspecs")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "ENTRY_POINT_GROUP",
    "PROJECT_NAME",
    "SPEC_MODULES",
    "BanPolicy",
    "Bridge",
    "BridgeStatus",
    "ConsensusRules",
    "DiagnosticsReport",
    "DifficultyState",
    "HashBackend",
    "HashCapabilities",
    "HistogramSample",
    "HttpRoute",
    "MetricSample",
    "MetricsSource",
    "Node",
    "PoolPolicy",
    "ReadySignal",
    "Register",
    "RegisterConfigSection",
    "RegistryView",
    "RpcMethod",
    "Service",
    "ShareRecord",
    "ShareVerificationPolicy",
    "StatusPanel",
    "Storage",
    "StorageBackend",
    "SyncSource",
    "SyncStatus",
    "Transport",
    "VardiffPolicy",
    "__version__",
    "hookimpl",
    "hookspec",
]
