"""``zion-plugin-hello``: the model third-party ZION plugin.

It is published under the ``zion.plugins`` entry-point group as ``hello``, and
implements a handful of hooks, each a module-level function marked with
:data:`zion_hookspecs.hookimpl`:

- :func:`zion_register_config`: the ``[hello]`` section (:class:`HelloConfig`)
- :func:`zion_register_services`: a service that logs the greeting periodically
- :func:`zion_register_commands`: ``zion hello [NAME] [--shout]``
- :func:`zion_register_status_panels`: a ``hello`` status panel
- :func:`zion_diagnose`: the plugin's version for ``zion diagnose``

It imports only ``zion_hookspecs``, the standard library and its own dependencies,
never the kernel (``zion_core``).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from zion_hookspecs import hookimpl

from .cli import hello
from .config import HelloConfig
from .service import HelloPanel, HelloService

if TYPE_CHECKING:
    import typer
    from zion_hookspecs import (
        DiagnosticsReport,
        Node,
        Register,
        RegisterConfigSection,
        Service,
        StatusPanel,
    )

try:
    __version__ = version("zion-plugin-hello")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

SECTION = "hello"


@hookimpl
def zion_register_config(register: RegisterConfigSection) -> None:
    register(SECTION, HelloConfig)


@hookimpl
def zion_register_services(register: Register[Service], node: Node) -> None:
    config: HelloConfig = node.config_section(SECTION)
    register(HelloService(config))


@hookimpl
def zion_register_status_panels(register: Register[StatusPanel], node: Node) -> None:
    # Services are registered before status panels, so the service exists by now.
    service: HelloService = node.registry("service").get(HelloService.name)
    register(HelloPanel(service))


@hookimpl
def zion_register_commands(cli: typer.Typer) -> None:
    cli.command("hello")(hello)


@hookimpl
def zion_diagnose(report: DiagnosticsReport) -> None:
    report.add("version", __version__)


__all__ = [
    "HelloConfig",
    "HelloPanel",
    "HelloService",
    "__version__",
    "zion_diagnose",
    "zion_register_commands",
    "zion_register_config",
    "zion_register_services",
    "zion_register_status_panels",
]
