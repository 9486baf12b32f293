"""The node: the composition root that turns loaded plugins and configuration into a
running set of services.

Build order: config sections (``zion_register_config``), the effective configuration,
``zion_configure``, the registries (backends, then services, sync sources, RPC methods,
HTTP routes, panels, metrics), then :meth:`ZionNode.serve` runs the services;
``zion_unconfigure`` follows.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import TaskStatus
from anyio.from_thread import BlockingPortal

from zion_hookspecs import events as event_specs

from .config import (
    CORE_SECTIONS,
    RawConfig,
    ZionConfig,
    build_config,
    validate_section_name,
)
from .errors import DataDirLockedError, PluginConflictError, ZionError
from .plugins import PluginHost
from .registry import Registry
from .runtime import Runtime

logger = logging.getLogger(__name__)


def _rpc_aliases(method: Any) -> tuple[str, ...]:
    return tuple(getattr(method, "aliases", ()))


# kind: (hook, attributes every registered object must have, config key selecting it)
REGISTRIES: dict[str, tuple[str, tuple[str, ...], str | None]] = {
    "consensus": ("zion_register_consensus", ("networks",), "backends.consensus"),
    "hasher": (
        "zion_register_hashers",
        ("capabilities", "set_key", "hash", "hash_batch", "search", "close"),
        "backends.hasher",
    ),
    "storage": ("zion_register_storages", ("open",), "backends.storage"),
    "transport": ("zion_register_transports", ("connect", "listen"), "backends.transport"),
    "pool_policy": ("zion_register_pool_policies", ("split_reward",), "backends.pool_policy"),
    # selected by the pool plugin's own configuration ([stratum] vardiff_policy...)
    "vardiff_policy": (
        "zion_register_vardiff_policies",
        ("new_state", "on_share", "on_idle"),
        None,
    ),
    "ban_policy": (
        "zion_register_ban_policies",
        ("admit", "fault", "accepted", "banned_count"),
        None,
    ),
    "share_verification_policy": (
        "zion_register_share_verification_policies",
        ("should_verify", "record"),
        None,
    ),
    "bridge": ("zion_register_bridges", ("chain", "status"), None),
    "service": ("zion_register_services", ("run",), None),
    # after the services: a plugin registers its service as the source
    "sync_source": ("zion_register_sync_sources", ("sync_status",), None),
    "rpc_method": ("zion_register_rpc_methods", ("handler",), None),
    "http_route": ("zion_register_http_routes", ("path", "endpoint", "methods"), None),
    "status_panel": ("zion_register_status_panels", ("title", "snapshot"), None),
    "metrics": ("zion_register_metrics", ("collect",), None),
}

EVENTS: frozenset[str] = frozenset(
    name.removeprefix("zion_") for name in dir(event_specs) if name.startswith("zion_")
)


def collect_config_sections(host: PluginHost) -> dict[str, type[Any]]:
    """Ask every loaded plugin for its config sections; a name claimed twice is an error."""
    sections: dict[str, type[Any]] = {}
    owners: dict[str, str] = {}

    def kwargs_for(plugin: str) -> dict[str, Any]:
        def register(section: str, cls: type[Any], /) -> None:
            validate_section_name(section)
            if section in sections:
                raise PluginConflictError(
                    f"config section [{section}] is registered by both plugin "
                    f"{owners[section]!r} and plugin {plugin!r}"
                )
            sections[section] = cls
            owners[section] = plugin

        return {"register": register}

    for _ in host.call_each("zion_register_config", kwargs_for):
        pass
    missing = [name for name in CORE_SECTIONS if name not in sections]
    if missing:  # the core plugin was not registered: the kernel cannot work without it
        raise ZionError(f"core config sections missing: {', '.join(missing)}")
    return sections


class ZionNode:
    """The kernel's implementation of :class:`zion_hookspecs.Node`."""

    def __init__(self, host: PluginHost, config: ZionConfig) -> None:
        self.host = host
        self.config = config
        self.started_at = time.time()
        self.registries: dict[str, Registry[Any]] = {
            kind: Registry(
                kind.replace("_", " "),
                required=required,
                config_key=key,
                extra_keys=_rpc_aliases if kind == "rpc_method" else None,
            )
            for kind, (_, required, key) in REGISTRIES.items()
        }
        self._runtime: Runtime | None = None
        self._pending_shutdown: str | None = None
        self._portal: BlockingPortal | None = None
        self._loop_thread: int | None = None
        self._listeners = 0

    # -- construction ---------------------------------------------------------------

    @classmethod
    def build(
        cls,
        host: PluginHost,
        raw: RawConfig,
        *,
        environ: Mapping[str, str] | None = None,
        inactive_plugins: list[str] | None = None,
    ) -> ZionNode:
        """Configure and assemble a node from a host whose plugins are registered."""
        sections = collect_config_sections(host)
        config = build_config(raw, sections, environ=environ, inactive_hint=inactive_plugins or ())
        node = cls(host, config)
        host.pm.hook.zion_configure.call_historic(kwargs={"node": node})
        node._collect()
        return node

    def _collect(self) -> None:
        for kind, (hook, _, _) in REGISTRIES.items():
            registry = self.registries[kind]

            def kwargs_for(plugin: str, registry: Registry[Any] = registry) -> dict[str, Any]:
                return {"register": registry.bind(plugin), "node": self}

            for _ in self.host.call_each(hook, kwargs_for):
                pass
        # A backend named in [backends] must exist now, not when first used.
        for kind, (_, _, key) in REGISTRIES.items():
            if key is not None and key.startswith("backends."):
                wanted = getattr(self.config.backends, key.removeprefix("backends."))
                if wanted is not None:
                    self.registries[kind].get(wanted)

    # -- the Node protocol ------------------------------------------------------------

    @property
    def network(self) -> str:
        return self.config.node.network

    @property
    def data_dir(self) -> Path:
        return self.config.data_dir

    def config_section(self, section: str) -> Any:
        return self.config.section(section)

    def registry(self, kind: str) -> Registry[Any]:
        try:
            return self.registries[kind]
        except KeyError:
            raise ValueError(
                f"no registry {kind!r}; known: {', '.join(sorted(self.registries))}"
            ) from None

    def emit(self, event: str, /, **kwargs: Any) -> None:
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}; known: {', '.join(sorted(EVENTS))}")
        spec = getattr(self.host.pm.hook, f"zion_{event}").spec
        expected = set(spec.argnames)
        if set(kwargs) != expected:
            raise TypeError(
                f"event {event!r} takes {', '.join(sorted(expected))}; "
                f"got {', '.join(sorted(kwargs))}"
            )
        portal = self._portal
        if portal is not None and threading.get_ident() != self._loop_thread:
            try:  # from a worker thread: hand the event to the event loop, in order
                portal.start_task_soon(self._dispatch, event, kwargs)
                return
            except RuntimeError:  # the node is stopping: deliver it here
                pass
        self._dispatch(event, kwargs)

    def _dispatch(self, event: str, kwargs: dict[str, Any]) -> None:
        self.host.call_isolated(f"zion_{event}", **kwargs)

    def subscribe(self, listener: object, *, name: str) -> Callable[[], None]:
        if not name:
            raise ValueError("a listener needs a name (it appears in logs and traces)")
        hooks = [
            attr
            for attr in dir(listener)
            if attr.startswith("zion_")
            and self.host.pm.parse_hookimpl_opts(listener, attr) is not None
        ]
        unknown = [hook for hook in hooks if hook.removeprefix("zion_") not in EVENTS]
        if unknown:
            raise ValueError(
                f"listener {name!r} implements {', '.join(unknown)}, which are not event "
                f"hooks; events: {', '.join(sorted(EVENTS))}"
            )
        if not hooks:
            raise ValueError(f"listener {name!r} implements no event hook (zion_<event>)")
        self._listeners += 1
        self.host.pm.register(listener, name=f"listener:{name}:{self._listeners}")

        def unsubscribe() -> None:
            if self.host.pm.is_registered(listener):
                self.host.pm.unregister(listener)

        return unsubscribe

    def request_shutdown(self, reason: str) -> None:
        if self._runtime is not None:
            self._runtime.request_shutdown(reason)
        else:
            self._pending_shutdown = reason

    # -- running ------------------------------------------------------------------------

    @property
    def services(self) -> list[tuple[str, Any]]:
        registry = self.registries["service"]
        return [(registry.owner(name), svc) for name, svc in registry.items()]

    def plugin_names(self) -> list[str]:
        return self.host.plugin_names()

    async def serve(
        self,
        *,
        handle_signals: bool = False,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> int:
        """Run the services until shutdown; returns the exit status (0 or 1)."""
        rt = self.config.runtime
        self._runtime = Runtime(
            self.services,
            startup_timeout=rt.startup_timeout,
            drain_timeout=rt.drain_timeout,
            cleanup_timeout=rt.cleanup_timeout,
            handle_signals=handle_signals,
        )
        if self._pending_shutdown:
            self._runtime.request_shutdown(self._pending_shutdown)
        logger.info(
            "ZION %s node starting: data dir %s, plugins: %s",
            self.network,
            self.data_dir,
            ", ".join(self.plugin_names()),
        )
        try:
            status, error = 1, None
            async with BlockingPortal() as portal:
                self._portal, self._loop_thread = portal, threading.get_ident()
                try:
                    status = await self._runtime.run(task_status=task_status)
                except Exception as exc:  # raised as is, not grouped by the portal
                    error = exc
                finally:
                    self._portal = self._loop_thread = None
            if error is not None:
                raise error
            return status
        finally:
            self.host.call_isolated("zion_unconfigure", node=self)

    def run(self) -> int:
        """Lock the data directory and serve with signal handling (the ``zion run`` path)."""
        with DataDirLock(self.data_dir):
            return anyio.run(
                lambda: self.serve(handle_signals=True),
                backend=self.config.runtime.async_backend,
            )


class DataDirLock:
    """An exclusive advisory lock on ``<data dir>/zion.lock`` held while a node runs."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / "zion.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise ZionError(
                f"cannot create data directory {self.data_dir}: {exc.strerror}"
            ) from None
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EACCES):
                raise DataDirLockedError(
                    f"data directory {self.data_dir} is in use by another ZION process "
                    f"(pid {holder}); stop it or choose another --data-dir"
                ) from None
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DataDirLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
