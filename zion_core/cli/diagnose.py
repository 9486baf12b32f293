"""``zion diagnose``: what an operator needs when something is off."""

from __future__ import annotations

import json
import os
from typing import Annotated, Any

import typer
from rich.table import Table

from ..config import default_data_dir
from ..plugins import BUILTIN_PLUGINS, PluginHost, discover, inspect_all
from .output import stdout


class _Report:
    def __init__(self) -> None:
        self.sections: dict[str, dict[str, str]] = {}
        self.current: dict[str, str] = {}

    def section(self, name: str) -> None:
        self.current = self.sections.setdefault(name, {})

    def add(self, key: str, value: object, /) -> None:
        self.current[str(key)] = str(value)


def diagnose(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print versions, paths, environment and what each installed plugin reports."""
    report = _Report()
    discovered = discover()
    host = PluginHost()
    host.register_builtins()
    plugin_lines: dict[str, str] = {}
    for rep, plugin in inspect_all(discovered):
        if plugin is not None:
            host.register(plugin, name=rep.name, entry=discovered[rep.name])
            plugin_lines[rep.name] = f"{rep.distribution} {rep.version}: ok"
        else:
            plugin_lines[rep.name] = f"{rep.distribution} {rep.version}: BROKEN: {rep.error}"

    def kwargs_for(plugin: str) -> dict[str, Any]:
        report.section("zion" if plugin in BUILTIN_PLUGINS else plugin)
        return {"report": report}

    failures: dict[str, str] = {}

    def on_error(plugin: str, exc: Exception) -> None:
        failures[plugin] = f"{type(exc).__name__}: {exc}"

    for _ in host.call_each("zion_diagnose", kwargs_for, on_error=on_error):
        pass
    report.section("zion")
    report.add("ZION_HOME", os.environ.get("ZION_HOME", "(unset: ~/.zion)"))
    report.add("default data dir (mainnet)", default_data_dir("mainnet"))
    report.add("ZION_CONFIG", os.environ.get("ZION_CONFIG", "(unset)"))
    for var in ("ZION_PLUGINS", "ZION_DISABLED_PLUGINS", "ZION_TRACE_PLUGINS"):
        report.add(var, os.environ.get(var, "(unset)"))
    report.sections["plugins"] = plugin_lines or {"(none)": "no plugins installed"}
    if failures:
        report.sections["diagnose failures"] = failures
    if as_json:
        print(json.dumps(report.sections, indent=2, default=str))
        return
    for name, lines in report.sections.items():
        table = Table(title=name, title_justify="left", show_header=False, box=None, padding=(0, 2))
        table.add_column(style="bold")
        table.add_column(overflow="fold")
        for key, value in lines.items():
            table.add_row(str(key), value)
        stdout.print(table)
        stdout.print()
