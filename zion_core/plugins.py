"""Plugin discovery, selection and loading.

Plugins are published under the ``zion.plugins`` entry-point group; the entry-point name
is the plugin's user-facing name. Discovery reads distribution metadata only and imports
nothing. A node loads exactly the plugins it is asked for, plus :data:`ESSENTIAL_PLUGINS`;
listing and diagnostics import every installed plugin, each in isolation, so one broken
plugin never takes the others down.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from importlib.metadata import Distribution, EntryPoint, distributions
from typing import Any

import attrs
import pluggy
from pluggy import HookImpl

from zion_hookspecs import ENTRY_POINT_GROUP, PROJECT_NAME, SPEC_MODULES

from .errors import PluginConflictError, PluginLoadError, UnknownPluginError, UsageError

logger = logging.getLogger(__name__)
trace_logger = logging.getLogger("zion.trace")

ESSENTIAL_PLUGINS: tuple[str, ...] = ("consensus",)
"""Plugins every node loads and that cannot be blocked: the chain rules."""

DEFAULT_PROVIDERS: Mapping[str, tuple[str, str]] = {
    "storage": ("zion_register_storages", "sqlite"),
    "hasher": ("zion_register_hashers", "randomx"),
}
"""For each backend kind a plugin may need (``ZION_NEEDS``): the hook that provides it
and the plugin loaded when no loaded plugin implements that hook."""

RESERVED_NAMES: tuple[str, ...] = (
    "consensus",
    "sqlite",
    "lmdb",
    "randomx",
    "randomx-gpu",
    "jsonrpc",
    "stratum",
    "p2p",
    "wallet",
    "metrics",
    "dashboard",
    "orchestrator",
    "solana-bridge",
    "stellar-bridge",
    "cardano-bridge",
    "tron-bridge",
)
"""Plugin names kept for ZION's own distributions (``zion-plugin-<name>``)."""

BUILTIN_PLUGINS: dict[str, str] = {"core": "zion_core.builtin"}
"""The kernel's own hook implementations (name: module), registered like any plugin."""


def normalize_dist_name(name: str) -> str:
    """PEP 503 normalisation (``Zion_Plugin.Hello`` and ``zion-plugin-hello`` are one name)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@attrs.frozen
class PluginEntry:
    """One discovered plugin: an entry point of the ``zion.plugins`` group."""

    name: str
    value: str
    distribution: str
    version: str
    entry_point: EntryPoint = attrs.field(eq=False, repr=False)
    problem: str | None = None
    """Why the plugin cannot be used even if it imports (a name conflict)."""

    @property
    def reserved(self) -> bool:
        return self.name in RESERVED_NAMES

    @property
    def essential(self) -> bool:
        return self.name in ESSENTIAL_PLUGINS

    def describe(self) -> str:
        return (
            f"plugin {self.name!r} (entry point '{self.name} = {self.value}' "
            f"of distribution {self.distribution} {self.version})"
        )


def discover(path: Sequence[str] | None = None) -> dict[str, PluginEntry]:
    """Find every plugin published in the installed distributions, without importing any.

    ``path`` restricts the search to those directories (default: ``sys.path``). A
    distribution found twice on the path counts once (the first wins, as for imports).
    A name published by two distributions, or a reserved name published by a
    distribution other than ``zion-plugin-<name>``, is returned with a ``problem``.
    """
    seen: set[str] = set()
    found: dict[str, list[PluginEntry]] = {}
    dists: Iterable[Distribution] = (
        distributions(path=list(path)) if path is not None else distributions()
    )
    for dist in dists:
        raw_name = dist.metadata["Name"] if dist.metadata else None
        if not raw_name:
            continue
        dist_name = normalize_dist_name(raw_name)
        if dist_name in seen:
            continue
        seen.add(dist_name)
        for ep in dist.entry_points:
            if ep.group != ENTRY_POINT_GROUP:
                continue
            entry = PluginEntry(
                name=ep.name,
                value=ep.value,
                distribution=raw_name,
                version=dist.version,
                entry_point=ep,
            )
            found.setdefault(ep.name, []).append(entry)

    result: dict[str, PluginEntry] = {}
    for name, entries in sorted(found.items()):
        entry = entries[0]
        if len(entries) > 1:
            owners = " and ".join(f"{e.distribution} {e.version}" for e in entries)
            entry = attrs.evolve(
                entry, problem=f"the plugin name {name!r} is published by both {owners}"
            )
        elif name in RESERVED_NAMES and normalize_dist_name(entry.distribution) != (
            f"zion-plugin-{name}"
        ):
            entry = attrs.evolve(
                entry,
                problem=(
                    f"the plugin name {name!r} is reserved for the distribution "
                    f"zion-plugin-{name}, but {entry.distribution} publishes it"
                ),
            )
        result[name] = entry
    return result


@attrs.frozen
class PluginSelection:
    """Which plugins a node should load: requested names minus blocked ones."""

    requested: tuple[str, ...] = ()
    blocked: frozenset[str] = frozenset()

    @classmethod
    def from_sources(
        cls,
        *,
        cli_enabled: Iterable[str] = (),
        cli_blocked: Iterable[str] = (),
        config_enabled: Iterable[str] = (),
        config_blocked: Iterable[str] = (),
        environ: os._Environ[str] | dict[str, str] | None = None,
    ) -> PluginSelection:
        """Merge the config file, ``ZION_PLUGINS`` / ``ZION_DISABLED_PLUGINS`` and the CLI."""
        env = os.environ if environ is None else environ
        requested: list[str] = []
        for name in [
            *config_enabled,
            *split_names(env.get("ZION_PLUGINS", "")),
            *cli_enabled,
        ]:
            if name not in requested:
                requested.append(name)
        blocked = frozenset(
            [*config_blocked, *split_names(env.get("ZION_DISABLED_PLUGINS", "")), *cli_blocked]
        )
        return cls(requested=tuple(requested), blocked=blocked)

    def resolve(
        self, discovered: dict[str, PluginEntry], essential: Sequence[str] = ESSENTIAL_PLUGINS
    ) -> list[PluginEntry]:
        """The entries to load, in order: essential plugins, then the requested ones.

        Raises :class:`UsageError` for an attempt to block an essential plugin and
        :class:`UnknownPluginError` for requested names nobody publishes.
        """
        for name in sorted(self.blocked):
            if name in essential:
                raise UsageError(f"plugin {name!r} is essential and cannot be blocked")
        unknown = [n for n in self.requested if n not in discovered and n not in self.blocked]
        if unknown:
            raise UnknownPluginError(unknown, sorted(discovered))
        missing = [n for n in essential if n not in discovered]
        if missing:
            raise PluginLoadError(
                "essential plugin(s) not installed: "
                + ", ".join(f"{n} (install zion-plugin-{n})" for n in missing)
            )
        order: list[str] = []
        for name in [*essential, *self.requested]:
            if name not in order and name not in self.blocked:
                order.append(name)
        return [discovered[name] for name in order]


def split_names(value: str) -> list[str]:
    """Plugin names from an environment variable: separated by commas and/or spaces."""
    return [part for part in re.split(r"[\s,]+", value) if part]


def new_plugin_manager() -> pluggy.PluginManager:
    """A pluggy manager that knows every ZION hook specification."""
    pm = pluggy.PluginManager(PROJECT_NAME)
    for module in SPEC_MODULES:
        pm.add_hookspecs(module)
    return pm


def import_entry(entry: PluginEntry) -> Any:
    """Import the object an entry point names; errors name the distribution and entry point."""
    if entry.problem:
        raise PluginConflictError(f"{entry.describe()}: {entry.problem}")
    try:
        return entry.entry_point.load()
    except Exception as exc:
        raise PluginLoadError(
            f"{entry.describe()} failed to import: {type(exc).__name__}: {exc}"
        ) from exc


class PluginHost:
    """The kernel's typed facade over pluggy: loads plugins and calls their hooks."""

    def __init__(self) -> None:
        self.pm = new_plugin_manager()
        self.entries: dict[str, PluginEntry] = {}
        self._undo_tracing: Callable[[], None] | None = None
        if os.environ.get("ZION_TRACE_PLUGINS"):
            self.enable_tracing()

    # -- registration ---------------------------------------------------------------

    def register_builtins(self) -> None:
        import importlib

        for name, module_name in BUILTIN_PLUGINS.items():
            self.register(importlib.import_module(module_name), name=name)

    def register(self, plugin: object, *, name: str, entry: PluginEntry | None = None) -> None:
        """Register one plugin object under ``name``, validating it against the specs."""
        try:
            self.pm.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            what = entry.describe() if entry else f"plugin {name!r}"
            raise PluginLoadError(f"{what} does not match the hook specifications: {exc}") from exc
        except ValueError as exc:
            raise PluginConflictError(f"plugin {name!r} is already registered: {exc}") from exc
        if entry is not None:
            self.entries[name] = entry

    def load(self, entries: Iterable[PluginEntry]) -> None:
        """Import and register ``entries`` in order, then check every impl has a spec."""
        for entry in entries:
            plugin = import_entry(entry)
            self.register(plugin, name=entry.name, entry=entry)
            logger.debug("loaded %s", entry.describe())
        self.check_pending()

    def load_needed(
        self, discovered: Mapping[str, PluginEntry], blocked: Iterable[str] = ()
    ) -> list[str]:
        """Load the default provider of each backend kind that a loaded plugin needs.

        A plugin module lists the kinds it cannot work without in ``ZION_NEEDS`` (for
        example ``("storage", "hasher")`` for a plugin that serves the chain). When no
        loaded plugin provides a needed kind, its default provider
        (:data:`DEFAULT_PROVIDERS`) is loaded, unless blocked or not installed: then a
        :class:`PluginLoadError` says what to install or load. Returns the names loaded.
        """
        blocked = set(blocked)
        added: list[str] = []
        pending = True
        while pending:
            pending = False
            for name, plugin in list(self.pm.list_name_plugin()):
                for kind in getattr(plugin, "ZION_NEEDS", ()):
                    if kind not in DEFAULT_PROVIDERS:
                        raise PluginLoadError(
                            f"plugin {name!r} needs {kind!r}, which is not a backend kind; "
                            f"known: {', '.join(sorted(DEFAULT_PROVIDERS))}"
                        )
                    hook, provider = DEFAULT_PROVIDERS[kind]
                    if getattr(self.pm.hook, hook).get_hookimpls():
                        continue
                    if provider in blocked or provider not in discovered:
                        why = "is blocked" if provider in blocked else "is not installed"
                        raise PluginLoadError(
                            f"plugin {name!r} needs a {kind} backend and none is loaded; "
                            f"the default, plugin {provider!r}, {why} "
                            f"(install zion-plugin-{provider} or load another {kind} plugin "
                            "with --plugin)"
                        )
                    logger.info(
                        "loading plugin %r: plugin %r needs a %s backend", provider, name, kind
                    )
                    self.load([discovered[provider]])
                    added.append(provider)
                    pending = True
        return added

    def check_pending(self) -> None:
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            name = self.pm.get_name(exc.plugin) or "?"
            entry = self.entries.get(name)
            what = entry.describe() if entry else f"plugin {name!r}"
            raise PluginLoadError(f"{what} implements an unknown hook: {exc}") from exc

    def plugin_names(self) -> list[str]:
        """Registered plugin names in registration order (event listeners that services
        subscribed with ``Node.subscribe`` are not plugins and are left out)."""
        return [name for name, _ in self.pm.list_name_plugin() if not name.startswith("listener:")]

    # -- calling --------------------------------------------------------------------

    def call_each(
        self,
        hook_name: str,
        kwargs_for: Callable[[str], dict[str, Any]],
        *,
        on_error: Callable[[str, Exception], None] | None = None,
    ) -> Iterator[tuple[str, Any]]:
        """Call ``hook_name`` one implementation at a time, in registration order.

        ``tryfirst``/``trylast`` are honoured; wrappers are not applied (registration and
        event hooks are called plugin by plugin, so that each gets its own arguments and
        one plugin's failure can be attributed to it).

        ``kwargs_for(plugin_name)`` builds the arguments for that plugin, so registration
        hooks can hand each plugin a ``register`` bound to its name. Yields
        ``(plugin_name, result)``. An exception propagates, annotated with the plugin,
        unless ``on_error`` is given: then it receives the failure and the call goes on
        with the next plugin.
        """
        for impl in self.ordered_impls(hook_name):
            kwargs = kwargs_for(impl.plugin_name)
            if trace_logger.isEnabledFor(logging.DEBUG):
                trace_logger.debug("%s -> %s", hook_name, impl.plugin_name)
            try:
                result = impl.function(*(kwargs[arg] for arg in impl.argnames))
            except Exception as exc:
                if on_error is None:
                    exc.add_note(f"(in plugin {impl.plugin_name!r}, hook {hook_name})")
                    raise
                on_error(impl.plugin_name, exc)
                continue
            yield impl.plugin_name, result

    def ordered_impls(self, hook_name: str) -> list[Any]:
        """Non-wrapper implementations: ``tryfirst`` ones, then the rest in registration
        order, then ``trylast`` ones."""
        impls = [
            impl
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls()
            if not (impl.hookwrapper or impl.wrapper)
        ]
        first = [impl for impl in impls if impl.tryfirst]
        last = [impl for impl in impls if impl.trylast][::-1]  # pluggy keeps these reversed
        middle = [impl for impl in impls if not (impl.tryfirst or impl.trylast)]
        return first + middle + last

    def call_isolated(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Exception]]:
        """Call every implementation; log and collect failures instead of stopping."""
        failures: list[tuple[str, Exception]] = []

        def on_error(plugin: str, exc: Exception) -> None:
            logger.error(
                "plugin %r failed in %s: %s: %s",
                plugin,
                hook_name,
                type(exc).__name__,
                exc,
                exc_info=exc,
            )
            failures.append((plugin, exc))

        for _ in self.call_each(hook_name, lambda _plugin: kwargs, on_error=on_error):
            pass
        return failures

    def enable_tracing(self) -> None:
        """Log every hook call and result to the ``zion.trace`` logger (``ZION_TRACE_PLUGINS``)."""

        def before(hook_name: str, impls: Sequence[HookImpl], kwargs: Mapping[str, Any]) -> None:
            names = [impl.plugin_name for impl in impls]
            trace_logger.info("call %s(%s) -> %s", hook_name, ", ".join(kwargs), names)

        def after(
            outcome: Any, hook_name: str, impls: Sequence[HookImpl], kwargs: Mapping[str, Any]
        ) -> None:
            trace_logger.info("done %s: %r", hook_name, outcome.exception or "ok")

        trace_logger.setLevel(logging.DEBUG)
        self._undo_tracing = self.pm.add_hookcall_monitoring(before, after)


# ------------------------------------------------------------------------------ listing


@attrs.frozen
class PluginReport:
    """What ``zion plugins`` shows about one discovered plugin."""

    name: str
    distribution: str
    version: str
    module: str
    status: str
    hooks: tuple[str, ...] = ()
    error: str | None = None
    essential: bool = False
    reserved: bool = False


def inspect_plugin(entry: PluginEntry) -> tuple[PluginReport, object | None]:
    """Import one plugin into a scratch manager and report its hooks, or why it is broken."""
    base = dict(
        name=entry.name,
        distribution=entry.distribution,
        version=entry.version,
        module=entry.value,
        essential=entry.essential,
        reserved=entry.reserved,
    )
    try:
        plugin = import_entry(entry)
        pm = new_plugin_manager()
        try:
            pm.register(plugin, name=entry.name)
            pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginLoadError(
                f"{entry.describe()} does not match the hook specifications: {exc}"
            ) from exc
        hooks = tuple(sorted(caller.name for caller in pm.get_hookcallers(plugin) or []))
    except Exception as exc:  # a broken plugin is reported, never fatal
        return PluginReport(**base, status="broken", error=str(exc)), None  # type: ignore[arg-type]
    return PluginReport(**base, status="ok", hooks=hooks), plugin  # type: ignore[arg-type]


def inspect_all(
    discovered: dict[str, PluginEntry],
) -> list[tuple[PluginReport, object | None]]:
    return [inspect_plugin(entry) for entry in discovered.values()]
