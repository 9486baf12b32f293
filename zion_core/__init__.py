"""The ZION kernel: plugin manager, registries, configuration, runtime and CLI.

The kernel holds no hashing, storage, networking or chain rules: those are plugins. Its
public API is what this module exports; plugins use it together with ``zion_hookspecs``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .bootstrap import LoadedPlugins, build_node, load_plugins
from .config import ConfigSources, ZionConfig
from .errors import (
    ConfigError,
    DataDirLockedError,
    NonCanonicalError,
    OutOfDataError,
    PluginConflictError,
    PluginError,
    PluginLoadError,
    RegistryError,
    SerializationError,
    ServiceError,
    TooLongError,
    TrailingDataError,
    UnknownBackendError,
    UnknownPluginError,
    UsageError,
    ValidationError,
    ZionError,
)
from .events_client import (
    EventStreamClosedError,
    EventStreamError,
    EventStreamRefusedError,
    NodeEventStream,
)
from .metrics import Histogram
from .node import ZionNode
from .plugins import ESSENTIAL_PLUGINS, RESERVED_NAMES, PluginEntry, discover
from .registry import Registry
from .runtime import Runtime
from .sync import mining_allowed, node_sync_status

try:
    __version__ = version("zion")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "ESSENTIAL_PLUGINS",
    "RESERVED_NAMES",
    "ConfigError",
    "ConfigSources",
    "DataDirLockedError",
    "EventStreamClosedError",
    "EventStreamError",
    "EventStreamRefusedError",
    "Histogram",
    "NonCanonicalError",
    "OutOfDataError",
    "LoadedPlugins",
    "NodeEventStream",
    "PluginConflictError",
    "PluginEntry",
    "PluginError",
    "PluginLoadError",
    "Registry",
    "RegistryError",
    "Runtime",
    "SerializationError",
    "ServiceError",
    "TooLongError",
    "TrailingDataError",
    "UnknownBackendError",
    "UnknownPluginError",
    "UsageError",
    "ValidationError",
    "ZionConfig",
    "ZionError",
    "ZionNode",
    "__version__",
    "build_node",
    "discover",
    "load_plugins",
    "mining_allowed",
    "node_sync_status",
]
