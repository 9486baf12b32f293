from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import typer
from typer.testing import CliRunner
from zion_core import ConfigError

import {{ cookiecutter.module_name }} as plugin

NAME = "{{ cookiecutter.plugin_name }}"
PLUGINS = {NAME: plugin}
SECTION = plugin.SECTION


def test_config_defaults(make_node: Callable[..., Any]) -> None:
    node = make_node(PLUGINS)
    assert node.config_section(SECTION) == plugin.{{ cookiecutter.__class_prefix }}Config()


def test_config_set(make_node: Callable[..., Any]) -> None:
    node = make_node(PLUGINS, sets=[f"{SECTION}.message=Hi"])
    assert node.config_section(SECTION).message == "Hi"


def test_config_unknown_key(make_node: Callable[..., Any]) -> None:
    with pytest.raises(ConfigError, match=rf"unknown key {SECTION}\.nope"):
        make_node(PLUGINS, sets=[f"{SECTION}.nope=1"])


def test_command() -> None:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """Stands in for ``zion``."""

    plugin.zion_register_commands(cli=app)
    result = CliRunner().invoke(app, [NAME, "--shout"])
    assert result.exit_code == 0, result.output
    assert result.output == plugin.{{ cookiecutter.__class_prefix }}Config().message.upper() + "\n"
