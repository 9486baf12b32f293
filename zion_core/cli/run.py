"""``zion run``: start a node with the selected plugins."""

from __future__ import annotations

import logging

import typer

from ..bootstrap import load_plugins
from .options import ConfigOpt, DataDirOpt, NetworkOpt, NoPluginOpt, PluginOpt, SetOpt, sources


def run(
    ctx: typer.Context,
    network: NetworkOpt = None,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    plugin: PluginOpt = None,
    no_plugin: NoPluginOpt = None,
) -> None:
    """Run a ZION node with the named plugins (plus the essential ones).

    Example: zion run --network devnet --plugin stratum --set stratum.bind=127.0.0.1:3333
    """
    loaded = load_plugins(
        sources(network, data_dir, config, set_), plugins=plugin or (), blocked=no_plugin or ()
    )
    node = loaded.build_node()
    if not ctx.find_root().params.get("verbose") and not ctx.find_root().params.get("quiet"):
        logging.getLogger().setLevel(node.config.node.log_level.upper())
    code = node.run()
    if code:
        raise typer.Exit(code)
