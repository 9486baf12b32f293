"""Assemble a node the way ``zion run`` does: select, load, configure, register."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from .config import (
    ConfigSources,
    PluginsConfig,
    RawConfig,
    ZionConfig,
    build_config,
    load_raw,
    structure_section,
)
from .node import ZionNode, collect_config_sections
from .plugins import ESSENTIAL_PLUGINS, PluginEntry, PluginHost, PluginSelection, discover


def plugin_selection(
    raw: RawConfig,
    *,
    cli_enabled: Iterable[str] = (),
    cli_blocked: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> PluginSelection:
    """Merge ``[plugins]`` of the configuration, the environment and the CLI."""
    plugins: PluginsConfig = structure_section(
        "plugins", PluginsConfig, raw.values.get("plugins", {}), raw
    )
    return PluginSelection.from_sources(
        cli_enabled=cli_enabled,
        cli_blocked=cli_blocked,
        config_enabled=plugins.enabled,
        config_blocked=plugins.disabled,
        environ=dict(environ) if environ is not None else None,
    )


@attrs.frozen
class LoadedPlugins:
    """A plugin host with the selected plugins registered, and the raw configuration."""

    host: PluginHost
    raw: RawConfig
    sources: ConfigSources
    inactive: tuple[str, ...]

    def config(self) -> ZionConfig:
        """The effective configuration (no hook besides ``zion_register_config`` runs)."""
        sections = collect_config_sections(self.host)
        return build_config(
            self.raw, sections, environ=self.sources.environ, inactive_hint=self.inactive
        )

    def build_node(self) -> ZionNode:
        """Configure the plugins and fill the registries: a node ready to serve."""
        return ZionNode.build(
            self.host, self.raw, environ=self.sources.environ, inactive_plugins=list(self.inactive)
        )


def load_plugins(
    sources: ConfigSources,
    *,
    plugins: Iterable[str] = (),
    blocked: Iterable[str] = (),
    extra_plugins: Sequence[tuple[str, Any]] = (),
    path: Sequence[str] | None = None,
    essential: Sequence[str] = ESSENTIAL_PLUGINS,
    discovered: dict[str, PluginEntry] | None = None,
) -> LoadedPlugins:
    """Read the configuration layers, select the plugins and load them.

    ``plugins``/``blocked`` are the CLI's ``--plugin``/``--no-plugin``; ``extra_plugins``
    are ``(name, object)`` pairs registered in-process (tests, embedding); ``path``
    restricts entry-point discovery to those directories.
    """
    raw = load_raw(sources)
    selection = plugin_selection(
        raw, cli_enabled=plugins, cli_blocked=blocked, environ=sources.environ
    )
    if discovered is None:
        discovered = discover(path)
    entries = selection.resolve(discovered, essential)
    host = PluginHost()
    host.register_builtins()
    for name, obj in extra_plugins:
        host.register(obj, name=name)
    host.load(entries)
    host.load_needed(discovered, selection.blocked)
    loaded = set(host.plugin_names())
    inactive = tuple(name for name in discovered if name not in loaded)
    return LoadedPlugins(host=host, raw=raw, sources=sources, inactive=inactive)


def build_node(sources: ConfigSources, **kwargs: Any) -> ZionNode:
    """:func:`load_plugins` then :meth:`LoadedPlugins.build_node`."""
    return load_plugins(sources, **kwargs).build_node()
