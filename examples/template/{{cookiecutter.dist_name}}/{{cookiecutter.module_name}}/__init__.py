"""{{ cookiecutter.description }}.

The ZION plugin ``{{ cookiecutter.plugin_name }}``. It adds:

- the ``[{{ cookiecutter.__section }}]`` config section;
- the ``zion {{ cookiecutter.plugin_name }}`` command.

Every hook is a module-level function marked ``@hookimpl``. Import ``zion_hookspecs``,
never the kernel (``zion_core``).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Annotated

import typer
from zion_hookspecs import hookimpl

if TYPE_CHECKING:
    from zion_hookspecs import RegisterConfigSection

try:
    __version__ = version("{{ cookiecutter.dist_name }}")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

SECTION = "{{ cookiecutter.__section }}"


@dataclass(frozen=True)
class {{ cookiecutter.__class_prefix }}Config:
    """``[{{ cookiecutter.__section }}]``: every field needs a default.

    Set from the config file, ``ZION_{{ cookiecutter.__section | upper }}__<KEY>`` or
    ``--set {{ cookiecutter.__section }}.<key>=<value>``; read it in other hooks with
    ``node.config_section(SECTION)``.
    """

    message: str = "Hello from {{ cookiecutter.dist_name }}"


@hookimpl
def zion_register_config(register: RegisterConfigSection) -> None:
    register(SECTION, {{ cookiecutter.__class_prefix }}Config)


def command(
    shout: Annotated[bool, typer.Option("--shout", help="Print in capitals.")] = False,
) -> None:
    """Print the plugin's message."""
    message = {{ cookiecutter.__class_prefix }}Config().message
    typer.echo(message.upper() if shout else message)


@hookimpl
def zion_register_commands(cli: typer.Typer) -> None:
    cli.command("{{ cookiecutter.plugin_name }}")(command)
