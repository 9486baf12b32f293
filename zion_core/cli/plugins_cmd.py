"""``zion plugins``: every installed plugin, with its distribution, hooks and status."""

from __future__ import annotations

import json
from typing import Annotated, Any

import attrs
import typer
from rich.table import Table

from ..plugins import BUILTIN_PLUGINS, PluginReport, discover, inspect_all
from .output import stdout


def _builtin_reports() -> list[PluginReport]:
    import importlib
    from importlib.metadata import version

    from ..plugins import new_plugin_manager

    reports = []
    for name, module_name in BUILTIN_PLUGINS.items():
        pm = new_plugin_manager()
        module = importlib.import_module(module_name)
        pm.register(module, name=name)
        hooks = tuple(sorted(c.name for c in pm.get_hookcallers(module) or []))
        reports.append(
            PluginReport(
                name=name,
                distribution="zion",
                version=version("zion"),
                module=module_name,
                status="ok",
                hooks=hooks,
                essential=True,
            )
        )
    return reports


def plugins(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
    include_builtin: Annotated[
        bool, typer.Option("--all", help="Include the kernel's built-in plugin.")
    ] = False,
) -> None:
    """List installed plugins: name, distribution, version, hooks and status (ok/broken).

    Each plugin is imported on its own; a broken one is shown as broken with the reason.
    """
    reports = [report for report, _ in inspect_all(discover())]
    if include_builtin:
        reports = _builtin_reports() + reports
    if as_json:
        data: list[dict[str, Any]] = [{**attrs.asdict(r), "hooks": list(r.hooks)} for r in reports]
        print(json.dumps(data, indent=2))
        return
    if not reports:
        stdout.print("No plugins installed. Plugins are distributions named zion-plugin-<name>.")
        return
    table = Table(title="ZION plugins", title_justify="left")
    for column in ("name", "distribution", "version", "status", "hooks"):
        table.add_column(column, overflow="fold")
    for r in reports:
        status = "[green]ok[/]" if r.status == "ok" else "[bold red]broken[/]"
        detail = (
            ", ".join(h.removeprefix("zion_") for h in r.hooks)
            if r.status == "ok"
            else (r.error or "")
        )
        table.add_row(r.name, r.distribution, r.version, status, detail)
    stdout.print(table)
