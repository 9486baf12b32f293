"""Options shared by the commands that assemble a node (``run``, ``config show``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..config import ConfigSources, Network

NetworkOpt = Annotated[
    Optional[Network],  # noqa: UP045 - typer needs Optional here on 3.11
    typer.Option(
        "--network", "-n", help="Network to join \\[env: ZION_NODE__NETWORK].", show_default=False
    ),
]
DataDirOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option(
        "--data-dir",
        help="Data directory \\[default: $ZION_HOME/<network>, ZION_HOME=~/.zion].",
        show_default=False,
        file_okay=False,
    ),
]
ConfigOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--config", "-c", help="TOML config file \\[env: ZION_CONFIG].", dir_okay=False),
]
SetOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option(
        "--set",
        "-s",
        metavar="SECTION.KEY=VALUE",
        help="Set one config value (repeatable); the value is read as TOML, else as a string.",
    ),
]
PluginOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option(
        "--plugin",
        "-p",
        metavar="NAME",
        help="Load this plugin (repeatable) \\[env: ZION_PLUGINS, comma-separated].",
    ),
]
NoPluginOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option(
        "--no-plugin",
        metavar="NAME",
        help="Block this plugin (repeatable) \\[env: ZION_DISABLED_PLUGINS].",
    ),
]


def sources(
    network: str | None, data_dir: Path | None, config: Path | None, sets: list[str] | None
) -> ConfigSources:
    return ConfigSources.from_cli(
        config_file=config, sets=sets or (), network=network, data_dir=data_dir
    )
