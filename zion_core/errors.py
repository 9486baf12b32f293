"""The kernel's exception hierarchy: one root, one class per kind of failure."""

from __future__ import annotations


class ZionError(Exception):
    """Root of every error ZION raises on purpose."""

    exit_code = 1


class UsageError(ZionError):
    """The command line, the configuration or the environment asked for something invalid."""

    exit_code = 2


class ConfigError(UsageError):
    """A configuration value is unknown or invalid; the message names the key and its source."""


class PluginError(ZionError):
    """A plugin could not be found, loaded or used."""


class UnknownPluginError(PluginError, UsageError):
    """A plugin name was requested that no installed distribution provides."""

    exit_code = 2

    def __init__(self, names: list[str], available: list[str]) -> None:
        self.names = names
        self.available = available
        listing = ", ".join(available) if available else "(none installed)"
        what = "plugin" if len(names) == 1 else "plugins"
        super().__init__(
            f"unknown {what} {', '.join(repr(n) for n in names)}; available plugins: {listing}"
        )


class PluginLoadError(PluginError):
    """A requested plugin failed to import or does not match the hook specifications."""


class PluginConflictError(PluginError):
    """Two plugins claim the same name (an entry point, a backend, a command...)."""


class RegistryError(ZionError):
    """A registry lookup failed (no such backend, or an ambiguous selection)."""


class UnknownBackendError(RegistryError, UsageError):
    """Configuration names a backend that no loaded plugin registered."""

    exit_code = 2


class ServiceError(ZionError):
    """A service failed to start or stopped with an error."""


class DataDirLockedError(ZionError):
    """Another process is using the data directory."""


__all__ = [
    "ConfigError",
    "DataDirLockedError",
    "PluginConflictError",
    "PluginError",
    "PluginLoadError",
    "RegistryError",
    "ServiceError",
    "UnknownBackendError",
    "UnknownPluginError",
    "UsageError",
    "ZionError",
]


class SerializationError(ZionError, ValueError):
    """Bytes that do not decode: truncated, oversized, non-canonical or trailing data."""


class OutOfDataError(SerializationError):
    """The input ended before the value being read was complete."""


class TooLongError(SerializationError):
    """A length, count or value exceeds its limit (checked before allocating)."""


class NonCanonicalError(SerializationError):
    """A value is encoded in more bytes than needed (e.g. a varint with a trailing 0x80)."""


class TrailingDataError(SerializationError):
    """Bytes are left over after the value was decoded."""


class ValidationError(ZionError):
    """A block or transaction breaks a rule; each rule has its own subclass."""
