"""The examples, installed the way a user installs a plugin: built by pip into a directory.

- the cookiecutter template generates a plugin that installs, is listed by ``zion plugins``
  and passes its own tests;
- ``examples/zion-plugin-hello`` installs and is listed with its distribution and version;
- a broken plugin installed beside it is reported as broken without hiding the others.

Everything runs with the current interpreter and no network: pip builds with
``--no-build-isolation`` (hatchling comes from the test environment) and ``--no-index``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "examples" / "template"
HELLO = ROOT / "examples" / "zion-plugin-hello"
TIMEOUT = 180.0
"""Seconds any one subprocess may take (a pip build included)."""

HELLO_HOOKS = [
    "zion_diagnose",
    "zion_register_commands",
    "zion_register_config",
    "zion_register_services",
    "zion_register_status_panels",
]

pytestmark = pytest.mark.slow


class PluginSite:
    """A ``pip install --target`` directory and subprocesses that see it on ``PYTHONPATH``."""

    def __init__(self, root: Path) -> None:
        self.path = root / "site"
        self.home = root / "zion-home"
        self.path.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ZION_", "PYTHON", "PIP_"))}
        env.update(
            PYTHONPATH=str(self.path),
            PYTHONDONTWRITEBYTECODE="1",
            ZION_HOME=str(self.home),
            PIP_NO_INDEX="1",
            PIP_DISABLE_PIP_VERSION_CHECK="1",
            NO_COLOR="1",
        )
        self.env = env

    def python(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args],
            cwd=cwd or self.path.parent,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )

    def install(self, project: Path) -> None:
        result = self.python(
            "-m", "pip", "install", "--quiet",
            "--no-build-isolation", "--no-deps", "--no-index",
            "--target", str(self.path), str(project),
        )  # fmt: skip
        assert result.returncode == 0, f"pip install {project} failed:\n{result.stderr}"

    def zion(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.python("-m", "zion_core", *args)

    def plugins(self) -> dict[str, dict[str, Any]]:
        """``zion plugins --json``, by plugin name."""
        result = self.zion("plugins", "--json")
        assert result.returncode == 0, result.stderr
        return {plugin["name"]: plugin for plugin in json.loads(result.stdout)}

    def add_broken_plugin(self) -> None:
        """An installed distribution whose plugin module fails to import."""
        info = self.path / "zion_plugin_broken-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: zion-plugin-broken\nVersion: 0.1\n", encoding="utf-8"
        )
        (info / "entry_points.txt").write_text(
            "[zion.plugins]\nbroken = zion_plugin_broken\n", encoding="utf-8"
        )
        (self.path / "zion_plugin_broken.py").write_text(
            'raise ImportError("zion_plugin_broken needs libbroken, which is missing")\n',
            encoding="utf-8",
        )


@pytest.fixture
def plugin_site(tmp_path: Path) -> PluginSite:
    return PluginSite(tmp_path)


def _project_version(project: Path) -> str:
    with (project / "pyproject.toml").open("rb") as f:
        return str(tomllib.load(f)["project"]["version"])


def test_template_generates_a_working_plugin(plugin_site: PluginSite, tmp_path: Path) -> None:
    from cookiecutter.main import cookiecutter

    config = tmp_path / "cookiecutter.yaml"  # keeps replay files out of the home directory
    config.write_text(
        textwrap.dedent(f"""\
            cookiecutters_dir: "{tmp_path / "cookiecutters"}"
            replay_dir: "{tmp_path / "replay"}"
        """),
        encoding="utf-8",
    )
    project = Path(
        cookiecutter(
            str(TEMPLATE),
            no_input=True,
            extra_context={"plugin_name": "generated-demo"},
            output_dir=str(tmp_path / "generated"),
            config_file=str(config),
        )
    )
    assert project.name == "zion-plugin-generated-demo"
    assert (project / "zion_plugin_generated_demo" / "py.typed").is_file()
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["name"] == "zion-plugin-generated-demo"
    assert pyproject["project"]["entry-points"]["zion.plugins"] == {
        "generated-demo": "zion_plugin_generated_demo"
    }

    plugin_site.install(project)
    demo = plugin_site.plugins()["generated-demo"]
    assert demo["status"] == "ok", demo["error"]
    assert demo["distribution"] == "zion-plugin-generated-demo"
    assert demo["module"] == "zion_plugin_generated_demo"
    assert demo["hooks"] == ["zion_register_commands", "zion_register_config"]

    command = plugin_site.zion("generated-demo", "--shout")
    assert command.returncode == 0, command.stderr
    assert command.stdout == "HELLO FROM ZION-PLUGIN-GENERATED-DEMO\n"

    shown = plugin_site.zion(
        "config", "show", "--json", "--plugin", "generated-demo",
        "--set", "generated_demo.message=Hi",
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["generated_demo"] == {"message": "Hi"}

    tests = plugin_site.python("-m", "pytest", "-p", "no:cacheprovider", cwd=project)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "4 passed" in tests.stdout


def test_hello_plugin_is_listed(plugin_site: PluginSite) -> None:
    plugin_site.install(HELLO)
    hello = plugin_site.plugins()["hello"]
    assert hello["status"] == "ok", hello["error"]
    assert hello["distribution"] == "zion-plugin-hello"
    assert hello["version"] == _project_version(HELLO)
    assert hello["module"] == "zion_plugin_hello"
    assert hello["hooks"] == HELLO_HOOKS
    assert hello["error"] is None

    diagnose = plugin_site.zion("diagnose", "--json")
    assert diagnose.returncode == 0, diagnose.stderr
    assert json.loads(diagnose.stdout)["hello"] == {"version": _project_version(HELLO)}


def test_broken_plugin_does_not_hide_the_others(plugin_site: PluginSite, tmp_path: Path) -> None:
    plugin_site.install(HELLO)
    plugin_site.add_broken_plugin()

    plugins = plugin_site.plugins()
    assert plugins["hello"]["status"] == "ok", plugins["hello"]["error"]
    assert plugins["hello"]["hooks"] == HELLO_HOOKS
    broken = plugins["broken"]
    assert broken["status"] == "broken"
    assert broken["distribution"] == "zion-plugin-broken"
    assert broken["version"] == "0.1"
    assert broken["hooks"] == []
    assert "zion-plugin-broken" in broken["error"]
    assert "broken = zion_plugin_broken" in broken["error"]
    assert "ImportError: zion_plugin_broken needs libbroken" in broken["error"]

    # Plugin commands still work; the broken plugin costs a warning.
    hello = plugin_site.zion("hello", "World")
    assert hello.returncode == 0, hello.stderr
    assert hello.stdout == "Hello, World!\n"
    assert "zion-plugin-broken" in hello.stderr

    # A node imports only the plugins it is asked for...
    data_dir = str(tmp_path / "data")
    common = ["run", "--network", "devnet", "--data-dir", data_dir]
    bad_config = plugin_site.zion(*common, "--plugin", "hello", "--set", "hello.interval=0")
    assert bad_config.returncode == 2, bad_config.stderr
    assert "interval must be greater than 0" in bad_config.stderr
    assert "zion-plugin-broken" not in bad_config.stderr

    # ...and one that asks for the broken plugin stops, naming its distribution.
    run = plugin_site.zion(*common, "--plugin", "broken")
    assert run.returncode != 0
    assert "zion-plugin-broken" in run.stderr
    assert "broken = zion_plugin_broken" in run.stderr
