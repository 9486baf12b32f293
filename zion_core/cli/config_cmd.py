"""``zion config``: inspect the effective configuration."""

from __future__ import annotations

import json
from typing import Annotated

import tomli_w
import typer

from ..bootstrap import load_plugins
from .options import ConfigOpt, DataDirOpt, NetworkOpt, NoPluginOpt, PluginOpt, SetOpt, sources
from .output import stdout

config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)


@config_app.command("show")
def show(
    network: NetworkOpt = None,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    plugin: PluginOpt = None,
    no_plugin: NoPluginOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of TOML.")] = False,
) -> None:
    """Print the effective configuration: defaults, file, environment and --set merged.

    Takes the same options as `zion run`, so the sections of the named plugins show too.
    """
    loaded = load_plugins(
        sources(network, data_dir, config, set_), plugins=plugin or (), blocked=no_plugin or ()
    )
    data = loaded.config().to_dict()
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        stdout.print(tomli_w.dumps(data), end="", markup=False)
