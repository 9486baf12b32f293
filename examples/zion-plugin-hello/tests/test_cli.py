from __future__ import annotations

import typer
from typer.testing import CliRunner

import zion_plugin_hello


def make_cli() -> typer.Typer:
    """A root command line with only this plugin's commands, as ``zion`` would add them."""
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """Stands in for ``zion``."""

    zion_plugin_hello.zion_register_commands(cli=app)
    return app


def test_hello_default_name() -> None:
    result = CliRunner().invoke(make_cli(), ["hello"])
    assert result.exit_code == 0, result.output
    assert result.output == "Hello, miner!\n"


def test_hello_name_and_shout() -> None:
    result = CliRunner().invoke(make_cli(), ["hello", "World", "--shout"])
    assert result.exit_code == 0, result.output
    assert result.output == "HELLO, WORLD!\n"


def test_hello_in_the_zion_command_line() -> None:
    """Through the kernel's command line, which finds the plugin by its entry point."""
    from zion_core.cli import add_plugin_commands, build_app

    app = build_app()
    add_plugin_commands(app)
    result = CliRunner().invoke(app, ["hello", "World"])
    assert result.exit_code == 0, result.output
    assert result.output == "Hello, World!\n"


def test_diagnose_reports_the_version() -> None:
    lines: dict[str, object] = {}

    class Report:
        def add(self, key: str, value: object, /) -> None:
            lines[key] = value

    zion_plugin_hello.zion_diagnose(report=Report())
    assert lines == {"version": zion_plugin_hello.__version__}
