"""Lifecycle hooks: configuration, services, commands, RPC methods, HTTP routes, panels,
metrics.

Call order for ``zion run``: :func:`zion_register_config`, :func:`zion_configure`, every
``zion_register_*`` hook (backends first, then services, RPC methods, HTTP routes, status
panels, metrics), the services run, and :func:`zion_unconfigure` once they have stopped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._markers import hookspec

if TYPE_CHECKING:
    import typer

    from .types import (
        DiagnosticsReport,
        HttpRoute,
        MetricsSource,
        Node,
        Register,
        RegisterConfigSection,
        RpcMethod,
        Service,
        StatusPanel,
    )


@hookspec
def zion_register_config(register: RegisterConfigSection) -> None:
    """Declare configuration sections.

    Call ``register("hello", HelloConfig)`` with an attrs class (or dataclass) whose
    fields all have defaults. The ``[hello]`` table of the config file,
    ``ZION_HELLO__<KEY>`` environment variables and ``--set hello.<key>=<value>`` fill
    it; unknown keys and bad values are reported with the key's full name. Read the
    result with ``node.config_section("hello")``.
    """


@hookspec(historic=True)
def zion_configure(node: Node) -> None:
    """Called once the configuration is final, before anything is registered.

    Historic: a plugin registered later still receives the call. Keep it cheap (no IO
    that can block for long); start work in a service instead.
    """


@hookspec
def zion_unconfigure(node: Node) -> None:
    """Called after every service has stopped, as the node shuts down."""


@hookspec
def zion_register_services(register: Register[Service], node: Node) -> None:
    """Register :class:`~zion_hookspecs.Service` objects for the runtime to start.

    Services start in registration order (within a plugin) and plugin load order, each
    awaiting its ``task_status.started()`` before the next one starts, and stop in
    reverse order.
    """


@hookspec
def zion_register_commands(cli: typer.Typer) -> None:
    """Add subcommands to the ``zion`` command line.

    ``cli`` is a :class:`typer.Typer` of the calling plugin's own; use ``@cli.command()``
    or ``cli.add_typer(sub, name="...")``. Its commands are added to the root command
    line; a name that the kernel or another plugin already uses is skipped with a
    warning naming both. Commands are collected from every installed plugin (not only
    those a node loads) when the command asked for is not a built-in one. Import heavy
    modules inside the command function, not at import time, so ``zion --help`` stays
    fast.
    """


@hookspec
def zion_register_rpc_methods(register: Register[RpcMethod], node: Node) -> None:
    """Register JSON-RPC methods (:class:`~zion_hookspecs.RpcMethod`) with the node API."""


@hookspec
def zion_register_http_routes(register: Register[HttpRoute], node: Node) -> None:
    """Register HTTP endpoints (:class:`~zion_hookspecs.HttpRoute`) on the node's HTTP server.

    The ``jsonrpc`` plugin serves them next to ``/json_rpc``, behind the same rate limits
    and CORS settings; without it nothing serves them. A path ending with ``/`` mounts an
    ASGI application at that prefix (static files).
    """


@hookspec
def zion_register_status_panels(register: Register[StatusPanel], node: Node) -> None:
    """Register panels (:class:`~zion_hookspecs.StatusPanel`) for the node's status views."""


@hookspec
def zion_register_metrics(register: Register[MetricsSource], node: Node) -> None:
    """Register metric sources (:class:`~zion_hookspecs.MetricsSource`), read on every scrape.

    ``collect()`` yields :class:`~zion_hookspecs.MetricSample` (counters, gauges) and
    :class:`~zion_hookspecs.HistogramSample` values; the ``metrics`` plugin exports them
    in the Prometheus text format at ``/metrics``.
    """


@hookspec
def zion_diagnose(report: DiagnosticsReport) -> None:
    """Add lines to ``zion diagnose``: library versions, CPU features, paths.

    Called for every installed plugin that imports, enabled or not, so it must not
    need a running node.
    """
